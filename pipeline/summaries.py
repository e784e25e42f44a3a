"""The metrics stage: recompute activity metrics from stored samples, and the weekly table."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from . import metrics, schema, store
from .normalize import with_metrics


def recompute_activity_metrics(out: Path) -> int:
    """Rebuild every metric column from samples/, without parsing any file. Returns activities."""
    activities = store.read_table(out, "activities")
    if activities.is_empty():
        return 0
    laps = store.read_table(out, "laps")
    identity = activities.select([*schema.ACTIVITY_IDENTITY, *schema.DEVICE])
    device_laps = laps.select("activity_id", "lap_index", "start_time_utc", *schema.DEVICE)
    samples = store.read_samples(out).filter(pl.col("activity_id").is_in(activities["activity_id"].implode()))
    tables = with_metrics(identity, device_laps, samples.sort("activity_id", "timestamp_utc"))
    store.write_atomic(tables.activities.sort("start_time_utc", "activity_id"), store.table_path(out, "activities"))
    store.write_atomic(tables.laps.sort("activity_id", "lap_index"), store.table_path(out, "laps"))
    return tables.activities.height


def write_weekly(out: Path) -> int:
    table = metrics.weekly(store.read_table(out, "activities"))
    store.write_atomic(table, store.table_path(out, "weekly"))
    return table.height


def run_metrics(out: Path, recompute: bool = True) -> dict:
    started = time.perf_counter()
    activities = recompute_activity_metrics(out) if recompute else store.read_table(out, "activities").height
    weeks = write_weekly(out)
    return {"activities": activities, "weekly_rows": weeks, "seconds": round(time.perf_counter() - started, 3)}
