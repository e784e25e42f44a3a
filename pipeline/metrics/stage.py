"""The metrics stage: recompute activity metrics from stored samples, then the
weekly and daily tables."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from ..config import Athlete
from ..normalize import schema
from ..sinks import Sink, for_output
from . import duplicates, training_load
from .weekly import weekly_table
from .compute import with_metrics


def recompute_activity_metrics(sink: Sink, athlete: Athlete, rule: duplicates.DuplicateRule) -> int:
    """Rebuild every metric column from the stored samples, without parsing any file. Returns
    the number of activities."""
    activities = sink.read_table("activities")
    if activities.is_empty():
        return 0
    laps = sink.read_table("laps")
    identity = activities.select([*schema.ACTIVITY_IDENTITY, *schema.DEVICE, *schema.RECORDING, *schema.PROVENANCE])
    device_laps = laps.select("activity_id", "lap_index", "start_time_utc", *schema.DEVICE)
    samples = sink.read_samples().filter(pl.col("activity_id").is_in(activities["activity_id"].implode()))
    tables = with_metrics(identity, device_laps, samples.sort("activity_id", "timestamp_utc"), athlete)
    # Durations and distances may have moved, and with them which copies match.
    recomputed = duplicates.carry_catalogue(duplicates.mark(tables.activities, rule, _streams(samples)))
    sink.write_table("activities", recomputed.sort("start_time_utc", "activity_id"))
    sink.write_table("laps", tables.laps.sort("activity_id", "lap_index"))
    sink.write_table("manifest", duplicates.annotate_manifest(sink.read_table("manifest"), recomputed))
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


def write_summaries(sink: Sink) -> dict[str, int]:
    """The weekly and daily_load tables from the activities; returns their row counts.

    A workout recorded in several files counts once: duplicates are left out, and so are
    triathlon transitions (duplicates.counted)."""
    activities = sink.read_table("activities")
    activities = activities.filter(duplicates.counted(activities))
    tables = {"weekly": weekly_table(activities), "daily_load": training_load.daily_load(activities)}
    for name, table in tables.items():
        if not _holds(sink, name, table):  # a run with nothing new writes nothing
            sink.write_table(name, table)
    return {f"{name}_rows": table.height for name, table in tables.items()}


def _holds(sink: Sink, name: str, table: pl.DataFrame) -> bool:
    """Whether the sink's table `name` already holds exactly `table`."""
    try:
        return sink.has_table(name) and sink.read_table(name).equals(table)
    except (OSError, pl.exceptions.PolarsError):
        return False


def unused_thresholds(sink: Sink, athlete: Athlete) -> list[str]:
    """Warnings for configured thresholds that leave activities without training load: every
    activity dated before the first `from` gets no TSS, zones or TRIMP."""
    if not athlete.thresholds:
        return []
    first = min(t.effective_from for t in athlete.thresholds)
    days = sink.read_table("activities")["start_time_local"].drop_nulls().dt.date()
    older = int((days < first).sum())
    if not older:
        return []
    return [f"thresholds start {first}; {older} of {days.len()} activities are older and get no training load "
            "(add an [[athlete.thresholds]] entry with an earlier `from`)"]


def run_metrics(out: Path | Sink, athlete: Athlete = Athlete(), recompute: bool = True,
                rule: duplicates.DuplicateRule = duplicates.DuplicateRule()) -> dict:
    """The metrics stage on an output folder (or any sink): recompute every activity's metrics
    from its stored samples (unless `recompute` is False), then the weekly and daily tables."""
    started = time.perf_counter()
    sink = for_output(out)
    activities = recompute_activity_metrics(sink, athlete, rule) if recompute else sink.read_table("activities").height
    rows = write_summaries(sink)
    return {"activities": activities, **rows, "seconds": round(time.perf_counter() - started, 3)}


class NoActivities(FileNotFoundError):
    """The output folder has no activities to summarize or report on."""


def read_activities(sink: Sink) -> pl.DataFrame:
    """Dated activities that weekly and daily totals count (duplicates.counted)."""
    if not sink.has_table("activities"):
        raise NoActivities(f"{sink.describe()}: no activities here; run `fitpipe run` first")
    activities = sink.read_table("activities")
    activities = activities.filter(duplicates.counted(activities), pl.col("start_time_local").is_not_null())
    if activities.is_empty():
        raise NoActivities(f"{sink.describe()}: no dated activities yet")
    return activities


def read_weekly(sink: Sink) -> pl.DataFrame:
    """The weekly table, or the same table built from the activities when only `fitpipe ingest` ran."""
    weekly = sink.read_table("weekly") if sink.has_table("weekly") else weekly_table(read_activities(sink))
    if weekly.is_empty():
        raise NoActivities(f"{sink.describe()}: no weeks with activities yet")
    return weekly


def recent_weeks(weekly: pl.DataFrame, weeks: int) -> pl.DataFrame:
    """The last `weeks` weeks of the weekly table, every sport and `all`, oldest first."""
    starts = weekly["week_start"].unique().sort().tail(weeks)
    return weekly.filter(pl.col("week_start").is_in(starts.implode())).sort("week_start", "sport")


def sports_by_time(weekly: pl.DataFrame) -> list[str]:
    """The sports (not `all`) with any moving time in these weeks, most time first."""
    totals = weekly.filter(pl.col("sport") != "all").group_by("sport").agg(pl.col("moving_s").sum())
    return totals.filter(pl.col("moving_s") > 0).sort(["moving_s", "sport"], descending=[True, False])["sport"].to_list()
