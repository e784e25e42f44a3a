"""The settings an output was built with, kept with its tables.

`fitpipe metrics` and `fitpipe report` run later, often from another folder and without the
`--config` the import used; without these they would silently recompute every activity with no
thresholds. Every command that writes tables stores the settings it used, and `metrics` and
`report` reuse them unless given a config of their own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import date

from ..config import Athlete, Settings, Thresholds
from ..normalize.schema import DEFAULT_ATHLETE
from ..metrics.duplicates import DuplicateRule
from ..sinks import Sink

# 2: every athlete the folder holds ("athletes"); 1 had the one athlete ("athlete").
VERSION = 2
# Athlete fields kept with the tables; inputs are where files came from, not how they are read.
STORED_ATHLETE_FIELDS = ("id", "name", "timezone", "sex", "hr_zones", "ascent_hysteresis_m", "threshold_window_days",
                         "thresholds")


class TeamFolder(ValueError):
    """An import names no athlete into a folder that holds only named athletes."""


def store(sink: Sink, settings: Settings) -> None:
    """Keep the settings that shape the tables (zone, every athlete, metric parameters,
    duplicate rule) with them."""
    text = json.dumps(_as_dict(settings), indent=2, default=str) + "\n"
    if sink.read_settings() != text:  # unchanged: a run with nothing new writes nothing
        sink.write_settings(text)


def stored(sink: Sink) -> Settings | None:
    """The settings the output was last built with, as a Settings (other fields default); None
    when it has none or they cannot be read."""
    try:
        raw = json.loads(sink.read_settings() or "")
        athletes = raw["athletes"] if raw.get("version", 1) >= 2 else [raw["athlete"]]
        return Settings(timezone=raw["timezone"], athletes=tuple(_athlete(a) for a in athletes),
                        duplicates=DuplicateRule(**raw["duplicates"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _athlete(values: dict) -> Athlete:
    values = dict(values)
    thresholds = tuple(Thresholds(effective_from=date.fromisoformat(t.pop("effective_from")), **t)
                       for t in values.pop("thresholds"))
    return Athlete(thresholds=thresholds, **values)


def with_stored(settings: Settings, sink: Sink, importing: bool = False) -> tuple[Settings, list[str]]:
    """The output's stored settings where no config file was given, else the given ones; and
    the differences between given and stored, one phrase each. The folder's other athletes
    come along as `stored_athletes`. Importing files for no named athlete into a folder of
    named athletes raises TeamFolder: they would become a new athlete `default`."""
    kept = stored(sink)
    if kept is None:
        return settings, []
    kept_ids = {a.id for a in kept.athletes}
    if not settings.is_team and DEFAULT_ATHLETE not in kept_ids:
        if importing:
            raise TeamFolder(f"{sink.describe()}: holds athletes {', '.join(sorted(kept_ids))}; say whose files "
                             "these are with --athlete ID (or use the team's --config)")
        settings = replace(settings, athletes=())
    named = {a.id for a in settings.athletes}
    others = tuple(a for a in kept.athletes if a.id not in named)
    if settings.config_path is None:
        own = {a.id: a for a in kept.athletes}
        athletes = tuple(replace(own[a.id], inputs=a.inputs, name=a.name or own[a.id].name) if a.id in own else a
                         for a in settings.athletes)
        return replace(settings, timezone=kept.timezone, duplicates=kept.duplicates, athletes=athletes,
                       stored_athletes=others), []
    shared = replace(kept, athletes=tuple(a for a in kept.athletes if a.id in named))
    return replace(settings, stored_athletes=others), differences(shared, settings)


def differences(old: Settings, new: Settings) -> list[str]:
    """What changed between two settings, as `name: old -> new` phrases."""
    before, after = _flat(_as_dict(old)), _flat(_as_dict(new))
    return [f"{key}: {_text(before.get(key))} -> {_text(after.get(key))}"
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]


def _as_dict(settings: Settings) -> dict:
    athletes = sorted(settings.every_athlete, key=lambda a: a.id)
    return {"version": VERSION, "timezone": settings.timezone,
            "athletes": [{k: v for k, v in asdict(a).items() if k in STORED_ATHLETE_FIELDS} for a in athletes],
            "duplicates": asdict(settings.duplicates)}


def _flat(values: dict) -> dict:
    flat = {"timezone": values["timezone"], **{f"duplicates.{k}": v for k, v in values["duplicates"].items()}}
    team = len(values["athletes"]) > 1 or any(a["id"] != DEFAULT_ATHLETE for a in values["athletes"])
    for athlete in values["athletes"]:
        athlete = dict(athlete)
        label = f"athletes.{athlete.pop('id')}" if team else "athlete"
        thresholds = athlete.pop("thresholds")
        flat.update({f"{label}.{k}": v for k, v in athlete.items()})
        flat[f"{label}.thresholds"] = ", ".join(
            "from {}: {}".format(t["effective_from"], " ".join(f"{k}={v:g}" for k, v in t.items()
                                                                if k != "effective_from" and v is not None))
            for t in thresholds) or "none"
    return flat


def _text(value) -> str:
    return "none" if value is None else str(value)
