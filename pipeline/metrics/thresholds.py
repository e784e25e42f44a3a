"""Thresholds in force on each activity day (issue 24, part 5): configured ones from their `from`
date, else estimates (metrics/estimates.py) from the bests of the athlete's
threshold_window_days ([metrics] in fitpipe.toml, 90 by default) before that day.

The window ends the day before: an activity's thresholds come only from earlier days, so the
load of an old activity never changes when a newer file arrives, and two activities of one day
use the same thresholds whatever order their files were read in.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Callable

import polars as pl

from ..config import PACE_KEYS, Athlete, Thresholds
from ..normalize import schema
from . import estimates
from .bests import BEST_KEYS, efforts

CP_DURATIONS = pl.col("duration_s").is_between(*estimates.CP_DURATIONS_S)
# The bests the estimates use; "any" pools every sport (max HR is the heart's, not the sport's).
USED = {
    "ride power": (pl.col("sport") == "ride") & (pl.col("kind") == "power") & CP_DURATIONS,
    "any heart_rate": (pl.col("kind") == "heart_rate") & (pl.col("duration_s") == estimates.MAX_HR_DURATION_S),
    "sport heart_rate": pl.col("sport").is_in(["run", "ride"]) & (pl.col("kind") == "heart_rate")
    & (pl.col("duration_s") == 1200),
    "run speed": (pl.col("sport") == "run") & (pl.col("kind") == "speed") & CP_DURATIONS,
    "swim distance": (pl.col("sport") == "swim") & (pl.col("kind") == "distance")
    & pl.col("distance_m").is_in([200.0, 400.0]),
}
# Configured threshold -> the rows it sets.
CONFIGURED = {"ftp": ["ftp_w"], "max_hr": ["max_hr_bpm"], "lthr": ["lthr_run_bpm", "lthr_ride_bpm"],
              "resting_hr": ["resting_hr_bpm"], "threshold_pace": ["threshold_run_speed_mps"], "css": ["css_mps"]}


def thresholds_table(curves: pl.DataFrame, best_efforts: pl.DataFrame, activities: pl.DataFrame,
                     athlete_by_id: Callable[[str], Athlete], days_of: pl.DataFrame | None = None) -> pl.DataFrame:
    """schema.THRESHOLDS: per athlete and day with activities (of `days_of`, default
    `activities`), each threshold in force; estimates come from the bests of `activities`."""
    days = (activities if days_of is None else days_of).filter(pl.col("start_time_local").is_not_null()).select(
        "athlete_id", date=pl.col("start_time_local").dt.date()).unique().sort("athlete_id", "date")
    found = efforts(curves, best_efforts, activities)
    athletes = {athlete_id: athlete_by_id(athlete_id) for athlete_id in days["athlete_id"].unique(maintain_order=True)}
    rows = []
    for window_days in sorted({athlete.threshold_window_days for athlete in athletes.values()}):
        ids = [athlete_id for athlete_id, athlete in athletes.items() if athlete.threshold_window_days == window_days]
        windows = _window_bests(found.filter(pl.col("athlete_id").is_in(ids)),
                                days.filter(pl.col("athlete_id").is_in(ids)), window_days)
        for athlete_id, day, sport, kind, durations, distances, bests, holders in windows.iter_rows():
            in_window = _in_window(list(zip(sport, kind, durations, distances, bests, holders)))
            rows += _rows(athlete_id, day, in_window, athletes[athlete_id])
    return pl.DataFrame(rows, schema=schema.THRESHOLDS).sort("athlete_id", "date", "threshold")


def configured_table(activities: pl.DataFrame, athlete: Athlete) -> pl.DataFrame:
    """schema.THRESHOLDS of the configured values alone (and the resting-HR default), per day of
    `activities`: what a worker's batch of files can know."""
    days = sorted(set(activities["start_time_local"].drop_nulls().dt.date()))
    return pl.DataFrame([row for day in days for row in _rows(athlete.id, day, {}, athlete)], schema=schema.THRESHOLDS)


def _rows(athlete_id: str, day: date, found: dict, athlete: Athlete) -> list[dict]:
    window_start = day - timedelta(days=athlete.threshold_window_days)
    return [{"athlete_id": athlete_id, "date": day, "window_start": window_start, **row}
            for row in _chosen(found, _configured(athlete.thresholds, day))]


def _window_bests(found: pl.DataFrame, days: pl.DataFrame, window_days: int) -> pl.DataFrame:
    """Per athlete and day of `days`, the lists of the bests of the `window_days` before it
    (sport, kind, duration, distance, best score and the activity holding it), one per key."""
    used = found.filter(pl.any_horizontal(*USED.values())).with_columns(
        sport=pl.when(USED["any heart_rate"]).then(pl.lit("any")).otherwise("sport"))
    # Of equal bests the earlier effort holds it, as in bests.parquet.
    daily = (used.sort(["score", "start_time_utc", "activity_id"], descending=[True, False, False])
             .group_by([*BEST_KEYS, "date"], maintain_order=True)
             .agg(pl.col("score").first(), holder=pl.col("activity_id").first()))
    grid = days.join(daily.select(BEST_KEYS).unique(), on="athlete_id").with_columns(
        score=pl.lit(None, pl.Float64), holder=pl.lit(None, pl.String))
    both = pl.concat([daily, grid.select(daily.columns)]).sort([*BEST_KEYS, "date"], nulls_last=True)
    rolled = both.rolling("date", period=f"{window_days}d", closed="left", group_by=BEST_KEYS).agg(
        best=pl.col("score").max(), holder=pl.col("holder").sort_by("score", nulls_last=False).last())
    windows = days.join(rolled.unique([*BEST_KEYS, "date"]).filter(pl.col("best").is_not_null()),
                        on=["athlete_id", "date"], how="left")
    # One order of the bests in the lists: a fit's sums, and so its last digits, depend on it.
    windows = windows.sort(["athlete_id", "date", *BEST_KEYS[1:]], nulls_last=True)
    return windows.group_by("athlete_id", "date", maintain_order=True).agg(
        pl.col("sport"), pl.col("kind"), pl.col("duration_s"), pl.col("distance_m"), pl.col("best"), pl.col("holder"))


def _in_window(bests: list[tuple]) -> dict[str, tuple[estimates.Estimate, list[str]]]:
    """The estimates these bests give, each with the activities holding the bests it used."""
    made = {}

    def estimate(name: str, sport: str, kind: str, model: Callable) -> None:
        chosen = [(d if kind != "distance" else m, v, h) for s, k, d, m, v, h in bests if s == sport and k == kind]
        found = model([c[0] for c in chosen], [c[1] for c in chosen])
        if found is not None:
            made[name] = (found, sorted({h for key, _, h in chosen if key in found.used}))

    estimate("ftp_w", "ride", "power", estimates.eftp)
    estimate("max_hr_bpm", "any", "heart_rate", estimates.max_hr)
    estimate("lthr_run_bpm", "run", "heart_rate", estimates.lthr)
    estimate("lthr_ride_bpm", "ride", "heart_rate", estimates.lthr)
    estimate("threshold_run_speed_mps", "run", "speed", estimates.critical_speed)
    # a distance's score is minus its time
    estimate("css_mps", "swim", "distance",
             lambda distances, scores: estimates.css(*[next((-s for m, s in zip(distances, scores) if m == d), None)
                                                       for d in (200.0, 400.0)]))
    return made


def _configured(entries: tuple[Thresholds, ...], day: date) -> dict[str, float]:
    """The configured values in force on `day`: the last entry from on or before it."""
    entry = max((t for t in entries if t.effective_from <= day), key=lambda t: t.effective_from, default=None)
    if entry is None:
        return {}
    values = {key: getattr(entry, key) for key in CONFIGURED if getattr(entry, key) is not None}
    # paces are configured as seconds per PACE_KEYS' metres; their rows hold speeds
    return {row: PACE_KEYS[key].metres / value if key in PACE_KEYS else value
            for key, value in values.items() for row in CONFIGURED[key]}


def _chosen(found: dict[str, tuple[estimates.Estimate, list[str]]], configured: dict[str, float]) -> list[dict]:
    """One row per threshold: configured wins, but a max HR held above the configured one is the
    athlete's max HR; resting HR falls back to the documented default."""
    rows = []
    for name in sorted({*found, *configured, "resting_hr_bpm"}):
        estimate, holders = found.get(name, (None, []))
        exceeded = name == "max_hr_bpm" and estimate is not None and estimate.value > configured.get(name, 0.0)
        if name in configured and not exceeded:
            rows.append(_row(name, configured[name], "configured", "configured", None, []))
        elif estimate is not None:
            rows.append(_row(name, estimate.value, "estimated", estimate.model, estimate.w_prime, holders))
        else:  # resting HR, neither configured nor measurable
            rows.append(_row(name, estimates.DEFAULT_RESTING_HR_BPM, "default", "default resting heart rate", None, []))
    return rows


def _row(threshold: str, value: float, source: str, model: str, w_prime: float | None, holders: list[str]) -> dict:
    return {"threshold": threshold, "value": value, "source": source, "model": model, "w_prime": w_prime,
            "activity_ids": holders}
