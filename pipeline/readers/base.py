"""What every reader returns: columns, not per-record objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import polars as pl

from ..normalize.schema import SAMPLES

# Columns a reader may fill in its `records` frame: the sample columns that come
# from the file itself. Readers leave out what the file does not carry.
RECORD_COLUMNS: dict[str, pl.DataType] = {
    name: dtype for name, dtype in SAMPLES.items()
    if name not in ("athlete_id", "activity_id", "elapsed_s", "lap_index", "paused_s")
}

# Summary columns shared by device laps and device sessions.
SUMMARY_COLUMNS: dict[str, pl.DataType] = {
    "start_time_utc": pl.Datetime("us", "UTC"),
    "elapsed_s": pl.Float64,
    "timer_s": pl.Float64,
    "distance_m": pl.Float64,
    "avg_hr_bpm": pl.Float64,
    "max_hr_bpm": pl.Float64,
    "ascent_m": pl.Float64,
    "descent_m": pl.Float64,
    # Which file of a chain of FIT files it came from (0, 1, ...); null for other formats.
    "chained_file": pl.Int32,
}
SESSION_COLUMNS: dict[str, pl.DataType] = {
    **SUMMARY_COLUMNS,
    "sport": pl.String,
    "sub_sport": pl.String,
    "pool_length_m": pl.Float64,
    "end_time_utc": pl.Datetime("us", "UTC"),
}
# Pool swim lengths (FIT `length` messages); `active` is False for rests at the wall.
LENGTH_COLUMNS: dict[str, pl.DataType] = {
    "start_time_utc": pl.Datetime("us", "UTC"),
    "timer_s": pl.Float64,
    "active": pl.Boolean,
    "chained_file": pl.Int32,
}
# FIT timer start and stop events; `running` is True after a start.
TIMER_EVENT_COLUMNS: dict[str, pl.DataType] = {
    "timestamp_utc": pl.Datetime("us", "UTC"),
    "running": pl.Boolean,
    "chained_file": pl.Int32,
}

# Parse statuses, from best to worst; docs/parse-status.md explains each.
PARSE_STATUSES = (
    "ok",
    "crc_mismatch",
    "truncated",
    "trailing_bytes",
    "undefined_local_message",
    "misaligned_field",
    "decode_error",
    "partial_timestamps",
)


NO_LAPS = pl.DataFrame(schema=SUMMARY_COLUMNS)
NO_SESSIONS = pl.DataFrame(schema=SESSION_COLUMNS)


class ReadError(Exception):
    """A file that cannot be read at all; the message is the one-line reason."""


@dataclass
class ParsedFile:
    """The raw, format-neutral content of one input file."""

    format: str
    is_activity: bool
    records: pl.DataFrame
    # Copies of one empty frame each: building an empty frame costs about 0.2 ms, much of the
    # read of a short GPX track.
    laps: pl.DataFrame = field(default_factory=lambda: NO_LAPS.clone())
    sessions: pl.DataFrame = field(default_factory=lambda: NO_SESSIONS.clone())
    parse_status: str = "ok"
    parse_detail: str | None = None
    not_activity_reason: str | None = None
    sport_hint: str | None = None
    sub_sport_hint: str | None = None
    name_hint: str | None = None  # the activity's name as the file gives it (GPX <trk><name>)
    manufacturer: str | None = None
    product: str | None = None
    # Offset the device itself reported (FIT activity.local_timestamp - timestamp).
    device_utc_offset_s: int | None = None
    # FIT timer start/stop events (timestamp_utc, running, chained_file); None when the format has none.
    timer_events: pl.DataFrame | None = None
    # Per record, the chained FIT file it came from; None when the file is not a chain.
    record_chains: np.ndarray | None = None
    # Pool swim lengths (LENGTH_COLUMNS); None when the format has none.
    lengths: pl.DataFrame | None = None
    extras: dict = field(default_factory=dict)


class Reader(Protocol):
    def __call__(self, data: bytes, name: str) -> ParsedFile: ...


def frame(columns: dict[str, list], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Build a frame from column lists, keeping only the schema's columns, in its order."""
    present = {name: columns[name] for name in schema if name in columns}
    n = len(next(iter(present.values()))) if present else 0
    data = {name: present.get(name, [None] * n) for name in schema}
    return pl.DataFrame(data, schema=schema, strict=False)


def rows_frame(rows: list[dict], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Build a frame from a few row dicts (laps, sessions): for a handful of rows this is
    ten times faster than `frame`, whose cost is per column. Keys outside the schema are ignored."""
    return pl.from_dicts(rows, schema=schema, strict=False)


def timestamp_status(timed: int, points: int, noun: str) -> tuple[str, str | None]:
    """parse_status and parse_detail of a file whose untimed points were left out."""
    if timed >= points:
        return "ok", None
    return "partial_timestamps", f"{points - timed} of {points} {noun} have no time and were left out"


def in_time_order(records: pl.DataFrame) -> pl.DataFrame:
    """Records sorted by time, ties in file order; most files already are, and checking costs a
    fraction of sorting."""
    if records["timestamp_utc"].is_sorted():
        return records
    return records.sort("timestamp_utc", maintain_order=True)


def not_activity(fmt: str, reason: str) -> ParsedFile:
    return ParsedFile(
        format=fmt,
        is_activity=False,
        records=frame({}, RECORD_COLUMNS),
        not_activity_reason=reason,
    )


def constant(name: str, value, length: int, dtype: pl.DataType | None = None) -> pl.Series:
    """A column of `length` times `value` (None: nulls). pl.repeat and pl.lit cost ~0.1 ms a
    call through the query engine; this costs a tenth of that."""
    return pl.Series(name, [value], dtype=dtype).new_from_index(0, length)


def epoch_us(times: pl.Series) -> np.ndarray:
    """Microseconds since the epoch: int64, or float64 with NaN where a time is null. A
    Datetime("us") column without nulls is read as it is stored; .dt.epoch goes through
    polars' query engine, which costs ~50 us a call whatever the column's length."""
    if getattr(times.dtype, "time_unit", None) == "us" and not times.has_nulls():
        return times.to_numpy().view(np.int64)
    return times.dt.epoch("us").to_numpy()


def one_line(exc: BaseException) -> str:
    """An exception as one line, for a manifest reason or a cron log record."""
    return " ".join(str(exc).split()) or type(exc).__name__


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """For readers that make many small objects (tuples, strings, elements) and no reference
    cycles: the cyclic collector's passes over them, and over everything else alive in the
    process, are pure cost. They were about a fifth of a GPX read, and made the median FIT
    decode of garmin-fr935-cr a third slower in a process holding many objects. Reference
    counting still frees everything; the collector's state is restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
