"""Turn a planned activity into a simulated one (stream, laps, sessions...).

Each activity gets its own random generator seeded with (seed, index), so
changing one activity never changes the others.
"""

from __future__ import annotations

import math

import numpy as np

from . import simulate as sim
from .geo import HOME_LAT, HOME_LON, LAKE_LAT, LAKE_LON, build_path, terrain_altitude_m
from .model import Device, Lap, Length, Pause, Session, SimulatedActivity, Stream, concatenate_streams
from .plan import PlannedActivity, ride_hr_cost
from .timeutil import local_to_utc

EDGE_540 = Device(product=4061, name="Edge 540", serial_number=3398120417, software_version=26.10)
FORERUNNER_965 = Device(product=4315, name="Forerunner 965", serial_number=3461552088, software_version=22.24)

RIDE_LAP_M = 5000.0
RUN_LAP_M = 1000.0
OPEN_WATER_LAP_M = 500.0
POOL_LENGTH_M = 25.0
BASAL_KCAL_PER_S = 0.02


# --- small helpers -----------------------------------------------------------


def _day_noise(rng: np.random.Generator, sd: float) -> float:
    """Day-to-day form: sleep, heat, caffeine... multiplies the HR rise."""
    return float(math.exp(rng.normal(0.0, sd)))


def _start_near(rng: np.random.Generator, lat: float, lon: float, spread_deg: float) -> tuple[float, float]:
    return lat + rng.normal(0.0, spread_deg), lon + rng.normal(0.0, spread_deg)


def _random_stop(rng, moving_s: int, standing_range, pause_range, p_standing: float, p_pause: float):
    """Maybe one stop: standing with the timer running, or an auto-pause."""
    roll = rng.random()
    at = int(moving_s * rng.uniform(0.3, 0.8))
    if roll < p_standing:
        return [sim.Stop(at, int(rng.integers(*standing_range)), auto_pause=False)]
    if roll < p_standing + p_pause:
        return [sim.Stop(at, int(rng.integers(*pause_range)), auto_pause=True)]
    return []


def _pauses_from(motion: sim.Motion) -> list[Pause]:
    """Auto-pause kicks in 2 s after standing still and ends when moving again."""
    return [
        Pause(first + 2, last)
        for first, last, stop in motion.standing
        if stop.auto_pause and last - first > 4
    ]


def distance_laps(stream: Stream, start: int, end: int, lap_m: float) -> list[Lap]:
    """Auto laps every *lap_m* metres; the last lap closes with the session."""
    distance = stream.distance_m
    boundaries = [start]
    k = 1
    while True:
        index = start + int(np.searchsorted(distance[start : end + 1], distance[start] + k * lap_m))
        if index >= end - 10:  # no lap of a few seconds at the very end
            break
        if index > boundaries[-1]:
            boundaries.append(index)
        k += 1
    boundaries.append(end)
    laps = [Lap(a, b, "distance") for a, b in zip(boundaries[:-1], boundaries[1:])]
    laps[-1].trigger = "session_end"
    return laps


def sparse_recording_indices(rng: np.random.Generator, n: int, forced: set[int],
                             min_gap_s: int, max_gap_s: int) -> np.ndarray:
    """A record every min..max seconds (Garmin smart recording, phone apps), plus key moments."""
    chosen = {0, n - 1} | forced
    index = 0
    while True:
        index += int(rng.integers(min_gap_s, max_gap_s + 1))
        if index >= n - 1:
            break
        chosen.add(index)
    return np.array(sorted(chosen))


def _without_paused(indices: np.ndarray, pauses: list[Pause]) -> np.ndarray:
    keep = np.ones(len(indices), dtype=bool)
    for pause in pauses:
        keep &= ~((indices > pause.start) & (indices < pause.end))
    return indices[keep]


# --- legs: one sport, continuous -------------------------------------------


def ride_leg(rng, workout, moving_s, hr_cost, start, day, local_hour, stops, start_hr, has_power,
             loop_m=None):
    if workout in sim.RIDE_TESTS:  # a test holds its power whatever the road does
        power_target, push, ceiling = sim.ride_test_power(rng, workout, moving_s), (lambda grade: 1.0), np.inf
    else:
        power_target, push = sim.ride_power_profile(rng, workout, moving_s), sim.grade_power_factor
        ceiling = sim.MAX_POWER_W
    path = build_path(rng, *start, length_m=12.5 * (moving_s + 120) + 500,
                      loop_length_m=loop_m or 8.5 * moving_s, wiggle_rad=0.5)

    def steady_speed(effort: int, grade: float) -> float:
        return sim.speed_for_power(power_target[effort] * push(grade), grade)

    motion = sim.integrate_motion(path, steady_speed, moving_s, stops, max_accel=0.6, max_decel=1.5)
    pedalling = motion.effort_index >= 0
    grade_factor = np.array([push(g) for g in motion.grade])
    power = np.where(pedalling, np.rint(power_target[np.maximum(motion.effort_index, 0)] * grade_factor), 0.0)
    power = np.minimum(power, ceiling)

    intensity = power / sim.FTP_W
    heart_rate = sim.heart_rate_response(rng, intensity, hr_cost, start_hr)
    cadence_noise = sim.autocorrelated_noise(rng, len(power), sd=1.5)
    cadence = np.where(pedalling, np.clip(np.rint(86 + 10 * (intensity - 0.7) + cadence_noise), 78, 98), 0)
    lat, lon, altitude = path.sample(motion.distance_m)
    ambient = sim.ambient_temperature_c(day, local_hour)
    stream = Stream(
        distance_m=motion.distance_m,
        speed_mps=motion.speed_mps,
        heart_rate=heart_rate,
        cadence=cadence.astype(int),
        temperature_c=sim.device_temperature(rng, ambient, len(power), offset_c=1.0),
        # ~24 % gross efficiency: 1 kJ of work costs ~1 kcal.
        energy_kcal=power / (0.24 * 4184.0) + BASAL_KCAL_PER_S,
        lat_deg=lat,
        lon_deg=lon,
        altitude_m=altitude,
        power_w=power if has_power else None,
    )
    return stream, motion


def run_leg(rng, workout, moving_s, hr_cost, start, day, local_hour, stops, start_hr, loop_m=None):
    if workout in sim.RUN_TESTS:  # on a flat 400 m track, at the test's speeds
        speed_target = sim.run_test_speed(rng, workout, moving_s)
        path = build_path(rng, *start, length_m=5.5 * (moving_s + 120), loop_length_m=400.0, wiggle_rad=0.0,
                          fixed_altitude_m=float(terrain_altitude_m(np.array(start[0]), np.array(start[1]))))

        def steady_speed(effort: int, grade: float) -> float:
            return float(speed_target[effort])
    else:
        speed_target = sim.run_speed_profile(rng, workout, moving_s)
        path = build_path(rng, *start, length_m=3.8 * (moving_s + 120) + 300,
                          loop_length_m=loop_m or 3.2 * moving_s, wiggle_rad=0.6)
        low, high = sim.RUN_SPEED_RANGE_MPS

        def steady_speed(effort: int, grade: float) -> float:
            return sim.soft_limit(float(speed_target[effort]) * sim.run_grade_factor(grade), low, high, knee=0.2)

    motion = sim.integrate_motion(path, steady_speed, moving_s, stops, max_accel=0.5, max_decel=1.0)
    speed = motion.speed_mps
    running = (motion.effort_index >= 0) & (speed > 0.5)
    uphill_effort = np.clip(1.0 + 6.0 * motion.grade, 0.8, 1.3)
    intensity = np.where(running, sim.smoothed(speed, 10) / sim.THRESHOLD_RUN_SPEED_MPS * uphill_effort, 0.0)
    heart_rate = sim.heart_rate_response(rng, intensity, hr_cost, start_hr, span_bpm=sim.RUN_HR_SPAN_BPM, exponent=1.6)
    # FIT running cadence is strides (one foot) per minute: ~80-90 = 160-180 steps/min.
    cadence_noise = sim.autocorrelated_noise(rng, len(speed), sd=1.0)
    cadence = np.where(running, np.clip(np.rint(78 + 11 * (speed - 2.7) + cadence_noise), 76, 92), 0)
    lat, lon, altitude = path.sample(motion.distance_m)
    ambient = sim.ambient_temperature_c(day, local_hour)
    stream = Stream(
        distance_m=motion.distance_m,
        speed_mps=speed,
        heart_rate=heart_rate,
        cadence=cadence.astype(int),
        temperature_c=sim.device_temperature(rng, ambient, len(speed), offset_c=4.0),  # wrist warms the watch
        energy_kcal=70.0 * speed / 1000.0 + BASAL_KCAL_PER_S,  # ~1 kcal per kg per km
        lat_deg=lat,
        lon_deg=lon,
        altitude_m=altitude,
    )
    return stream, motion


def open_water_leg(rng, moving_s, hr_cost, start, water_c, start_hr, speed_mps):
    water_level = float(terrain_altitude_m(np.array(start[0]), np.array(start[1])))
    path = build_path(rng, *start, length_m=1.3 * (moving_s + 60) + 100,
                      loop_length_m=rng.uniform(600, 800), wiggle_rad=0.25, fixed_altitude_m=water_level)
    t = np.arange(moving_s)
    target = speed_mps * (1 + 0.03 * np.sin(2 * math.pi * t / rng.uniform(120, 240) + rng.uniform(0, 6.3)))
    motion = sim.integrate_motion(path, lambda e, g: float(target[e]), moving_s, [], max_accel=0.3, max_decel=0.5)
    speed = motion.speed_mps
    swimming = motion.effort_index >= 0
    intensity = np.where(swimming, speed / sim.THRESHOLD_SWIM_SPEED_MPS, 0.0)
    heart_rate = sim.heart_rate_response(rng, intensity, hr_cost, start_hr, span_bpm=sim.SWIM_HR_SPAN_BPM, exponent=1.5)
    stroke_rate = np.clip(np.rint(29 + 20 * (speed - 0.95) + sim.autocorrelated_noise(rng, len(speed), 0.8)), 24, 34)
    lat, lon, altitude = path.sample(motion.distance_m)
    stream = Stream(
        distance_m=motion.distance_m,
        speed_mps=speed,
        heart_rate=heart_rate,
        cadence=np.where(swimming & (speed > 0.2), stroke_rate, 0).astype(int),
        temperature_c=np.rint(np.full(len(speed), water_c + 1.0)).astype(int),
        energy_kcal=np.where(swimming, 0.14, 0.03),
        lat_deg=lat,
        lon_deg=lon,
        altitude_m=altitude,
    )
    return stream, motion


def transition_leg(rng, moving_s, standing_s, start, day, local_hour, start_hr):
    """Run with the bike / change shoes: a slow jog with a standstill."""
    path = build_path(rng, *start, length_m=3.0 * (moving_s + 60) + 50, loop_length_m=400.0, wiggle_rad=0.3)
    stops = [sim.Stop(moving_s // 2, standing_s, auto_pause=False)]
    pace = rng.uniform(1.8, 2.2)
    motion = sim.integrate_motion(path, lambda e, g: pace, moving_s, stops, max_accel=0.5, max_decel=1.0)
    moving = (motion.effort_index >= 0) & (motion.speed_mps > 0.5)
    heart_rate = sim.heart_rate_response(rng, np.where(moving, 0.8, 0.6), 1.0, start_hr)
    lat, lon, altitude = path.sample(motion.distance_m)
    n = len(motion.distance_m)
    ambient = sim.ambient_temperature_c(day, local_hour)
    stream = Stream(
        distance_m=motion.distance_m,
        speed_mps=motion.speed_mps,
        heart_rate=heart_rate,
        cadence=np.where(moving, 72, 0).astype(int),
        temperature_c=sim.device_temperature(rng, ambient, n, offset_c=3.0),
        energy_kcal=np.full(n, 0.1),
        lat_deg=lat,
        lon_deg=lon,
        altitude_m=altitude,
    )
    return stream, motion


# --- whole activities ---------------------------------------------------------


def _single_session(stream: Stream, sport: str, sub_sport: str, lap_m: float) -> list[Session]:
    end = len(stream) - 1
    return [Session(sport, sub_sport, 0, end, distance_laps(stream, 0, end, lap_m))]


def _record_indices(rng, plan: PlannedActivity, stream: Stream, sessions, pauses) -> np.ndarray:
    n = len(stream)
    # Lap starts and pause edges are always recorded, as devices do.
    forced = {lap.start for s in sessions for lap in s.laps} | {p.start for p in pauses} | {p.end for p in pauses}
    if plan.recording == "smart":
        indices = sparse_recording_indices(rng, n, forced, 1, 5)
    elif plan.recording == "phone":
        indices = sparse_recording_indices(rng, n, forced, 2, 5)
    elif plan.recording == "sparse":
        indices = sparse_recording_indices(rng, n, forced, 3, 9)
    else:
        indices = np.arange(n)
    return _without_paused(indices, pauses)


def _finish(plan, rng, stream, sessions, pauses, device) -> SimulatedActivity:
    start_utc = local_to_utc(plan.day, plan.local_start)
    return SimulatedActivity(
        plan=plan,
        start_utc=start_utc,
        stream=stream,
        sessions=sessions,
        pauses=pauses,
        record_indices=_record_indices(rng, plan, stream, sessions, pauses),
        device=device,
    )


def _local_hour(plan: PlannedActivity) -> float:
    return plan.local_start.hour + plan.local_start.minute / 60.0


def simulate_ride(plan: PlannedActivity, rng: np.random.Generator) -> SimulatedActivity:
    if plan.recorder == "three_formats":
        # A traffic-light stop with the timer running, so that all three
        # formats contain the same zero-speed samples and no pause.
        stops = [sim.Stop(int(plan.duration_s * 0.55), 35, auto_pause=False)]
    elif plan.workout in sim.RIDE_TESTS:
        stops = []  # nobody stops for a traffic light in a test
    else:
        stops = _random_stop(rng, plan.duration_s, (20, 61), (30, 91), p_standing=0.35, p_pause=0.2)
    cost = (ride_hr_cost(plan.week) if plan.hr_cost is None else plan.hr_cost) * _day_noise(rng, 0.015)
    start = _start_near(rng, HOME_LAT, HOME_LON, 0.0012)
    stream, motion = ride_leg(rng, plan.workout, plan.duration_s, cost, start, plan.day, _local_hour(plan),
                              stops, rng.uniform(98, 104), plan.has_power)
    sessions = _single_session(stream, "cycling", "road", RIDE_LAP_M)
    return _finish(plan, rng, stream, sessions, _pauses_from(motion), EDGE_540)


def simulate_run(plan: PlannedActivity, rng: np.random.Generator) -> SimulatedActivity:
    stops = [] if plan.workout in sim.RUN_TESTS else _random_stop(rng, plan.duration_s, (15, 41), (20, 61),
                                                                   p_standing=0.25, p_pause=0.15)
    cost = _day_noise(rng, 0.02)
    start = _start_near(rng, HOME_LAT, HOME_LON, 0.0012)
    stream, motion = run_leg(rng, plan.workout, plan.duration_s, cost, start, plan.day, _local_hour(plan),
                             stops, rng.uniform(98, 104))
    sessions = _single_session(stream, "running", "generic", RUN_LAP_M)
    return _finish(plan, rng, stream, sessions, _pauses_from(motion), FORERUNNER_965)


def simulate_open_water_swim(plan: PlannedActivity, rng: np.random.Generator) -> SimulatedActivity:
    start = _start_near(rng, LAKE_LAT, LAKE_LON, 0.0002)
    water_c = 23.0 if plan.day.month == 8 else 21.0
    stream, _ = open_water_leg(rng, plan.duration_s, _day_noise(rng, 0.02), start, water_c,
                               rng.uniform(98, 104), rng.uniform(0.92, 0.98))
    sessions = _single_session(stream, "swimming", "open_water", OPEN_WATER_LAP_M)
    return _finish(plan, rng, stream, sessions, [], FORERUNNER_965)


def _css_test() -> list[tuple[int, float, int]]:
    """400 m warm-up, then 400 m and 200 m all out (each CSS + D'/t) with 5 min between."""
    def all_out(metres: float) -> float:
        return metres / sim.maximal_time_s(sim.THRESHOLD_SWIM_SPEED_MPS, sim.SWIM_D_PRIME_M, metres)
    return [(16, 0.82, 60), (16, all_out(400.0), 300), (8, all_out(200.0), 90), (8, 0.82, 0)]


def _pool_workout(rng: np.random.Generator, workout: str, duration_s: int) -> list[tuple[int, float, int]]:
    """Swim blocks as (lengths, speed m/s, rest seconds after)."""
    if workout == "css_test":
        return _css_test()
    easy, steady, fast = rng.uniform(0.80, 0.84), rng.uniform(0.86, 0.90), rng.uniform(0.93, 0.98)
    blocks = [(16, easy, int(rng.integers(30, 41)))]  # 400 m warm-up
    if rng.random() < 0.5:
        lengths, rest = 4, (15, 21)  # n x 100 m
    else:
        lengths, rest = 8, (20, 31)  # n x 200 m
    # As many repetitions as fit the planned time around warm-up, 300 m
    # steady and 200 m cool-down.
    other_s = 16 * 25 / easy + 12 * 25 / steady + 8 * 25 / easy + 120
    rep_s = lengths * POOL_LENGTH_M / fast + sum(rest) / 2
    reps = max(3, int((duration_s - other_s) / rep_s))
    blocks += [(lengths, fast, int(rng.integers(*rest))) for _ in range(reps)]
    blocks.append((12, steady, int(rng.integers(30, 46))))  # 300 m steady
    blocks.append((8, easy, 0))  # 200 m cool-down, then stop
    return blocks


def simulate_pool_swim(plan: PlannedActivity, rng: np.random.Generator) -> SimulatedActivity:
    lengths: list[Length] = []
    laps: list[Lap] = []
    speeds: list[tuple[int, int, float, int]] = []  # (start, end, speed, strokes) of active lengths
    t = 0
    for block_lengths, speed, rest_s in _pool_workout(rng, plan.workout, plan.duration_s):
        lap_start, first_length = t, len(lengths)
        for _ in range(block_lengths):
            duration = max(18, int(round(POOL_LENGTH_M / (speed * (1 + rng.normal(0, 0.03))))))
            strokes = int(round(rng.normal(12.0 - 6.0 * (speed - 0.85), 0.6)))  # per cycle of the watch arm
            lengths.append(Length(t, t + duration, active=True, strokes=strokes))
            speeds.append((t, t + duration, POOL_LENGTH_M / duration, strokes))
            t += duration
        laps.append(Lap(lap_start, t, "manual", "active", first_length, block_lengths))
        if rest_s:
            lengths.append(Length(t, t + rest_s, active=False))
            laps.append(Lap(t, t + rest_s, "manual", "rest", len(lengths) - 1, 1))
            t += rest_s
    laps[-1].trigger = "session_end"

    n = t + 1
    distance = np.zeros(n)
    speed = np.zeros(n)
    cadence = np.zeros(n, dtype=int)
    for start, end, length_speed, strokes in speeds:
        distance[end:] += POOL_LENGTH_M  # the watch counts a length when you turn
        speed[start:end] = length_speed
        cadence[start:end] = int(round(strokes / (end - start) * 60))
    swimming = speed > 0
    heart_rate = sim.heart_rate_response(rng, speed / sim.THRESHOLD_SWIM_SPEED_MPS, _day_noise(rng, 0.02),
                                         rng.uniform(98, 104), span_bpm=sim.SWIM_HR_SPAN_BPM, exponent=1.5)
    stream = Stream(
        distance_m=distance,
        speed_mps=speed,
        heart_rate=heart_rate,
        cadence=cadence,
        temperature_c=np.full(n, int(rng.integers(27, 30))),
        energy_kcal=np.where(swimming, 0.15, 0.03),
    )
    session = Session("swimming", "lap_swimming", 0, n - 1, laps, lengths, POOL_LENGTH_M)
    return _finish(plan, rng, stream, [session], [], FORERUNNER_965)


def simulate_multisport(plan: PlannedActivity, rng: np.random.Generator) -> SimulatedActivity:
    """Swim 750 m (open water) -> T1 -> ride ~20 km -> T2 -> run ~5 km."""
    hour = _local_hour(plan)
    start = _start_near(rng, LAKE_LAT, LAKE_LON, 0.0002)
    swim, _ = open_water_leg(rng, 780, _day_noise(rng, 0.02), start, 21.0, rng.uniform(98, 104), 0.97)
    t1, _ = transition_leg(rng, 70, 45, (swim.lat_deg[-1], swim.lon_deg[-1]), plan.day, hour, swim.heart_rate[-1])
    ride, _ = ride_leg(rng, "brick", 2100, ride_hr_cost(plan.week) * _day_noise(rng, 0.015),
                       (t1.lat_deg[-1], t1.lon_deg[-1]), plan.day, hour + 0.3, [], t1.heart_rate[-1],
                       has_power=True, loop_m=19_000.0)
    t2, _ = transition_leg(rng, 30, 20, (ride.lat_deg[-1], ride.lon_deg[-1]), plan.day, hour + 0.9,
                           ride.heart_rate[-1])
    run, _ = run_leg(rng, "brick", 1450, _day_noise(rng, 0.02), (t2.lat_deg[-1], t2.lon_deg[-1]), plan.day,
                     hour + 0.9, [], t2.heart_rate[-1], loop_m=4_800.0)
    legs = [
        (swim, "swimming", "open_water", OPEN_WATER_LAP_M),
        (t1, "transition", "swim_to_bike_transition", None),
        (ride, "cycling", "road", RIDE_LAP_M),
        (t2, "transition", "bike_to_run_transition", None),
        (run, "running", "generic", RUN_LAP_M),
    ]
    stream = concatenate_streams([leg[0] for leg in legs])
    sessions = []
    offset = 0
    for i, (leg, sport, sub_sport, lap_m) in enumerate(legs):
        start_index = offset
        end_index = offset + len(leg) if i < len(legs) - 1 else len(stream) - 1
        if lap_m is None:
            laps = [Lap(start_index, end_index, "session_end")]
        else:
            laps = distance_laps(stream, start_index, end_index, lap_m)
        sessions.append(Session(sport, sub_sport, start_index, end_index, laps))
        offset += len(leg)
    return _finish(plan, rng, stream, sessions, [], FORERUNNER_965)


def simulate_activity(plan: PlannedActivity, seed: int) -> SimulatedActivity:
    rng = np.random.default_rng([seed, 1, plan.index])
    builders = {
        "ride": simulate_ride,
        "run": simulate_run,
        "pool_swim": simulate_pool_swim,
        "open_water_swim": simulate_open_water_swim,
        "multisport": simulate_multisport,
    }
    return builders[plan.sport](plan, rng)
