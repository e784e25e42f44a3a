"""Deterministic generator of a realistic sample training history.

Run ``python -m pipeline.samplegen sample_files`` to (re)write the folder
``sample_files/``: about 16 weeks (Monday 2026-07-27 .. Sunday 2026-11-15)
of rides, runs, pool and open-water swims and one multisport brick, as FIT
(garmin_fit_sdk), a few GPX (gpxpy), one TCX, one gzipped FIT and one ride
written in all three formats.  A fixed seed makes reruns byte-identical.
The package only uses numpy, gpxpy, garmin_fit_sdk and the standard library
and imports nothing else from ``pipeline``.

Built-in cross-training relationship
------------------------------------
Weeks 3, 8, 9 and 13 (0-based; week 0 starts 2026-07-27) are *run-focus
weeks*: the athlete runs twice (a 45-55 min Wednesday run and a 50-60 min
Sunday run, ~95-115 min) instead of once (a 30-45 min Sunday run).

Ride heart rate is simulated as a lagged response to the steady state
``60 + (105 * (power / 260 W) ** 0.9 + 0.04 bpm/min drift) * cost`` bpm.
``cost`` = ``plan.ride_hr_cost(week)`` x day-to-day noise (log-normal, sd
1.5 %).  ``ride_hr_cost`` is 0.85 in the week right after a run-focus week
and 0.925 two weeks after it (the strongest applicable value wins, no
stacking), 1.0 otherwise.  So in weeks 4, 5, 9, 10, 11, 14 and 15 the same
power costs ~15 % (resp. ~7.5 %) less heart-rate rise above 60 bpm: about
11 (resp. 5-6) bpm lower at endurance power, i.e. higher power per heartbeat and, since
speed follows from power, higher speed per heartbeat.  Ride power targets
do not depend on it, threshold power is constant, and nothing else trends
over the 16 weeks.  Runs and swims are unaffected.

Modules: ``plan`` (schedule and the relationship), ``simulate`` (physics and
physiology), ``geo`` (routes and terrain), ``activities`` (plan -> 1 Hz
stream, laps, sessions), ``summary`` (honest lap/session values),
``fitwriter``/``gpxwriter``/``tcxwriter`` (formats), ``build`` (folder
layout), ``readme``.
"""

from .build import SEED, describe, generate

__all__ = ["SEED", "describe", "generate"]
