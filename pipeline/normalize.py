"""Turn one parsed file into canonical activity, lap and sample tables."""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

import numpy as np
import polars as pl

from . import load, metrics, schema
from .config import Athlete
from .readers import ParsedFile
from .readers.base import constant, epoch_us
from .sports import canonical_sport
from .timezones import offset_for_local_wall_time, resolve_offset

EARTH_RADIUS_M = 6_371_008.8


@dataclass
class Activities:
    """Normalized content of one file: any number of activities."""

    activities: pl.DataFrame
    laps: pl.DataFrame
    samples: pl.DataFrame  # schema.SAMPLES plus the partition columns sport and year

    @classmethod
    def empty(cls) -> "Activities":
        return cls(*_empty_frames())


@lru_cache(maxsize=1)
def _empty_frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Built once: a frame of ~70 typed columns costs milliseconds, and every file needs one.
    Sharing is safe because nothing changes a frame in place."""
    return (
        pl.DataFrame(schema=schema.ACTIVITIES),
        pl.DataFrame(schema=schema.LAPS),
        pl.DataFrame(schema={**schema.SAMPLES, **schema.SAMPLE_PARTITIONS}),
    )


def activity_id(source_sha256: str, session_index: int) -> str:
    """Stable: the same file content always yields the same ids."""
    return hashlib.sha256(f"{source_sha256}:{session_index}".encode()).hexdigest()[:16]


def prepare(parsed: ParsedFile, source_path: str, source_sha256: str, default_zone: str) -> Activities:
    """Canonical samples, device laps and activity identities, before any metric.

    `with_metrics` finishes them; it works on many files' activities at once, which is how
    ingest amortizes its fixed cost over a batch of files."""
    records = parsed.records
    if not records["timestamp_utc"].is_sorted():  # devices write in order: skip the copy
        records = records.sort("timestamp_utc", maintain_order=True)
    sessions, laps = _by_start(parsed.sessions), _by_start(parsed.laps)
    timer_events = parsed.timer_events
    wall_clock_offset = None
    if parsed.extras.get("timestamps_are_local"):
        # Device-relative clocks were anchored on local wall time: subtract the zone's offset.
        wall_clock_offset = offset_for_local_wall_time(default_zone, records["timestamp_utc"][0].replace(tzinfo=None))
        shift = timedelta(seconds=wall_clock_offset)
        records, timer_events = _earlier(records, "timestamp_utc", shift), _earlier(timer_events, "timestamp_utc", shift)
        sessions, laps = _earlier(sessions, "start_time_utc", shift), _earlier(laps, "start_time_utc", shift)

    records = _with_derived_columns(records, timer_events)
    session_count = max(sessions.height, 1)
    parent = source_sha256[:16] if session_count > 1 else None
    identities, samples_parts, lap_parts = [], [], []
    previous_distance = None
    for index, session_records in enumerate(_split_by_session(records, sessions)):
        if session_records.is_empty():
            continue
        session_records, previous_distance = _distance_from_session_start(session_records, previous_distance)
        session = sessions.row(index, named=True) if index < sessions.height else {}
        identity = _identity(parsed, session, session_records, index, default_zone, wall_clock_offset)
        identity.update(activity_id=activity_id(source_sha256, index), parent_id=parent,
                        source_path=source_path, source_sha256=source_sha256,
                        timer_outside_samples_s=_timer_outside_samples(
                            session_records["timestamp_utc"], timer_events, _session_bounds(sessions, index)),
                        **_pool_lengths(session, _within(parsed.lengths, session_records)))
        session_laps = _within(laps, session_records)
        samples_parts.append(_samples(session_records, session_laps, identity))
        lap_parts.append(_device_laps(session_laps, identity["activity_id"]))
        identities.append(identity)
    if not identities:
        return Activities.empty()
    return Activities(
        pl.from_dicts(identities, schema={**schema.ACTIVITY_IDENTITY, **schema.DEVICE, **schema.RECORDING}, strict=False),
        _concat(lap_parts),
        _concat(samples_parts),
    )


def _by_start(summaries: pl.DataFrame) -> pl.DataFrame:
    return summaries if summaries.height <= 1 else summaries.sort("start_time_utc", nulls_last=True)


def _split_by_session(records: pl.DataFrame, sessions: pl.DataFrame) -> list[pl.DataFrame]:
    """Each session's records: those from its start until the next session's (one per session,
    at least one)."""
    if sessions.height <= 1:
        return [records]
    index = _bucket(records["timestamp_utc"], sessions["start_time_utc"])
    return [records.filter(index == i) for i in range(sessions.height)]


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def with_metrics(identity: pl.DataFrame, device_laps: pl.DataFrame, samples: pl.DataFrame,
                 athlete: Athlete) -> Activities:
    """Compute every metric column from samples; used at ingest and by `fitpipe metrics`."""
    with_thresholds, identity = load.attach_thresholds(samples, identity, athlete)
    weighted = load.with_load_columns(metrics.with_sample_weights(with_thresholds), athlete)
    extra = load.load_aggregations(athlete)

    def summary(keys: list[str], samples: pl.DataFrame = weighted, more: list[pl.Expr] = ()) -> pl.DataFrame:
        summary = metrics.summarize(load.with_halves(samples, keys), keys, [*extra, *LAP_FACTS, *more],
                                    athlete.ascent_hysteresis_m)
        return load.derived_load(summary, athlete).drop("sport")

    per_activity = summary(["activity_id"], more=ACTIVITY_LAP_FACTS)
    per_lap = _lap_summaries(weighted, per_activity, summary)
    metric_names = [*schema.METRICS, *schema.LOAD]
    activities = metrics.with_recording_facts(
        identity.drop([c for c in metric_names if c in identity.columns]).join(per_activity, on="activity_id", how="left")
    ).with_columns(metrics_version=pl.lit(metrics.METRICS_VERSION))
    laps = per_lap.join(device_laps.drop([c for c in metric_names if c in device_laps.columns]),
                        on=["activity_id", "lap_index"], how="left")
    laps = laps.with_columns(start_time_utc=pl.coalesce("start_time_utc", "first_sample_utc"))
    return Activities(
        activities=schema.conform(activities, schema.ACTIVITIES),
        laps=schema.conform(laps, schema.LAPS).sort("activity_id", "lap_index"),
        samples=schema.conform(samples, {**schema.SAMPLES, **schema.SAMPLE_PARTITIONS}),
    )


# Aggregated with every summary: a lap's start where the device wrote none.
LAP_FACTS = [pl.col("timestamp_utc").min().alias("first_sample_utc")]
# Aggregated per activity: how many laps it has, and the one lap's index when it has one.
ACTIVITY_LAP_FACTS = [pl.col("lap_index").n_unique().alias("lap_count"), pl.col("lap_index").first()]


def _lap_summaries(samples: pl.DataFrame, per_activity: pl.DataFrame, summary) -> pl.DataFrame:
    """Per-lap metrics. A one-lap activity's lap has exactly its activity's samples, in the
    same order, so its metrics are the activity's: only activities with laps are summarized again."""
    single = per_activity.filter(pl.col("lap_count") == 1)
    if single.height == per_activity.height:
        return single
    lapped = per_activity.filter(pl.col("lap_count") > 1)["activity_id"]
    with_laps = samples.filter(pl.col("activity_id").is_in(lapped.implode()))
    several = summary(["activity_id", "lap_index"], with_laps)
    return pl.concat([single.select(several.columns), several])


def _paused_seconds(times: pl.Series, events: pl.DataFrame | None) -> pl.Series:
    """Per sample: seconds of the interval since the previous sample with the device timer stopped.

    Null for every sample when the file has no timer events. Before the first event the
    timer counts as running.
    """
    if events is None or events.is_empty() or times.is_empty():
        return constant("paused_s", None, times.len(), pl.Float64)
    event_s = epoch_us(events["timestamp_utc"]) / 1e6
    stopped = ~events["running"].to_numpy()
    # Stopped time accumulated from the first event up to each event.
    stopped_before = np.concatenate(([0.0], np.cumsum(np.diff(event_s) * stopped[:-1])))

    def stopped_until(t: np.ndarray) -> np.ndarray:
        k = np.searchsorted(event_s, t, side="right") - 1
        inside = np.maximum(k, 0)
        return np.where(k >= 0, stopped_before[inside] + (t - event_s[inside]) * stopped[inside], 0.0)

    sample_s = epoch_us(times) / 1e6
    cumulative = stopped_until(sample_s)
    return pl.Series("paused_s", np.concatenate(([0.0], np.diff(cumulative))), dtype=pl.Float64)


def _without_nulls(values: pl.Series) -> pl.Series:
    # drop_nulls runs a query (~50 us) even when there is nothing to drop.
    return values.drop_nulls() if values.null_count() else values


def _bucket(times: pl.Series, starts: pl.Series) -> pl.Series:
    """Index of the last start at or before each time (0 for times before the first)."""
    valid = _without_nulls(starts)
    if valid.len() <= 1:
        return pl.Series(np.zeros(times.len(), dtype=np.int32))
    index = np.searchsorted(epoch_us(valid), epoch_us(times), side="right") - 1
    return pl.Series(np.clip(index, 0, None).astype(np.int32))


def _identity(parsed: ParsedFile, session: dict, records: pl.DataFrame, index: int, zone: str,
              wall_clock_offset: int | None) -> dict:
    start = records["timestamp_utc"][0]
    if wall_clock_offset is not None:
        # The clock was local wall time converted with `zone`: local time must agree with it.
        offset, source = wall_clock_offset, "default_zone"
    else:
        offset, source = resolve_offset(start, parsed.device_utc_offset_s, _first_position(records), zone)
    sport_name = session.get("sport") or parsed.sport_hint
    sub_sport = session.get("sub_sport") or parsed.sub_sport_hint
    return {
        "session_index": index,
        "format": parsed.format,
        "manufacturer": parsed.manufacturer,
        "product": parsed.product,
        "sport": canonical_sport(sport_name, sub_sport),
        "sub_sport": sub_sport if sub_sport not in (None, "generic") else None,
        "start_time_utc": start,
        "start_time_local": (start + timedelta(seconds=offset)).replace(tzinfo=None),
        "utc_offset_s": offset,
        "utc_offset_source": source,
        "parse_status": parsed.parse_status,
        "parse_detail": parsed.parse_detail,
        "device_distance_m": session.get("distance_m"),
        "device_timer_s": session.get("timer_s"),
        "device_avg_hr_bpm": session.get("avg_hr_bpm"),
        "device_max_hr_bpm": session.get("max_hr_bpm"),
        "device_ascent_m": session.get("ascent_m"),
    }


def _first_position(records: pl.DataFrame) -> tuple[float, float] | None:
    lat, lon = records["lat_deg"], records["lon_deg"]
    if not lat.null_count() and not lon.null_count():  # usual, and cheaper than the filter below
        return lat[0], lon[0]
    positions = records.filter(pl.col("lat_deg").is_not_null() & pl.col("lon_deg").is_not_null())
    return (positions["lat_deg"][0], positions["lon_deg"][0]) if positions.height else None


def _within(summaries: pl.DataFrame | None, records: pl.DataFrame) -> pl.DataFrame | None:
    """The laps (or lengths) that start during these records."""
    if summaries is None:
        return None
    times = epoch_us(records["timestamp_utc"])
    starts = epoch_us(summaries["start_time_utc"])  # NaN where null: never inside
    inside = (starts >= times[0] - 1_000_000) & (starts <= times[-1])
    return summaries if inside.all() else summaries.filter(pl.Series(inside))


def _session_bounds(sessions: pl.DataFrame, index: int) -> tuple:
    """This session's start, and its end: its own end time or the next session's start."""
    if index >= sessions.height:
        return None, None
    row = sessions.row(index, named=True)
    next_start = sessions["start_time_utc"][index + 1] if index + 1 < sessions.height else None
    ends = [t for t in (row.get("end_time_utc"), next_start) if t is not None]
    return row["start_time_utc"], min(ends) if ends else None


def _timer_outside_samples(times: pl.Series, events: pl.DataFrame | None, bounds: tuple) -> float | None:
    """Timer time before the first and after the last sample of one activity.

    Before: from the timer's start, or the session's start when that is later, to the
    first sample. After: from the last sample to the timer's stop, or to the session's
    end when that is earlier (the sessions of a multisport file follow each other). Each counts only up to metrics.PAUSE_GAP_S: a device that wrote no sample for
    longer had stopped recording, as the gap rule says. Null when the file has no timer events.
    """
    if events is None or events.is_empty():
        return None
    first, last = times.min(), times.max()
    session_start, session_end = bounds
    # A handful of events: plain lists beat a dozen tiny DataFrame filters.
    stamps, running = events["timestamp_utc"].to_list(), events["running"].to_list()
    at_first, at_last = bisect_right(stamps, first), bisect_right(stamps, last)
    running_at_first = at_first == 0 or running[at_first - 1]
    running_at_last = at_last == 0 or running[at_last - 1]
    stop_after = [stamps[at_last]] if at_last < len(stamps) and not running[at_last] else []
    lead_from = [t for t in [*stamps[max(at_first - 1, 0):at_first], session_start] if t is not None and t <= first]
    tail_to = [t for t in [*stop_after, session_end] if t is not None and t > last]
    lead = (first - max(lead_from)).total_seconds() if running_at_first and lead_from else 0.0
    tail = (min(tail_to) - last).total_seconds() if running_at_last and tail_to else 0.0
    return (lead if lead <= metrics.PAUSE_GAP_S else 0.0) + (tail if tail <= metrics.PAUSE_GAP_S else 0.0)


def _distance_from_session_start(records: pl.DataFrame, previous_end: float | None) -> tuple[pl.DataFrame, float | None]:
    """Make every activity's cumulative distance stream count from its own start.

    A file's first session keeps its stream: it counts from the start, so distance the
    device covered before its first record is kept. A later session whose stream runs on
    from the previous one is rebased on its own first value; a stream that restarted (a
    multisport leg) is kept. Returns the stream's raw end for the next session.
    """
    distances = _without_nulls(records["distance_m"])
    if distances.is_empty():
        return records, previous_end
    if previous_end is not None and distances[0] >= previous_end:
        records = records.with_columns(pl.col("distance_m") - distances[0])
    return records, distances[-1]


def _pool_lengths(session: dict, lengths: pl.DataFrame | None) -> dict:
    """Pool length, and the count and timer time of the active lengths (rests excluded)."""
    pool_length = session.get("pool_length_m")
    if not pool_length or lengths is None or lengths.is_empty():
        return {}
    active = lengths.filter("active")
    return {"pool_length_m": pool_length, "pool_active_lengths": active.height,
            "pool_active_lengths_s": active["timer_s"].sum()}


def _samples(records: pl.DataFrame, laps: pl.DataFrame, identity: dict) -> pl.DataFrame:
    # Columns made here and stacked on: with_columns would cost ten times as much, in the query engine.
    times_us = epoch_us(records["timestamp_utc"])
    rows = records.height
    return records.hstack([
        constant("activity_id", identity["activity_id"], rows),
        pl.Series("elapsed_s", (times_us - times_us[0]) * 1e-6),  # as polars divides by 1e6, to the bit
        _bucket(records["timestamp_utc"], laps["start_time_utc"]).alias("lap_index"),
        constant("sport", identity["sport"], rows),
        constant("year", identity["start_time_local"].year, rows, pl.Int32),
    ])


def _device_laps(laps: pl.DataFrame, activity: str) -> pl.DataFrame:
    return laps.select(
        "start_time_utc",
        *[pl.col(k.removeprefix("device_")).alias(k) for k in schema.DEVICE if k.removeprefix("device_") in laps.columns],
        activity_id=pl.lit(activity),
        lap_index=pl.int_range(pl.len(), dtype=pl.Int32),
    )


def _with_derived_columns(records: pl.DataFrame, timer_events: pl.DataFrame | None) -> pl.DataFrame:
    """Zero heart rate dropped (Zwift and others write 0 bpm for "no strap"; a living athlete
    never has 0), distance from positions when the device gave none, speed from distance over
    time where the device gave none, and paused_s. In one pass, and only the columns that
    change: each expression over a file's records costs more than its arithmetic."""
    if records["distance_m"].null_count() == records.height and records["lat_deg"].null_count() < records.height:
        records = records.with_columns(distance_m=_cumulative_haversine(records))
    derived = {"paused_s": _paused_seconds(records["timestamp_utc"], timer_events)}
    if (records["heart_rate_bpm"].to_numpy() <= 0).any():  # NaN (null) is kept either way
        derived["heart_rate_bpm"] = pl.when(pl.col("heart_rate_bpm") > 0).then(pl.col("heart_rate_bpm"))
    if records["speed_mps"].null_count():
        dt = pl.col("timestamp_utc").diff().dt.total_microseconds() / 1e6
        from_distance = pl.when(dt > 0).then(pl.col("distance_m").diff() / dt)
        derived["speed_mps"] = pl.coalesce("speed_mps", from_distance.clip(lower_bound=0))
    return records.with_columns(**derived)


def _cumulative_haversine(records: pl.DataFrame) -> pl.Series:
    positioned = records.select(
        pl.col("lat_deg").forward_fill().radians().alias("lat"),
        pl.col("lon_deg").forward_fill().radians().alias("lon"),
    )
    lat, lon = positioned["lat"].to_numpy(), positioned["lon"].to_numpy()
    dlat, dlon = np.diff(lat), np.diff(lon)
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:-1]) * np.cos(lat[1:]) * np.sin(dlon / 2) ** 2
    step = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    cumulative = np.concatenate(([0.0], np.cumsum(np.nan_to_num(step))))
    # Before the first fix there is no distance to speak of.
    cumulative[np.isnan(lat)] = np.nan
    return pl.Series("distance_m", cumulative).fill_nan(None)


def _earlier(frame: pl.DataFrame | None, column: str, shift: timedelta) -> pl.DataFrame | None:
    return None if frame is None else frame.with_columns(pl.col(column) - shift)
