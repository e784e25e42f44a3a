"""Physics and physiology of the simulated athlete, one sample per second.

Everything here produces the *internal* 1 Hz stream of an activity: what a
device would measure every second.  Whether all of it is written to a file
(or only every few seconds, "smart recording") is decided later.

Models, deliberately simple but plausible:

* Cycling speed comes from a power balance (aerodynamic drag + rolling
  resistance + gravity), softly limited to 6-12 m/s while riding.  The rider pushes
  a bit harder uphill and eases off downhill.
* Running speed follows a target pace, slower uphill and a bit faster
  downhill, kept within 4:30-6:00 min/km.
* Heart rate follows effort with a first-order lag (about 30 s up, 55 s down)
  towards ``60 + span * intensity**k * cost`` bpm, plus a slow cardiac drift
  and a little autocorrelated noise.  ``cost`` is where the cross-training
  effect enters for rides (see plan.ride_hr_cost).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

import numpy as np

from .geo import Path

def clamp(value: float, low: float, high: float) -> float:
    """Scalar clip; np.clip is ~20x slower on plain floats in the per-second loops."""
    return low if value < low else high if value > high else value


def soft_limit(value: float, low: float, high: float, knee: float) -> float:
    """Keep *value* inside (low, high) without piling samples up at the edges.

    Unchanged in the middle; within *knee* of an edge it bends smoothly
    (tanh) towards the edge instead of being cut flat.
    """
    upper_knee, lower_knee = high - knee, low + knee
    if value > upper_knee:
        return upper_knee + knee * math.tanh((value - upper_knee) / knee)
    if value < lower_knee:
        return lower_knee - knee * math.tanh((lower_knee - value) / knee)
    return value


# --- the athlete -----------------------------------------------------------

FTP_W = 260.0  # functional threshold power; constant over the 16 weeks
MAX_POWER_W = 340.0  # of training rides; a test's maximal efforts go above it
THRESHOLD_RUN_SPEED_MPS = 1000.0 / 265.0  # 4:25 min/km
THRESHOLD_SWIM_SPEED_MPS = 1.0  # 1:40 min/100 m
HR_BASE_BPM = 60.0
HR_FLOOR_BPM = 98
HR_CEILING_BPM = 185  # the athlete's maximum heart rate
# Heart-rate rise above HR_BASE_BPM at threshold intensity, per sport (see heart_rate_response)
RIDE_HR_SPAN_BPM = 105.0
RUN_HR_SPAN_BPM = 118.0
SWIM_HR_SPAN_BPM = 100.0

# Maximal efforts follow the 2-parameter critical-power model: an all-out effort of t seconds
# holds CP + W'/t, with CP the threshold (FTP_W, THRESHOLD_RUN_SPEED_MPS,
# THRESHOLD_SWIM_SPEED_MPS) and W' the work (J), or distance (m), above it.
W_PRIME_J = 20_000.0
RUN_D_PRIME_M = 200.0
SWIM_D_PRIME_M = 20.0

#: What the generator's athlete really is, under the column names of fitpipe's
#: thresholds.parquet: the values its estimates are checked against. LTHR is the steady heart
#: rate at threshold intensity (no drift, no cross-training effect).
TRUE_THRESHOLDS = {
    "ftp_w": FTP_W,
    "max_hr_bpm": float(HR_CEILING_BPM),
    "lthr_ride_bpm": HR_BASE_BPM + RIDE_HR_SPAN_BPM,
    "lthr_run_bpm": HR_BASE_BPM + RUN_HR_SPAN_BPM,
    "threshold_run_speed_mps": THRESHOLD_RUN_SPEED_MPS,
    "css_mps": THRESHOLD_SWIM_SPEED_MPS,
    "resting_hr_bpm": HR_BASE_BPM,
}


def maximal_effort(threshold: float, reserve: float, duration_s: float) -> float:
    """The power (or speed) an all-out effort of *duration_s* holds: CP + W'/t."""
    return threshold + reserve / duration_s


def maximal_time_s(threshold_speed: float, reserve_m: float, distance_m: float) -> float:
    """The time an all-out effort over *distance_m* takes: (d - D') / CS."""
    return (distance_m - reserve_m) / threshold_speed


#: Test workouts: (minute the effort starts, its length in s); easy riding or jogging between.
#: Rides: a 3- and a 12-min all-out effort (a common two-point critical-power test) and Allen and
#: Coggan's FTP test (5 min, then 20 min). Runs, on a flat 400 m track: the same 3- and 12-min
#: test, and a 5 km time trial.
RIDE_TESTS = {"cp_test": ((15, 180), (33, 720)), "ftp_test": ((15, 300), (30, 1200))}
FIVE_KM_S = round(maximal_time_s(THRESHOLD_RUN_SPEED_MPS, RUN_D_PRIME_M, 5000.0))
RUN_TESTS = {"cs_test": ((12, 180), (25, 720)), "5k_time_trial": ((10, FIVE_KM_S),)}
TEST_COOL_DOWN_S = 10 * 60

# --- bike and air ----------------------------------------------------------

SYSTEM_MASS_KG = 82.0  # rider + bike
CDA_M2 = 0.32
ROLLING_RESISTANCE = 0.0045
AIR_DENSITY = 1.2
DRIVETRAIN_EFFICIENCY = 0.975
GRAVITY = 9.81

RIDE_SPEED_RANGE_MPS = (6.0, 12.0)
RUN_SPEED_RANGE_MPS = (1000.0 / 360.0, 1000.0 / 270.0)  # 6:00 .. 4:30 min/km


@dataclass
class Stop:
    """A stop during an activity (traffic light, shoelace, refill...)."""

    after_moving_s: int  # happens after this many seconds of moving
    standing_s: int  # seconds standing still
    auto_pause: bool  # True: device pauses the timer while standing


@dataclass
class Motion:
    """Result of integrating speed along a path, one entry per second."""

    distance_m: np.ndarray
    speed_mps: np.ndarray
    grade: np.ndarray
    effort_index: np.ndarray  # index into the effort profile, -1 while braking/standing
    standing: list[tuple[int, int, Stop]] = field(default_factory=list)  # (first, last) zero-speed samples


def integrate_motion(
    path: Path,
    steady_speed: Callable[[int, float], float],
    moving_s: int,
    stops: list[Stop],
    max_accel: float,
    max_decel: float,
) -> Motion:
    """Move along *path* for *moving_s* seconds of effort, honouring stops.

    ``steady_speed(effort_index, grade)`` is the speed the athlete would
    settle at; acceleration limits smooth the transitions.  The activity
    starts from standstill and ends by slowing to a stop.  Distance is
    integrated with the trapezoid rule so it agrees with the speed samples.
    """
    pending_stops = sorted(stops, key=lambda s: s.after_moving_s)
    distances, speeds, grades, efforts = [], [], [], []
    standing_runs: list[tuple[int, int, Stop]] = []

    distance, speed, effort = 0.0, 0.0, 0
    phase = "moving"
    current_stop: Stop | None = None
    standing_left = 0
    standing_first = 0

    while True:
        index = len(distances)
        grade = path.grade_at(distance)
        if phase == "moving":
            if effort >= moving_s:
                phase = "finishing"
            elif pending_stops and effort >= pending_stops[0].after_moving_s:
                phase, current_stop = "braking", pending_stops.pop(0)
        if phase in ("braking", "finishing") and speed == 0.0:
            if phase == "finishing":
                distances.append(distance), speeds.append(0.0), grades.append(grade), efforts.append(-1)
                break
            phase, standing_left, standing_first = "standing", current_stop.standing_s, index

        if phase == "moving":
            target = steady_speed(effort, grade)
            next_speed = speed + clamp(target - speed, -max_decel, max_accel)
            label = effort
            effort += 1
        elif phase in ("braking", "finishing"):
            next_speed = speed - max_decel
            next_speed = 0.0 if next_speed < 0.3 else next_speed
            label = -1
        else:  # standing
            next_speed, label = 0.0, -1
            standing_left -= 1
            if standing_left <= 0:
                standing_runs.append((standing_first, index, current_stop))
                phase = "moving"

        distances.append(distance), speeds.append(speed), grades.append(grade), efforts.append(label)
        distance += 0.5 * (speed + next_speed)
        speed = next_speed

    return Motion(
        distance_m=np.array(distances),
        speed_mps=np.array(speeds),
        grade=np.array(grades),
        effort_index=np.array(efforts, dtype=int),
        standing=standing_runs,
    )


# --- cycling ---------------------------------------------------------------


def speed_for_power(power_w: float, grade: float) -> float:
    """Steady cycling speed at a given power and grade (Newton's method).

    Solves 0.5*rho*CdA*v^3 + m*g*(Crr + grade)*v = eta*P.  Starting above
    the root on a convex function makes Newton converge monotonically.
    """
    low, high = RIDE_SPEED_RANGE_MPS
    a = 0.5 * AIR_DENSITY * CDA_M2
    b = SYSTEM_MASS_KG * GRAVITY * (ROLLING_RESISTANCE + grade)
    c = power_w * DRIVETRAIN_EFFICIENCY
    v = 2 * high
    if a * v**3 + b * v - c > 0:  # otherwise: a very steep descent, way too fast anyway
        for _ in range(10):
            v -= (a * v**3 + b * v - c) / (3 * a * v**2 + b)
    # Riders brake on fast descents and the terrain's steepest climbs are
    # short, so the speed is bent into 6-12 m/s.
    return soft_limit(v, low, high, knee=1.2)


def grade_power_factor(grade: float) -> float:
    """Riders push harder uphill and ease off downhill."""
    return clamp(1.0 + 5.0 * grade, 0.75, 1.25)


def ride_power_profile(rng: np.random.Generator, workout: str, duration_s: int) -> np.ndarray:
    """Target power (W) for each moving second of a ride workout."""
    t = np.arange(duration_s)
    if workout == "recovery":
        fraction = np.full(duration_s, rng.uniform(0.50, 0.56))
    elif workout == "long":
        fraction = np.full(duration_s, rng.uniform(0.60, 0.67))
    elif workout == "endurance":
        fraction = np.full(duration_s, rng.uniform(0.64, 0.70))
    elif workout == "tempo":
        fraction = np.full(duration_s, rng.uniform(0.62, 0.66))
        tempo = rng.uniform(0.82, 0.88)
        block = int(rng.choice([15, 20])) * 60
        first = 15 * 60
        for start in (first, first + block + 5 * 60):
            if start + block < duration_s - 10 * 60:
                fraction[start : start + block] = tempo
    elif workout == "intervals":
        fraction = np.full(duration_s, rng.uniform(0.60, 0.66))
        hard = rng.uniform(1.08, 1.15)
        start = 15 * 60
        while start + 8 * 60 <= duration_s - 10 * 60:
            fraction[start : start + 4 * 60] = hard
            fraction[start + 4 * 60 : start + 8 * 60] = 0.55
            start += 8 * 60
    elif workout == "brick":
        fraction = np.full(duration_s, rng.uniform(0.78, 0.83))
    else:
        raise ValueError(f"unknown ride workout {workout!r}")

    # Warm-up ramp over the first 10 minutes (not for the race-like brick).
    if workout != "brick":
        ramp = np.clip(t / 600.0, 0.0, 1.0)
        fraction = fraction * (0.8 + 0.2 * ramp)

    # Slow surges (terrain, wind, group) and second-to-second pedalling noise.
    surges = 1.0 + 0.05 * np.sin(2 * math.pi * t / rng.uniform(300, 600) + rng.uniform(0, 6.3))
    surges += 0.03 * np.sin(2 * math.pi * t / rng.uniform(60, 140) + rng.uniform(0, 6.3))
    noise = 1.0 + rng.normal(0.0, 0.045, duration_s)
    return np.clip(FTP_W * fraction * surges * noise, 60.0, MAX_POWER_W)


def moving_time_of_test_s(workout: str) -> int:
    """Moving time of a test workout: warm-up, efforts and a cool-down."""
    start_min, length_s = (RIDE_TESTS | RUN_TESTS)[workout][-1]
    return start_min * 60 + length_s + TEST_COOL_DOWN_S


def _test_profile(rng: np.random.Generator, efforts, easy: float, threshold: float, reserve: float,
                  duration_s: int, noise_sd: float) -> np.ndarray:
    """Easy between all-out efforts that each hold CP + W'/t, with per-second noise."""
    target = np.full(duration_s, easy)
    for start_min, length_s in efforts:
        target[start_min * 60 : start_min * 60 + length_s] = maximal_effort(threshold, reserve, length_s)
    return target * (1.0 + rng.normal(0.0, noise_sd, duration_s))


def ride_test_power(rng: np.random.Generator, workout: str, duration_s: int) -> np.ndarray:
    """Target power (W) of a test ride: 55 % of FTP between the maximal efforts."""
    return _test_profile(rng, RIDE_TESTS[workout], 0.55 * FTP_W, FTP_W, W_PRIME_J, duration_s, 0.03)


def run_test_speed(rng: np.random.Generator, workout: str, duration_s: int) -> np.ndarray:
    """Target speed (m/s) of a test run: a 5:45 min/km jog between the maximal efforts."""
    return _test_profile(rng, RUN_TESTS[workout], 1000.0 / 345.0, THRESHOLD_RUN_SPEED_MPS, RUN_D_PRIME_M,
                         duration_s, 0.01)


# --- running ---------------------------------------------------------------


def run_speed_profile(rng: np.random.Generator, workout: str, duration_s: int) -> np.ndarray:
    """Target running speed (m/s) on flat ground for each moving second."""

    def pace(low_min_km: float, high_min_km: float) -> float:
        return 1000.0 / (60.0 * rng.uniform(low_min_km, high_min_km))

    t = np.arange(duration_s)
    if workout == "easy":
        speed = np.full(duration_s, pace(5.58, 5.92))
    elif workout == "steady":
        speed = np.full(duration_s, pace(5.08, 5.42))
    elif workout == "long":
        speed = np.full(duration_s, pace(5.42, 5.75))
    elif workout == "tempo":
        speed = np.full(duration_s, pace(5.5, 5.8))
        speed[10 * 60 : 30 * 60] = pace(4.58, 4.75)
    elif workout == "brick":
        speed = np.full(duration_s, pace(4.75, 5.0))
    else:
        raise ValueError(f"unknown run workout {workout!r}")
    wobble = 1.0 + 0.025 * np.sin(2 * math.pi * t / rng.uniform(150, 400) + rng.uniform(0, 6.3))
    return speed * wobble


def run_grade_factor(grade: float) -> float:
    """Slower uphill, slightly faster downhill."""
    return 1.0 - 3.0 * grade if grade > 0 else 1.0 - 1.5 * grade


# --- heart rate ------------------------------------------------------------


def heart_rate_response(
    rng: np.random.Generator,
    intensity: np.ndarray,
    cost: float,
    start_hr: float,
    span_bpm: float = RIDE_HR_SPAN_BPM,
    exponent: float = 0.9,
    drift_bpm_per_min: float = 0.04,
) -> np.ndarray:
    """Heart rate (bpm, int) lagging behind *intensity* (1.0 = threshold).

    The steady-state target is ``60 + span * intensity**exponent * cost``
    plus cardiac drift; heart rate approaches it with a time constant of
    30 s when rising and 55 s when falling.
    """
    n = len(intensity)
    minutes = np.arange(n) / 60.0
    target = HR_BASE_BPM + (span_bpm * np.power(np.maximum(intensity, 0.0), exponent) + drift_bpm_per_min * minutes) * cost
    target = np.maximum(target, 95.0)  # standing still after effort, not asleep

    noise = np.empty(n)
    level = 0.0
    innovations = rng.normal(0.0, 0.6, n)
    for i in range(n):
        level = 0.9 * level + innovations[i]
        noise[i] = level

    hr = np.empty(n)
    current = start_hr
    for i in range(n):
        tau = 30.0 if target[i] > current else 55.0
        current += (target[i] - current) / tau
        hr[i] = current
    return np.clip(np.rint(hr + noise), HR_FLOOR_BPM, HR_CEILING_BPM).astype(int)


def smoothed(values: np.ndarray, window_s: int) -> np.ndarray:
    """Centered moving average (edges use the available samples)."""
    kernel = np.ones(window_s)
    sums = np.convolve(values, kernel, mode="same")
    counts = np.convolve(np.ones_like(values), kernel, mode="same")
    return sums / counts


def autocorrelated_noise(rng: np.random.Generator, n: int, sd: float, keep: float = 0.8) -> np.ndarray:
    """AR(1) noise with the given stationary standard deviation."""
    innovations = rng.normal(0.0, sd * math.sqrt(1 - keep**2), n)
    out = np.empty(n)
    level = rng.normal(0.0, sd)
    for i in range(n):
        level = keep * level + innovations[i]
        out[i] = level
    return out


# --- weather ---------------------------------------------------------------


def ambient_temperature_c(day: date, local_hour: float) -> float:
    """Air temperature: warm August, chilly November, warmer in the evening."""
    season = (day - date(2026, 7, 27)).days / 111.0  # 0 = late July, 1 = mid November
    daily_high = 28.0 - 18.0 * season
    daily_low = 16.0 - 13.0 * season
    daytime = max(0.0, math.sin(math.pi * (local_hour - 6.0) / 14.0))
    return daily_low + (daily_high - daily_low) * daytime


def device_temperature(rng: np.random.Generator, ambient_c: float, n: int, offset_c: float) -> np.ndarray:
    """What the device's sensor reads: ambient plus body heat, drifting slowly."""
    drift = np.linspace(0.0, rng.uniform(-2.0, 2.0), n)
    wobble = 0.6 * np.sin(2 * math.pi * np.arange(n) / rng.uniform(900, 1800) + rng.uniform(0, 6.3))
    return np.rint(ambient_c + offset_c + rng.normal(0, 1.0) + drift + wobble).astype(int)
