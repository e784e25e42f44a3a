"""Mean-maximal curves and best efforts (pipeline/metrics/curves.py), each against a second way
of computing it: a loop that puts the stream on seconds sample by sample, windows averaged by a
sliding view (no prefix sums), a two-pointer search over a finely interpolated distance stream,
and hand calculations written out here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipeline import read_file
from pipeline.metrics import curves

GAP_S = curves.MAX_HOLD_S


def seconds_by_loop(t: np.ndarray, v: np.ndarray, zero_in_gaps: bool) -> np.ndarray:
    """The 1 s grid, second by second: the latest sample at or before it, if at most GAP_S old."""
    keep = ~np.isnan(v)
    t, v = t[keep], v[keep]
    out, latest = [], 0
    second = t[0]
    while second <= t[-1]:
        while latest + 1 < len(t) and t[latest + 1] <= second:
            latest += 1
        out.append(v[latest] if second - t[latest] <= GAP_S else (0.0 if zero_in_gaps else np.nan))
        second += 1.0
    return np.array(out)


def best_by_sliding(series: np.ndarray, d: int) -> float | None:
    windows = np.lib.stride_tricks.sliding_window_view(series, d)
    means = windows.mean(axis=1)  # NaN where a window holds a gap
    return None if np.isnan(means).all() else float(np.nanmax(means))


def streams(path: Path) -> pl.DataFrame:
    content = read_file(path)
    samples = content.samples
    if samples.is_empty():
        return samples
    start = samples["timestamp_utc"].min()
    return samples.with_columns(t=(pl.col("timestamp_utc") - start).dt.total_microseconds() / 1e6).sort("t")


def corpus_files(corpus: Path, column: str) -> list[pl.DataFrame]:
    found = []
    for path in sorted((corpus / "fit").glob("*.fit")):
        frame = streams(path)
        if column in frame.columns and frame[column].drop_nulls().len() > 60:
            found.append(frame)
    return found


def test_mean_maximal_power_equals_a_sliding_window_search_on_every_corpus_file_with_power(corpus):
    files = corpus_files(corpus, "power_w")
    assert len(files) >= 3, "the corpus has rides with power"
    for frame in files:
        t, power = frame["t"].to_numpy(), frame["power_w"].fill_null(np.nan).to_numpy()
        series = seconds_by_loop(t, power, zero_in_gaps=True)
        got = curves.mean_maximal(curves.on_seconds(t, power, zero_in_gaps=True)[0])
        want = {d: best_by_sliding(series, d) for d in curves.DURATIONS_S if d <= series.size}
        assert list(got.durations_s) == list(want)
        for d, value, start in zip(got.durations_s.astype(int), got.values, got.starts_s.astype(int)):
            assert abs(value - want[d]) <= 1e-9 * max(1.0, want[d])
            assert abs(series[start:start + d].mean() - value) <= 1e-9 * max(1.0, value)
        # The reported curve: at each duration the best of it and every longer one.
        reported = curves.curve(t, power, "power")
        longer = [max(want[e] for e in want if e >= d) for d in want]
        assert np.allclose(reported.values, longer, rtol=1e-9, atol=0)


def test_heart_rate_windows_across_a_gap_do_not_count(corpus):
    for frame in corpus_files(corpus, "heart_rate_bpm")[:6]:
        t, hr = frame["t"].to_numpy(), frame["heart_rate_bpm"].fill_null(np.nan).to_numpy()
        got = curves.mean_maximal(curves.on_seconds(t, hr, zero_in_gaps=False)[0])
        series = seconds_by_loop(t, hr, zero_in_gaps=False)
        for d, value in zip(got.durations_s.astype(int), got.values):
            assert abs(value - best_by_sliding(series, d)) <= 1e-9 * value


@pytest.mark.parametrize("kind,column", [("power", "power_w"), ("heart_rate", "heart_rate_bpm"), ("speed", "speed_mps")])
def test_a_curve_never_rises_with_duration(corpus, kind, column):
    files = corpus_files(corpus, column)
    assert files
    for frame in files:
        values = curves.curve(frame["t"].to_numpy(), frame[column].fill_null(np.nan).to_numpy(), kind).values
        assert np.all(np.diff(values) <= 1e-9), kind


def test_a_gap_in_the_recording_is_no_rest_by_hand():
    # 300 W sampled each second for 60 s (t = 0…59), nothing for 120 s, then 300 W for 60 s
    # (t = 180…239). The last sample before the gap holds for 10 s: seconds 0…69 are 300 W,
    # 70…179 are 0, 180…239 are 300 W. Best 2 min: 70 s of 300 W in 120 s = 175 W (a recording
    # that skipped the gap would say 300 W). Best 1 min: 300 W. Heart rate over the same
    # samples: no 2-min window without a gap, so no 2-min value.
    t = np.concatenate((np.arange(0, 60), np.arange(180, 240))).astype(float)
    power = np.full(t.size, 300.0)
    got = curves.curve(t, power, "power", durations_s=(60, 120))
    assert got.values.tolist() == [300.0, 175.0] and got.starts_s.tolist() == [0.0, 0.0]
    hr = curves.curve(t, np.full(t.size, 150.0), "heart_rate", durations_s=(60, 70, 71, 120))
    assert hr.durations_s.tolist() == [60.0, 70.0]  # seconds 0…69 are the longest run without a gap


def test_a_hard_easy_hard_effort_is_credited_to_the_shorter_durations_by_hand():
    # 10, 0, 10 W: exact bests 10 (1 s), 5 (2 s), 6.67 (3 s). Reported: 10, 6.67, 6.67, the
    # 2-s value taken from the 3-s window (it starts at 0), so the curve never rises.
    exact = curves.mean_maximal(np.array([10.0, 0.0, 10.0]), durations_s=(1, 2, 3))
    assert exact.values.tolist() == pytest.approx([10.0, 5.0, 20 / 3])
    reported = curves.monotone(exact)
    assert reported.values.tolist() == pytest.approx([10.0, 20 / 3, 20 / 3])
    assert reported.starts_s.tolist() == [0.0, 0.0, 0.0]


def test_durations_longer_than_the_activity_are_left_out():
    t = np.arange(0, 90, dtype=float)
    got = curves.curve(t, np.full(90, 200.0), "power")
    assert got.durations_s.tolist() == [d for d in curves.DURATIONS_S if d <= 90]


def two_pointer(t: np.ndarray, d: np.ndarray, target: float, step: float = 0.02) -> float:
    """The shortest time covering `target`, on a distance stream interpolated every `step` s."""
    grid = np.arange(t[0], t[-1] + step / 2, step)
    dist = np.interp(grid, t, d)
    best, end = np.inf, 0
    for start in range(grid.size):
        while end < grid.size and dist[end] - dist[start] < target:
            end += 1
        if end == grid.size:
            break
        best = min(best, grid[end] - grid[start])
    return best


def test_best_5k_and_1k_equal_a_two_pointer_search_on_the_corpus_runs(corpus):
    runs = []
    for folder in ("fit", "gpx", "tcx"):
        for path in sorted((corpus / folder).glob(f"*.{folder}")):
            content = read_file(path)
            if content.status == "imported" and (content.activities["sport"] == "run").all():
                runs.append(streams(path))
    checked = 0
    for frame in runs:
        frame = frame.filter(pl.col("distance_m").is_not_null())
        if frame.height < 2:
            continue
        t, d = frame["t"].to_numpy(), np.maximum.accumulate(frame["distance_m"].to_numpy())
        got = curves.best_efforts(t, d, (1000.0, 5000.0))
        for target, time_s in zip(got.distances_m, got.times_s):
            assert abs(time_s - two_pointer(t, d, target)) <= 0.1
            checked += 1
    assert checked >= 2, "corpus runs of 1 km or more"


def test_best_efforts_count_a_pause_as_elapsed_time_by_hand():
    # 4 m/s for 250 s (0 → 1000 m), stopped for 60 s, 4 m/s for 250 s (1000 → 2000 m), a sample
    # every 5 s. Best 1 km: 250 s, from the start. Best 1.5 km must hold the stop: 1500 / 4 + 60
    # = 435 s. 2.5 km: not covered.
    t = np.concatenate((np.arange(0, 251, 5), np.arange(310, 561, 5))).astype(float)
    d = np.where(t <= 250, 4 * t, 1000 + 4 * (t - 310))
    got = curves.best_efforts(t, d, (1000.0, 1500.0, 2500.0))
    assert got.distances_m.tolist() == [1000.0, 1500.0]
    assert got.times_s.tolist() == pytest.approx([250.0, 435.0], abs=1e-9)
    assert got.starts_s[0] == pytest.approx(0.0, abs=1e-9)


def test_a_clock_that_jumps_by_years_costs_no_memory_and_keeps_real_starts():
    # 200 W for a minute, then the clock jumps ten years, then 400 W for a minute (the last
    # samples). A grid of ten years of seconds would need 2.5 GB; the gap is shortened. Best
    # 1 min: 400 W from the jump. Best 2 min: 60 s of the gap (0 W) and the 400 W minute, 200 W,
    # from 60 s before the jump (the 200 W minute held 10 s gives only 70 × 200 / 120 W).
    jump = 10 * 365 * 86400.0
    t = np.concatenate((np.arange(0, 60), jump + np.arange(0, 60))).astype(float)
    power = np.concatenate((np.full(60, 200.0), np.full(60, 400.0)))
    got = curves.curve(t, power, "power", durations_s=(60, 120))
    assert got.values.tolist() == [400.0, 200.0]
    assert got.starts_s.tolist() == [jump, jump - 60]
