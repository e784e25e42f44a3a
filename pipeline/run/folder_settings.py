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
from ..metrics.duplicates import DuplicateRule
from ..sinks import Sink

VERSION = 1


def store(sink: Sink, settings: Settings) -> None:
    """Keep the settings that shape the tables (zone, athlete, metric parameters, duplicate
    rule) with them."""
    text = json.dumps(_as_dict(settings), indent=2, default=str) + "\n"
    if sink.read_settings() != text:  # unchanged: a run with nothing new writes nothing
        sink.write_settings(text)


def stored(sink: Sink) -> Settings | None:
    """The settings the output was last built with, as a Settings (other fields default); None
    when it has none or they cannot be read."""
    try:
        raw = json.loads(sink.read_settings() or "")
        athlete = raw["athlete"]
        thresholds = tuple(Thresholds(effective_from=date.fromisoformat(t.pop("effective_from")), **t)
                           for t in athlete.pop("thresholds"))
        return Settings(timezone=raw["timezone"], athlete=Athlete(thresholds=thresholds, **athlete),
                        duplicates=DuplicateRule(**raw["duplicates"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def with_stored(settings: Settings, sink: Sink) -> tuple[Settings, list[str]]:
    """The output's stored settings when no config file was given, else the given ones; and
    the differences between given and stored, one phrase each."""
    kept = stored(sink)
    if kept is None:
        return settings, []
    if settings.config_path is None:
        return replace(settings, timezone=kept.timezone, athlete=kept.athlete, duplicates=kept.duplicates), []
    return settings, differences(kept, settings)


def differences(old: Settings, new: Settings) -> list[str]:
    """What changed between two settings, as `name: old -> new` phrases."""
    before, after = _flat(_as_dict(old)), _flat(_as_dict(new))
    return [f"{key}: {_text(before.get(key))} -> {_text(after.get(key))}"
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]


def _as_dict(settings: Settings) -> dict:
    return {"version": VERSION, "timezone": settings.timezone, "athlete": asdict(settings.athlete),
            "duplicates": asdict(settings.duplicates)}


def _flat(values: dict) -> dict:
    athlete = dict(values["athlete"])
    thresholds = athlete.pop("thresholds")
    flat = {"timezone": values["timezone"], **{f"athlete.{k}": v for k, v in athlete.items()},
            **{f"duplicates.{k}": v for k, v in values["duplicates"].items()}}
    flat["athlete.thresholds"] = ", ".join(
        "from {}: {}".format(t["effective_from"], " ".join(f"{k}={v:g}" for k, v in t.items()
                                                            if k != "effective_from" and v is not None))
        for t in thresholds) or "none"
    return flat


def _text(value) -> str:
    return "none" if value is None else str(value)
