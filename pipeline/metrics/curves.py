"""Mean-maximal curves and best efforts of one activity (issue 24, part 1).

**Mean-maximal curve.** For each duration of DURATIONS_S the highest average of a stream held
for that long anywhere in the activity, and the second it starts at: power (W), heart rate
(bpm: the highest average sustained) and speed (m/s). The stream is first put on a 1 s grid from
the first sample to the last: each second takes the value of the last sample at or before it,
held for at most MAX_HOLD_S (smart recording writes a sample every few seconds). A longer step
is a gap (a pause, the device off, a lost signal), and a gap gives no free rest inside an effort:

- power and speed count a gap as zero, as GoldenCheetah does for power (a paused recording is a
  rider not pedalling, and a window across a café stop averages the stop in);
- heart rate has no value in a gap (the heart did not stop), so a window holding any second of a
  gap does not count at all.

With prefix sums each duration costs one pass: the sum over [i, i + d) is c[i + d] − c[i].

The exact best average is not monotone: 10, 0, 10 W gives 10 W over 1 s, 5 W over 2 s and 6.7 W
over 3 s (a hard-easy-hard effort does this over minutes). A curve is read as "what the athlete
held for at least this long", so `curve` reports at each duration the best of it and of every
longer duration of the grid, with that window's start: a curve never rises with duration.

**Best efforts.** The shortest elapsed time to cover a distance, anywhere in the activity, from
the distance stream taken as piecewise linear in time between samples. The shortest window is
found where one of its ends sits on a sample (a piecewise-linear function takes its minimum at a
breakpoint), so both are tried: every sample as the start, the end interpolated, and every
sample as the end, the start interpolated. A pause inside the window counts: it is elapsed time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from ..normalize import schema

# 1 s to 5 h, log-spaced: 1, 2, 3, 5, 10, 15, 20, 30 s, then 1 … 300 min.
DURATIONS_S = (1, 2, 3, 5, 10, 15, 20, 30,
               *(60 * m for m in (1, 2, 3, 5, 8, 10, 12, 15, 20, 30, 40, 60, 90, 120, 180, 240, 300)))
# A sample's value holds this long at most; a longer step between samples is a gap.
MAX_HOLD_S = 10
# Streams whose gaps count as zero; the others' gaps end any window that holds them.
ZERO_IN_GAPS = {"power": True, "speed": True, "heart_rate": False}
RUN_DISTANCES_M = (400.0, 1000.0, 1609.344, 5000.0, 10000.0, 21097.5, 42195.0)
SWIM_DISTANCES_M = (100.0, 200.0, 400.0, 800.0, 1500.0)


@dataclass(frozen=True)
class Curve:
    """A mean-maximal curve: per duration (s) the best average and when its window starts (in
    the elapsed seconds given; mean_maximal: the index on its grid); only durations the activity
    is long enough for."""

    durations_s: np.ndarray
    values: np.ndarray
    starts_s: np.ndarray


def on_seconds(elapsed_s: np.ndarray, values: np.ndarray, zero_in_gaps: bool,
               longest_s: int = max(DURATIONS_S)) -> tuple[np.ndarray, np.ndarray]:
    """The stream on a 1 s grid from its first sample, and each grid second's elapsed time: each
    second takes the last sample at or before it, held for at most MAX_HOLD_S; seconds past that
    are 0 (`zero_in_gaps`) or NaN. Samples without a value (NaN) are left out; `elapsed_s` must
    be ascending.

    A gap longer than any window (`longest_s`) is shortened to that first (a NaN gap to one
    second): no window can span it either way, so no best changes, and a recording whose clock
    jumped by years stays a few hours of grid."""
    keep = ~np.isnan(values) & ~np.isnan(elapsed_s)
    if not keep.all():
        elapsed_s, values = elapsed_s[keep], values[keep]
    if elapsed_s.size == 0:
        return np.empty(0), np.empty(0)
    steps = np.diff(elapsed_s)
    if elapsed_s[0] == int(elapsed_s[0]) and (steps == 1.0).all():  # 1 s recording: the grid already
        return values, elapsed_s
    cap = (longest_s if zero_in_gaps else 1) + MAX_HOLD_S + 1
    shortened = elapsed_s[0] + np.concatenate(([0.0], np.cumsum(np.minimum(steps, cap))))
    seconds = np.arange(0, int(np.floor(shortened[-1] - shortened[0])) + 1, dtype=np.float64) + shortened[0]
    last = np.searchsorted(shortened, seconds, side="right") - 1
    held = seconds - shortened[last] <= MAX_HOLD_S
    series = np.where(held, values[last], 0.0 if zero_in_gaps else np.nan)
    # A second in a gap is placed relative to the sample after the gap, so that a window from a
    # shortened gap into the samples after it starts where it really would.
    shift = elapsed_s - shortened
    return series, seconds + np.where(held, shift[last], shift[np.minimum(last + 1, last.max())])


def mean_maximal(series: np.ndarray, durations_s=DURATIONS_S) -> Curve:
    """The best average over each duration of a 1 s series (from on_seconds); windows holding a
    NaN do not count. Durations longer than the series, or with no valid window, are left out."""
    valid = ~np.isnan(series)
    whole = valid.all()
    sums = np.concatenate(([0.0], np.cumsum(series if whole else np.where(valid, series, 0.0))))
    gaps = None if whole else np.concatenate(([0], np.cumsum(~valid)))
    found = [], [], []
    for d in durations_s:
        if d > series.size:
            break
        totals = sums[d:] - sums[:-d]  # the best total is the best mean: no division but one
        if gaps is not None:
            totals[gaps[d:] - gaps[:-d] > 0] = -np.inf
        best = int(totals.argmax())
        if np.isfinite(totals[best]):
            for column, value in zip(found, (d, totals[best] / d, best)):
                column.append(value)
    return Curve(*(np.asarray(c, dtype=np.float64) for c in found))


def curve(elapsed_s: np.ndarray, values: np.ndarray, kind: str, durations_s=DURATIONS_S) -> Curve:
    """The mean-maximal curve of one stream (kind: power, heart_rate or speed), made monotone:
    each duration's value is the best of its own and every longer duration's (see above)."""
    series, at_s = on_seconds(elapsed_s, values, ZERO_IN_GAPS[kind], max(durations_s))
    exact = mean_maximal(series, durations_s)
    return monotone(Curve(exact.durations_s, exact.values, at_s[exact.starts_s.astype(np.intp)]))


def monotone(exact: Curve) -> Curve:
    """Each duration takes the best of itself and the longer durations, with that window's start."""
    chosen, best = [], exact.values.size - 1
    for i in range(exact.values.size - 1, -1, -1):
        if exact.values[i] >= exact.values[best]:
            best = i
        chosen.append(best)
    chosen = np.array(chosen[::-1], dtype=np.intp)
    return Curve(exact.durations_s, exact.values[chosen], exact.starts_s[chosen])


@dataclass(frozen=True)
class Efforts:
    """Best efforts: per distance (m) the shortest time (s) and when it starts (s after the first
    sample); only distances the activity covers."""

    distances_m: np.ndarray
    times_s: np.ndarray
    starts_s: np.ndarray


def best_efforts(elapsed_s: np.ndarray, distance_m: np.ndarray, distances_m) -> Efforts:
    """The shortest time to cover each distance, from the cumulative distance stream."""
    keep = ~np.isnan(distance_m) & ~np.isnan(elapsed_s)
    t, d = elapsed_s[keep], np.maximum.accumulate(distance_m[keep]) if keep.any() else distance_m[keep]
    found = [], [], []
    for target in distances_m:
        if t.size < 2 or d[-1] - d[0] < target:
            continue
        time_s, start = _shortest(t, d, target)
        for column, value in zip(found, (target, time_s, start - t[0])):
            column.append(value)
    return Efforts(*(np.asarray(c, dtype=np.float64) for c in found))


def _shortest(t: np.ndarray, d: np.ndarray, target: float) -> tuple[float, float]:
    """(time, start) of the shortest window covering `target` metres: a sample at one end."""
    starts = np.flatnonzero(d + target <= d[-1])  # samples as starts: the end interpolated
    ends_at = _time_at(t, d, d[starts] + target, first=True)
    ends = np.flatnonzero(d - target >= d[0])  # samples as ends: the start interpolated
    starts_at = _time_at(t, d, d[ends] - target, first=False)
    candidates = np.concatenate((ends_at - t[starts], t[ends] - starts_at))
    begins = np.concatenate((t[starts], starts_at))
    best = int(np.argmin(candidates))
    return float(candidates[best]), float(begins[best])


def _time_at(t: np.ndarray, d: np.ndarray, at: np.ndarray, first: bool) -> np.ndarray:
    """When the distance reaches `at`: the first such moment (an end, as early as it can be),
    or the last moment it still is (a start, as late as it can be), interpolated linearly."""
    if first:
        hi = np.minimum(np.searchsorted(d, at, side="left"), d.size - 1)
        lo = np.maximum(hi - 1, 0)
    else:
        lo = np.maximum(np.searchsorted(d, at, side="right") - 1, 0)
        hi = np.minimum(lo + 1, d.size - 1)
    span = d[hi] - d[lo]
    fraction = np.divide(at - d[lo], span, out=np.zeros_like(at), where=span > 0)
    return t[lo] + fraction * (t[hi] - t[lo])


# Which stream each curve is of, and which distances each sport's best efforts are at.
STREAMS = {"power": "power_w", "heart_rate": "heart_rate_bpm", "speed": "speed_mps"}
EFFORT_DISTANCES_M = {"run": RUN_DISTANCES_M, "swim": SWIM_DISTANCES_M}


def activity_tables(samples: pl.DataFrame, activities: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The curves and best_efforts rows (schema.CURVES, schema.BEST_EFFORTS) of these activities
    from their samples (in time order within each activity; elapsed_s as normalize gives it)."""
    sports = dict(zip(activities["activity_id"], activities["sport"]))
    curve_rows, effort_rows = [], []
    samples = _activity_by_activity(samples)
    # Each column made a NumPy array once for the whole batch, then sliced per activity.
    arrays = {c: samples[c].cast(pl.Float64).fill_null(np.nan).to_numpy()
              for c in ("elapsed_s", "distance_m", *STREAMS.values())}
    ids, athletes, firsts = samples["activity_id"], samples["athlete_id"], samples["timestamp_utc"]
    for start, end in _runs(ids):
        activity = ids[start]
        if activity not in sports or end - start < 2:
            continue
        identity, first = (athletes[start], activity, sports[activity]), firsts[start]
        t = arrays["elapsed_s"][start:end]
        for kind, column in STREAMS.items():
            values = arrays[column][start:end]
            if not np.isnan(values).all():
                found = curve(t, values, kind)
                curve_rows += [(*identity, kind, int(d), v, s, first) for d, v, s in
                               zip(found.durations_s, found.values, found.starts_s)]
        distances, distance = EFFORT_DISTANCES_M.get(sports[activity]), arrays["distance_m"][start:end]
        if distances and not np.isnan(distance).all():
            found = best_efforts(t, distance, distances)
            effort_rows += [(*identity, d, time_s, s, first) for d, time_s, s in
                            zip(found.distances_m, found.times_s, found.starts_s)]
    return _frame(curve_rows, schema.CURVES), _frame(effort_rows, schema.BEST_EFFORTS)


def _activity_by_activity(samples: pl.DataFrame) -> pl.DataFrame:
    """Samples with each activity's rows together (a batch has them so already, file by file)."""
    ids = samples["activity_id"]
    if ids.len() and ids.rle_id().n_unique() != ids.n_unique():
        return samples.sort("activity_id", maintain_order=True)
    return samples


def _runs(ids: pl.Series) -> list[tuple[int, int]]:
    """[start, end) of each run of equal ids."""
    if ids.is_empty():
        return []
    edges = np.flatnonzero((ids.rle_id().diff().fill_null(1) != 0).to_numpy())
    ends = np.append(edges[1:], ids.len())
    return list(zip(edges.tolist(), ends.tolist()))


def _frame(rows: list[tuple], columns: dict) -> pl.DataFrame:
    """Rows of `columns` but the last, start_time_utc, each ending with its activity's first
    sample time instead: start_time_utc is that time plus start_offset_s."""
    shape = {**{n: t for n, t in columns.items() if n != "start_time_utc"}, "first_sample_utc": columns["start_time_utc"]}
    offset = pl.duration(microseconds=(pl.col("start_offset_s") * 1e6).round().cast(pl.Int64))
    return (pl.DataFrame(rows, schema=shape, orient="row")
            .with_columns(start_time_utc=pl.col("first_sample_utc") + offset).select(list(columns)))
