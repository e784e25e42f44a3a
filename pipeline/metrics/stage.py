"""The metrics stage: recompute activity metrics from stored samples, then the
weekly and daily tables."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from . import duplicates
from . import activity, training_load
from ..normalize import schema
from ..sinks import parquet_folder as store
from ..config import Athlete
from .compute import with_metrics


def recompute_activity_metrics(out: Path, athlete: Athlete, rule: duplicates.DuplicateRule) -> int:
    """Rebuild every metric column from samples/, without parsing any file. Returns activities."""
    activities = store.read_table(out, "activities")
    if activities.is_empty():
        return 0
    laps = store.read_table(out, "laps")
    identity = activities.select([*schema.ACTIVITY_IDENTITY, *schema.DEVICE, *schema.RECORDING, *schema.PROVENANCE])
    device_laps = laps.select("activity_id", "lap_index", "start_time_utc", *schema.DEVICE)
    samples = store.read_samples(out).filter(pl.col("activity_id").is_in(activities["activity_id"].implode()))
    tables = with_metrics(identity, device_laps, samples.sort("activity_id", "timestamp_utc"), athlete)
    # Durations and distances may have moved, and with them which copies match.
    recomputed = duplicates.carry_catalogue(duplicates.mark(tables.activities, rule, _streams(samples)))
    store.write_atomic(recomputed.sort("start_time_utc", "activity_id"), store.table_path(out, "activities"))
    store.write_atomic(tables.laps.sort("activity_id", "lap_index"), store.table_path(out, "laps"))
    manifest = duplicates.annotate_manifest(store.read_table(out, "manifest"), recomputed)
    store.write_atomic(manifest, store.table_path(out, "manifest"))
    return tables.activities.height


def _streams(samples: pl.DataFrame):
    """duplicates.mark's stream source over samples already in memory."""
    by_activity: dict | None = None

    def streams(activity: str) -> pl.DataFrame | None:
        nonlocal by_activity
        if by_activity is None:  # split once, on the first pair that needs samples
            by_activity = {key[0]: part for key, part in samples.partition_by("activity_id", as_dict=True).items()}
        return by_activity.get(activity)

    return streams


def write_summaries(out: Path) -> dict[str, int]:
    """weekly.parquet and daily_load.parquet from activities.parquet; returns their row counts.

    A workout recorded in several files counts once: duplicates are left out, and so are
    triathlon transitions (duplicates.counted)."""
    activities = store.read_table(out, "activities")
    activities = activities.filter(duplicates.counted(activities))
    tables = {"weekly": activity.weekly(activities), "daily_load": training_load.daily_load(activities)}
    for name, table in tables.items():
        path = store.table_path(out, name)
        if not _holds(path, table):  # a run with nothing new writes nothing
            store.write_atomic(table, path)
    return {f"{name}_rows": table.height for name, table in tables.items()}


def _holds(path: Path, table: pl.DataFrame) -> bool:
    """Whether the parquet file at `path` already holds exactly `table`."""
    try:
        return pl.read_parquet(path).equals(table)
    except (OSError, pl.exceptions.PolarsError):
        return False


def unused_thresholds(out: Path, athlete: Athlete) -> list[str]:
    """Warnings for configured thresholds that leave activities without training load: every
    activity dated before the first `from` gets no TSS, zones or TRIMP."""
    if not athlete.thresholds:
        return []
    first = min(t.effective_from for t in athlete.thresholds)
    days = store.read_table(out, "activities")["start_time_local"].drop_nulls().dt.date()
    older = int((days < first).sum())
    if not older:
        return []
    return [f"thresholds start {first}; {older} of {days.len()} activities are older and get no training load "
            "(add an [[athlete.thresholds]] entry with an earlier `from`)"]


def run_metrics(out: Path, athlete: Athlete = Athlete(), recompute: bool = True,
                rule: duplicates.DuplicateRule = duplicates.DuplicateRule()) -> dict:
    started = time.perf_counter()
    activities = recompute_activity_metrics(out, athlete, rule) if recompute else store.read_table(out, "activities").height
    rows = write_summaries(out)
    return {"activities": activities, **rows, "seconds": round(time.perf_counter() - started, 3)}


class NoActivities(FileNotFoundError):
    """The output folder has no activities to summarize or report on."""


def read_activities(out: Path) -> pl.DataFrame:
    """Dated activities that weekly and daily totals count (duplicates.counted)."""
    path = store.table_path(out, "activities")
    if not path.exists():
        raise NoActivities(f"{out}: no activities.parquet here; run `fitpipe run` first")
    activities = store.read_table(out, "activities")
    activities = activities.filter(duplicates.counted(activities), pl.col("start_time_local").is_not_null())
    if activities.is_empty():
        raise NoActivities(f"{path}: no dated activities yet")
    return activities


def read_weekly(out: Path) -> pl.DataFrame:
    """weekly.parquet, or the same table built from activities.parquet when only `fitpipe ingest` ran."""
    path = store.table_path(out, "weekly")
    weekly = pl.read_parquet(path) if path.exists() else activity.weekly(read_activities(out))
    if weekly.is_empty():
        raise NoActivities(f"{path}: no weeks with activities yet")
    return weekly


def recent_weeks(weekly: pl.DataFrame, weeks: int) -> pl.DataFrame:
    """The last `weeks` weeks of the weekly table, every sport and `all`, oldest first."""
    starts = weekly["week_start"].unique().sort().tail(weeks)
    return weekly.filter(pl.col("week_start").is_in(starts.implode())).sort("week_start", "sport")


def sports_by_time(weekly: pl.DataFrame) -> list[str]:
    """The sports (not `all`) with any moving time in these weeks, most time first."""
    totals = weekly.filter(pl.col("sport") != "all").group_by("sport").agg(pl.col("moving_s").sum())
    return totals.filter(pl.col("moving_s") > 0).sort(["moving_s", "sport"], descending=[True, False])["sport"].to_list()
