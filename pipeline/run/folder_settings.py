"""The settings an output folder was built with, kept beside its tables.

`fitpipe metrics` and `fitpipe report` run later, often from another folder and without the
`--config` the import used; without these they would silently recompute every activity with no
thresholds. Every command that writes tables stores the settings it used, and `metrics` and
`report` reuse them unless given a config of their own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path

from ..config import Athlete, Settings, Thresholds
from ..metrics.duplicates import DuplicateRule
from ..sinks.parquet_folder import replacing

FILE_NAME = "fitpipe-settings.json"
VERSION = 1


def path(out: Path) -> Path:
    return out / FILE_NAME


def store(settings: Settings) -> None:
    """Write the settings that shape the tables (zone, athlete, metric parameters, duplicate
    rule) beside them, atomically."""
    text = json.dumps(_as_dict(settings), indent=2, default=str) + "\n"
    try:
        if path(settings.out).read_text(encoding="utf-8") == text:
            return  # unchanged: a run with nothing new writes nothing
    except OSError:
        pass
    with replacing(path(settings.out)) as temp:
        temp.write_text(text, encoding="utf-8")


def stored(out: Path) -> Settings | None:
    """The settings the folder was last built with, as a Settings (other fields default); None
    when it has none or they cannot be read."""
    try:
        raw = json.loads(path(out).read_text(encoding="utf-8"))
        athlete = raw["athlete"]
        thresholds = tuple(Thresholds(effective_from=date.fromisoformat(t.pop("effective_from")), **t)
                           for t in athlete.pop("thresholds"))
        return Settings(out=out, timezone=raw["timezone"], athlete=Athlete(thresholds=thresholds, **athlete),
                        duplicates=DuplicateRule(**raw["duplicates"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def with_stored(settings: Settings) -> tuple[Settings, list[str]]:
    """For commands that read the tables: the folder's stored settings when no config file was
    given, else the given ones. Also the differences between given and stored, one phrase each."""
    kept = stored(settings.out)
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
