"""Turn one parsed file into canonical activity, lap and sample tables."""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

import numpy as np
import polars as pl

from . import bounds, schema
from .schema import DEFAULT_ATHLETE
from ..readers import ParsedFile
from ..readers.base import constant, epoch_us
from .sports import canonical_sport, raw_sport
from .timezones import offset_for_local_wall_time, resolve_offset

EARTH_RADIUS_M = 6_371_008.8
# Without device timer events, an interval between two samples longer than this is a pause
# (auto-pause, or the device off): elapsed time, never timer or moving time. The timer beyond
# the first and last sample counts only up to this long, too.
PAUSE_GAP_S = 10.0


@dataclass
class Activities:
    """Normalized content of one file: any number of activities."""

    activities: pl.DataFrame
    laps: pl.DataFrame
    samples: pl.DataFrame  # schema.SAMPLES plus the partition columns sport and year
    # Computed with the metrics (metrics/curves.py, metrics/load.py); empty until then.
    curves: pl.DataFrame = field(default_factory=lambda: _empty_frames()[3])
    best_efforts: pl.DataFrame = field(default_factory=lambda: _empty_frames()[4])
    time_at_hr: pl.DataFrame = field(default_factory=lambda: _empty_frames()[5])

    @classmethod
    def empty(cls) -> "Activities":
        return cls(*_empty_frames())


@lru_cache(maxsize=1)
def _empty_frames() -> tuple[pl.DataFrame, ...]:
    """Built once: a frame of ~70 typed columns costs milliseconds, and every file needs one.
    Sharing is safe because nothing changes a frame in place."""
    return (
        pl.DataFrame(schema=schema.ACTIVITIES),
        pl.DataFrame(schema=schema.LAPS),
        pl.DataFrame(schema={**schema.SAMPLES, **schema.SAMPLE_PARTITIONS}),
        pl.DataFrame(schema=schema.CURVES),
        pl.DataFrame(schema=schema.BEST_EFFORTS),
        pl.DataFrame(schema=schema.TIME_AT_HR),
    )


def activity_id(source_sha256: str, session_index: int, athlete_id: str = DEFAULT_ATHLETE) -> str:
    """Stable: the same file content always yields the same ids, for the same athlete; the same
    file under two athletes (a group ride both uploaded) gives each their own activity. The
    default athlete's ids are the ones fitpipe gave before it knew athletes."""
    key = f"{source_sha256}:{session_index}" if athlete_id == DEFAULT_ATHLETE else \
        f"{athlete_id}:{source_sha256}:{session_index}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def parent_id(source_sha256: str, athlete_id: str = DEFAULT_ATHLETE) -> str:
    """Groups the activities of one multisport file (of one athlete)."""
    if athlete_id == DEFAULT_ATHLETE:
        return source_sha256[:16]
    return hashlib.sha256(f"{athlete_id}:{source_sha256}".encode()).hexdigest()[:16]


def prepare(parsed: ParsedFile, source_path: str, source_sha256: str, default_zone: str,
            athlete_id: str = DEFAULT_ATHLETE) -> Activities:
    """Canonical samples, device laps and activity identities, before any metric.

    `with_metrics` finishes them; it works on many files' activities at once, which is how
    ingest amortizes its fixed cost over a batch of files."""
    records, chains = parsed.records, parsed.record_chains
    if not records["timestamp_utc"].is_sorted():  # devices write in order: skip the copy
        order = np.argsort(epoch_us(records["timestamp_utc"]), kind="stable")
        records, chains = records[order], None if chains is None else chains[order]
    sessions, laps = _by_start(parsed.sessions), _by_start(parsed.laps)
    timer_events = parsed.timer_events
    wall_clock_offset = None
    if parsed.extras.get("timestamps_are_local"):
        # Device-relative clocks were anchored on local wall time: subtract the zone's offset.
        wall_clock_offset = offset_for_local_wall_time(default_zone, records["timestamp_utc"][0].replace(tzinfo=None))
        shift = timedelta(seconds=wall_clock_offset)
        records, timer_events = _earlier(records, "timestamp_utc", shift), _earlier(timer_events, "timestamp_utc", shift)
        sessions, laps = _earlier(sessions, "start_time_utc", shift), _earlier(laps, "start_time_utc", shift)
        sessions = _earlier(sessions, "end_time_utc", shift)

    records, out_of_bounds = bounds.within_bounds(records)
    split = sessions_of_records(records["timestamp_utc"], chains, sessions)
    notes = [note for note in (out_of_bounds, split.note) if note]
    parse_detail = "; ".join([parsed.parse_detail, *notes] if parsed.parse_detail else notes) or None
    session_count = max(sessions.height, 1)
    parent = parent_id(source_sha256, athlete_id) if session_count > 1 else None
    identities, samples_parts, lap_parts = [], [], []
    previous_distance: dict[int, float | None] = {}
    for index, session_records, chain in _session_parts(records, chains, split.index, timer_events, session_count):
        session_records, previous_distance[chain] = _distance_from_session_start(
            session_records, previous_distance.get(chain))
        session = sessions.row(index, named=True) if index < sessions.height else {}
        identity = _identity(parsed, session, session_records, index, default_zone, wall_clock_offset)
        span = _session_bounds(sessions, index)
        identity.update(athlete_id=athlete_id, activity_id=activity_id(source_sha256, index, athlete_id),
                        parent_id=parent,
                        source_path=source_path, source_sha256=source_sha256, parse_detail=parse_detail,
                        timer_outside_samples_s=_timer_outside_samples(
                            session_records["timestamp_utc"], _of_chain(timer_events, chain), span),
                        **_pool_lengths(session, _within(_of_chain(parsed.lengths, chain), session_records, span)))
        session_laps = _within(_of_chain(laps, chain), session_records, span)
        samples_parts.append(_samples(session_records, session_laps, identity))
        lap_parts.append(_device_laps(session_laps, identity["activity_id"]))
        identities.append(identity)
    if not identities:
        return Activities.empty()
    return Activities(
        pl.from_dicts(identities, schema={**schema.ACTIVITY_IDENTITY, **schema.DEVICE, **schema.RECORDING,
                                         "source_name": pl.String}, strict=False),
        _concat(lap_parts),
        _concat(samples_parts),
    )


def _by_start(summaries: pl.DataFrame) -> pl.DataFrame:
    """Sorted by start, ties in file order (chained files may start sessions in the same second)."""
    if summaries.height <= 1:
        return summaries
    return summaries.sort("start_time_utc", nulls_last=True, maintain_order=True)


def _session_parts(records: pl.DataFrame, chains: np.ndarray | None, session_of: np.ndarray,
                   timer_events: pl.DataFrame | None, sessions: int):
    """(session index, its records with derived columns, its chained file) per session with
    records, in session order. Derived columns (speed from distance, paused time) are computed
    over each chained file's records on their own: two files of a chain may record the same
    minutes."""
    if chains is None or (chains[0] == chains).all():
        chain = None if chains is None else int(chains[0])
        derived = _with_derived_columns(records, _of_chain(timer_events, chain))
        for index, part in _split(derived, session_of, sessions):
            yield index, part, chain
        return
    parts: dict[int, list[tuple[pl.DataFrame, int]]] = {}
    for chain in np.unique(chains).tolist():
        mine = chains == chain
        derived = _with_derived_columns(records.filter(pl.Series(mine)), _of_chain(timer_events, chain))
        for index, part in _split(derived, session_of[mine], sessions):
            parts.setdefault(index, []).append((part, chain))
    for index in sorted(parts):
        frames = [frame for frame, _ in parts[index]]
        merged = frames[0] if len(frames) == 1 else pl.concat(frames).sort("timestamp_utc", maintain_order=True)
        yield index, merged, parts[index][0][1]


def _split(records: pl.DataFrame, session_of: np.ndarray, sessions: int):
    """(session index, its records) for each session that has records."""
    if sessions == 1 or (session_of[0] == session_of).all():
        yield int(session_of[0]), records
        return
    for index in range(sessions):
        part = session_of == index
        if part.any():
            yield index, records.filter(pl.Series(part))


@dataclass
class SessionSplit:
    index: np.ndarray  # per record, its session's index (sessions sorted by start)
    note: str | None  # records outside every session's span, sessions without records


def sessions_of_records(times: pl.Series, chains: np.ndarray | None, sessions: pl.DataFrame) -> SessionSplit:
    """Give each record to the session whose own span (start to start + elapsed, or to its end
    time) holds it, among the sessions of the record's chained file (all sessions when that file
    has none); where spans overlap, the latest-starting one. A record outside every span goes to
    the last of those sessions that started before it (or the first): counted in the note."""
    count = times.len()
    if sessions.height == 0:
        return SessionSplit(np.zeros(count, dtype=np.int64), None)
    if sessions.height == 1:  # the usual file: every record is its session's; only count strays
        start, end = _span_us(sessions, 0)
        first, last = epoch_us(times[:1])[0], epoch_us(times[-1:])[0]
        if first >= start and last <= end:
            return SessionSplit(np.zeros(count, dtype=np.int64), None)
    t = epoch_us(times)
    starts = epoch_us(sessions["start_time_utc"])  # NaN where unknown: holds nothing
    ends = np.fmax(starts + sessions["elapsed_s"].fill_null(np.nan).to_numpy() * 1e6,
                   epoch_us(sessions["end_time_utc"]))
    candidate = _candidate_sessions(chains, sessions["chained_file"], count)
    inside = np.full(count, -1)
    fallback = np.full(count, -1)
    for i in reversed(range(sessions.height)):  # each record's first candidate
        fallback[candidate(i)] = i
    for i in range(sessions.height):
        mine = candidate(i)
        inside[mine & (t >= starts[i]) & (t <= ends[i])] = i
        fallback[mine & (t >= starts[i])] = i
    outside = inside < 0
    index = np.where(outside, fallback, inside)
    notes = []
    if outside.any():
        notes.append(f"{int(outside.sum())} of {count} records lie outside every session's time span "
                     "and went to the last session that started before them (or the first)")
    empty = sorted(set(range(sessions.height)) - set(np.unique(index).tolist()))
    if empty:
        notes.append("session(s) without records left out: " + ", ".join(
            f"{i} ({sessions['sport'][i] or 'no sport'}, {_time_text(sessions['start_time_utc'][i])})" for i in empty))
    return SessionSplit(index, "; ".join(notes) or None)


def _span_us(sessions: pl.DataFrame, index: int) -> tuple[float, float]:
    """Session `index`'s span in microseconds (start NaN when unknown: a span that holds nothing)."""
    row = sessions.row(index, named=True)
    start = np.nan if row["start_time_utc"] is None else row["start_time_utc"].timestamp() * 1e6
    elapsed_end = start + row["elapsed_s"] * 1e6 if row["elapsed_s"] is not None else np.nan
    end_time = np.nan if row["end_time_utc"] is None else row["end_time_utc"].timestamp() * 1e6
    return start, np.fmax(elapsed_end, end_time)


def _candidate_sessions(chains: np.ndarray | None, session_chains: pl.Series, count: int):
    """candidate(i): which records session i may take (a boolean mask)."""
    everyone = np.ones(count, dtype=bool)
    if chains is None or session_chains.null_count() == session_chains.len():
        return lambda i: everyone
    own = session_chains.to_numpy()
    with_sessions = np.isin(chains, own)
    return lambda i: (chains == own[i]) | ~with_sessions


def _time_text(value) -> str:
    return "no start time" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _of_chain(frame: pl.DataFrame | None, chain: int | None) -> pl.DataFrame | None:
    """The rows of one chained FIT file (rows without chain information are everyone's)."""
    if frame is None or chain is None or "chained_file" not in frame.columns:
        return frame
    chained = frame["chained_file"]
    if chained.null_count() == chained.len() or (chained == chain).all():
        return frame
    return frame.filter(pl.col("chained_file").is_null() | (pl.col("chained_file") == chain))


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


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
    sub_sport = session.get("sub_sport") if session.get("sport") else parsed.sub_sport_hint
    return {
        "session_index": index,
        "format": parsed.format,
        "manufacturer": parsed.manufacturer,
        "product": parsed.product,
        "sport": canonical_sport(sport_name, sub_sport, parsed.format),
        "sport_raw": raw_sport(sport_name, sub_sport),
        "source_name": parsed.name_hint,
        "sub_sport": sub_sport if sub_sport not in (None, "generic") else None,
        "start_time_utc": start,
        "start_time_local": (start + timedelta(seconds=offset)).replace(tzinfo=None),
        "utc_offset_s": offset,
        "utc_offset_source": source,
        "parse_status": parsed.parse_status,
        "parse_detail": parsed.parse_detail,
        "device_distance_m": session.get("distance_m"),
        "device_timer_s": session.get("timer_s"),
        "device_avg_hr_bpm": _heart_rate(session.get("avg_hr_bpm")),
        "device_max_hr_bpm": _heart_rate(session.get("max_hr_bpm")),
        "device_ascent_m": session.get("ascent_m"),
    }


def _heart_rate(bpm: float | None) -> float | None:
    """A heart rate the file states, with 0 ("no strap") as missing, as in the samples."""
    return bpm if bpm is not None and bpm > 0 else None


def _first_position(records: pl.DataFrame) -> tuple[float, float] | None:
    lat, lon = records["lat_deg"], records["lon_deg"]
    if not lat.null_count() and not lon.null_count():  # usual, and cheaper than the filter below
        return lat[0], lon[0]
    positions = records.filter(pl.col("lat_deg").is_not_null() & pl.col("lon_deg").is_not_null())
    return (positions["lat_deg"][0], positions["lon_deg"][0]) if positions.height else None


def _within(summaries: pl.DataFrame | None, records: pl.DataFrame, span: tuple) -> pl.DataFrame | None:
    """The laps (or lengths) that start during these records, or during their session (`span`:
    its start and end, see _session_bounds): a pool swim's first length starts before the record
    at its end."""
    if summaries is None:
        return None
    times = epoch_us(records["timestamp_utc"])
    session_start, session_end = (np.nan if t is None else t.timestamp() * 1e6 for t in span)
    starts = epoch_us(summaries["start_time_utc"])  # NaN where null: never inside
    first = np.fmin(times[0], session_start) - 1_000_000
    inside = (starts >= first) & ((starts <= times[-1]) | (starts < session_end))
    return summaries if inside.all() else summaries.filter(pl.Series(inside))


def _session_bounds(sessions: pl.DataFrame, index: int) -> tuple:
    """This session's start, and its end: its own end time or the start of the next session of
    its chained file, whichever is earlier."""
    if index >= sessions.height:
        return None, None
    row = sessions.row(index, named=True)
    later = sessions.slice(index + 1)
    if row["chained_file"] is not None:
        later = later.filter(pl.col("chained_file") == row["chained_file"])
    ends = [t for t in (row.get("end_time_utc"), later["start_time_utc"][0] if later.height else None) if t is not None]
    return row["start_time_utc"], min(ends) if ends else None


def _timer_outside_samples(times: pl.Series, events: pl.DataFrame | None, bounds: tuple) -> float | None:
    """Timer time before the first and after the last sample of one activity.

    Before: from the timer's start, or the session's start when that is later, to the
    first sample. After: from the last sample to the timer's stop, or to the session's
    end when that is earlier (the sessions of a multisport file follow each other). Each counts only up to PAUSE_GAP_S: a device that wrote no sample for
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
    return (lead if lead <= PAUSE_GAP_S else 0.0) + (tail if tail <= PAUSE_GAP_S else 0.0)


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
        constant("athlete_id", identity["athlete_id"], rows),
        constant("activity_id", identity["activity_id"], rows),
        pl.Series("elapsed_s", (times_us - times_us[0]) * 1e-6),  # as polars divides by 1e6, to the bit
        _bucket(records["timestamp_utc"], laps["start_time_utc"]).alias("lap_index"),
        constant("sport", identity["sport"], rows),
        constant("year", identity["start_time_local"].year, rows, pl.Int32),
    ])


def _device_laps(laps: pl.DataFrame, activity: str) -> pl.DataFrame:
    heart_rates = {"device_avg_hr_bpm", "device_max_hr_bpm"}  # 0 ("no strap") is missing
    columns = [(k, pl.col(k.removeprefix("device_"))) for k in schema.DEVICE if k.removeprefix("device_") in laps.columns]
    return laps.select(
        "start_time_utc",
        *[(pl.when(value > 0).then(value) if name in heart_rates else value).alias(name) for name, value in columns],
        activity_id=pl.lit(activity),
        lap_index=pl.int_range(pl.len(), dtype=pl.Int32),
    )


def _with_derived_columns(records: pl.DataFrame, timer_events: pl.DataFrame | None) -> pl.DataFrame:
    """Distance from positions when the device gave none, speed from distance over time where
    the device gave none, and paused_s. In one pass, and only the columns that
    change: each expression over a file's records costs more than its arithmetic."""
    if records["distance_m"].null_count() == records.height and records["lat_deg"].null_count() < records.height:
        records = records.with_columns(distance_m=_cumulative_haversine(records))
    derived = {"paused_s": _paused_seconds(records["timestamp_utc"], timer_events)}
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
