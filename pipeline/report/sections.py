"""The report's seven sections: each turns tables into text, charts and small tables, or
into a message saying why there is nothing to show."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from . import crosstrain
from . import charts
from .data import HrBand, ReportData, Window

MAX_ZONE_PANELS = 4
RECENT_ACTIVITIES = 10
TREND_DAYS = 42
TREND_WINDOW = f"{TREND_DAYS}d"
MAIN_SPORTS = ("ride", "run", "swim")


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    links: list[str | None] | None = None  # per row, where its first cell links to


@dataclass
class Section:
    anchor: str
    title: str
    text: list[str] = field(default_factory=list)
    images: list[tuple[bytes, str]] = field(default_factory=list)  # PNG and its alt text
    tables: list[Table] = field(default_factory=list)
    empty: str | None = None  # shown instead of charts when there is nothing to draw


def all_sections(data: ReportData, cross: pl.DataFrame, series: pl.DataFrame, metric: str | None) -> list[Section]:
    return [
        weekly_time(data.weekly),
        weekly_distance(data.weekly),
        training_load(data.daily),
        heart_rate_zones(data.activities, data.window),
        efficiency(data.activities, data.run_pace, data.band, metric),
        cross_training(cross, series, metric),
        recent_activities(data.activities),
    ]


# --- 1. weekly moving time -----------------------------------------------------


def _recent_sports(weekly: pl.DataFrame, value: str) -> tuple[pl.DataFrame, list[str]]:
    """The weeks shown, wide, one column per sport that has any `value`, largest first."""
    window = weekly.filter(pl.col("sport") != "all")
    totals = window.group_by("sport").agg(pl.col(value).sum()).filter(pl.col(value) > 0)
    sports = totals.sort([value, "sport"], descending=[True, False])["sport"].to_list()
    if not sports:
        return pl.DataFrame(), []
    wide = window.filter(pl.col("sport").is_in(sports)).pivot(on="sport", index="week_start", values=value)
    return wide.sort("week_start").fill_null(0.0), sports


def weekly_time(weekly: pl.DataFrame) -> Section:
    section = Section("time", "1. Weekly moving time by sport")
    wide, sports = _recent_sports(weekly, "moving_s")
    if not sports:
        section.empty = "No moving time recorded yet."
        return section
    totals = {sport: float(wide[sport].sum()) for sport in sports}
    everything = sum(totals.values())
    shares = {sport: totals[sport] / everything for sport in sports}
    first, last = wide["week_start"].min(), wide["week_start"].max()
    split = ", ".join(f"{sport} {shares.get(sport, 0.0):.0%}" for sport in MAIN_SPORTS)
    section.text.append(f"{wide.height} weeks, from the week of {first} to the week of {last}. "
                        f"Share of moving time: {split}.")
    section.images.append((charts.weekly_time(wide, sports, shares), "Stacked bars of weekly moving hours by sport"))
    section.tables.append(Table(["sport", "hours", "share of moving time"],
                                [[s, f"{totals[s] / 3600:.1f}", f"{shares[s]:.1%}"] for s in sports]))
    return section


# --- 2. weekly distance --------------------------------------------------------


def weekly_distance(weekly: pl.DataFrame) -> Section:
    section = Section("distance", "2. Weekly distance by sport, and the change from the week before")
    wide, sports = _recent_sports(weekly, "distance_m")
    if not sports:
        section.empty = "No distance recorded yet."
        return section
    km = wide.with_columns([pl.col(s) / 1000 for s in sports])
    change = km.with_columns([pl.col(s).diff() for s in sports])
    section.text.append("Top: kilometres per week. Bottom: the difference from the previous week, per sport.")
    section.images.append((charts.weekly_distance(km, change, sports),
                           "Weekly distance per sport and its week-over-week change"))
    if km.height >= 2:
        section.tables.append(_last_week_change(km, sports))
    return section


def _last_week_change(km: pl.DataFrame, sports: list[str]) -> Table:
    rows = []
    for sport in sports:
        before, latest = km[sport][-2], km[sport][-1]
        if not before and not latest:
            continue  # not done in either week
        percent = f"{(latest - before) / before:+.0%}" if before else "–"
        rows.append([sport, f"{before:.1f}", f"{latest:.1f}", f"{latest - before:+.1f}", percent])
    week = km["week_start"][-1]
    return Table(["sport", "previous week (km)", f"week of {week} (km)", "change (km)", "change"], rows)


# --- 3. training load ----------------------------------------------------------


def training_load(daily: pl.DataFrame) -> Section:
    section = Section("load", "3. Training load: fitness, fatigue and form")
    every = daily.filter(pl.col("sport") == "all").sort("date")
    if every.is_empty() or every["tss"].sum() == 0:
        section.empty = ("No training load yet: TSS needs [[athlete.thresholds]] (ftp for power, or max_hr, "
                         "resting_hr and lthr for heart rate) in fitpipe.toml; then run "
                         "`fitpipe metrics --config fitpipe.toml` and this report again.")
        return section
    shown = every
    latest = shown.row(-1, named=True)
    section.text.append(
        f"Daily TSS (all sports) with fitness (CTL, 42-day average), fatigue (ATL, 7-day average) and form "
        f"(TSB = yesterday's CTL − ATL), from daily_load.parquet. On {latest['date']}: fitness "
        f"{latest['ctl']:.0f}, fatigue {latest['atl']:.0f}, form {latest['tsb']:+.0f}.")
    section.images.append((charts.training_load(shown), "Daily training load with CTL, ATL and TSB lines"))
    return section


# --- 4. heart-rate zones ---------------------------------------------------------


def heart_rate_zones(activities: pl.DataFrame, shown: Window | None = None) -> Section:
    section = Section("zones", "4. Time in heart-rate zones, per sport and month")
    zones = [f"hr_zone{k}_s" for k in range(1, 6)]
    zoned = activities.filter(pl.any_horizontal(pl.col(zones).is_not_null()))
    if zoned.is_empty():
        section.empty = ("No heart-rate zones yet: they need lthr (or max_hr with hr_zones = \"max_hr\") in "
                         "[[athlete.thresholds]]; then run `fitpipe metrics --config fitpipe.toml`.")
        return section
    monthly = zoned.with_columns(month=pl.col("start_time_local").dt.truncate("1mo").dt.date()).group_by(
        "month", "sport").agg([pl.col(z).fill_null(0).sum() for z in zones])
    totals = monthly.group_by("sport").agg(total=pl.sum_horizontal(zones).sum()).sort(
        ["total", "sport"], descending=[True, False])
    sports = totals.filter(pl.col("total") > 0)["sport"].head(MAX_ZONE_PANELS).to_list()
    first = shown.first if shown else monthly["month"].min()
    last = shown.last if shown else monthly["month"].max()
    months = pl.date_range(first.replace(day=1), last.replace(day=1), "1mo", eager=True)
    section.text.append(f"Moving time in each zone (activities.hr_zone1_s … hr_zone5_s) per month, the "
                        f"{months.len()} months from {first:%B %Y} to {last:%B %Y}"
                        f"{_months_without(monthly, months)}. Zones come from the thresholds in force on each "
                        "activity's date.")
    section.images.append((charts.zones_by_month(monthly, sports, months[0], months[-1]),
                           "Monthly hours in heart-rate zones per sport"))
    return section


def _months_without(monthly: pl.DataFrame, months: pl.Series) -> str:
    empty = months.len() - monthly["month"].n_unique()
    return f"; {empty} of them without zone time" if empty > 0 else ""


# --- 5. efficiency trends ----------------------------------------------------------


def efficiency(activities: pl.DataFrame, run_pace: pl.DataFrame, band: HrBand, metric: str | None) -> Section:
    section = Section("efficiency", "5. Efficiency trends")
    rides = _ride_efficiency(activities, metric)
    runs = _trend(run_pace.select("start_time_local", value=pl.col("pace_s_per_km")))
    if rides.is_empty() and runs.is_empty():
        section.empty = "No rides with heart rate and no runs with time in the heart-rate band yet."
        return section
    ef_label = crosstrain.EF_LABELS.get(metric, "none")
    section.text.append(
        f"Top: the efficiency factor of each ride, {ef_label}; higher means more output per heartbeat. "
        f"Bottom: each run's pace over its moving time with heart rate {band.label} ({band.source}); "
        f"runs with less than 5 minutes in the band are left out. Lines are 42-day rolling means.")
    section.images.append((charts.efficiency(rides, ef_label, runs, band.label),
                           "Ride efficiency factor and run pace at a fixed heart-rate band over time"))
    return section


def _ride_efficiency(activities: pl.DataFrame, metric: str | None) -> pl.DataFrame:
    if metric is None:
        return pl.DataFrame(schema={"start_time_local": pl.Datetime("us"), "value": pl.Float64, "trend": pl.Float64,
                                    "gap_before": pl.Boolean})
    rides = activities.filter(pl.col("sport") == "ride", pl.col(metric).is_not_null())
    if metric == crosstrain.POWER_EF:
        rides = rides.filter(pl.col("variability_index") <= crosstrain.STEADY_MAX_VI)
    return _trend(rides.select("start_time_local", value=pl.col(metric)))


def _trend(frame: pl.DataFrame) -> pl.DataFrame:
    """Each value with its 42-day rolling mean; after a gap longer than the window the mean starts
    afresh, and `gap_before` tells the chart to break its line there."""
    return frame.sort("start_time_local").with_columns(
        trend=pl.col("value").rolling_mean_by("start_time_local", window_size=TREND_WINDOW),
        gap_before=(pl.col("start_time_local").diff() > pl.duration(days=TREND_DAYS)).fill_null(False),
    )


# --- 6. cross-training -----------------------------------------------------------


def cross_training(table: pl.DataFrame, series: pl.DataFrame, metric: str | None) -> Section:
    section = Section("crosstrain", "6. Does running help your cycling?")
    section.text.append(
        "For each lag of 0 to 4 weeks: the Pearson correlation r between a week's running time and the ride "
        f"efficiency factor ({crosstrain.EF_LABELS.get(metric, 'none available')}) that many weeks later, "
        f"over the weeks since your first run. The 95 % interval is a percentile bootstrap "
        f"({crosstrain.RESAMPLES:,} resamples of the weeks, fixed seed). Fewer than {crosstrain.MIN_WEEKS} "
        "weeks are not read. The numbers are in crosstrain.parquet.")
    section.text.append(crosstrain.reading(table))
    rows = table.to_dicts()
    if series.is_empty():
        section.empty = "No weeks with both running and rides with heart rate yet."
    else:
        pairs = [(row, crosstrain.lagged_pairs(series, row["lag_weeks"])) for row in rows]
        axis = "ride EF (W/bpm)" if metric == crosstrain.POWER_EF else "ride EF ((m/min)/bpm)"
        section.images.append((charts.crosstrain_scatter(pairs, axis),
                               "Scatter plots of weekly running time against later ride efficiency, lags 0 to 4"))
    section.tables.append(Table(["lag (weeks)", "weeks", "r", "95 % CI", "reading"],
                                [[str(r["lag_weeks"]), str(r["n_weeks"]), _number(r["r"]), _interval(r),
                                  r["verdict"].replace("_", " ")] for r in rows]))
    return section


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _interval(row: dict) -> str:
    return "–" if row["ci_low"] is None else f"{row['ci_low']:.2f} to {row['ci_high']:.2f}"


# --- 7. recent activities ------------------------------------------------------------


def recent_activities(activities: pl.DataFrame) -> Section:
    section = Section("recent", f"7. The last {RECENT_ACTIVITIES} activities")
    recent = activities.sort("start_time_local", descending=True).head(RECENT_ACTIVITIES)
    headers = ["start (local)", "name", "sport", "moving", "distance (km)", "avg HR (bpm)", "NP or avg power (W)",
               "pace or speed", "TSS", "EF"]
    section.tables.append(Table(headers, [_activity_row(row) for row in recent.to_dicts()]))
    return section


def _activity_row(a: dict) -> list[str]:
    power = a["np_w"] if a["np_w"] is not None else a["avg_power_w"]
    distance = None if a["distance_m"] is None else a["distance_m"] / 1000
    return [a["start_time_local"].strftime("%Y-%m-%d %H:%M"), a["source_name"] or "–", a["sport"],
            _duration(a["moving_s"]), _number(distance, 1), _number(a["avg_hr_bpm"], 0), _number(power, 0),
            _pace_or_speed(a), _number(a["tss"], 0), _efficiency(a)]


def _efficiency(a: dict) -> str:
    """The activity's efficiency factor with its unit: they differ between power and speed."""
    if a["ef_power_w_per_bpm"] is not None:
        return f"{a['ef_power_w_per_bpm']:.2f} W/bpm"
    if a["ef_speed_m_per_min_per_bpm"] is not None:
        return f"{a['ef_speed_m_per_min_per_bpm']:.2f} (m/min)/bpm"
    return "–"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes = int(round(seconds / 60))
    return f"{minutes // 60}:{minutes % 60:02d}"


def _pace_or_speed(a: dict) -> str:
    if a["avg_pace_s_per_km"] is not None:
        return f"{int(a['avg_pace_s_per_km'] // 60)}:{int(a['avg_pace_s_per_km'] % 60):02d} /km"
    if a["avg_pace_s_per_100m"] is not None:
        return f"{int(a['avg_pace_s_per_100m'] // 60)}:{int(a['avg_pace_s_per_100m'] % 60):02d} /100 m"
    if a["avg_speed_mps"] is not None:
        return f"{a['avg_speed_mps'] * 3.6:.1f} km/h"
    return "–"
