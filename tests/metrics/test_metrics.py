"""Metric definitions against hand calculations."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import polars as pl
import pytest

from pipeline.metrics import activity
from pipeline.metrics.weekly import weekly_table
from pipeline.normalize import schema


def test_ascent_counts_only_moves_of_the_threshold_or_more():
    # Flat at 100 m, climb to 120 m, small 2 m wobbles (ignored), descend to 105 m.
    profile = np.array([100.0] * 10 + list(np.linspace(100, 120, 21)) + [120, 118, 120, 118] * 3 + list(np.linspace(120, 105, 16)) + [105.0] * 10)
    ascent, descent = activity.ascent_descent(profile)
    assert ascent == pytest.approx(20.0, abs=1.5)
    assert descent == pytest.approx(15.0, abs=1.5)


def test_ascent_of_flat_noise_is_zero():
    rng = np.random.default_rng(1)
    ascent, descent = activity.ascent_descent(200 + rng.uniform(-1, 1, 500))
    assert ascent == 0 and descent == 0


def _hysteresis_reference(altitude: np.ndarray, threshold: float) -> tuple[float, float]:
    """The definition in docs/metrics.md, sample by sample, on the same centred moving average."""
    window = min(activity.ALTITUDE_SMOOTHING_WINDOW, altitude.size)
    padded = np.pad(altitude, (window // 2, window - 1 - window // 2), mode="edge")
    smooth = np.convolve(padded, np.ones(window) / window, mode="valid")
    ascent = descent = 0.0
    turn = extreme = smooth[0]
    direction = 0
    for value in smooth[1:]:
        if direction == 0:
            if abs(value - turn) >= threshold:
                direction, extreme = (1 if value > turn else -1), value
        elif (value - extreme) * direction > 0:
            extreme = value
        elif abs(extreme - value) >= threshold:
            if direction == 1:
                ascent += extreme - turn
            else:
                descent += turn - extreme
            turn, extreme, direction = extreme, value, -direction
    if direction == 1:
        ascent += extreme - turn
    elif direction == -1:
        descent += turn - extreme
    return float(ascent), float(descent)


@pytest.mark.parametrize("threshold", [0.5, 3.0, 10.0])
def test_ascent_matches_the_sample_by_sample_definition_exactly(threshold):
    rng = np.random.default_rng(7)
    walk = np.cumsum(rng.normal(0, 0.7, 5000)) + 300
    profiles = [
        walk,
        np.round(walk),                       # plateaus: repeated values
        np.repeat(walk[:1000], 5),            # long flat steps
        300 + (np.arange(5000) % 100) * 0.2,  # saw tooth
        rng.normal(0, 3, 5000),               # pure noise
        np.array([5.0, 5.0, 5.0]),
        np.array([1.0, 9.0]),
    ]
    for profile in profiles:
        assert activity.ascent_descent(profile, threshold) == _hysteresis_reference(profile, threshold)


def test_pause_longer_than_the_gap_is_not_timer_time():
    times = [datetime(2026, 7, 6, 6, 0, s) for s in range(0, 10)] + [datetime(2026, 7, 6, 6, 5, s) for s in range(0, 10)]
    samples = pl.DataFrame({
        "activity_id": ["a"] * 20, "timestamp_utc": times, "sport": ["run"] * 20,
        "speed_mps": [3.0] * 20, "cadence_rpm": [None] * 20, "power_w": [None] * 20,
        "distance_m": [3.0 * i for i in range(20)], "heart_rate_bpm": [150.0] * 20, "altitude_m": [None] * 20,
        "paused_s": [None] * 20,  # no device timer events: the gap rule decides
    }, schema_overrides={"timestamp_utc": schema.UTC, "cadence_rpm": pl.Float64, "power_w": pl.Float64,
                         "altitude_m": pl.Float64, "paused_s": pl.Float64})
    row = activity.summarize(activity.with_sample_weights(samples), ["activity_id"]).row(0, named=True)
    # Two runs of 9 one-second steps; the 291 s gap between them is a pause.
    assert row["elapsed_s"] == 309  # 06:00:00 to 06:05:09
    assert row["timer_s"] == 18 and row["moving_s"] == 18
    assert row["avg_pace_s_per_km"] == pytest.approx(1000 / (57.0 / 18))


def _activity(day: str, sport: str, moving_s: float, distance_m: float, hr: float | None,
              timer_s: float | None = None) -> dict:
    return {"start_time_local": datetime.fromisoformat(day), "sport": sport, "moving_s": moving_s,
            "timer_s": moving_s if timer_s is None else timer_s,
            "distance_m": distance_m, "ascent_m": 10.0, "avg_hr_bpm": hr, "trimp": 50.0}


def test_weekly_grid_is_dense_with_an_all_row_and_local_monday_weeks():
    activities = pl.DataFrame([
        _activity("2026-07-06T07:00", "ride", 3600, 30000, 140, timer_s=4000),  # Monday, ISO week 28
        _activity("2026-07-12T23:30", "run", 1800, 5000, 160, timer_s=2000),    # Sunday night local: still week 28
        # nothing in week 29
        _activity("2026-07-20T18:00", "ride", 7200, 60000, None),  # week 30
    ])
    weekly = weekly_table(schema.conform(activities, schema.ACTIVITIES))
    assert weekly.height == 3 * 3  # weeks 28-30 x (ride, run, all)
    week28 = {r["sport"]: r for r in weekly.filter(pl.col("iso_week") == 28).iter_rows(named=True)}
    assert week28["all"]["week_start"] == date(2026, 7, 6)
    assert week28["all"]["activities"] == 2 and week28["all"]["moving_s"] == 5400
    # Over the week's timer time: (4000*140 + 2000*160) / 6000.
    assert week28["all"]["avg_hr_timer_bpm"] == pytest.approx((4000 * 140 + 2000 * 160) / 6000)
    assert week28["ride"]["share_of_moving_time"] == pytest.approx(2 / 3)
    empty = weekly.filter(pl.col("iso_week") == 29)
    assert empty["activities"].to_list() == [0, 0, 0] and empty["moving_s"].sum() == 0
    week30 = {r["sport"]: r for r in weekly.filter(pl.col("iso_week") == 30).iter_rows(named=True)}
    assert week30["ride"]["avg_hr_timer_bpm"] is None
    assert week28["all"]["trimp"] == 100.0 and week28["run"]["trimp"] == 50.0


def test_climbing_is_per_group_even_when_a_groups_samples_are_split():
    # Activity a steps from 100 m to 130 m (ascent 30), b from 200 m to 180 m (descent 20).
    # Their samples alternate in blocks, and a has a gap (null) that must simply be skipped.
    a_first, a_second = [100.0] * 30, [130.0] * 30
    b_first, b_second = [200.0] * 30, [180.0] * 30
    frame = pl.DataFrame({
        "activity_id": ["a"] * 30 + ["b"] * 30 + ["a"] * 31 + ["b"] * 30,
        "altitude_m": a_first + b_first + [None] + a_second + b_second,
    })
    climbs = activity._climbing(frame, ["activity_id"], activity.ASCENT_HYSTERESIS_M).sort("activity_id")
    assert climbs.rows() == [("a", 30.0, 0.0), ("b", 0.0, 20.0)]
