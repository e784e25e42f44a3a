"""What the report reads: the output folder's tables, and run pace at a heart-rate band
from the run samples."""

from __future__ import annotations

from concurrent.futures import Executor, Future
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import polars as pl

from ..metrics import activity, load, training_load
from ..metrics.weekly import weekly_table
from ..normalize import schema
from ..sinks import Sink
from ..config import Athlete
from ..metrics.stage import read_activities

# Without thresholds, a band most recreational runners reach at an easy to steady pace.
FIXED_BAND_BPM = (135.0, 150.0)
# A run needs this much moving time inside the band for its pace there to mean anything.
MIN_BAND_S = 300.0
PACE_SCHEMA = {"activity_id": pl.String, "start_time_local": pl.Datetime("us"), "band_s": pl.Float64,
               "pace_s_per_km": pl.Float64}
SAMPLE_COLUMNS = ["activity_id", "timestamp_utc", "distance_m", "speed_mps", "heart_rate_bpm", "cadence_rpm",
                  "power_w", "paused_s"]


@dataclass(frozen=True)
class HrBand:
    low_bpm: float
    high_bpm: float
    source: str  # how the band was chosen, shown on the chart

    @property
    def label(self) -> str:
        return f"{self.low_bpm:.0f}–{self.high_bpm:.0f} bpm"


# Without --since or --weeks, the report shows this many weeks up to the last activity.
DEFAULT_WEEKS = 52


@dataclass(frozen=True)
class Window:
    """The days the report shows: from `first` (a Monday) to `last`, the last activity's day."""

    first: date
    last: date

    @property
    def weeks(self) -> int:
        return (self.last - self.first).days // 7 + 1

    @property
    def label(self) -> str:
        return f"{self.first} to {self.last}"


def window(activities: pl.DataFrame, since: date | None = None, weeks: int | None = None) -> Window:
    """--since DATE, or the last --weeks N weeks (default 52), ending on the last activity's day;
    never before the first activity's week."""
    days = activities["start_time_local"].dt.date()
    last = days.max()
    first_week = _monday(days.min())
    if since is not None:
        start = _monday(since)
    else:
        start = _monday(last) - timedelta(weeks=(weeks or DEFAULT_WEEKS) - 1)
    return Window(max(start, first_week), last)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class ReportData:
    activities: pl.DataFrame  # dated, as weekly and daily totals count them
    weekly: pl.DataFrame
    daily: pl.DataFrame
    band: HrBand
    pending_run_pace: Future  # runs of the window only
    window: Window
    # Whole history, whatever the window (sections 8-10).
    bests: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=schema.BESTS))
    efforts: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=schema.BEST_EFFORTS))
    thresholds: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=schema.THRESHOLDS))

    @property
    def run_pace(self) -> pl.DataFrame:
        """One row per run of the window with enough time in the band."""
        return self.pending_run_pace.result()

    def within(self) -> "ReportData":
        """The same data, restricted to the days of the window."""
        first = self.window.first
        return replace(
            self,
            activities=self.activities.filter(pl.col("start_time_local").dt.date() >= first),
            weekly=self.weekly.filter(pl.col("week_start") >= first),
            daily=self.daily.filter(pl.col("date") >= first),
        )


def read(sink: Sink, athlete: Athlete, pool: Executor, since: date | None = None,
         weeks: int | None = None) -> ReportData:
    """The tables, and the window of days the report shows (ReportData.within gives the tables
    restricted to it); run pace, for the runs in the window, is computed on `pool`, beside
    whatever the caller does next."""
    activities = read_activities(sink, athlete.id)
    band = hr_band(athlete)
    shown = window(activities, since, weeks)
    runs = activities.filter(pl.col("start_time_local").dt.date() >= shown.first)
    return ReportData(
        activities=activities,
        weekly=_table_or(sink, "weekly", athlete.id, lambda: weekly_table(activities)),
        daily=_table_or(sink, "daily_load", athlete.id, lambda: training_load.daily_load(activities)),
        band=band, pending_run_pace=pool.submit(run_pace_in_band, sink, runs, band), window=shown,
        **{key: _table_or(sink, name, athlete.id, lambda table=table: pl.DataFrame(schema=table))
           for key, name, table in (("bests", "bests", schema.BESTS), ("efforts", "best_efforts", schema.BEST_EFFORTS),
                                    ("thresholds", "thresholds", schema.THRESHOLDS))},
    )


def _table_or(sink: Sink, name: str, athlete_id: str, build) -> pl.DataFrame:
    """The athlete's rows of the stored table, or the same rows built from their activities
    when only `fitpipe ingest` ran."""
    if not sink.has_table(name):
        return build()
    return sink.read_table(name).filter(pl.col("athlete_id") == athlete_id)


def hr_band(athlete: Athlete) -> HrBand:
    """Zone 2 of the latest thresholds entry when it has the zone basis; else the fixed band."""
    latest = max(athlete.thresholds, key=lambda t: t.effective_from, default=None)
    basis = getattr(latest, athlete.hr_zones, None) if latest else None
    if not basis:
        return HrBand(*FIXED_BAND_BPM, "fixed band: no heart-rate threshold configured")
    zone2, zone3 = load.ZONE_BOUNDS[athlete.hr_zones][:2]
    return HrBand(basis * zone2, basis * zone3,
                  f"zone 2: {zone2:.0%}–{zone3:.0%} of {athlete.hr_zones} {basis:.0f} (from {latest.effective_from})")


def run_pace_in_band(sink: Sink, activities: pl.DataFrame, band: HrBand) -> pl.DataFrame:
    """Per run: moving time with heart rate in the band, and the pace over that time."""
    runs = activities.filter(pl.col("sport") == "run").select("athlete_id", "activity_id", "start_time_local")
    if runs.is_empty():
        return pl.DataFrame(schema=PACE_SCHEMA)
    samples = sink.read_samples(SAMPLE_COLUMNS, sport="run", activity_ids=runs["activity_id"].to_list(),
                                athlete_id=runs["athlete_id"][0])
    if samples.is_empty():
        return pl.DataFrame(schema=PACE_SCHEMA)
    weighted = activity.with_sample_weights(samples.with_columns(sport=pl.lit("run")))
    in_band = pl.col("moving") & pl.col("heart_rate_bpm").is_between(band.low_bpm, band.high_bpm, closed="left")
    per_run = weighted.group_by("activity_id").agg(
        band_s=pl.col("dt_s").filter(in_band).sum(),
        speed_mps=activity.weighted_mean("speed_mps", in_band),
    ).filter(pl.col("band_s") >= MIN_BAND_S, pl.col("speed_mps") > 0)
    paced = per_run.join(runs.drop("athlete_id"), on="activity_id").with_columns(pace_s_per_km=1000 / pl.col("speed_mps"))
    return paced.select([pl.col(c).cast(t) for c, t in PACE_SCHEMA.items()]).sort("start_time_local")
