"""FIT reader: salvages every message decoded before any damage.

Two decoder engines feed the same code: fit_columns' NumPy decoder (the default) and
fitparse (the reference, `--fit-engine fitparse`).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import fitparse
import numpy as np
import polars as pl
from fitparse.utils import FitCRCError, FitEOFError, FitHeaderError, FitParseError

from .fit_columns import cells, decode
from .base import (
    LENGTH_COLUMNS,
    RECORD_COLUMNS,
    SESSION_COLUMNS,
    SUMMARY_COLUMNS,
    ParsedFile,
    ReadError,
    constant,
    epoch_us,
    not_activity,
    rows_frame,
)

SEMICIRCLE_TO_DEG = 180.0 / 2**31
FIT_EPOCH = datetime(1989, 12, 31)  # naive UTC, as fitparse gives datetimes
FIT_EPOCH_UNIX_S = 631065600.0
# Message fields holding FIT date_time values.
TIME_FIELDS = {"timestamp", "start_time", "local_timestamp", "time_created"}
# FIT date_time values below this are seconds since device power-on, not since 1989.
FIT_RELATIVE_TIME_LIMIT = 0x10000000
ACTIVITY_FILE_TYPES = {"activity", 4}
# Timer events that start or stop the timer; markers and the like change nothing.
TIMER_EVENT_TYPES = {"start", "stop", "stop_all", "stop_disable", "stop_disable_all"}
# Summary columns that are text or times; the others keep only numbers.
TEXT_OR_TIME = {"sport", "sub_sport", "start_time_utc", "end_time_utc"}
KEPT_MESSAGES = {"file_id", "record", "lap", "session", "activity", "device_info", "hr", "sport", "event", "length"}

# (our column, fitparse field names in order of preference, developer field names)
RECORD_FIELDS = (
    ("altitude_m", ("enhanced_altitude", "altitude"), ()),
    ("distance_m", ("distance",), ()),
    ("speed_mps", ("enhanced_speed", "speed"), ()),
    ("heart_rate_bpm", ("heart_rate",), ("heart rate", "heart_rate", "hr")),
    ("cadence_rpm", ("cadence",), ()),
    ("power_w", ("power",), ("power", "watts")),
    ("temperature_c", ("temperature",), ()),
)
RECORD_SOURCE_FIELDS = {"timestamp", "position_lat", "position_long", *(n for _, native, _ in RECORD_FIELDS for n in native)}


@dataclass
class _Decoded:
    """What either decoder engine gives the shared code below."""

    # Record field -> float column (NaN when missing). `timestamp` is raw FIT seconds;
    # developer fields are named "dev:<name>".
    records: dict[str, np.ndarray]
    # Every other kept message, values as fitparse gives them (datetimes, names, numbers).
    messages: dict[str, list[dict]]
    status: str
    detail: str | None


def read_fit(data: bytes, name: str) -> ParsedFile:
    """The default engine: fit_columns' NumPy decoder."""
    return _parsed(_decode_with_columns(data))


def read_fit_fitparse(data: bytes, name: str) -> ParsedFile:
    """The reference engine: fitparse, message by message."""
    return _parsed(_decode_with_fitparse(data))


def _parsed(decoded: _Decoded) -> ParsedFile:
    messages, status, detail = decoded.messages, decoded.status, decoded.detail
    record_times = decoded.records.get("timestamp", np.empty(0))
    if not messages and not record_times.size and status != "ok":
        raise ReadError(f"not a readable FIT file: {detail}")
    file_types = [m.get("type") for m in messages.get("file_id", [])]
    if not record_times.size and (not file_types or not ACTIVITY_FILE_TYPES & set(file_types)):
        kind = file_types[0] if file_types else "unknown"
        return not_activity("fit", f"FIT file type '{kind}' holds no activity records")
    if not record_times.size:
        return not_activity("fit", "activity FIT file holds no records")

    anchor = _relative_time_anchor(record_times, messages)
    records_frame = _records_frame(decoded.records, anchor)
    if records_frame.is_empty():
        raise ReadError(f"activity has {record_times.size} records but none with a usable timestamp")
    records_frame = _merge_hr_messages(records_frame, messages.get("hr", []), anchor)
    sessions = _summaries(messages.get("session", []), SESSION_COLUMNS, anchor)
    laps = _summaries(messages.get("lap", []), SUMMARY_COLUMNS, anchor)
    device = messages.get("file_id", [{}])[0]
    if anchor is not None:
        detail = _join(detail, "device-relative timestamps anchored on activity.local_timestamp")
    return ParsedFile(
        format="fit",
        is_activity=True,
        records=records_frame,
        laps=laps,
        sessions=sessions,
        parse_status=status,
        parse_detail=detail,
        sport_hint=_first_sport(messages),
        manufacturer=_text(device.get("manufacturer")),
        product=_text(device.get("garmin_product") or device.get("product")),
        device_utc_offset_s=None if anchor is not None else _device_utc_offset(messages),
        timer_events=_timer_events(messages.get("event", []), anchor),
        lengths=_lengths(messages.get("length", []), anchor),
        extras={"timestamps_are_local": anchor is not None},
    )


def _decode_with_columns(data: bytes) -> _Decoded:
    decoded = decode(data, KEPT_MESSAGES)
    columns = decoded.messages.pop("record", {})
    count = len(next(iter(columns.values()))) if columns else 0
    records = {"timestamp": np.full(count, np.nan)}  # records without any timestamp still count
    records.update({name: _float_column(values) for name, values in columns.items()
                    if name in RECORD_SOURCE_FIELDS or name.startswith("dev:")})
    messages = {name: _rows(message_columns) for name, message_columns in decoded.messages.items()}
    status, detail = decoded.status, decoded.detail
    if decoded.skipped_fields:
        # Every message was read, but these fields' values are lost: flag it.
        status = "misaligned_field" if status == "ok" else status
        detail = _join(detail, "skipped fields whose size is not a multiple of their type: "
                       + ", ".join(decoded.skipped_fields[:5]))
    return _Decoded(records, messages, status, detail)


def _float_column(values: np.ndarray) -> np.ndarray:
    if values.ndim != 1:  # an array where a number belongs: a damaged definition
        return np.full(len(values), np.nan)
    if values.dtype != object:
        return values.astype(float, copy=False)
    return np.array([v if _number(v) else np.nan for v in values], dtype=float)


def _rows(columns: dict[str, np.ndarray]) -> list[dict]:
    """Column dicts back to one dict per message, valued as fitparse would value them."""
    if not columns:
        return []
    rows = [{} for _ in range(len(next(iter(columns.values()))))]
    for name, values in columns.items():
        for row, value in zip(rows, cells(values)):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            if name in TIME_FIELDS:
                if not _number(value):
                    continue  # a damaged definition can make a time field text or an array
                value = _fit_time(value)
            elif isinstance(value, float) and value.is_integer():
                value = int(value)  # fitparse gives whole numbers as ints (product ids, counts)
            row[name] = value
    return rows


def _fit_time(seconds: float) -> datetime | int:
    """Raw FIT seconds as fitparse gives them: a naive UTC datetime, or device-relative seconds."""
    if seconds >= FIT_RELATIVE_TIME_LIMIT:
        return FIT_EPOCH + timedelta(seconds=seconds)
    return int(seconds)


def _decode_with_fitparse(data: bytes) -> _Decoded:
    messages, status, detail = _decode_messages(data)
    records = messages.pop("record", [])
    columns = {name: np.array([_fit_seconds(r.get(name)) if name == "timestamp" else
                               (r.get(name) if _number(r.get(name)) else np.nan) for r in records], dtype=float)
               for name in RECORD_SOURCE_FIELDS}
    for name in {dev for _, _, dev_names in RECORD_FIELDS for dev in dev_names}:
        values = [r.get("dev", {}).get(name) for r in records]
        columns[f"dev:{name}"] = np.array([v if _number(v) else np.nan for v in values], dtype=float)
    return _Decoded(columns, messages, status, detail)


def _fit_seconds(value) -> float:
    if isinstance(value, datetime):
        return (value - FIT_EPOCH).total_seconds()
    return float(value) if _number(value) else np.nan


def _decode_messages(data: bytes) -> tuple[dict[str, list[dict]], str, str | None]:
    """Decode message by message, keeping everything read before the first error."""
    messages: dict[str, list[dict]] = {}
    fit = None
    status, detail = "ok", None
    try:
        fit = fitparse.FitFile(io.BytesIO(data), check_crc=True)
        for message in fit.get_messages(name=list(KEPT_MESSAGES)):
            messages.setdefault(message.name, []).append(_values(message))
    except FitCRCError as exc:
        status, detail = "crc_mismatch", str(exc)
    except FitEOFError as exc:
        status, detail = "truncated", str(exc)
    except FitHeaderError as exc:
        status, detail = ("trailing_bytes" if messages else "decode_error"), str(exc)
    except FitParseError as exc:
        text = str(exc)
        if "local message type" in text:
            status = "undefined_local_message"
        elif "field size" in text:
            status = "misaligned_field"
        else:
            status = "decode_error"
        detail = text
    except Exception as exc:  # fitparse raises bare errors on some corrupt input
        status, detail = "decode_error", f"{type(exc).__name__}: {exc}"
    if detail is not None and fit is not None:
        detail = f"{detail} (at byte {len(data) - max(fit._bytes_left, 0)} of {len(data)})"
    return messages, status, detail


def _values(message) -> dict:
    values = {}
    for field in message.fields:
        if field.value is None:
            continue
        if field.field_def is not None and getattr(field.field_def, "dev_data_index", None) is not None:
            values.setdefault("dev", {})[str(field.name).lower()] = field.value
        else:
            values[field.name] = field.value
    return values


def _relative_time_anchor(record_times: np.ndarray, messages) -> datetime | None:
    """For device-relative clocks: the local wall time that relative second 0 maps to."""
    known = record_times[~np.isnan(record_times)]
    if not known.size or known[0] >= FIT_RELATIVE_TIME_LIMIT:
        return None
    for activity in messages.get("activity", []):
        local, relative = activity.get("local_timestamp"), activity.get("timestamp")
        if isinstance(local, datetime) and isinstance(relative, int):
            return local - timedelta(seconds=relative)
    return None


def _timestamp(value, anchor: datetime | None) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc)
    if isinstance(value, int) and anchor is not None:
        # Still wall-clock local time; normalize converts it with the configured zone.
        return (anchor + timedelta(seconds=value)).replace(tzinfo=timezone.utc)
    return None


def _records_frame(columns: dict[str, np.ndarray], anchor: datetime | None) -> pl.DataFrame:
    seconds = columns["timestamp"]
    relative_base = np.nan if anchor is None else (anchor - FIT_EPOCH).total_seconds()
    since_epoch = np.where(seconds >= FIT_RELATIVE_TIME_LIMIT, seconds, seconds + relative_base)
    times_us = np.round((since_epoch + FIT_EPOCH_UNIX_S) * 1e6)
    timed = ~np.isnan(times_us)
    data = {}
    lat, lon = columns.get("position_lat"), columns.get("position_long")
    if lat is not None and lon is not None:
        positioned = ~np.isnan(lat) & ~np.isnan(lon)
        data["lat_deg"] = np.where(positioned, lat * SEMICIRCLE_TO_DEG, np.nan)
        data["lon_deg"] = np.where(positioned, lon * SEMICIRCLE_TO_DEG, np.nan)
    for column, native, dev_names in RECORD_FIELDS:
        candidates = [columns[n] for n in (*native, *(f"dev:{d}" for d in dev_names)) if n in columns]
        if candidates:
            data[column] = _first_present(candidates)
    count = int(timed.sum())
    rows = slice(None) if count == len(timed) else timed  # all timed (usual): no copies
    # Series by Series: one typed column each, no frame-wide cast or filter afterwards.
    frame_columns = [pl.Series("timestamp_utc", times_us[rows].astype(np.int64), dtype=RECORD_COLUMNS["timestamp_utc"])]
    for name, dtype in list(RECORD_COLUMNS.items())[1:]:
        values = data.get(name)
        frame_columns.append(pl.Series(name, values[rows], nan_to_null=True) if values is not None
                             else constant(name, None, count, dtype))
    return pl.DataFrame(frame_columns)


def _first_present(candidates: list[np.ndarray]) -> np.ndarray:
    """Per row, the first candidate column with a value: native fields before developer ones."""
    if len(candidates) == 1:
        return candidates[0]
    result = candidates[0].copy()
    for other in candidates[1:]:
        missing = np.isnan(result)
        result[missing] = other[missing]
    return result


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _merge_hr_messages(records: pl.DataFrame, hr_messages: list[dict], anchor) -> pl.DataFrame:
    """Fill record heart rate from `hr` messages (HRM-Tri/Pro swim and chest-strap caches)."""
    times, bpm = _expand_hr_messages(hr_messages, anchor)
    if not len(times) or records.is_empty():
        return records
    record_s = epoch_us(records["timestamp_utc"]) / 1e6
    # Average every beat in (previous record, this record], as the FIT SDK does.
    order = np.argsort(times)
    times, bpm = times[order], bpm[order]
    upper = np.searchsorted(times, record_s, side="right")
    lower = np.concatenate(([np.searchsorted(times, record_s[0] - 1, side="right")], upper[:-1]))
    sums = np.concatenate(([0.0], np.cumsum(bpm)))
    counts = upper - lower
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, (sums[upper] - sums[lower]) / np.maximum(counts, 1), np.nan)
    merged = pl.Series("hr_merged", np.floor(mean + 0.5)).fill_nan(None)
    return records.with_columns(pl.col("heart_rate_bpm").fill_null(merged))


def _expand_hr_messages(hr_messages: list[dict], anchor) -> tuple[np.ndarray, np.ndarray]:
    times: list[float] = []
    bpms: list[float] = []
    anchor_s = anchor_event = last_event = None
    for message in hr_messages:
        stamp = _timestamp(message.get("timestamp"), anchor)
        if stamp is not None and _number(message.get("event_timestamp")):
            fraction = message.get("fractional_timestamp")
            anchor_s = stamp.timestamp() + (float(fraction) if _number(fraction) else 0.0)
            anchor_event = last_event = float(message["event_timestamp"])
            events = [anchor_event]
        elif anchor_s is not None and isinstance(message.get("event_timestamp_12"), (tuple, bytes)):
            events = []
            for low12 in _unpack_12bit(message["event_timestamp_12"]):
                ticks = int(round(last_event * 1024))
                value = (ticks & ~0xFFF) | low12
                if value < ticks:
                    value += 0x1000
                last_event = value / 1024
                events.append(last_event)
        else:
            continue
        bpm = message.get("filtered_bpm")
        bpm = list(bpm) if isinstance(bpm, (tuple, list)) else [bpm]
        for event, beat in zip(events, bpm):
            if _number(beat) and beat > 0:
                times.append(anchor_s + event - anchor_event)
                bpms.append(float(beat))
    return np.asarray(times, dtype=float), np.asarray(bpms, dtype=float)


def _unpack_12bit(packed) -> list[int]:
    if not all(isinstance(byte, int) and 0 <= byte <= 255 for byte in packed):
        return []  # not bytes: a damaged definition gave the field another type
    raw = int.from_bytes(bytes(packed), "little")
    return [(raw >> (12 * i)) & 0xFFF for i in range(len(packed) * 8 // 12)]


def _summaries(messages: list[dict], schema, anchor) -> pl.DataFrame:
    rows = []
    for message in messages:
        row = {
            "start_time_utc": _timestamp(message.get("start_time"), anchor),
            "elapsed_s": message.get("total_elapsed_time"),
            "timer_s": message.get("total_timer_time"),
            "distance_m": message.get("total_distance"),
            "avg_hr_bpm": message.get("avg_heart_rate"),
            "max_hr_bpm": message.get("max_heart_rate"),
            "ascent_m": message.get("total_ascent"),
            "descent_m": message.get("total_descent"),
            "sport": _text(message.get("sport")),
            "sub_sport": _text(message.get("sub_sport")),
            "pool_length_m": message.get("pool_length"),
            "end_time_utc": _timestamp(message.get("timestamp"), anchor),
        }
        rows.append({name: value if value is None or _number(value) or name in TEXT_OR_TIME else None
                     for name, value in row.items()})
    return rows_frame(rows, schema)


def _timer_events(events: list[dict], anchor) -> pl.DataFrame | None:
    """When the device timer started and stopped; None if the file never says."""
    rows = [
        (_timestamp(e.get("timestamp"), anchor), e.get("event_type") == "start")
        for e in events
        if e.get("event") == "timer" and e.get("event_type") in TIMER_EVENT_TYPES
    ]
    # Sorted here, stably: a sort of the frame would cost more than building it.
    rows = sorted(((stamp, running) for stamp, running in rows if stamp is not None), key=lambda row: row[0])
    if not rows:
        return None
    return pl.DataFrame(rows, schema={"timestamp_utc": RECORD_COLUMNS["timestamp_utc"], "running": pl.Boolean},
                        orient="row")


def _lengths(lengths: list[dict], anchor) -> pl.DataFrame | None:
    if not lengths:
        return None
    rows = [
        {
            "start_time_utc": _timestamp(m.get("start_time"), anchor),
            "timer_s": m.get("total_timer_time") if _number(m.get("total_timer_time")) else None,
            "active": m.get("length_type") == "active",
        }
        for m in lengths
    ]
    return rows_frame(rows, LENGTH_COLUMNS).filter(pl.col("start_time_utc").is_not_null())


def _first_sport(messages) -> str | None:
    for kind in ("session", "sport", "lap"):
        for message in messages.get(kind, []):
            if message.get("sport") is not None:
                return _text(message["sport"])
    return None


def _device_utc_offset(messages) -> int | None:
    """The device's own local-time offset, when it looks like a real time zone."""
    for activity in messages.get("activity", []):
        local, utc = activity.get("local_timestamp"), activity.get("timestamp")
        if isinstance(local, datetime) and isinstance(utc, datetime):
            offset = round((local - utc).total_seconds())
            if abs(offset) <= 14 * 3600 and offset % 900 == 0:
                return offset
    return None


def _text(value) -> str | None:
    return None if value is None else str(value)


def _join(first: str | None, second: str) -> str:
    return second if first is None else f"{first}; {second}"
