"""Heart rate from FIT `hr` messages, merged into records as the Garmin FIT SDK merges it.

HRM-Pro and HRM-Tri straps cache beats while the watch cannot hear them (under water, out of
range) and send them later as `hr` messages: an anchor message with a timestamp and an
`event_timestamp`, then compact ones with eight 12-bit `event_timestamp_12` values each. The
SDK (garmin_fit_sdk.hr_mesg_utils, `Decoder.read(merge_heart_rates=True)`) turns them into
beats, carries each beat forward in 250 ms steps for up to 5 s across a gap, and sets each
record's heart rate to the rounded mean of the beats since the previous record, replacing
what the record held: the strap's beats are the better source than a wrist sensor.

This module reproduces that merge value for value (tests/test_fit_hr_merge.py checks it
against the SDK on every corpus file with `hr` messages). Where the SDK gives up on the
whole file (a compact message before any anchor, a beat value that is not a number), this
leaves that message or beat out and merges the rest.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

FIT_EPOCH = datetime(1989, 12, 31)
# The SDK's gap fill: 250 ms steps, at most 5 s (20 steps).
GAP_STEP_MS = 250.0
GAP_STEP_S = GAP_STEP_MS / 1000.0
GAP_MAX_STEPS = 20
TICKS_PER_S = 1024  # event_timestamp's scale
TWELVE_BITS = 0xFFF


def merged_heart_rate(record_seconds: np.ndarray, heart_rate: np.ndarray, hr_messages: list[dict]) -> np.ndarray:
    """Each record's heart rate after the merge: the SDK's value where it writes one, else the
    record's own. `record_seconds` are the records' raw FIT times in file order (NaN: no time,
    never merged)."""
    times, bpm = expand_beats(hr_messages)
    if not len(times) or not len(record_seconds):
        return heart_rate
    timed = np.flatnonzero(~np.isnan(record_seconds))
    merged = _merge(record_seconds[timed], times, bpm)
    written = ~np.isnan(merged)
    result = heart_rate.copy()
    result[timed[written]] = merged[written]
    return result


def expand_beats(hr_messages: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Beat times (FIT seconds) and values in the SDK's order, gap fills included."""
    times, bpm = _beats(hr_messages)
    if len(times) < 2:
        return times, bpm
    previous, gap_ms = times[:-1], np.abs(times[1:] - times[:-1]) * 1000
    # The SDK counts down the gap 250 ms at a time; the same float steps give the same count.
    fills = np.zeros(len(gap_ms), dtype=np.int64)
    open_gap = np.ones(len(gap_ms), dtype=bool)
    for step in range(1, GAP_MAX_STEPS + 1):
        open_gap &= gap_ms > GAP_STEP_MS
        if not open_gap.any():
            break
        fills += open_gap
        gap_ms = gap_ms - GAP_STEP_MS
    gap_of = np.repeat(np.arange(len(fills)), fills)  # fill -> the gap before beat gap + 1
    step_of = np.arange(len(gap_of)) - np.repeat(np.cumsum(fills) - fills, fills) + 1
    fill_times = previous[gap_of] + GAP_STEP_S * step_of
    # Each beat follows the fills of the gap before it.
    beat_at = np.arange(len(times)) + np.concatenate(([0], np.cumsum(fills)))
    out_times = np.empty(len(times) + len(gap_of))
    out_bpm = np.empty(len(out_times))
    is_fill = np.ones(len(out_times), dtype=bool)
    is_fill[beat_at] = False
    out_times[beat_at], out_bpm[beat_at] = times, bpm
    out_times[is_fill], out_bpm[is_fill] = fill_times, bpm[gap_of]
    return out_times, out_bpm


def _beats(hr_messages: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Every beat the messages hold: (FIT seconds, bpm), in message order."""
    times: list[float] = []
    values: list[float] = []
    anchor_s = anchor_event = ticks = None
    for message in hr_messages:
        stamp = _fit_seconds(message.get("timestamp"))
        if stamp is not None and _number(message.get("event_timestamp")):
            fraction = message.get("fractional_timestamp")
            anchor_s = stamp + fraction if _number(fraction) else stamp
            anchor_event = float(message["event_timestamp"])
            ticks = round(anchor_event * TICKS_PER_S)
            events = [anchor_event]
        elif anchor_s is not None and isinstance(message.get("event_timestamp_12"), (tuple, bytes, list)):
            events = []
            for low12 in _unpack_12bit(message["event_timestamp_12"]):
                ticks += (low12 - ticks) & TWELVE_BITS  # the SDK's accumulator
                events.append(ticks / TICKS_PER_S)
        else:
            continue
        bpm = message.get("filtered_bpm")
        bpm = list(bpm) if isinstance(bpm, (tuple, list)) else [bpm]
        for event, beat in zip(events, bpm):
            if _number(beat):
                times.append(anchor_s + (event - anchor_event))
                values.append(float(beat))
    return np.asarray(times, dtype=float), np.asarray(values, dtype=float)


def _merge(record_s: np.ndarray, times: np.ndarray, bpm: np.ndarray) -> np.ndarray:
    """The SDK's merge: per record, the mean of the beats after the previous record's time up to
    its own, rounded half up; NaN where the SDK writes nothing."""
    if np.all(np.diff(times) >= 0) and np.all(np.diff(record_s) >= 0):
        return _merge_in_order(record_s, times, bpm)
    return _merge_stepwise(record_s, times, bpm)


def _merge_in_order(record_s: np.ndarray, times: np.ndarray, bpm: np.ndarray) -> np.ndarray:
    """_merge_stepwise's result, vectorized, for beats and records both in time order.

    The SDK's walk then takes, for each record, the beats in (previous record, record]; the
    first record looks back one second. A record stamped like the one before it looks back one
    second too, but its walk starts one beat back, so it sees only the last beat before it.
    A record gets nothing once no beat lies after it (the walk ran out)."""
    upper = np.searchsorted(times, record_s, side="right")  # first beat after each record
    lower = np.empty_like(upper)
    lower[0] = np.searchsorted(times, record_s[0] - 1, side="right")
    lower[1:] = upper[:-1]
    repeated = np.concatenate(([False], record_s[1:] == record_s[:-1]))
    last_before = np.maximum(upper - 1, 0)
    sees_last = repeated & (upper >= 1) & (times[last_before] > record_s - 1)
    lower = np.where(repeated, np.where(sees_last, last_before, upper), lower)
    sums = np.concatenate(([0.0], np.cumsum(bpm)))
    counts = upper - lower
    ran_out = upper >= len(times)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (sums[upper] - sums[lower]) / counts
    return np.where((counts > 0) & ~ran_out, np.trunc(mean + 0.5), np.nan)


def _merge_stepwise(record_s: np.ndarray, times: np.ndarray, bpm: np.ndarray) -> np.ndarray:
    """garmin_fit_sdk.hr_mesg_utils.merge_heart_rates, step for step, for any order."""
    result = np.full(len(record_s), np.nan)
    index, start = 0, None
    for i, end in enumerate(record_s.tolist()):
        total, count = 0.0, 0
        if start is None:
            start = end
        if start == end:
            start -= 1
            index = max(index - 1, 0)
        while index < len(times):
            beat = times[index]
            if start < beat <= end:
                total += bpm[index]
                count += 1
            elif beat > end:
                if count:
                    result[i] = np.trunc(total / count + 0.5)
                start = end
                break
            index += 1
    return result


def _unpack_12bit(packed) -> list[int]:
    if not all(isinstance(byte, (int, np.integer)) and 0 <= byte <= 255 for byte in packed):
        return []  # not bytes: a damaged definition gave the field another type
    raw = int.from_bytes(bytes(int(b) for b in packed), "little")
    return [(raw >> (12 * i)) & TWELVE_BITS for i in range(len(packed) * 8 // 12)]


def _fit_seconds(value) -> float | None:
    """A message time as raw FIT seconds: the SDK's seconds_since_fit_epoch."""
    if isinstance(value, datetime):
        return (value - FIT_EPOCH).total_seconds()
    return float(value) if _number(value) else None


def _number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
