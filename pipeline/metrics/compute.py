"""Every metric column of activities and laps, and the per-activity tables (curves, best
efforts, time at each heart rate), from their samples: at ingest (a worker's batch of files at once) and when `fitpipe metrics` recomputes the
stored samples."""

from __future__ import annotations

import polars as pl

from ..config import Athlete
from ..normalize import schema
from ..normalize.activities import Activities
from . import activity, load, training_load
from .curves import activity_tables
from .thresholds import configured_table


def with_metrics(identity: pl.DataFrame, device_laps: pl.DataFrame, samples: pl.DataFrame,
                 athlete: Athlete) -> Activities:
    """Compute every metric column from samples; used at ingest and by `fitpipe metrics`. The
    load uses the configured thresholds only: estimates need the other activities, and the
    metrics stage applies them (load.with_load)."""
    weighted = training_load.with_load_columns(activity.with_sample_weights(samples))
    extra = training_load.load_aggregations()

    def summary(keys: list[str], samples: pl.DataFrame = weighted, more: list[pl.Expr] = ()) -> pl.DataFrame:
        summary = activity.summarize(training_load.with_halves(samples, keys), keys, [*extra, *LAP_FACTS, *more],
                                     athlete.ascent_hysteresis_m)
        return training_load.derived_load(summary).drop("sport")

    per_activity = summary(["activity_id"], more=ACTIVITY_LAP_FACTS)
    per_lap = _lap_summaries(weighted, per_activity, summary)
    metric_names = [*schema.METRICS, *schema.LOAD]
    activities = activity.with_recording_facts(
        identity.drop([c for c in metric_names if c in identity.columns]).join(per_activity, on="activity_id", how="left")
    ).with_columns(metrics_version=pl.lit(activity.METRICS_VERSION))
    laps = per_lap.join(device_laps.drop([c for c in metric_names if c in device_laps.columns]),
                        on=["activity_id", "lap_index"], how="left")
    laps = laps.with_columns(start_time_utc=pl.coalesce("start_time_utc", "first_sample_utc")).join(
        identity.select("activity_id", "athlete_id"), on="activity_id", how="left")
    at_hr = load.time_at_hr(weighted)
    if athlete.thresholds:  # else there is nothing to compute the load with yet
        activities, laps = load.with_load(activities, laps, at_hr, configured_table(identity, athlete),
                                          lambda _: athlete)
    curves, best_efforts = activity_tables(samples, identity)
    return Activities(
        activities=schema.conform(activities, schema.ACTIVITIES),
        laps=schema.conform(laps, schema.LAPS).sort("activity_id", "lap_index"),
        samples=schema.conform(samples, {**schema.SAMPLES, **schema.SAMPLE_PARTITIONS}),
        curves=curves, best_efforts=best_efforts, time_at_hr=at_hr,
    )


# Aggregated with every summary: a lap's start where the device wrote none.
LAP_FACTS = [pl.col("timestamp_utc").min().alias("first_sample_utc")]
# Aggregated per activity: how many laps it has, and the one lap's index when it has one.
ACTIVITY_LAP_FACTS = [pl.col("lap_index").n_unique().alias("lap_count"), pl.col("lap_index").first()]


def _lap_summaries(samples: pl.DataFrame, per_activity: pl.DataFrame, summary) -> pl.DataFrame:
    """Per-lap activity. A one-lap activity's lap has exactly its activity's samples, in the
    same order, so its metrics are the activity's: only activities with laps are summarized again."""
    single = per_activity.filter(pl.col("lap_count") == 1)
    if single.height == per_activity.height:
        return single
    lapped = per_activity.filter(pl.col("lap_count") > 1)["activity_id"]
    with_laps = samples.filter(pl.col("activity_id").is_in(lapped.implode()))
    several = summary(["activity_id", "lap_index"], with_laps)
    return pl.concat([single.select(several.columns), several])


