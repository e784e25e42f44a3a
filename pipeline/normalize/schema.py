"""The output tables' columns, in order. docs/tables.md documents each one."""

from __future__ import annotations

import polars as pl

# The athlete of a setup without [[athletes]]: every row before fitpipe knew athletes is theirs.
DEFAULT_ATHLETE = "default"

UTC = pl.Datetime("us", "UTC")
LOCAL = pl.Datetime("us")

SAMPLES: dict[str, pl.DataType] = {
    "athlete_id": pl.String,  # also a partition key: kept in the files too, for readers without hive partitions
    "activity_id": pl.String,
    "timestamp_utc": UTC,
    "elapsed_s": pl.Float64,
    "lat_deg": pl.Float64,
    "lon_deg": pl.Float64,
    "altitude_m": pl.Float64,
    "distance_m": pl.Float64,
    "speed_mps": pl.Float64,
    "heart_rate_bpm": pl.Float64,
    "cadence_rpm": pl.Float64,
    "power_w": pl.Float64,
    "temperature_c": pl.Float64,
    "lap_index": pl.Int32,
    "paused_s": pl.Float64,
}
# Hive partition keys of samples/: folders, not columns inside the files.
SAMPLE_PARTITIONS: dict[str, pl.DataType] = {"athlete_id": pl.String, "sport": pl.String, "year": pl.Int32}

METRICS: dict[str, pl.DataType] = {
    "elapsed_s": pl.Float64,
    "timer_s": pl.Float64,
    "moving_s": pl.Float64,
    "distance_m": pl.Float64,
    "avg_speed_mps": pl.Float64,
    "max_speed_mps": pl.Float64,
    "avg_pace_s_per_km": pl.Float64,
    "avg_pace_s_per_100m": pl.Float64,
    "avg_hr_bpm": pl.Float64,
    "avg_hr_moving_bpm": pl.Float64,
    "max_hr_bpm": pl.Float64,
    "ascent_m": pl.Float64,
    "descent_m": pl.Float64,
    "avg_cadence_rpm": pl.Float64,
    "avg_cadence_spm": pl.Float64,
    "avg_power_w": pl.Float64,
    "max_power_w": pl.Float64,
    "n_samples": pl.UInt32,
}

LOAD: dict[str, pl.DataType] = {
    **{f"hr_zone{k}_s": pl.Float64 for k in range(1, 6)},
    "trimp": pl.Float64,
    "hr_tss": pl.Float64,
    "np_w": pl.Float64,
    "intensity_factor": pl.Float64,
    "power_tss": pl.Float64,
    "variability_index": pl.Float64,
    "ngp_mps": pl.Float64,
    "run_tss": pl.Float64,
    "swim_tss": pl.Float64,
    "tss": pl.Float64,
    "tss_source": pl.String,
    "ef_power_w_per_bpm": pl.Float64,
    "ef_speed_m_per_min_per_bpm": pl.Float64,
    "decoupling_pct": pl.Float64,
}

DEVICE: dict[str, pl.DataType] = {
    "device_distance_m": pl.Float64,
    "device_timer_s": pl.Float64,
    "device_avg_hr_bpm": pl.Float64,
    "device_max_hr_bpm": pl.Float64,
    "device_ascent_m": pl.Float64,
}

ACTIVITY_IDENTITY: dict[str, pl.DataType] = {
    "athlete_id": pl.String,
    "activity_id": pl.String,
    "parent_id": pl.String,
    "session_index": pl.Int32,
    "source_path": pl.String,
    "source_sha256": pl.String,
    "format": pl.String,
    "manufacturer": pl.String,
    "product": pl.String,
    "sport": pl.String,
    "sport_raw": pl.String,
    "sub_sport": pl.String,
    "start_time_utc": UTC,
    "start_time_local": LOCAL,
    "utc_offset_s": pl.Int32,
    "utc_offset_source": pl.String,
    "parse_status": pl.String,
    "parse_detail": pl.String,
}

# Facts about the recording that are not samples but feed the activity metrics. They are
# read at ingest and kept as they are when `fitpipe metrics` recomputes.
RECORDING: dict[str, pl.DataType] = {
    "timer_outside_samples_s": pl.Float64,
    "pool_length_m": pl.Float64,
    "pool_active_lengths": pl.Int32,
    "pool_active_lengths_s": pl.Float64,
}

# Where the activity came from beyond its file: the export's own catalogue (Strava's
# activities.csv) and cross-source duplicates. Kept when `fitpipe metrics` recomputes.
PROVENANCE: dict[str, pl.DataType] = {
    "source_activity_id": pl.String,
    "source_name": pl.String,
    "source_activity_type": pl.String,
    "sample_channels": pl.Int32,
    "duplicate_of": pl.String,
    "duplicate_rule": pl.String,
    "counts_in_totals": pl.Boolean,
}

ACTIVITIES: dict[str, pl.DataType] = {
    **ACTIVITY_IDENTITY,
    **METRICS,
    **LOAD,
    **DEVICE,
    **RECORDING,
    **PROVENANCE,
    # The thresholds its load used (metrics/load.py), and where they came from.
    "threshold_ftp_w": pl.Float64,
    "threshold_lthr_bpm": pl.Float64,
    "threshold_max_hr_bpm": pl.Float64,
    "threshold_resting_hr_bpm": pl.Float64,
    "threshold_speed_mps": pl.Float64,
    "thresholds_source": pl.String,
    "metrics_version": pl.String,
}

LAPS: dict[str, pl.DataType] = {
    "athlete_id": pl.String,
    "activity_id": pl.String,
    "lap_index": pl.Int32,
    "start_time_utc": UTC,
    **METRICS,
    **LOAD,
    **DEVICE,
}

# Per activity, kind of stream and duration: the mean-maximal curve (metrics/curves.py).
CURVES: dict[str, pl.DataType] = {
    "athlete_id": pl.String,
    "activity_id": pl.String,
    "sport": pl.String,
    "kind": pl.String,  # power (W), heart_rate (bpm), speed (m/s)
    "duration_s": pl.Int32,
    "value": pl.Float64,
    "start_offset_s": pl.Float64,
    "start_time_utc": UTC,
}

# Per activity and distance: the shortest time to cover it (metrics/curves.py).
BEST_EFFORTS: dict[str, pl.DataType] = {
    "athlete_id": pl.String,
    "activity_id": pl.String,
    "sport": pl.String,
    "distance_m": pl.Float64,
    "time_s": pl.Float64,
    "start_offset_s": pl.Float64,
    "start_time_utc": UTC,
}

# Per athlete, sport, period and duration or distance: the best and the activity holding it
# (metrics/bests.py); built from curves and best_efforts at each run.
BESTS: dict[str, pl.DataType] = {
    "athlete_id": pl.String,
    "sport": pl.String,
    "period": pl.String,  # all_time, last_365_days, last_90_days (ending as_of)
    "kind": pl.String,  # power, heart_rate, speed (a curve's), or distance
    "duration_s": pl.Int32,
    "distance_m": pl.Float64,
    "value": pl.Float64,
    "time_s": pl.Float64,
    "activity_id": pl.String,
    "start_time_utc": UTC,
    "date": pl.Date,
    "as_of": pl.Date,
}

# Per athlete, activity day and threshold: the value in force and where it came from
# (metrics/thresholds.py).
THRESHOLDS: dict[str, pl.DataType] = {
    "athlete_id": pl.String,
    "date": pl.Date,
    "threshold": pl.String,  # ftp_w, max_hr_bpm, lthr_run_bpm, lthr_ride_bpm, threshold_run_speed_mps, css_mps, resting_hr_bpm
    "value": pl.Float64,
    "source": pl.String,  # configured, estimated, default
    "model": pl.String,
    "w_prime": pl.Float64,  # J for ftp_w, m for threshold_run_speed_mps, from a critical-power fit
    "window_start": pl.Date,
    "activity_ids": pl.List(pl.String),
}

# Per activity, lap and heart rate: the moving seconds at it (metrics/load.py), from which TRIMP
# and zones follow for any thresholds.
TIME_AT_HR: dict[str, pl.DataType] = {
    "athlete_id": pl.String,
    "activity_id": pl.String,
    "lap_index": pl.Int32,
    "heart_rate_bpm": pl.Float64,
    "moving_s": pl.Float64,
}

# Tables with rows per activity besides activities and laps (replaced as an activity's are); what
# identifies a row of each, and the order they are stored in.
PER_ACTIVITY = {"curves": CURVES, "best_efforts": BEST_EFFORTS, "time_at_hr": TIME_AT_HR}
PER_ACTIVITY_KEYS = {"curves": ["activity_id", "kind", "duration_s"], "best_efforts": ["activity_id", "distance_m"],
                     "time_at_hr": ["activity_id", "lap_index", "heart_rate_bpm"]}

MANIFEST: dict[str, pl.DataType] = {
    "athlete_id": pl.String,
    "path": pl.String,
    "sha256": pl.String,
    "format": pl.String,
    "compression": pl.String,
    "size_bytes": pl.Int64,
    "mtime_ns": pl.Int64,
    "etag": pl.String,
    "status": pl.String,
    "reason": pl.String,
    "activity_ids": pl.List(pl.String),
    "parse_status": pl.String,
    "duplicate_of": pl.String,
}


# One row per athlete: who they are, the thresholds in force today, and their history's span.
ATHLETES: dict[str, pl.DataType] = {
    "athlete_id": pl.String,
    "name": pl.String,
    "timezone": pl.String,
    "sex": pl.String,
    "hr_zones": pl.String,
    "thresholds_from": pl.Date,
    "max_hr": pl.Float64,
    "resting_hr": pl.Float64,
    "lthr": pl.Float64,
    "ftp": pl.Float64,
    "first_activity_local": LOCAL,
    "last_activity_local": LOCAL,
    "activities": pl.UInt32,
}

MANIFEST_STATUSES = ("imported", "duplicate", "not_activity", "rejected", "archive", "catalogue")


def conform(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Exactly the schema's columns, in order and type; absent ones become null."""
    current = df.schema
    if list(current.items()) == list(schema.items()):
        return df  # already conformed: a select of every column would still cost a pass
    # Expressions only for the columns that change: building one per column cost more than the query.
    changed = [name for name, dtype in schema.items() if current.get(name) != dtype]
    return df.with_columns(conformed([c for c in changed if c in current], {c: schema[c] for c in changed})).select(
        list(schema))


def conformed(columns: list[str], schema: dict[str, pl.DataType]) -> list[pl.Expr]:
    """The expressions `conform` selects, for frames with these columns."""
    return [(pl.col(name) if name in columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in schema.items()]
