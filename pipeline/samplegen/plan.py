"""The training plan: which activity happens when, and how it is recorded.

Weekly template (weeks start on Monday, week 0 = 2026-07-27):

* rides: Tue (intervals or tempo), Thu (endurance), Sat (long ride) every
  week, plus a Fri recovery ride and/or a Mon endurance ride in some weeks,
  so 3-5 rides a week;
* runs: one Sunday run in a normal week; in a *run-focus week* a Wednesday
  evening run and a longer Sunday run (see :data:`RUN_FOCUS_WEEKS`);
* swims: a Wednesday-morning pool swim, replaced by a Sunday open-water swim
  in two summer weeks;
* specials: one multisport brick (Saturday of week 7 instead of the long
  ride) and one extra 45-minute Monday ride in week 10 that is written in
  three formats;
* tests (:data:`TESTS`): five workouts of the template are maximal-effort
  tests instead, so that fitpipe's estimated thresholds have something to
  find: two on the bike, two runs, one swim.

The cross-training relationship lives here too: :func:`ride_hr_cost` says
how much cheaper (in heart rate) riding is after a run-focus week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta

import numpy as np

from . import simulate as sim

FIRST_MONDAY = date(2026, 7, 27)
NUMBER_OF_WEEKS = 16  # last day is Sunday 2026-11-15

#: Weeks (0-based) in which the athlete runs twice and longer (about
#: 95-115 min instead of 30-45 min in a single run).
RUN_FOCUS_WEEKS = (3, 8, 9, 13)

#: Multiplier on the ride heart-rate rise above 60 bpm, by number of weeks
#: after a run-focus week.  0.85 means 15 % less heart-rate rise for the same
#: power, i.e. roughly 11 bpm lower at endurance power.  Deliberately larger
#: than anything running is known to do: the workout mix (intervals, recovery
#: rides, which rides carry the power meter) moves a week's ride efficiency
#: factor by about 5 %, and 16 weeks must be enough for `fitpipe report` to
#: see the effect through that.
RIDE_HR_COST_AFTER_RUN_FOCUS = {1: 0.85, 2: 0.925}

#: Where some activities are recorded other than with the Garmin devices.
#: Keyed by (week, slot).
RECORDER_OVERRIDES = {
    (1, "sun_run"): "phone_gpx",
    (4, "thu_ride"): "phone_gpx",
    (6, "sun_run"): "phone_gpx",
    (11, "thu_ride"): "phone_gpx",
    (12, "sun_run"): "phone_gpx",
    (14, "sun_run"): "tcx_export",
    (9, "tue_ride"): "gz_upload",
}

#: From this week on the Edge records every second; before, it used
#: Garmin "smart recording" (a record every 1-5 s), which keeps the
#: folder small and gives readers irregular sampling to deal with.  The
#: watch always records every second; the phone app writes a point every
#: 2-5 s.
EDGE_ONE_SECOND_RECORDING_FROM_WEEK = 14

#: The TCX export is the most verbose format (~365 bytes per second), so
#: that run is kept to 30 minutes.
TCX_EXPORT_MAX_DURATION_S = 30 * 60

#: (week, slot) -> test workout (simulate.RIDE_TESTS, RUN_TESTS; css_test is the pool's 400 m
#: and 200 m). Ride tests in weeks where riding costs the usual heart rate, so that their heart
#: rate is the athlete's threshold heart rate.
TESTS = {
    (6, "tue_ride"): "cp_test",
    (7, "sun_run"): "cs_test",
    (10, "wed_swim"): "css_test",
    (11, "sun_run"): "5k_time_trial",
    (12, "tue_ride"): "ftp_test",
}

WEEK_OF_MULTISPORT = 7
WEEK_OF_THREE_FORMAT_RIDE = 10
OPEN_WATER_WEEKS = (1, 5)


@dataclass(frozen=True)
class PlannedActivity:
    """One activity of the plan, before it is simulated."""

    index: int  # stable position in the plan; seeds this activity's RNG
    week: int
    slot: str  # e.g. "tue_ride"; identifies the template slot
    day: date
    local_start: time
    sport: str  # ride | run | pool_swim | open_water_swim | multisport
    workout: str  # endurance, intervals, easy, ... (see simulate.py)
    duration_s: int  # planned moving time (multisport: ignored)
    has_power: bool
    recorder: str  # edge | watch | phone_gpx | tcx_export | gz_upload | three_formats
    recording: str  # every_second | smart (a record every 1-5 s) | phone (a point every 2-5 s) | sparse (3-9 s)
    # Rides: the heart-rate cost multiplier (1.0 = baseline); None: ride_hr_cost(week), the
    # sample athlete's. A team's generator sets it from the athlete's running (samplegen/team.py).
    hr_cost: float | None = None


def ride_hr_cost(week: int) -> float:
    """Heart-rate cost multiplier of riding in *week* (1.0 = baseline).

    The strongest applicable effect wins when two run-focus weeks are close
    together; effects do not add up.
    """
    multiplier = 1.0
    for focus_week in RUN_FOCUS_WEEKS:
        weeks_after = week - focus_week
        multiplier = min(multiplier, RIDE_HR_COST_AFTER_RUN_FOCUS.get(weeks_after, 1.0))
    return multiplier


def _minutes(rng: np.random.Generator, low: int, high: int, step: int = 5) -> int:
    """A duration in seconds drawn from low..high minutes on a 5-minute grid."""
    choices = np.arange(low, high + 1, step)
    return int(rng.choice(choices)) * 60


def _clock(rng: np.random.Generator, earliest: str, latest: str) -> time:
    """A start time between two HH:MM clock times on a 5-minute grid."""
    start_h, start_m = map(int, earliest.split(":"))
    end_h, end_m = map(int, latest.split(":"))
    first = start_h * 60 + start_m
    last = end_h * 60 + end_m
    minute = int(rng.choice(np.arange(first, last + 1, 5)))
    return time(minute // 60, minute % 60)


def _week_slots(rng: np.random.Generator, week: int) -> list[dict]:
    """The template activities of one week as plain dicts (no index yet)."""
    monday = FIRST_MONDAY + timedelta(weeks=week)
    slots: list[dict] = []

    def add(slot, weekday, start, sport, workout, duration_s, has_power=False):
        slots.append(
            dict(slot=slot, day=monday + timedelta(days=weekday), local_start=start,
                 sport=sport, workout=workout, duration_s=duration_s, has_power=has_power)
        )

    # Rides.  The power meter lives on the road bike, used ~2 of 3 rides.
    ride_count = int(rng.choice([3, 4, 4, 5]))
    tuesday_workout = "intervals" if rng.random() < 0.6 else "tempo"
    ride_slots = [
        ("tue_ride", 1, _clock(rng, "17:30", "18:30"), tuesday_workout, _minutes(rng, 60, 90)),
        ("thu_ride", 3, _clock(rng, "17:30", "19:00"), "endurance", _minutes(rng, 60, 90)),
        ("sat_ride", 5, _clock(rng, "08:00", "09:30"), "long", _minutes(rng, 120, 180, 15)),
        ("fri_ride", 4, _clock(rng, "17:30", "18:30"), "recovery", _minutes(rng, 60, 70)),
        ("mon_ride", 0, _clock(rng, "18:00", "19:00"), "endurance", _minutes(rng, 60, 75)),
    ]
    for slot, weekday, start, workout, duration in ride_slots[:ride_count]:
        add(slot, weekday, start, "ride", workout, duration, has_power=bool(rng.random() < 0.65))

    # Runs.
    if week in RUN_FOCUS_WEEKS:
        wednesday_workout = "tempo" if rng.random() < 0.5 else "steady"
        add("wed_run", 2, _clock(rng, "18:00", "19:30"), "run", wednesday_workout, _minutes(rng, 45, 55))
        add("sun_run", 6, _clock(rng, "07:30", "09:00"), "run", "long", _minutes(rng, 50, 60))
    else:
        add("sun_run", 6, _clock(rng, "07:30", "09:00"), "run", "easy", _minutes(rng, 30, 45))

    # Swims.
    if week in OPEN_WATER_WEEKS:
        add("sun_ows", 6, _clock(rng, "17:00", "18:00"), "open_water_swim", "steady", _minutes(rng, 30, 40))
    else:
        add("wed_swim", 2, _clock(rng, "06:15", "07:00"), "pool_swim", "sets", _minutes(rng, 40, 50))
    return slots


def _apply_specials(week: int, slots: list[dict]) -> list[dict]:
    """Swap in the multisport brick, the tests and the three-format ride."""
    monday = FIRST_MONDAY + timedelta(weeks=week)
    if week == WEEK_OF_MULTISPORT:
        slots = [s for s in slots if s["slot"] != "sat_ride"]
        slots.append(dict(slot="sat_multisport", day=monday + timedelta(days=5), local_start=time(9, 0),
                          sport="multisport", workout="brick", duration_s=0, has_power=True))
    for slot in slots:
        test = TESTS.get((week, slot["slot"]))
        if test in sim.RIDE_TESTS:  # on the bike with the power meter
            slot.update(workout=test, duration_s=max(slot["duration_s"], sim.moving_time_of_test_s(test)),
                        has_power=True)
        elif test in sim.RUN_TESTS:
            slot.update(workout=test, duration_s=sim.moving_time_of_test_s(test))
        elif test:
            slot.update(workout=test)  # a pool test's length is its own
    if week == WEEK_OF_THREE_FORMAT_RIDE:
        slots = [s for s in slots if s["slot"] != "mon_ride"]
        slots.append(dict(slot="mon_three_formats", day=monday, local_start=time(18, 15),
                          sport="ride", workout="endurance", duration_s=45 * 60, has_power=True))
    return slots


def _recorder_for(week: int, slot: str, sport: str) -> str:
    if slot == "mon_three_formats":
        return "three_formats"
    override = RECORDER_OVERRIDES.get((week, slot))
    if override:
        return override
    return "edge" if sport == "ride" else "watch"


def _recording_mode(recorder: str, week: int) -> str:
    if recorder == "phone_gpx":
        return "phone"
    on_the_edge = recorder in ("edge", "gz_upload", "three_formats")
    if on_the_edge and week < EDGE_ONE_SECOND_RECORDING_FROM_WEEK:
        return "smart"
    return "every_second"


def build_plan(seed: int) -> list[PlannedActivity]:
    """The whole 16-week plan in chronological order."""
    rng = np.random.default_rng([seed, 0])
    raw: list[dict] = []
    for week in range(NUMBER_OF_WEEKS):
        for slot in _apply_specials(week, _week_slots(rng, week)):
            slot["week"] = week
            raw.append(slot)
    raw.sort(key=lambda s: (s["day"], s["local_start"]))

    plan = []
    for index, slot in enumerate(raw):
        recorder = _recorder_for(slot["week"], slot["slot"], slot["sport"])
        slot["has_power"] = slot["has_power"] and recorder != "phone_gpx"
        if recorder == "tcx_export":
            slot["duration_s"] = min(slot["duration_s"], TCX_EXPORT_MAX_DURATION_S)
        plan.append(PlannedActivity(index=index, recorder=recorder,
                                    recording=_recording_mode(recorder, slot["week"]), **slot))
    return plan


__all__ = [
    "PlannedActivity",
    "build_plan",
    "ride_hr_cost",
    "RUN_FOCUS_WEEKS",
    "RIDE_HR_COST_AFTER_RUN_FOCUS",
    "FIRST_MONDAY",
    "NUMBER_OF_WEEKS",
]
