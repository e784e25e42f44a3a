"""Fast synthetic FIT activity files for the ingestion benchmarks.

The Garmin SDK encoder writes about 20,000 records a second: too slow for 2,000 one-hour files.
This writer lays the records out as one NumPy structured array per file instead. It writes the
messages a bike computer writes (file_id, timer events, records, lap, session, activity) with a
valid header and file CRC, so every reader accepts the files.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

import numpy as np

from pipeline.readers.fit_crc import crc16

FIT_EPOCH = datetime(1989, 12, 31, tzinfo=timezone.utc)
SEMICIRCLES_PER_DEGREE = 2**31 / 180
ENUM, UINT8, UINT16, SINT32, UINT32, UINT32Z = 0x00, 0x02, 0x84, 0x85, 0x86, 0x8C
SIZES = {ENUM: 1, UINT8: 1, UINT16: 2, SINT32: 4, UINT32: 4, UINT32Z: 4}
DTYPES = {ENUM: "u1", UINT8: "u1", UINT16: "<u2", SINT32: "<i4", UINT32: "<u4", UINT32Z: "<u4"}

# (global message number, [(field number, base type, name)])
FILE_ID = (0, [(0, ENUM, "type"), (1, UINT16, "manufacturer"), (2, UINT16, "product"),
               (3, UINT32Z, "serial_number"), (4, UINT32, "time_created")])
EVENT = (21, [(253, UINT32, "timestamp"), (0, ENUM, "event"), (1, ENUM, "event_type")])
RECORD = (20, [(253, UINT32, "timestamp"), (0, SINT32, "lat"), (1, SINT32, "lon"), (2, UINT16, "altitude"),
               (3, UINT8, "heart_rate"), (4, UINT8, "cadence"), (5, UINT32, "distance"), (6, UINT16, "speed"),
               (7, UINT16, "power")])
SUMMARY_FIELDS = [(253, UINT32, "timestamp"), (2, UINT32, "start_time"), (7, UINT32, "total_elapsed_time"),
                  (8, UINT32, "total_timer_time"), (9, UINT32, "total_distance")]
LAP = (19, SUMMARY_FIELDS)
SESSION = (18, [*SUMMARY_FIELDS, (5, ENUM, "sport")])
ACTIVITY = (34, [(253, UINT32, "timestamp"), (0, UINT32, "total_timer_time"), (1, UINT16, "num_sessions"),
                 (2, ENUM, "type"), (3, ENUM, "event"), (4, ENUM, "event_type"), (5, UINT32, "local_timestamp")])
CYCLING, TIMER, ACTIVITY_EVENT, START, STOP_ALL = 2, 0, 26, 0, 4


def ride(start: datetime, seconds: int = 3600, seed: int = 0, local_offset_s: int = 3600) -> bytes:
    """A 1 Hz ride with position, altitude, heart rate, cadence, speed and power."""
    rng = np.random.default_rng(seed)
    t0 = int((start - FIT_EPOCH).total_seconds())
    i = np.arange(seconds + 1)
    speed = 8.0 + 1.5 * np.sin(i / 300) + rng.normal(0, 0.2, i.size)
    distance = np.concatenate(([0.0], np.cumsum(speed[1:])))
    records = np.zeros(i.size, dtype=_dtype(RECORD[1]))
    records["timestamp"] = t0 + i
    records["lat"] = ((46.05 + distance / 111_195) * SEMICIRCLES_PER_DEGREE).astype(np.int32)
    records["lon"] = int(14.5 * SEMICIRCLES_PER_DEGREE)
    records["altitude"] = ((300 + 40 * np.sin(i / 600) + 500) * 5).astype(np.uint16)
    records["heart_rate"] = (135 + 10 * np.sin(i / 400) + rng.normal(0, 2, i.size)).astype(np.uint8)
    records["cadence"] = (88 + rng.normal(0, 3, i.size)).astype(np.uint8)
    records["distance"] = (distance * 100).astype(np.uint32)
    records["speed"] = (speed * 1000).astype(np.uint16)
    records["power"] = (200 + 30 * np.sin(i / 200) + rng.normal(0, 15, i.size)).clip(0).astype(np.uint16)
    end, total_ms, total_cm = t0 + seconds, seconds * 1000, int(distance[-1] * 100)
    summary = [end, t0, total_ms, total_ms, total_cm]
    body = b"".join([
        _message(0, FILE_ID, [[4, 255, 1, 1000 + seed, t0]]),
        _message(1, EVENT, [[t0, TIMER, START]]),
        _definition(2, RECORD) + _data(2, records),
        _message(1, EVENT, [[end, TIMER, STOP_ALL]]),
        _message(3, LAP, [summary]),
        _message(4, SESSION, [[*summary, CYCLING]]),
        _message(5, ACTIVITY, [[end, total_ms, 1, 0, ACTIVITY_EVENT, 1, end + local_offset_s]]),
    ])
    header = struct.pack("<BBHI4s", 14, 0x20, 2132, len(body), b".FIT")
    header += struct.pack("<H", crc16(header))
    return header + body + struct.pack("<H", crc16(header + body))


def _dtype(fields) -> np.dtype:
    return np.dtype([(name, DTYPES[base]) for _, base, name in fields])


def _definition(local: int, message) -> bytes:
    number, fields = message
    head = struct.pack("<BBBHB", 0x40 | local, 0, 0, number, len(fields))
    return head + b"".join(struct.pack("<BBB", n, SIZES[base], base) for n, base, _ in fields)


def _data(local: int, rows: np.ndarray) -> bytes:
    framed = np.zeros(rows.size, dtype=[("header", "u1"), ("row", rows.dtype)])
    framed["header"], framed["row"] = local, rows
    return framed.tobytes()


def _message(local: int, message, values: list[list[int]]) -> bytes:
    rows = np.array([tuple(v) for v in values], dtype=_dtype(message[1]))
    return _definition(local, message) + _data(local, rows)


def rides(count: int, first_start: datetime, seconds: int = 3600) -> list[tuple[str, bytes]]:
    """(file name, bytes) of `count` rides, one a day, each with its own content."""
    out = []
    for n in range(count):
        start = first_start + timedelta(days=n)
        out.append((f"{start:%Y-%m-%d}-ride-{n:05d}.fit", ride(start, seconds, seed=n)))
    return out
