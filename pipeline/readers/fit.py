"""FIT reader: salvages every message decoded before any damage.

Two decoder engines feed the same code: fit_columns' NumPy decoder (the default) and
fitparse (the reference, `--fit-engine fitparse`).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import fitparse
import numpy as np
import polars as pl
from fitparse.utils import FitCRCError, FitEOFError, FitHeaderError, FitParseError

from .fit_columns import DeveloperField, cells, decode
from .fit_hr import merged_heart_rate
from .fit_profile import enum_name
from .base import (
    LENGTH_COLUMNS,
    RECORD_COLUMNS,
    TIMER_EVENT_COLUMNS,
    SESSION_COLUMNS,
    SUMMARY_COLUMNS,
    ParsedFile,
    ReadError,
    constant,
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

# (our column, FIT record fields in order of preference, the record field number a developer
# field may declare it stands for (field_description.native_field_num), developer field names)
RECORD_FIELDS = (
    ("altitude_m", ("enhanced_altitude", "altitude"), None, ()),
    ("distance_m", ("distance",), 5, ("distance",)),
    ("speed_mps", ("enhanced_speed", "speed"), 6, ("speed", "enhanced_speed")),
    ("heart_rate_bpm", ("heart_rate",), 3, ("heart rate", "heart_rate", "hr")),
    ("cadence_rpm", ("cadence",), 4, ("cadence",)),
    ("power_w", ("power",), 7, ("power", "watts")),
    ("temperature_c", ("temperature",), None, ()),
)
RECORD_SOURCE_FIELDS = {"timestamp", "position_lat", "position_long", *(n for _, native, _, _ in RECORD_FIELDS for n in native)}
# A developer field in other units is converted; one whose units are not listed is not used.
# Columns not listed here take developer values in whatever units they declare.
DEVELOPER_UNITS = {
    "distance_m": {"": 1.0, "m": 1.0, "meter": 1.0, "meters": 1.0, "metres": 1.0, "km": 1000.0,
                   "mi": 1609.344, "mile": 1609.344, "miles": 1609.344, "ft": 0.3048},
    "speed_mps": {"": 1.0, "m/s": 1.0, "mps": 1.0, "km/h": 1 / 3.6, "kph": 1 / 3.6, "kmh": 1 / 3.6,
                  "mph": 0.44704},
}
# Columns whose record-by-record gaps a developer field fills, when the native field has values.
GAP_FILLED_FROM_DEVELOPER = {"heart_rate_bpm", "power_w"}
CHAIN = "_chained_file"  # key of each message's chained file, in message dicts and record columns


@dataclass
class _Decoded:
    """What either decoder engine gives the shared code below."""

    # Record field -> float column (NaN when missing). `timestamp` is raw FIT seconds;
    # developer fields are named "dev:<name>"; CHAIN, for a chain of files, each record's file.
    records: dict[str, np.ndarray]
    # Every other kept message, values as fitparse gives them (datetimes, names, numbers), and
    # CHAIN for a chain of files.
    messages: dict[str, list[dict]]
    status: str
    detail: str | None
    developer_fields: dict[str, DeveloperField] = field(default_factory=dict)


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
    columns, notes = _record_columns(decoded.records, decoded.developer_fields)
    if messages.get("hr"):
        columns["heart_rate_bpm"] = merged_heart_rate(
            record_times, columns.get("heart_rate_bpm", np.full(record_times.size, np.nan)), messages["hr"])
    records_frame, chains = _records_frame(decoded.records, columns, anchor)
    if records_frame.is_empty():
        raise ReadError(f"activity has {record_times.size} records but none with a usable timestamp")
    sessions = _summaries(messages.get("session", []), SESSION_COLUMNS, anchor)
    laps = _summaries(messages.get("lap", []), SUMMARY_COLUMNS, anchor)
    device = messages.get("file_id", [{}])[0]
    sport, sub_sport = _first_sport(messages)
    if anchor is not None:
        notes.append("device-relative timestamps anchored on activity.local_timestamp")
    for note in notes:
        detail = _join(detail, note)
    return ParsedFile(
        format="fit",
        is_activity=True,
        records=records_frame,
        laps=laps,
        sessions=sessions,
        parse_status=status,
        parse_detail=detail,
        sport_hint=sport,
        sub_sport_hint=sub_sport,
        manufacturer=enum_name("manufacturer", device.get("manufacturer")),
        product=_product(device),
        device_utc_offset_s=None if anchor is not None else _device_utc_offset(messages),
        timer_events=_timer_events(messages.get("event", []), anchor),
        lengths=_lengths(messages.get("length", []), anchor),
        record_chains=chains,
        extras={"timestamps_are_local": anchor is not None},
    )


def _decode_with_columns(data: bytes) -> _Decoded:
    decoded = decode(data, KEPT_MESSAGES)
    columns = decoded.messages.pop("record", {})
    count = len(next(iter(columns.values()))) if columns else 0
    records = {"timestamp": np.full(count, np.nan)}  # records without any timestamp still count
    records.update({name: _float_column(values) for name, values in columns.items()
                    if name in RECORD_SOURCE_FIELDS or name.startswith("dev:")})
    chains = decoded.chained_files
    if "record" in chains:
        records[CHAIN] = chains["record"].astype(float)
    messages = {name: _rows(message_columns, chains.get(name)) for name, message_columns in decoded.messages.items()}
    status, detail = decoded.status, decoded.detail
    if decoded.skipped_fields:
        # Every message was read, but these fields' values are lost: flag it.
        status = "misaligned_field" if status == "ok" else status
        detail = _join(detail, "skipped fields whose size is not a multiple of their type: "
                       + ", ".join(decoded.skipped_fields[:5]))
    return _Decoded(records, messages, status, detail, decoded.developer_fields)


def _float_column(values: np.ndarray) -> np.ndarray:
    if values.ndim != 1:  # an array where a number belongs: a damaged definition
        return np.full(len(values), np.nan)
    if values.dtype != object:
        return values.astype(float, copy=False)
    return np.array([v if _number(v) else np.nan for v in values], dtype=float)


def _rows(columns: dict[str, np.ndarray], chains: np.ndarray | None = None) -> list[dict]:
    """Column dicts back to one dict per message, valued as fitparse would value them."""
    if not columns:
        return []
    rows = [{} for _ in range(len(next(iter(columns.values()))))]
    if chains is not None:
        for row, chain in zip(rows, chains.tolist()):
            row[CHAIN] = chain
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
    messages, status, detail, developer_fields = _decode_messages(data)
    records = messages.pop("record", [])
    columns = {name: np.array([_fit_seconds(r.get(name)) if name == "timestamp" else
                               (r.get(name) if _number(r.get(name)) else np.nan) for r in records], dtype=float)
               for name in RECORD_SOURCE_FIELDS}
    for name in {name for r in records for name in r.get("dev", {})}:
        values = [r.get("dev", {}).get(name) for r in records]
        columns[f"dev:{name}"] = np.array([v if _number(v) else np.nan for v in values], dtype=float)
    if any(r[CHAIN] for r in records):
        columns[CHAIN] = np.array([r[CHAIN] for r in records], dtype=float)
    if not any(m[CHAIN] for kind in messages.values() for m in kind) and CHAIN not in columns:
        for kind in messages.values():  # a single file: no chain to speak of, as fit_columns says
            for message in kind:
                del message[CHAIN]
    return _Decoded(columns, messages, status, detail, developer_fields)


def _fit_seconds(value) -> float:
    if isinstance(value, datetime):
        return (value - FIT_EPOCH).total_seconds()
    return float(value) if _number(value) else np.nan


def _decode_messages(data: bytes) -> tuple[dict[str, list[dict]], str, str | None, dict[str, DeveloperField]]:
    """Decode message by message, keeping everything read before the first error."""
    messages: dict[str, list[dict]] = {}
    developer_fields: dict[str, DeveloperField] = {}
    fit = None
    status, detail = "ok", None
    try:
        fit = fitparse.FitFile(io.BytesIO(data), check_crc=True)
        headers = _count_headers(fit)
        for message in fit.get_messages(name=list(KEPT_MESSAGES)):
            values = _values(message, developer_fields)
            values[CHAIN] = headers[0]
            messages.setdefault(message.name, []).append(values)
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
    return messages, status, detail, developer_fields


def _count_headers(fit) -> list[int]:
    """A counter of the chained files fitparse has started after the first: it parses each one's
    header as it reaches it, so the count tells the file of every message it yields."""
    count = [0]
    parse_header = fit._parse_file_header

    def counting() -> None:
        count[0] += 1
        parse_header()

    fit._parse_file_header = counting
    return count


def _values(message, developer_fields: dict[str, DeveloperField]) -> dict:
    values = {}
    for item in message.fields:
        if item.value is None:
            continue
        definition = item.field_def
        if definition is not None and getattr(definition, "dev_data_index", None) is not None:
            name = str(item.name).lower()
            values.setdefault("dev", {})[name] = item.value
            units, native = getattr(item.field, "units", None), getattr(item.field, "native_field_num", None)
            developer_fields.setdefault(f"dev:{name}", DeveloperField(
                str(item.name), units if isinstance(units, str) else None, native if _number(native) else None))
        else:
            values[item.name] = item.value
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


def _record_columns(columns: dict[str, np.ndarray],
                    developer_fields: dict[str, DeveloperField]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Positions in degrees and each RECORD_FIELDS column, in file order, and notes on the
    developer fields used."""
    data, used = {}, []
    lat, lon = columns.get("position_lat"), columns.get("position_long")
    if lat is not None and lon is not None:
        positioned = ~np.isnan(lat) & ~np.isnan(lon)
        data["lat_deg"] = np.where(positioned, lat * SEMICIRCLE_TO_DEG, np.nan)
        data["lon_deg"] = np.where(positioned, lon * SEMICIRCLE_TO_DEG, np.nan)
    for column, natives, number, dev_names in RECORD_FIELDS:
        native = [columns[n] for n in natives if n in columns]
        values = _first_present(native) if native else None
        developer = _developer_candidates(column, number, dev_names, columns, developer_fields)
        if developer and (values is None or not (values > 0).any()):
            # The native field is missing, or only zeros, and a developer field moves: take it.
            name, values = next(((n, v) for n, v in developer if (v > 0).any()), (None, values))
            used += [f"{column} from developer field '{name}'"] if name else []
        elif developer and column in GAP_FILLED_FROM_DEVELOPER and np.isnan(values).any():
            filled = _first_present([values, *(v for _, v in developer)])
            if np.count_nonzero(~np.isnan(filled)) > np.count_nonzero(~np.isnan(values)):
                used.append(f"{column} gaps filled from developer field '{developer[0][0]}'")
            values = filled
        if values is not None:
            data[column] = values
    return data, used


def _developer_candidates(column: str, number: int | None, names: tuple[str, ...], columns: dict[str, np.ndarray],
                          developer_fields: dict[str, DeveloperField]) -> list[tuple[str, np.ndarray]]:
    """(name, values in the column's unit) of the record developer fields that may stand for
    `column`: those declaring its native field number first, then those named like it."""
    declared = [key for key, dev in developer_fields.items() if number is not None and dev.native_field_num == number]
    named = [f"dev:{name}" for name in names if f"dev:{name}" not in declared]
    units = DEVELOPER_UNITS.get(column)
    found = []
    for key in [*declared, *named]:
        if key not in columns:
            continue
        dev = developer_fields.get(key)
        label = dev.name if dev else key.removeprefix("dev:")
        if units is None:
            found.append((label, columns[key]))
        elif (factor := units.get(((dev.units if dev else None) or "").strip().lower())) is not None:
            found.append((label, columns[key] * factor if factor != 1.0 else columns[key]))
    return found


def _records_frame(source: dict[str, np.ndarray], data: dict[str, np.ndarray],
                   anchor: datetime | None) -> tuple[pl.DataFrame, np.ndarray | None]:
    """The records frame, in file order, without records that have no usable time; and each
    kept record's chained file (None unless the file is a chain)."""
    seconds = source["timestamp"]
    relative_base = np.nan if anchor is None else (anchor - FIT_EPOCH).total_seconds()
    since_epoch = np.where(seconds >= FIT_RELATIVE_TIME_LIMIT, seconds, seconds + relative_base)
    times_us = np.round((since_epoch + FIT_EPOCH_UNIX_S) * 1e6)
    timed = ~np.isnan(times_us)
    count = int(timed.sum())
    rows = slice(None) if count == len(timed) else timed  # all timed (usual): no copies
    # Series by Series: one typed column each, no frame-wide cast or filter afterwards.
    frame_columns = [pl.Series("timestamp_utc", times_us[rows].astype(np.int64), dtype=RECORD_COLUMNS["timestamp_utc"])]
    for name, dtype in list(RECORD_COLUMNS.items())[1:]:
        values = data.get(name)
        frame_columns.append(pl.Series(name, values[rows], nan_to_null=True) if values is not None
                             else constant(name, None, count, dtype))
    chains = source.get(CHAIN)
    return pl.DataFrame(frame_columns), None if chains is None else chains[rows].astype(np.int32)


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
            "sport": enum_name("sport", message.get("sport")),
            "sub_sport": enum_name("sub_sport", message.get("sub_sport")),
            "pool_length_m": message.get("pool_length"),
            "end_time_utc": _timestamp(message.get("timestamp"), anchor),
            "chained_file": message.get(CHAIN),
        }
        rows.append({name: value if value is None or _number(value) or name in TEXT_OR_TIME else None
                     for name, value in row.items()})
    return rows_frame(rows, schema)


def _timer_events(events: list[dict], anchor) -> pl.DataFrame | None:
    """When the device timer started and stopped; None if the file never says."""
    rows = [
        (_timestamp(e.get("timestamp"), anchor), e.get("event_type") == "start", e.get(CHAIN))
        for e in events
        if e.get("event") == "timer" and e.get("event_type") in TIMER_EVENT_TYPES
    ]
    # Sorted here, stably: a sort of the frame would cost more than building it.
    rows = sorted((row for row in rows if row[0] is not None), key=lambda row: row[0])
    if not rows:
        return None
    return pl.DataFrame(rows, schema=TIMER_EVENT_COLUMNS, orient="row")


def _lengths(lengths: list[dict], anchor) -> pl.DataFrame | None:
    if not lengths:
        return None
    rows = [
        {
            "start_time_utc": _timestamp(m.get("start_time"), anchor),
            "timer_s": m.get("total_timer_time") if _number(m.get("total_timer_time")) else None,
            "active": m.get("length_type") == "active",
            "chained_file": m.get(CHAIN),
        }
        for m in lengths
    ]
    return rows_frame(rows, LENGTH_COLUMNS).filter(pl.col("start_time_utc").is_not_null())


def _first_sport(messages) -> tuple[str | None, str | None]:
    """The sport and sub-sport of the first session, sport or lap message that names a sport."""
    for kind in ("session", "sport", "lap"):
        for message in messages.get(kind, []):
            if message.get("sport") is not None:
                return enum_name("sport", message["sport"]), enum_name("sub_sport", message.get("sub_sport"))
    return None, None


def _device_utc_offset(messages) -> int | None:
    """The device's own local-time offset, when it looks like a real time zone."""
    for activity in messages.get("activity", []):
        local, utc = activity.get("local_timestamp"), activity.get("timestamp")
        if isinstance(local, datetime) and isinstance(utc, datetime):
            offset = round((local - utc).total_seconds())
            if abs(offset) <= 14 * 3600 and offset % 900 == 0:
                return offset
    return None


def _product(device: dict) -> str | None:
    """The product's name: Garmin's products are named in the FIT profile (fitparse's is older,
    so a newer one is named from the Garmin SDK's); other makers' are numbers."""
    product = device.get("garmin_product") or device.get("product")
    if device.get("manufacturer") in ("garmin", "dynastream", "dynastream_oem", 1, 15, 13):
        return enum_name("garmin_product", product)
    return _text(product)


def _text(value) -> str | None:
    return None if value is None else str(value)


def _join(first: str | None, second: str) -> str:
    return second if first is None else f"{first}; {second}"
