"""Lap and session summaries computed honestly from the 1 Hz stream.

These are the numbers a device writes into ``lap`` and ``session``
messages.  Conventions (documented in the README as well):

* elapsed time = end - start; timer time = elapsed minus auto-paused time;
* averages are over the seconds the timer ran (1 Hz, so time-weighted);
  heart rate, speed and power include stops where the timer kept running,
  cadence averages leave out zero cadence (the Garmin default);
* average speed = distance / timer time;
* ascent/descent = sum of positive/negative steps of the altitude as stored
  in FIT (0.2 m resolution), second by second;
* a span covers samples ``start .. end-1``; the final span of an activity
  also includes its last sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import SimulatedActivity


@dataclass
class Summary:
    start: int
    end: int
    elapsed_s: float
    timer_s: float
    distance_m: float
    avg_speed_mps: float
    max_speed_mps: float
    avg_heart_rate: int
    max_heart_rate: int
    avg_cadence: int | None
    max_cadence: int | None
    avg_power: int | None
    max_power: int | None
    total_ascent_m: int | None
    total_descent_m: int | None
    calories_kcal: int
    avg_temperature_c: int
    max_temperature_c: int


def fit_altitude(altitude_m: np.ndarray) -> np.ndarray:
    """Altitude as a FIT reader sees it (scale 5, offset 500 -> 0.2 m steps)."""
    return np.rint((altitude_m + 500.0) * 5.0) / 5.0 - 500.0


def summarize(activity: SimulatedActivity, start: int, end: int) -> Summary:
    stream = activity.stream
    is_final = end == activity.last_index
    sample_stop = end + 1 if is_final else end
    running = activity.running_mask()[start:sample_stop]
    samples = np.arange(start, sample_stop)[running]

    elapsed = float(end - start)
    paused = sum(
        max(0, min(p.end, end) - max(p.start, start)) for p in activity.pauses
    )
    timer = elapsed - paused
    distance = float(stream.distance_m[end] - stream.distance_m[start])

    heart_rate = stream.heart_rate[samples]
    cadence = stream.cadence[samples]
    pedalling = cadence[cadence > 0]

    avg_power = max_power = None
    if stream.power_w is not None:
        power = stream.power_w[samples]
        power = power[~np.isnan(power)]
        if len(power):
            avg_power, max_power = int(round(power.mean())), int(power.max())

    ascent = descent = None
    if stream.altitude_m is not None:
        steps = np.diff(fit_altitude(stream.altitude_m[start : end + 1]))
        ascent = int(round(steps[steps > 0].sum()))
        descent = int(round(-steps[steps < 0].sum()))

    temperature = stream.temperature_c[samples]
    return Summary(
        start=start,
        end=end,
        elapsed_s=elapsed,
        timer_s=float(timer),
        distance_m=distance,
        avg_speed_mps=distance / timer if timer > 0 else 0.0,
        max_speed_mps=float(stream.speed_mps[samples].max()),
        avg_heart_rate=int(round(heart_rate.mean())),
        max_heart_rate=int(heart_rate.max()),
        avg_cadence=int(round(pedalling.mean())) if len(pedalling) else None,
        max_cadence=int(pedalling.max()) if len(pedalling) else None,
        avg_power=avg_power,
        max_power=max_power,
        total_ascent_m=ascent,
        total_descent_m=descent,
        calories_kcal=int(round(stream.energy_kcal[samples].sum())),
        avg_temperature_c=int(round(temperature.mean())),
        max_temperature_c=int(temperature.max()),
    )
