"""Thresholds estimated from an athlete's own bests (issue 24, part 3): the models, on the
curves and best efforts of a window of activities. Which window: metrics/thresholds.py.

- **eFTP**: the 2-parameter critical-power model on the best 3–20 min powers. The model (Monod
  and Scherrer 1965; Jones et al. 2010) says the work done in a maximal effort of t seconds is
  W(t) = CP·t + W′: a straight line in t. A best is only as hard as the athlete went, never
  harder, so the line is fitted as an envelope, GoldenCheetah's default fit (PDModel.cpp): the
  line through one best of 3–5 min and one of 12–20 min that lies on or above every best of
  both ranges. Bests between them and bests that were not all-out do not pull it down, so a
  3- and 12-min test gives its own CP. Without a best in each range, or with CP or W′ not
  positive (a flat curve: nothing hard), 95 % of the best 20 min (Allen and Coggan's field
  test) instead.
- **Critical speed** (threshold run pace): the same model for running, distance against time,
  D(t) = CS·t + D′, on the best 3–20 min speeds (Hughson et al. 1984).
- **CSS** (critical swim speed): (400 − 200) / (t400 − t200), from the best 400 m and 200 m
  (Wakayoshi et al. 1992): the slope of the same line through two points.
- **Max HR**: the highest heart rate held for 5 s, so one spike of a chest strap is not taken
  for it; never below a configured max HR.
- **LTHR**: 95 % of the best 20 min heart rate (Friel's field test).
- **Resting HR**: not measurable from activities; DEFAULT_RESTING_HR_BPM when not configured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CP_DURATIONS_S = (180, 1200)  # the best efforts a CP or CS fit uses: 3 to 20 min
SHORT_S = (180, 300)  # 3-5 min: W′ weighs most
LONG_S = (720, 1200)  # 12-20 min: CP weighs most
ROUNDING = 1e-9  # of the largest work fitted
FTP_FROM_20_MIN = 0.95
LTHR_FROM_20_MIN = 0.95
MAX_HR_DURATION_S = 5
DEFAULT_RESTING_HR_BPM = 60.0


@dataclass(frozen=True)
class Estimate:
    value: float
    model: str  # how it was made, for thresholds.parquet
    used: tuple[float, ...] = ()  # the durations (s) or distances (m) of the bests it came from
    w_prime: float | None = None  # of a critical-power or critical-speed fit


@dataclass(frozen=True)
class CriticalPower:
    cp: float  # W (or m/s for critical speed)
    w_prime: float  # J (or m)
    durations: tuple[float, float]  # of the two bests the line goes through


def fit_critical_power(durations_s, values) -> CriticalPower | None:
    """The 2-parameter model W(t) = CP·t + W′ as the envelope of the bests (t, value·t): the
    line through a best of 3–5 min and one of 12–20 min on or above every best of both ranges;
    None without a best in each range or with CP or W′ not positive."""
    t = np.asarray(durations_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    short = (t >= SHORT_S[0]) & (t <= SHORT_S[1]) & np.isfinite(v)
    long = (t >= LONG_S[0]) & (t <= LONG_S[1]) & np.isfinite(v)
    order = np.argsort(t, kind="stable")  # the same answer whatever order the bests come in
    t, work, short, long = t[order], (v * t)[order], short[order], long[order]
    both = short | long
    slack = ROUNDING * work[both].max(initial=0.0)
    for a in np.flatnonzero(short):
        for b in np.flatnonzero(long):
            slope = (work[b] - work[a]) / (t[b] - t[a])
            intercept = work[a] - slope * t[a]
            if np.all(slope * t[both] + intercept >= work[both] - slack):
                # A W′ within rounding of zero is none: a flat curve (no hard effort at all) gives one
                if slope <= 0 or intercept <= slack:
                    return None
                return CriticalPower(float(slope), float(intercept), (float(t[a]), float(t[b])))
    return None


def eftp(durations_s, powers) -> Estimate | None:
    """Estimated FTP from a power curve's bests (duration, W): CP, or 95 % of the best 20 min."""
    fit = fit_critical_power(durations_s, powers)
    if fit is not None:
        return Estimate(fit.cp, "critical power (2-parameter envelope, 3-20 min)", fit.durations, fit.w_prime)
    best_20 = _at(durations_s, powers, 1200)
    return None if best_20 is None else Estimate(FTP_FROM_20_MIN * best_20, "95% of best 20 min", (1200,))


def critical_speed(durations_s, speeds) -> Estimate | None:
    """Threshold run speed (m/s) from a run speed curve's bests: the critical speed."""
    fit = fit_critical_power(durations_s, speeds)
    if fit is None:
        return None
    return Estimate(fit.cp, "critical speed (2-parameter envelope, 3-20 min)", fit.durations, fit.w_prime)


def css(best_200_s: float | None, best_400_s: float | None) -> Estimate | None:
    """Critical swim speed (m/s) from the best 200 m and 400 m times."""
    if best_200_s is None or best_400_s is None or best_400_s <= best_200_s:
        return None
    return Estimate((400.0 - 200.0) / (best_400_s - best_200_s), "CSS (400 m and 200 m)", (200.0, 400.0))


def max_hr(durations_s, heart_rates) -> Estimate | None:
    """The highest heart rate held for 5 s (thresholds.py keeps a configured one above it)."""
    held = _at(durations_s, heart_rates, MAX_HR_DURATION_S)
    return None if held is None else Estimate(held, "best 5 s heart rate", (MAX_HR_DURATION_S,))


def lthr(durations_s, heart_rates) -> Estimate | None:
    """95 % of the best 20 min heart rate."""
    best_20 = _at(durations_s, heart_rates, 1200)
    return None if best_20 is None else Estimate(LTHR_FROM_20_MIN * best_20, "95% of best 20 min heart rate", (1200,))


def _at(durations_s, values, duration: int) -> float | None:
    found = [v for d, v in zip(durations_s, values) if d == duration and np.isfinite(v)]
    return max(found) if found else None
