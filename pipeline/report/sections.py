"""The report's ten sections: each turns tables into text, charts and small tables, or
into a message saying why there is nothing to show."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from ..metrics import estimates
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
        power_duration(data.bests),
        best_efforts(data.efforts, data.thresholds),
        thresholds_over_time(data.thresholds),
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
        section.empty = ("No training load yet: thresholds are estimated from the 90 days (by default) before each "
                         "activity, "
                         "and these activities have too little before them; configure [[athlete.thresholds]] "
                         "in fitpipe.toml, then run `fitpipe metrics --config fitpipe.toml` and this report again.")
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


# --- 8. power-duration curve ---------------------------------------------------------------

CURVE_TABLE_S = (5, 60, 300, 1200, 3600)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g}"


def power_duration(bests: pl.DataFrame) -> Section:
    section = Section("power", "8. Power-duration curve")
    power = bests.filter((pl.col("kind") == "power") & (pl.col("sport") == "ride"))
    if power.is_empty():
        section.empty = "No ride with power yet: the curve needs a power meter's data (bests.parquet)."
        return section
    all_time = power.filter(pl.col("period") == "all_time").sort("duration_s")
    recent = power.filter(pl.col("period") == "last_90_days").sort("duration_s")
    fit = estimates.fit_critical_power(recent["duration_s"].to_list(), recent["value"].to_list())
    section.text.append(
        f"The best average power held for each duration, over all time and over the 90 days to "
        f"{power['as_of'][0]}, from bests.parquet (rides). " + (
            f"The 2-parameter critical-power model, fitted as the envelope of the last 90 days' bests (it goes "
            f"through the {_minutes(fit.durations[0])}- and {_minutes(fit.durations[1])}-min bests): "
            f"CP {fit.cp:.0f} W, W′ {fit.w_prime / 1000:.1f} kJ (docs/metrics.md)." if fit else
            "The last 90 days hold no hard efforts of both 3–5 and 12–20 min for a critical-power fit."))
    model = (fit.cp, fit.w_prime) if fit else None
    section.images.append((charts.power_duration(all_time, recent, model),
                           "Best power for each duration, all time and last 90 days, with the CP model"))
    section.tables.append(_bests_table(all_time, recent))
    return section


def _bests_table(all_time: pl.DataFrame, recent: pl.DataFrame) -> Table:
    def at(frame: pl.DataFrame, seconds: int) -> dict | None:
        rows = frame.filter(pl.col("duration_s") == seconds)
        return rows.row(0, named=True) if rows.height else None

    rows = []
    for seconds in CURVE_TABLE_S:
        best, latest = at(all_time, seconds), at(recent, seconds)
        if best is None:
            continue
        rows.append([_duration_label(seconds), f"{best['value']:.0f} W ({best['date']})",
                     "–" if latest is None else f"{latest['value']:.0f} W ({latest['date']})"])
    return Table(["duration", "all-time best", "best of the last 90 days"], rows)


def _duration_label(seconds: int) -> str:
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min"


# --- 9. best efforts -------------------------------------------------------------------------

PROGRESSION_M = (1000.0, 5000.0, 10000.0)


def best_efforts(efforts: pl.DataFrame, thresholds: pl.DataFrame) -> Section:
    section = Section("efforts", "9. Best efforts: run distances and swim threshold")
    runs = (efforts.filter((pl.col("sport") == "run") & pl.col("distance_m").is_in(PROGRESSION_M))
            .with_columns(start_time_local=pl.col("start_time_utc").dt.replace_time_zone(None))
            .sort("start_time_local")
            .with_columns(pace_s_per_km=pl.col("time_s") / (pl.col("distance_m") / 1000))
            .with_columns(best_so_far=pl.col("pace_s_per_km").cum_min().over("distance_m")))
    css = (thresholds.filter(pl.col("threshold") == "css_mps").sort("date")
           .select("date", pace_s_per_100m=100 / pl.col("value")))
    if runs.is_empty() and css.is_empty():
        section.empty = "No run with a distance stream and no 200 m and 400 m swims yet (best_efforts.parquet)."
        return section
    bests = []
    for distance in PROGRESSION_M:
        part = runs.filter(pl.col("distance_m") == distance).sort("time_s")
        if part.height:
            best = part.row(0, named=True)
            bests.append(f"{distance / 1000:g} km in {_clock(best['time_s'])} ({best['start_time_local']:%Y-%m-%d})")
    text = "Fastest runs over each distance, anywhere inside a run, from best_efforts.parquet"
    text += f": {', '.join(bests)}." if bests else "."
    if css.height:
        text += (f" Critical swim speed in force on {css['date'][-1]}: {_clock(css['pace_s_per_100m'][-1])} per 100 m "
                 "(thresholds.parquet).")
    section.text.append(text)
    section.images.append((charts.best_efforts(runs, css), "Run best efforts over time, and CSS over time"))
    return section


def _clock(seconds: float) -> str:
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


# --- 10. thresholds over time -----------------------------------------------------------------

THRESHOLD_LABELS = {"ftp_w": ("FTP", "W"), "max_hr_bpm": ("max HR", "bpm"), "lthr_ride_bpm": ("LTHR, rides", "bpm"),
                    "lthr_run_bpm": ("LTHR, runs", "bpm"), "resting_hr_bpm": ("resting HR", "bpm"),
                    "threshold_run_speed_mps": ("threshold run pace", "/km"), "css_mps": ("CSS", "/100 m")}


def thresholds_over_time(thresholds: pl.DataFrame) -> Section:
    section = Section("thresholds", "10. Thresholds over time")
    if thresholds.is_empty():
        section.empty = "No thresholds yet: they are estimated from the 90 days (by default) before each activity."
        return section
    last = thresholds["date"].max()
    window = (last - thresholds.filter(pl.col("date") == last)["window_start"][0]).days
    section.text.append(
        "The thresholds in force on each day with activities, from thresholds.parquet: a configured value "
        f"from its date in fitpipe.toml on, else estimated from the athlete's bests of the {window} days before "
        f"(docs/metrics.md). The table is the day of the last activity, {last}.")
    shown = thresholds.with_columns(
        threshold=pl.when(pl.col("threshold") == "threshold_run_speed_mps").then(pl.lit("threshold_run_pace_s_per_km"))
        .otherwise("threshold"),
        value=pl.when(pl.col("threshold") == "threshold_run_speed_mps").then(1000 / pl.col("value"))
        .otherwise("value"))
    section.images.append((charts.thresholds(shown), "FTP, heart-rate thresholds and threshold run pace over time"))
    rows = [[THRESHOLD_LABELS[r["threshold"]][0], _threshold_value(r), r["source"], r["model"]]
            for r in thresholds.filter(pl.col("date") == last).iter_rows(named=True)]
    section.tables.append(Table(["threshold", "value", "source", "how"], rows))
    return section


def _threshold_value(row: dict) -> str:
    unit = THRESHOLD_LABELS[row["threshold"]][1]
    if unit == "/km":
        return f"{_clock(1000 / row['value'])} /km"
    if unit == "/100 m":
        return f"{_clock(100 / row['value'])} /100 m"
    return f"{row['value']:.0f} {unit}"
