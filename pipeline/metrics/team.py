"""The coach's view: one row per athlete, from the activities and daily_load tables. Used by
`fitpipe summary` on a team and by the team's report page."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import polars as pl

from .training_load import ATL_DAYS, CTL_DAYS

RECENT_DAYS = 28  # "the last 4 weeks": today and the 27 days before
# A rise in fitness (CTL) faster than this in a week is worth a coach's look: the top of the
# 5-8 points a week Joe Friel gives as about right for most athletes ("The CTL ramp rate",
# joefrielsblog.com, 2015).
MAX_RAMP_CTL_PER_WEEK = 8.0
QUIET_DAYS = 14  # no activity for this long is flagged
SPORTS_SINCE = ("run", "ride", "swim")


@dataclass(frozen=True)
class AthleteOverview:
    athlete_id: str
    name: str | None
    last_activity: date | None
    hours_last_4_weeks: dict[str, float]  # sport -> moving hours, most first
    ctl: float | None  # fitness, fatigue and form today (daily_load continued to today)
    atl: float | None
    tsb: float | None
    ctl_ramp_per_week: float | None  # CTL today minus CTL 7 days ago
    weeks_since: dict[str, int | None]  # run, ride, swim -> whole weeks since the last one
    flags: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items()}


def overview(activities: pl.DataFrame, daily: pl.DataFrame, names: dict[str, str | None],
             today: date) -> list[AthleteOverview]:
    """Each athlete of `names` (and any other with activities), in id order. `activities`:
    dated ones that count in totals; `daily`: the daily_load table."""
    ids = sorted(set(names) | set(activities["athlete_id"].to_list()))
    theirs = {key[0]: part for key, part in activities.partition_by("athlete_id", as_dict=True).items()}
    days = {key[0]: part for key, part in daily.filter(pl.col("sport") == "all")
            .partition_by("athlete_id", as_dict=True).items()}
    empty_activities, empty_days = activities.clear(), daily.clear()
    return [_one(i, names.get(i), theirs.get(i, empty_activities), days.get(i, empty_days), today) for i in ids]


def _one(athlete_id: str, name: str | None, activities: pl.DataFrame, daily: pl.DataFrame,
         today: date) -> AthleteOverview:
    dates = activities.with_columns(day=pl.col("start_time_local").dt.date()).filter(pl.col("day") <= today)
    last = dates["day"].max()
    recent = dates.filter(pl.col("day") > today - timedelta(days=RECENT_DAYS))
    hours = (recent.group_by("sport").agg(pl.col("moving_s").fill_null(0).sum() / 3600)
             .sort(["moving_s", "sport"], descending=[True, False]))
    now, week_ago = load_on(daily, today), load_on(daily, today - timedelta(days=7))
    ramp = now[0] - week_ago[0] if now and week_ago else None
    since = {sport: _weeks_since(dates.filter(pl.col("sport") == sport)["day"].max(), today) for sport in SPORTS_SINCE}
    flags = []
    if ramp is not None and ramp > MAX_RAMP_CTL_PER_WEEK:
        flags.append(f"load ramp +{ramp:.1f} CTL in 7 days")
    if last is None or (today - last).days >= QUIET_DAYS:
        flags.append("no activity yet" if last is None else f"no activity for {(today - last).days} days")
    return AthleteOverview(athlete_id, name, last, dict(hours.iter_rows()), *(now or (None, None, None)),
                           ramp, since, flags)


def load_on(daily: pl.DataFrame, day: date) -> tuple[float, float, float] | None:
    """(CTL, ATL, TSB) on `day` from one athlete's `all` rows of daily_load: the row of that
    day, or, past the last row, the last values decayed by days without load, as the daily
    table would continue them. None before the first row."""
    rows = daily.filter(pl.col("date") <= day).sort("date")
    if rows.is_empty():
        return None
    last = rows.row(-1, named=True)
    gap = (day - last["date"]).days
    if gap == 0:
        return last["ctl"], last["atl"], last["tsb"]
    ctl, atl = (last[k] * (1 - 1 / n) ** gap for k, n in (("ctl", CTL_DAYS), ("atl", ATL_DAYS)))
    # Form is yesterday's fitness minus yesterday's fatigue.
    yesterday = [last[k] * (1 - 1 / n) ** (gap - 1) for k, n in (("ctl", CTL_DAYS), ("atl", ATL_DAYS))]
    return ctl, atl, yesterday[0] - yesterday[1]


def _weeks_since(last: date | None, today: date) -> int | None:
    return None if last is None else (today - last).days // 7
