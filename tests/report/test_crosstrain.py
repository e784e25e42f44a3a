"""The cross-training statistics: r and its bootstrap interval against hand arithmetic and an
independent implementation, the weekly series, and a reading that never claims too much."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from pipeline.normalize import schema
from pipeline.report import crosstrain
from pipeline.report.crosstrain import MIN_WEEKS, POWER_EF, SPEED_EF

# --- Pearson r ------------------------------------------------------------------


def test_pearson_matches_hand_arithmetic_and_numpy():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    y = np.array([2.0, 4.0, 5.0, 4.0, 5.0])
    # x̄ = 3, ȳ = 4; x − x̄ = (−2, −1, 0, 1, 2); y − ȳ = (−2, 0, 1, 0, 1)
    # Σ(x−x̄)(y−ȳ) = 4 + 0 + 0 + 0 + 2 = 6; Σ(x−x̄)² = 4 + 1 + 0 + 1 + 4 = 10; Σ(y−ȳ)² = 4 + 0 + 1 + 0 + 1 = 6
    by_hand = 6 / math.sqrt(10 * 6)  # = 0.774596...
    assert crosstrain.pearson(x, y) == pytest.approx(by_hand, abs=1e-12)
    assert crosstrain.pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)


@pytest.mark.parametrize("y, expected", [
    ([3.0, 5.0, 7.0, 9.0], 1.0),     # y = 2x + 1: a straight rising line
    ([4.0, 3.0, 2.0, 1.0], -1.0),    # y = 5 − x
])
def test_pearson_of_a_straight_line_is_plus_or_minus_one(y, expected):
    assert crosstrain.pearson(np.array([1.0, 2.0, 3.0, 4.0]), np.array(y)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("x, y", [
    ([1.0, 2.0], [3.0, 4.0]),                      # fewer than 3 pairs
    ([0.1, 0.1, 0.1, 0.1], [1.0, 2.0, 3.0, 4.0]),  # no running variation (and 0.1 is not exact in binary)
    ([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]),            # no efficiency variation
])
def test_pearson_is_none_without_enough_or_varying_data(x, y):
    assert crosstrain.pearson(np.array(x), np.array(y)) is None


# --- bootstrap interval ----------------------------------------------------------------

RISING = np.arange(20.0)
NOISY = RISING * 0.5 + np.random.default_rng(3).normal(0, 2.0, 20)


def _naive_bootstrap(x, y, resamples, seed, confidence):
    """The textbook loop, one resample at a time, with numpy's own correlation."""
    picks = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    rs = [np.corrcoef(x[p], y[p])[0, 1] for p in picks if np.ptp(x[p]) > 0 and np.ptp(y[p]) > 0]
    tail = (1 - confidence) / 2 * 100
    return tuple(np.percentile(rs, [tail, 100 - tail]))


def test_bootstrap_interval_matches_a_naive_loop():
    low, high = crosstrain.bootstrap_ci(RISING, NOISY, resamples=500, seed=11)
    expected = _naive_bootstrap(RISING, NOISY, 500, 11, 0.95)
    assert (low, high) == pytest.approx(expected, abs=1e-12)


def test_bootstrap_interval_contains_r_and_is_deterministic_for_a_seed():
    r = crosstrain.pearson(RISING, NOISY)
    low, high = crosstrain.bootstrap_ci(RISING, NOISY, seed=7)
    assert -1 <= low < r < high <= 1
    assert crosstrain.bootstrap_ci(RISING, NOISY, seed=7) == (low, high)
    assert crosstrain.bootstrap_ci(RISING, NOISY, seed=8) != (low, high)


def test_bootstrap_interval_of_the_hand_example_contains_its_r():
    x, y = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([2.0, 4.0, 5.0, 4.0, 5.0])
    low, high = crosstrain.bootstrap_ci(x, y)
    assert low < 6 / math.sqrt(60) < high


def test_no_interval_without_an_r():
    assert crosstrain.bootstrap_ci(np.array([1.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0])) == (None, None)


# --- verdict -------------------------------------------------------------------------


@pytest.mark.parametrize("n, r, low, high, expected", [
    (MIN_WEEKS - 1, 0.9, 0.5, 0.99, "too_few_weeks"),  # a striking r on too few weeks is still not read
    (MIN_WEEKS, None, None, None, "no_variation"),
    (MIN_WEEKS, 0.3, -0.1, 0.6, "cannot_tell"),
    (MIN_WEEKS, 0.3, 0.0, 0.6, "cannot_tell"),         # touching zero is not excluding it
    (MIN_WEEKS, 0.3, None, None, "cannot_tell"),
    (MIN_WEEKS, 0.6, 0.2, 0.8, "positive"),
    (40, -0.6, -0.8, -0.2, "negative"),
])
def test_verdict(n, r, low, high, expected):
    assert crosstrain.verdict(n, r, low, high) == expected


# --- weekly series from activities ------------------------------------------------------

MONDAY = datetime(2026, 3, 2, 8, 0)


def _activities(rows: list[dict]) -> pl.DataFrame:
    return schema.conform(pl.DataFrame(rows), schema.ACTIVITIES)


def _ride(day: int, minutes: float, power_ef=None, speed_ef=1.0, vi=1.01) -> dict:
    return {"sport": "ride", "start_time_local": MONDAY + timedelta(days=day), "moving_s": minutes * 60,
            POWER_EF: power_ef, SPEED_EF: speed_ef, "variability_index": vi if power_ef else None}


def _run(day: int, minutes: float) -> dict:
    return {"sport": "run", "start_time_local": MONDAY + timedelta(days=day), "moving_s": minutes * 60}


def test_weekly_series_sums_running_and_weights_steady_ride_ef_by_moving_time():
    activities = _activities([
        _ride(-7, 60, power_ef=9.9),                 # the week before the first run: left out
        _run(0, 30), _run(3, 45),                    # week 0: 75 min of running
        _ride(1, 60, power_ef=1.2), _ride(5, 180, power_ef=1.4),
        _ride(2, 60, power_ef=2.0, vi=1.15),         # intervals: not steady, left out
        _ride(8, 90, power_ef=1.3),                  # week 1: no run
        _run(14, 40),                                # week 2: a run, no ride
    ])
    metric = crosstrain.ride_ef_metric(activities)
    series = crosstrain.weekly_series(activities, metric)
    assert metric == POWER_EF
    assert series["week_start"].to_list() == [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
    assert series["running_s"].to_list() == [75 * 60, 0.0, 40 * 60]
    # week 0: (1.2 × 60 + 1.4 × 180) / (60 + 180) = (72 + 252) / 240 = 1.35
    assert series["ride_ef"][0] == pytest.approx(1.35) and series["ride_ef"][1] == pytest.approx(1.3)
    assert series["ride_ef"][2] is None


def test_speed_ef_is_used_when_most_ride_weeks_have_no_power():
    activities = _activities([
        _run(0, 30), _ride(1, 60, power_ef=1.2, speed_ef=3.0),
        _ride(8, 60, speed_ef=4.0), _ride(15, 60, speed_ef=5.0), _ride(16, 120, speed_ef=2.0, vi=1.3),
    ])
    metric = crosstrain.ride_ef_metric(activities)
    assert metric == SPEED_EF  # power in 1 of 3 ride weeks
    series = crosstrain.weekly_series(activities, metric)
    # Without power every ride counts, whatever its variability: (5 × 60 + 2 × 120) / 180 = 3.0
    assert series["ride_ef"].to_list() == pytest.approx([3.0, 4.0, 3.0])


def test_no_series_without_runs_or_ride_ef():
    assert crosstrain.weekly_series(_activities([_ride(0, 60, power_ef=1.2)]), POWER_EF).is_empty()
    only_runs = _activities([_run(0, 30), _run(7, 30)])
    assert crosstrain.ride_ef_metric(only_runs) is None
    assert crosstrain.weekly_series(only_runs, None).is_empty()


def test_lagged_pairs_put_running_next_to_the_later_weeks_ride_ef():
    series = pl.DataFrame({
        "week_start": [date(2026, 3, 2) + timedelta(weeks=w) for w in range(4)],
        "running_s": [10.0, 20.0, 30.0, 40.0],
        "ride_ef": [1.0, None, 3.0, 4.0],
    })
    same = crosstrain.lagged_pairs(series, 0)
    assert same["running_s"].to_list() == [10.0, 30.0, 40.0] and same["ride_ef_later"].to_list() == [1.0, 3.0, 4.0]
    later = crosstrain.lagged_pairs(series, 1)
    # week 0 → week 1 has no ride EF; week 1 → 2; week 2 → 3; week 3 → beyond the data
    assert later["running_s"].to_list() == [20.0, 30.0] and later["ride_ef_later"].to_list() == [3.0, 4.0]


# --- analysis and reading -----------------------------------------------------------------


def _series(running: np.ndarray, ride_ef: np.ndarray) -> pl.DataFrame:
    weeks = [date(2025, 1, 6) + timedelta(weeks=w) for w in range(len(running))]
    return pl.DataFrame({"week_start": weeks, "running_s": running, "ride_ef": ride_ef},
                        schema=crosstrain.SERIES_SCHEMA)


def _positive_at_lag_one(weeks: int = 40) -> pl.DataFrame:
    """Ride EF follows the previous week's running closely; the same week's running is unrelated."""
    rng = np.random.default_rng(5)
    running = rng.uniform(0, 3 * 3600, weeks)
    ride_ef = np.concatenate(([1.3], 1.2 + running[:-1] / 3600 * 0.05)) + rng.normal(0, 0.01, weeks)
    return _series(running, ride_ef)


def test_analysis_has_one_row_per_lag_with_its_numbers():
    series = _positive_at_lag_one()
    table = crosstrain.analyse(series, POWER_EF)
    assert table.columns == list(crosstrain.SCHEMA)
    assert table["lag_weeks"].to_list() == [0, 1, 2, 3, 4]
    assert table["n_weeks"].to_list() == [40, 39, 38, 37, 36]
    lag1 = table.row(1, named=True)
    pairs = crosstrain.lagged_pairs(series, 1)
    assert lag1["r"] == pytest.approx(np.corrcoef(pairs["running_s"], pairs["ride_ef_later"])[0, 1])
    assert lag1["verdict"] == "positive" and lag1["ci_low"] > 0
    assert lag1["first_week"] == date(2025, 1, 6) and lag1["ride_ef_metric"] == POWER_EF


def test_reading_of_a_clear_positive_relationship_says_positive_without_overclaiming():
    text = crosstrain.reading(crosstrain.analyse(_positive_at_lag_one(), POWER_EF))
    assert "weeks with more running were followed 1 week later by rides with a higher efficiency factor" in text
    assert "not proof" in text and "by chance" in text
    for claim in ("running improves", "running helps", "proves", "caused by running"):
        assert claim not in text.lower()


def test_reading_with_fewer_than_12_weeks_says_the_data_cannot_tell():
    running = np.array([0, 3600, 7200, 0, 3600, 7200, 0, 3600], dtype=float)
    table = crosstrain.analyse(_series(running, 1.2 + running / 36000), POWER_EF)
    assert set(table["verdict"]) == {"too_few_weeks"}
    text = crosstrain.reading(table)
    assert text.startswith("Your data cannot tell yet") and f"at least {MIN_WEEKS} weeks" in text
    assert "the most at any lag is 8" in text
    assert "higher" not in text and "lower" not in text


def _table(rows: list[tuple]) -> pl.DataFrame:
    """A crosstrain table from (lag, n, r, low, high) rows; the verdict follows from them."""
    return pl.DataFrame([
        {"lag_weeks": lag, "n_weeks": n, "r": r, "ci_low": low, "ci_high": high,
         "verdict": crosstrain.verdict(n, r, low, high), "ride_ef_metric": POWER_EF, "first_week": None,
         "last_week": None, "resamples": 2000, "seed": 1}
        for lag, n, r, low, high in rows], schema=crosstrain.SCHEMA)


def test_reading_when_every_interval_spans_zero_says_it_cannot_tell():
    table = _table([(0, 30, 0.10, -0.25, 0.42), (1, 29, 0.31, -0.05, 0.60), (2, 28, -0.2, -0.5, 0.15),
                    (3, 27, 0.0, -0.4, 0.4), (4, 26, 0.05, -0.3, 0.38)])
    text = crosstrain.reading(table)
    assert text.startswith("Your data cannot tell yet whether running goes with better or worse ride efficiency")
    assert "includes zero" in text
    assert "lag 1: r = 0.31, 95 % CI -0.05 to 0.60, 29 weeks" in text
    assert "higher efficiency" not in text and "lower efficiency" not in text


def test_reading_names_only_the_lags_whose_interval_excludes_zero():
    table = _table([(0, 14, -0.1, -0.6, 0.4), (1, 13, -0.7, -0.9, -0.3), (2, 12, 0.2, -0.3, 0.6),
                    (3, 11, 0.8, 0.5, 0.95), (4, 10, 0.9, 0.6, 0.99)])
    text = crosstrain.reading(table)
    assert "followed 1 week later by rides with a lower efficiency factor: r = -0.70" in text
    assert "anywhere from moderate to strong" in text  # |−0.3| is moderate, |−0.9| strong
    assert "At lags 0 and 2 the interval includes zero" in text
    assert "Lags 3 and 4 have fewer than 12 usable weeks and are not read." in text
    assert "higher efficiency" not in text  # lags 3 and 4 look striking, but have too few weeks


def test_reading_when_nothing_varies():
    table = _table([(lag, 20, None, None, None) for lag in range(5)])
    assert crosstrain.reading(table).startswith("Your data cannot tell yet: running time")
