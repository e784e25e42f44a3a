"""The README.md written next to the generated files."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from . import simulate as sim
from .plan import (
    EDGE_ONE_SECOND_RECORDING_FROM_WEEK,
    FIRST_MONDAY,
    NUMBER_OF_WEEKS,
    RIDE_HR_COST_AFTER_RUN_FOCUS,
    RUN_FOCUS_WEEKS,
    TESTS,
    PlannedActivity,
    ride_hr_cost,
)
from .summary import Summary


@dataclass
class ActivityRow:
    files: list[str]
    plan: PlannedActivity
    summary: Summary
    record_count: int
    has_power: bool


def _bpm_lower(factor: float) -> float:
    """Heart rate saved at two thirds of threshold power on simulate's ride curve (105 bpm span, exponent 0.9)."""
    return 105.0 * (2 / 3) ** 0.9 * (1 - factor)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _format_counts(rows: list[ActivityRow]) -> str:
    counts = Counter()
    for row in rows:
        for name in row.files:
            folder = name.split("/")[0]
            suffix = name.split(".", 1)[1]
            counts[(folder, suffix)] += 1
    lines = ["| folder | format | files |", "| --- | --- | --- |"]
    lines += [f"| `{folder}/` | {suffix} | {n} |" for (folder, suffix), n in sorted(counts.items())]
    return "\n".join(lines)


def _weekly_table(rows: list[ActivityRow]) -> str:
    lines = [
        "| week | Monday | run min | run-focus | ride HR cost | rides | mean ride avg HR | mean avg power (power rides) | mean W per bpm |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for week in range(NUMBER_OF_WEEKS):
        week_rows = [r for r in rows if r.plan.week == week]
        run_minutes = sum(r.summary.timer_s for r in week_rows if r.plan.sport == "run") / 60
        rides = [r for r in week_rows if r.plan.sport == "ride"]
        power_rides = [r for r in rides if r.summary.avg_power is not None]
        mean_hr = sum(r.summary.avg_heart_rate for r in rides) / len(rides)
        if power_rides:
            mean_power = sum(r.summary.avg_power for r in power_rides) / len(power_rides)
            w_per_bpm = sum(r.summary.avg_power / r.summary.avg_heart_rate for r in power_rides) / len(power_rides)
            power_cells = f"{mean_power:.0f} | {w_per_bpm:.3f}"
        else:
            power_cells = "- | -"
        lines.append(
            f"| {week} | {FIRST_MONDAY + timedelta(weeks=week)} | {run_minutes:.0f} | "
            f"{'yes' if week in RUN_FOCUS_WEEKS else ''} | {ride_hr_cost(week):.3f} | {len(rides)} | "
            f"{mean_hr:.1f} | {power_cells} |"
        )
    return "\n".join(lines)


def _pace(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


THRESHOLD_MEANINGS = {
    "ftp_w": "W: FTP, and the critical power of every maximal effort",
    "max_hr_bpm": "bpm: no heart rate goes above it",
    "lthr_ride_bpm": f"bpm: steady heart rate at FTP ({sim.HR_BASE_BPM:g} bpm + the ride's "
                     f"{sim.RIDE_HR_SPAN_BPM:g} bpm rise)",
    "lthr_run_bpm": f"bpm: steady heart rate at threshold run speed ({sim.HR_BASE_BPM:g} bpm + the run's "
                    f"{sim.RUN_HR_SPAN_BPM:g} bpm rise)",
    "threshold_run_speed_mps": f"m/s: threshold run pace {_pace(1000 / sim.THRESHOLD_RUN_SPEED_MPS)} min/km, "
                               "the critical speed",
    "css_mps": f"m/s: critical swim speed, {_pace(100 / sim.THRESHOLD_SWIM_SPEED_MPS)} min/100 m",
    "resting_hr_bpm": "bpm: the base of every heart-rate rise",
}


def _tests_table(plan: list[PlannedActivity]) -> str:
    lines = ["| day | week | sport | test |", "| --- | --- | --- | --- |"]
    lines += [f"| {p.day} | {p.week} | {p.sport} | {p.workout} |" for p in plan if (p.week, p.slot) in TESTS]
    return "\n".join(lines)


def _true_thresholds_table() -> str:
    lines = ["| threshold | true value | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{name}` | {value:.6g} | {THRESHOLD_MEANINGS[name]} |" for name, value in sim.TRUE_THRESHOLDS.items()]
    return "\n".join(lines)


def _activity_table(rows: list[ActivityRow]) -> str:
    lines = [
        "| file(s) | week | local start | sport | workout | elapsed | timer | distance km | avg HR | avg W | records |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        s, p = row.summary, row.plan
        files = "<br>".join(f"`{f}`" for f in row.files)
        power = str(s.avg_power) if s.avg_power is not None else ""
        lines.append(
            f"| {files} | {p.week} | {p.day} {p.local_start.strftime('%H:%M')} | {p.sport} | {p.workout} | "
            f"{_duration(s.elapsed_s)} | {_duration(s.timer_s)} | {s.distance_m / 1000:.2f} | "
            f"{s.avg_heart_rate} | {power} | {row.record_count} |"
        )
    return "\n".join(lines)


def render_readme(plan: list[PlannedActivity], rows: list[ActivityRow], seed: int) -> str:
    first_week, second_week = RIDE_HR_COST_AFTER_RUN_FOCUS[1], RIDE_HR_COST_AFTER_RUN_FOCUS[2]
    last_sunday = FIRST_MONDAY + timedelta(weeks=NUMBER_OF_WEEKS) - timedelta(days=1)
    return f"""# Sample activity files (generated)

Everything in this folder is **generated** by

    python -m pipeline.samplegen sample_files

(source: `pipeline/samplegen/`, fixed seed {seed}).  Do not edit files by
hand: change the generator and rerun it.  Reruns are byte-identical.

The data is a synthetic {NUMBER_OF_WEEKS}-week training history, Monday {FIRST_MONDAY} to
Sunday {last_sunday}, of one athlete living in Ljubljana (Europe/Berlin-like
time zone: UTC+2 until 2026-10-25, UTC+1 after): 3-5 rides a week (1-3 h,
about 2/3 with a power meter), 1-2 runs a week (30-60 min), about one pool
swim a week, two open-water swims and one multisport brick.
{len(plan)} activities in total.

## Layout

{_format_counts(rows)}

* `garmin/` - FIT files as synced from the devices: rides from an Edge 540,
  runs, swims and the multisport brick from a Forerunner 965, heart rate
  from an HRM-Pro Plus.  Files are named `YYYY-MM-DD-<sport>.fit`
  (sport = ride, run, swim, open-water-swim, multisport).
* `strava/` - phone recordings exported as GPX (heart rate and cadence in
  the Garmin TrackPointExtension v1, `<type>` running/cycling, UTC `Z`
  times, a point every 2-5 s, gaps where the app auto-paused), and one
  gzipped FIT (`*.fit.gz`, as in a Strava bulk export).
* `garmin-connect/` - one run exported as TCX (TrainingCenterDatabase v2).
* `same-ride-three-formats/` - one extra 45-minute ride (Edge, smart
  recording) written from the same samples as FIT, GPX and TCX (same
  timestamps, positions, altitude, heart rate, cadence, and the same lap
  boundaries in FIT and TCX; power only in FIT and in the TCX
  `tpx:TPX/tpx:Watts` extension of ActivityExtension v2).  It has a 35 s
  standing stop and no timer pause.  It is part of the history, so an importer that scans
  everything sees it three times.

## Conventions

* All times in the files are UTC.  FIT `activity.local_timestamp` = UTC +
  local offset.  Local start times are mornings and evenings.
* FIT records: timestamp, position (semicircles), distance (cumulative,
  consistent with the path), enhanced_speed, enhanced_altitude, heart_rate,
  cadence, power (rides with a power meter), temperature.  Pool swims have
  no position or altitude (so no ascent/descent in their laps and
  session); their distance steps up by 25 m at each turn.
* Cadence units are the devices' own: rpm on the bike, **strides** per
  minute when running (about 80-90, i.e. 160-180 steps/min, the same value
  in the TCX `<Cadence>` and GPX `gpxtpx:cad`), strokes per minute swimming.
* Edge rides before week {EDGE_ONE_SECOND_RECORDING_FROM_WEEK} use Garmin *smart recording* (a record every
  1-5 s); later rides and everything from the watch are recorded every
  second; the phone GPX files have a point every 2-5 s.
* Some activities contain a stop.  Either the timer keeps running (tens of
  seconds of records at speed 0), or the device auto-pauses: a timer
  `event` stop_all/start pair with no records in between; then the session
  timer time is the elapsed time minus the pause.
* Laps: every 5 km on rides, every 1 km on runs, every 500 m in open water;
  pool swims have one lap per swim interval and one rest lap per rest (with
  an idle `length`).  Pool length 25 m.
* Session and lap summaries are computed from the 1 Hz stream the device
  saw: averages over seconds with the timer running (cadence ignores zeros),
  average speed = distance / timer time, ascent/descent = sum of rises/falls
  of the 0.2 m-resolution altitude.  With smart recording, recomputing from
  the records gives slightly different values, as with real devices.
* The multisport file has five sessions in order: swimming/open_water,
  transition, cycling/road, transition, running; `activity.num_sessions` = 5.
  Record distance keeps counting up across the legs; each session's
  `total_distance` is its own leg.

## Built-in relationship (for analysis tests)

Run-focus weeks are weeks {', '.join(str(w) for w in RUN_FOCUS_WEEKS)} (0 = week of {FIRST_MONDAY}):
two runs of 45-60 min (about 95-115 min) instead of one run of 30-45 min.
In the weeks after a run-focus week, riding is cheaper in heart rate: the
heart-rate rise above 60 bpm for a given power is multiplied by
{first_week} in the first week after and by {second_week} in the second week after
(the strongest applicable factor wins, effects do not add).  Power
targets, the bike and the terrain do not depend on it, so rides in those
weeks show a lower heart rate at the same power (at endurance power about
{_bpm_lower(first_week):.0f} bpm lower in the first week after and {_bpm_lower(second_week):.0f} bpm in the second),
i.e. more watts - and more speed - per heartbeat.
Nothing else changes over the 16 weeks (threshold power 260 W throughout);
day-to-day noise is about 1.5 % of the heart-rate rise.

The effect is deliberately larger than anything running is known to do, so
that 16 weeks can show it through the week-to-week noise of the workout
mix.  `fitpipe report` (see `docs/report.md` in the repository) looks for it:
weekly running time against the ride efficiency factor of steady rides one
to four weeks later.

{_weekly_table(rows)}

## Tests and the athlete's true thresholds (for estimate tests)

Five workouts are all-out tests, so that thresholds estimated from the files
have something to find.  Every maximal effort holds what the 2-parameter
critical-power model allows for its length t: CP + W'/t, with W' =
{sim.W_PRIME_J / 1000:g} kJ on the bike, D' = {sim.RUN_D_PRIME_M:g} m running, {sim.SWIM_D_PRIME_M:g} m swimming.

* `cp_test` (ride): a 3-min and a 12-min all-out effort, 15 min apart;
* `ftp_test` (ride): 5 min all out, 10 min easy, then 20 min all out (Allen
  and Coggan's FTP test);
* `cs_test` (run, on a flat 400 m track): a 3-min and a 12-min all-out effort;
* `5k_time_trial` (run, on the track): 5 km all out ({_pace(sim.FIVE_KM_S)});
* `css_test` (pool): 400 m and 200 m all out, 5 min apart.

Test rides fall in weeks where riding costs the usual heart rate.

{_tests_table(plan)}

The values the generator used, under the names of fitpipe's
`thresholds.parquet`; they are constant over the {NUMBER_OF_WEEKS} weeks:

{_true_thresholds_table()}

## All activities

{_activity_table(rows)}
"""
