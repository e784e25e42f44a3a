"""A team of generated athletes: ``python -m pipeline.samplegen DIR --athletes N``.

Each athlete gets a folder DIR/<id>/ of FIT files (a record every 3-9 s, as smart recording
writes on steady efforts: a team's files are many, and the FIT SDK's encoder is slow), a profile and a
year up to 2026-11-29, and the team a ``fitpipe.toml`` with one ``[[athletes]]`` entry each.
Profiles, in turn:

* ``cyclist``: four or five rides a week and a little running (0-80 min);
* ``triathlete``: three rides, one to four runs (40-200 min) and two pool swims;
* ``winter_rider``: a runner (90-270 min a week) who rides two or three times a week from
  November to March, and once a fortnight otherwise.

Weekly running time varies at random from week to week, so that its link with riding can be
seen at all. For an athlete *with the effect*, riding costs less heart rate in the week after
more running: the ride heart-rate rise is multiplied by 1 - EFFECT x (last week's running /
the athlete's usual running - 1), within RIDE_HR_COST_RANGE. Without the effect it is 1.
Which athletes have it: every other one (``--effect mixed``, the default), all or none.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path

import numpy as np

from .activities import simulate_activity
from .build import GeneratedFile, _write, encode_fit
from .plan import PlannedActivity

TEAM_LAST_SUNDAY = date(2026, 11, 29)
DEFAULT_WEEKS = 52
EFFECTS = ("mixed", "all", "none")
PROFILES = ("cyclist", "triathlete", "winter_rider")
NAMES = ("Ana", "Ben", "Carla", "Dev", "Emma", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kai", "Lena",
         "Mateo", "Nora", "Omar", "Paula", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Viktor", "Wen", "Yusuf")
# Ride heart-rate rise, per unit of last week's running above the athlete's usual (1.0 = twice
# the usual): as strong as the sample athlete's run-focus weeks, so that a team sees it.
EFFECT = 0.12
RIDE_HR_COST_RANGE = (0.82, 1.06)
# Weekly running minutes each profile draws from, and how many minutes one run lasts.
RUN_MINUTES = {"cyclist": (0, 20, 40, 60, 80), "triathlete": (40, 80, 120, 160, 200),
               "winter_rider": (90, 135, 180, 225, 270)}
RUN_SESSION_MINUTES = (25, 65)
WINTER_MONTHS = (11, 12, 1, 2, 3)


@dataclass(frozen=True)
class TeamAthlete:
    index: int
    id: str
    name: str
    profile: str
    effect: bool

    @property
    def seed_key(self) -> list[int]:
        return [2, self.index]


def roster(athletes: int, effect: str = "mixed") -> list[TeamAthlete]:
    """The team: profiles in turn, the effect for every other athlete (mixed), all or none."""
    if effect not in EFFECTS:
        raise ValueError(f"effect must be one of {', '.join(EFFECTS)}, not {effect!r}")
    team = []
    for i in range(athletes):
        name = NAMES[i] if i < len(NAMES) else f"Athlete {i + 1}"
        with_effect = effect == "all" or (effect == "mixed" and i % 2 == 0)
        team.append(TeamAthlete(i, name.lower().replace(" ", "-"), name, PROFILES[i % len(PROFILES)], with_effect))
    return team


def athlete_plan(athlete: TeamAthlete, weeks: int, seed: int) -> list[PlannedActivity]:
    """One athlete's activities over `weeks` weeks up to TEAM_LAST_SUNDAY, in time order."""
    rng = np.random.default_rng([seed, *athlete.seed_key])
    first_monday = TEAM_LAST_SUNDAY - timedelta(days=6) - timedelta(weeks=weeks - 1)
    usual = float(np.mean(RUN_MINUTES[athlete.profile]))
    slots, last_week_running = [], usual
    for week in range(weeks):
        monday = first_monday + timedelta(weeks=week)
        cost = _ride_hr_cost(athlete, last_week_running, usual)
        running = int(rng.choice(RUN_MINUTES[athlete.profile]))
        slots += [dict(s, week=week) for s in _week(rng, athlete.profile, monday, running, cost)]
        last_week_running = running
    slots.sort(key=lambda s: (s["day"], s["local_start"]))
    return [PlannedActivity(index=i, recorder="edge" if s["sport"] == "ride" else "watch", recording="sparse", **s)
            for i, s in enumerate(slots)]


def _ride_hr_cost(athlete: TeamAthlete, last_week_running: float, usual: float) -> float:
    if not athlete.effect or usual == 0:
        return 1.0
    return float(np.clip(1 - EFFECT * (last_week_running / usual - 1), *RIDE_HR_COST_RANGE))


def _week(rng: np.random.Generator, profile: str, monday: date, running_min: int, ride_cost: float) -> list[dict]:
    """One week's activities as PlannedActivity fields (no index, recorder or recording)."""
    def at(weekday: int, hour: int, sport: str, workout: str, minutes: int, power: bool = False) -> dict:
        return dict(slot=f"{sport}-{weekday}", day=monday + timedelta(days=weekday),
                    local_start=time(hour, int(rng.integers(0, 12)) * 5), sport=sport, workout=workout,
                    duration_s=int(minutes) * 60, has_power=power, hr_cost=ride_cost if sport == "ride" else None)

    def minutes(low: int, high: int) -> int:
        return int(rng.integers(low // 5, high // 5 + 1)) * 5

    rides = {"cyclist": int(rng.choice([4, 5])), "triathlete": 3,
             "winter_rider": int(rng.choice([2, 3])) if monday.month in WINTER_MONTHS else int(rng.random() < 0.5)}
    ride_days = [(1, 18, "intervals" if rng.random() < 0.6 else "tempo", minutes(60, 90)),
                 (5, 9, "long", minutes(120, 180)), (3, 18, "endurance", minutes(60, 90)),
                 (0, 18, "endurance", minutes(60, 75)), (4, 18, "recovery", minutes(60, 70))]
    week = [at(day, hour, "ride", workout, length, power=bool(rng.random() < 0.8))
            for day, hour, workout, length in ride_days[:rides[profile]]]
    run_days = [6, 2, 4, 0]
    for n, length in enumerate(_run_sessions(rng, running_min)):
        week.append(at(run_days[n], 7, "run", "long" if length > 50 else "easy", length))
    if profile == "triathlete":
        week += [at(2, 6, "pool_swim", "sets", minutes(40, 50)), at(4, 6, "pool_swim", "sets", minutes(40, 50))]
    return week


def _run_sessions(rng: np.random.Generator, total_min: int) -> list[int]:
    """A week's running split into one to four runs of RUN_SESSION_MINUTES."""
    if total_min <= 0:
        return []
    count = min(4, max(1, round(total_min / 45)))
    low, high = RUN_SESSION_MINUTES
    return [int(np.clip(round(total_min / count / 5) * 5 + int(rng.integers(-1, 2)) * 5, low, high))
            for _ in range(count)]


def generate_team(out_dir: Path | str, athletes: int, weeks: int = DEFAULT_WEEKS, effect: str = "mixed",
                  seed: int = 20261115, workers: int | None = None) -> list[GeneratedFile]:
    """(Re)write a team into out_dir: a folder of FIT files per athlete, fitpipe.toml and a
    README. Only those are replaced; anything else in out_dir is left alone."""
    out_dir = Path(out_dir)
    team = roster(athletes, effect)
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        written = [f for files in pool.map(_write_athlete, [(out_dir, a, weeks, seed) for a in team]) for f in files]
    _write(out_dir / "fitpipe.toml", team_config(team))
    _write(out_dir / "README.md", team_readme(team, weeks, effect, seed))
    return written


def _write_athlete(job: tuple[Path, TeamAthlete, int, int]) -> list[GeneratedFile]:
    out_dir, athlete, weeks, seed = job
    folder = out_dir / athlete.id
    if folder.is_dir():
        for old in folder.glob("*.fit"):
            old.unlink()
    files, taken = [], set()
    for planned in athlete_plan(athlete, weeks, seed):
        activity = simulate_activity(planned, seed * 1000 + athlete.index)
        stem = f"{planned.day.isoformat()}-{planned.sport.replace('_', '-')}"
        name, n = stem, 2
        while name in taken:
            name, n = f"{stem}-{n}", n + 1
        taken.add(name)
        path = folder / f"{name}.fit"
        _write(path, encode_fit(activity))
        files.append(GeneratedFile(path, "fit"))
    return files


def team_config(team: list[TeamAthlete]) -> str:
    """fitpipe.toml for the team: every athlete with their folder and the generator's thresholds."""
    from .simulate import FTP_W

    entries = [f'''[[athletes]]
id = "{a.id}"
name = "{a.name}"
inputs = ["{a.id}"]
timezone = "Europe/Berlin"

[[athletes.thresholds]]
from = "2025-01-01"
max_hr = 190
resting_hr = 50
lthr = 170
ftp = {FTP_W:g}
''' for a in team]
    return "# Written by python -m pipeline.samplegen --athletes: one entry per athlete folder.\n\n" + "\n".join(entries)


def team_readme(team: list[TeamAthlete], weeks: int, effect: str, seed: int) -> str:
    rows = "\n".join(f"| `{a.id}` | {a.name} | {a.profile.replace('_', ' ')} | {'yes' if a.effect else 'no'} |"
                     for a in team)
    return f"""# A generated team

Written by `python -m pipeline.samplegen DIR --athletes {len(team)} --weeks {weeks} --effect {effect} --seed {seed}`:
{weeks} weeks up to {TEAM_LAST_SUNDAY}, one folder of FIT files per athlete. Import it with

    fitpipe run --config fitpipe.toml --out team-data

(or `fitpipe run --athletes-from-folders .`, without thresholds). See pipeline/samplegen/team.py
for the profiles and the running-to-cycling effect.

| id | name | profile | running lowers ride heart rate the next week |
|---|---|---|---|
{rows}
"""
