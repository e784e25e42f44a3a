"""The threshold models of pipeline/metrics/estimates.py: curves generated from the model with
known parameters, and hand calculations written out here."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.metrics import estimates

# The grid's durations from 3 to 20 min, and a few outside the fit's range.
GRID_S = (60, 120, 180, 300, 480, 600, 720, 900, 1200, 1800, 3600)


def model_powers(cp: float, w_prime: float) -> list[float]:
    return [cp + w_prime / t for t in GRID_S]  # P(t) = CP + W'/t


def test_critical_power_is_recovered_from_a_curve_of_the_model():
    fit = estimates.fit_critical_power(GRID_S, model_powers(250.0, 20_000.0))
    assert fit.cp == pytest.approx(250.0, rel=0.01) and fit.w_prime == pytest.approx(20_000.0, rel=0.01)
    assert fit.durations[0] in (180, 300) and fit.durations[1] in (720, 900, 1200)  # 3-5 and 12-20 min
    assert estimates.eftp(GRID_S, model_powers(250.0, 20_000.0)).value == pytest.approx(250.0, rel=0.01)


def test_a_3_and_12_minute_test_gives_its_critical_power_whatever_the_easier_durations_hold():
    # A ride with the classic two-effort test: 3 min all out at 260 + 20000/180 = 371.11 W and,
    # after a rest, 12 min at 260 + 20000/720 = 287.78 W; 143 W between and after. Its other
    # bests are not all-out: 5 min = (371.11·180 + 143·120) / 300 = 279.87 W; 8 and 10 min lie
    # inside the 12-min effort, 287.78 W; 15 min = (287.78·720 + 143·180) / 900 = 258.82 W;
    # 20 min = (287.78·720 + 143·480) / 1200 = 229.87 W. The two efforts alone give
    # CP = (287.78·720 − 371.11·180) / (720 − 180) = (207200 − 66800) / 540 = 260 W and
    # W′ = 66800 − 260·180 = 20000 J; the bests that were not all-out must not pull it down.
    three, twelve = 260 + 20_000 / 180, 260 + 20_000 / 720
    durations = (180, 300, 480, 600, 720, 900, 1200)
    bests = (three, (three * 180 + 143 * 120) / 300, twelve, twelve, twelve,
             (twelve * 720 + 143 * 180) / 900, (twelve * 720 + 143 * 480) / 1200)
    fit = estimates.fit_critical_power(durations, bests)
    assert fit.cp == pytest.approx(260.0) and fit.w_prime == pytest.approx(20_000.0)
    assert estimates.eftp(durations, bests).used == (180, 720)  # the two bests it came from


@pytest.mark.parametrize("seed", range(20))
def test_critical_power_from_a_noisy_curve_is_within_the_stated_tolerance(seed):
    # Each best off by up to ±2 % (uniform), as day-to-day form and pacing make it: CP within
    # 4 %, W′ within 30 % (docs/metrics.md states both; over 2,000 seeds the worst were 3.7 %
    # and 26 %). W′ is the intercept of a line through bests of 3-20 min, far from t = 0, so it
    # moves much more than CP.
    rng = np.random.default_rng(seed)
    noisy = [p * (1 + rng.uniform(-0.02, 0.02)) for p in model_powers(280.0, 18_000.0)]
    fit = estimates.fit_critical_power(GRID_S, noisy)
    assert fit.cp == pytest.approx(280.0, rel=0.04)
    assert fit.w_prime == pytest.approx(18_000.0, rel=0.30)


def test_with_too_few_efforts_eftp_is_95_percent_of_the_best_20_minutes():
    # Only 20 min and 1 h bests: nothing of 3-5 min for the fit. 0.95 × 300 W = 285 W.
    found = estimates.eftp((1200, 3600), (300.0, 260.0))
    assert found.value == pytest.approx(285.0) and found.model == "95% of best 20 min"
    assert estimates.eftp((5, 60), (900.0, 500.0)) is None


def test_critical_speed_is_recovered_from_a_run_curve_of_the_model():
    speeds = [4.0 + 200.0 / t for t in GRID_S]  # D(t) = 4 m/s · t + 200 m
    assert estimates.critical_speed(GRID_S, speeds).value == pytest.approx(4.0, rel=0.01)


def test_css_by_hand():
    # 200 m in 3:00, 400 m in 6:20: (400 − 200) / (380 − 180) = 1.0 m/s, 1:40 per 100 m.
    assert estimates.css(180.0, 380.0).value == pytest.approx(1.0)
    assert estimates.css(180.0, None) is None and estimates.css(200.0, 190.0) is None


def test_max_hr_is_held_for_5_seconds():
    curve = ((1, 5, 60), (205.0, 188.0, 181.0))  # a 205 bpm spike of one second is not it
    assert estimates.max_hr(*curve).value == 188.0


def test_lthr_is_95_percent_of_the_best_20_minute_heart_rate():
    assert estimates.lthr((600, 1200), (175.0, 170.0)).value == pytest.approx(161.5)
