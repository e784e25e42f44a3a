"""Settings: defaults, then fitpipe.toml (or --config), then command-line flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from .discover.archives import ArchiveLimits
from .metrics.duplicates import DuplicateRule
from .readers import ENGINES
from .normalize.timezones import check_zone

DEFAULT_CONFIG_NAME = "fitpipe.toml"
DEFAULT_OUT = Path("fitpipe-data")
DEFAULT_INPUT = Path("sample_files")
THRESHOLD_KEYS = {"from", "max_hr", "resting_hr", "lthr", "ftp"}
TOP_LEVEL_KEYS = {"inputs", "out", "timezone", "workers", "athlete", "engines", "metrics", "duplicates", "archives"}
METRICS_KEYS = {"ascent_hysteresis_m"}
DUPLICATES_KEYS = {"enabled", "start_within_s", "tolerance_pct"}
# [archives] key: (ArchiveLimits field, bytes per unit, smallest, largest)
ARCHIVE_KEYS = {
    "max_member_mb": ("max_member_bytes", 2**20, 1, 64 * 2**10),
    "max_total_gb": ("max_archive_bytes", 2**30, 1, 2**14),
    "max_ratio": ("max_ratio", 1, 10, 10_000),
    "max_depth": ("max_depth", 1, 1, 10),
}


class ConfigError(ValueError):
    """A bad setting; the message names the file and the problem."""


@dataclass(frozen=True)
class Thresholds:
    effective_from: date
    max_hr: float | None = None
    resting_hr: float | None = None
    lthr: float | None = None
    ftp: float | None = None


HR_ZONE_BASES = ("lthr", "max_hr")
SEXES = ("male", "female")
ATHLETE_KEYS = {"thresholds", "sex", "hr_zones"}


@dataclass(frozen=True)
class Athlete:
    """What the metrics need to know beyond the samples: the athlete ([athlete]) and the
    tunable metric parameters ([metrics])."""

    thresholds: tuple[Thresholds, ...] = ()
    sex: str = "male"  # picks the Banister TRIMP weighting
    hr_zones: str = "lthr"  # zones as percent of LTHR, or of max HR
    ascent_hysteresis_m: float = 3.0


@dataclass(frozen=True)
class Settings:
    inputs: tuple[Path, ...] = (DEFAULT_INPUT,)
    out: Path = DEFAULT_OUT
    timezone: str = "UTC"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    athlete: Athlete = field(default_factory=Athlete)
    engines: dict[str, str] = field(default_factory=dict)
    duplicates: DuplicateRule = field(default_factory=DuplicateRule)
    archive_limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    # The config file these came from (None: defaults and flags only); not a setting itself.
    config_path: Path | None = field(default=None, compare=False)
    # Whether `inputs` were named (by a flag or the config file) rather than defaulted.
    inputs_given: bool = field(default=False, compare=False)


def load_settings(config_path: Path | None = None, **overrides) -> Settings:
    """Read the config file (if any) and apply non-None flag overrides."""
    path = config_path or (Path(DEFAULT_CONFIG_NAME) if Path(DEFAULT_CONFIG_NAME).exists() else None)
    settings = _from_file(path) if path else Settings()
    given = {key: value for key, value in overrides.items() if value is not None}
    if "engines" in given:
        given["engines"] = {**settings.engines, **given["engines"]}
    settings = replace(settings, **given, config_path=path,
                       inputs_given=settings.inputs_given or "inputs" in given)
    where = f"{path}: " if path else ""
    _check(settings, where)
    return settings


def _check(settings: Settings, where: str) -> None:
    if not isinstance(settings.timezone, str):
        raise ConfigError(f"{where}timezone must be a zone name like \"Europe/Berlin\"")
    try:
        check_zone(settings.timezone)
    except ValueError as exc:
        raise ConfigError(f"{where}timezone: {exc}") from None
    if not isinstance(settings.workers, int) or isinstance(settings.workers, bool) or settings.workers < 1:
        raise ConfigError(f"{where}workers must be a whole number of at least 1, not {settings.workers!r}")
    for fmt, engine in settings.engines.items():
        if fmt not in ENGINES:
            raise ConfigError(f"{where}engines: unknown format {fmt!r}; choose from {', '.join(ENGINES)}")
        if engine not in ENGINES[fmt]:
            raise ConfigError(f"{where}unknown {fmt} engine {engine!r}; choose from {', '.join(ENGINES[fmt])}")


def _from_file(path: Path) -> Settings:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(raw) - TOP_LEVEL_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
    base = path.parent
    values: dict = {}
    if "inputs" in raw:
        inputs = raw["inputs"] if isinstance(raw["inputs"], list) else [raw["inputs"]]
        if not all(isinstance(p, str) for p in inputs):
            raise ConfigError(f"{path}: inputs must be a path or a list of paths")
        values["inputs"] = tuple(_resolve(base, p) for p in inputs)
        values["inputs_given"] = True
    if "out" in raw:
        if not isinstance(raw["out"], str):
            raise ConfigError(f"{path}: out must be a path")
        values["out"] = _resolve(base, raw["out"])
    if "engines" in raw and not isinstance(raw["engines"], dict):
        raise ConfigError(f"{path}: engines must be a table like [engines] fit = \"fitparse\"")
    for key in ("timezone", "workers"):
        if key in raw:
            values[key] = raw[key]
    if "engines" in raw:
        values["engines"] = dict(raw["engines"])
    values["duplicates"] = _duplicate_rule(path, raw.get("duplicates", {}))
    values["archive_limits"] = _archive_limits(path, raw.get("archives", {}))
    values["athlete"] = replace(_athlete(path, raw.get("athlete", {})), **_metric_parameters(path, raw.get("metrics", {})))
    return Settings(**values)


def _check_table(path: Path, name: str, table, allowed, example: str) -> None:
    """A [name] table holding only known keys."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {name} must be a table like [{name}] {example}")
    unknown = set(table) - set(allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown {name} setting(s) {', '.join(sorted(unknown))}")


def _metric_parameters(path: Path, table) -> dict:
    _check_table(path, "metrics", table, METRICS_KEYS, "ascent_hysteresis_m = 3.0")
    hysteresis = table.get("ascent_hysteresis_m", Athlete.ascent_hysteresis_m)
    if not isinstance(hysteresis, (int, float)) or isinstance(hysteresis, bool) or not 0 < hysteresis <= 50:
        raise ConfigError(f"{path}: metrics.ascent_hysteresis_m must be a number of metres above 0 and at most 50, "
                          f"not {hysteresis!r}")
    return {"ascent_hysteresis_m": float(hysteresis)}


def _duplicate_rule(path: Path, table) -> DuplicateRule:
    _check_table(path, "duplicates", table, DUPLICATES_KEYS, "enabled = false")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{path}: duplicates.enabled must be true or false, not {enabled!r}")
    limits = {"start_within_s": 3600, "tolerance_pct": 50}
    numbers = {key: table.get(key, getattr(DuplicateRule, key)) for key in limits}
    for key, value in numbers.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= limits[key]:
            raise ConfigError(f"{path}: duplicates.{key} must be a number from 0 to {limits[key]}, not {value!r}")
    return DuplicateRule(enabled=enabled, **{key: float(value) for key, value in numbers.items()})


def _archive_limits(path: Path, table) -> ArchiveLimits:
    _check_table(path, "archives", table, ARCHIVE_KEYS, "max_member_mb = 1024")
    limits = {}
    for key, value in table.items():
        field_name, unit, low, high = ARCHIVE_KEYS[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"{path}: archives.{key} must be a whole number from {low} to {high}, not {value!r}")
        limits[field_name] = value * unit
    return replace(ArchiveLimits(), **limits)


def _athlete(path: Path, athlete: dict) -> Athlete:
    unknown = set(athlete) - ATHLETE_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown athlete setting(s) {', '.join(sorted(unknown))}")
    sex = athlete.get("sex", "male")
    if sex not in SEXES:
        raise ConfigError(f"{path}: athlete.sex must be one of {', '.join(SEXES)}, not {sex!r}")
    zones = athlete.get("hr_zones", "lthr")
    if zones not in HR_ZONE_BASES:
        raise ConfigError(f"{path}: athlete.hr_zones must be one of {', '.join(HR_ZONE_BASES)}, not {zones!r}")
    return Athlete(thresholds=tuple(_thresholds(path, athlete)), sex=sex, hr_zones=zones)


def _check_heart_rates(where: str, numbers: dict) -> None:
    """Resting < LTHR <= max: anything else would make heart-rate reserve meaningless."""
    rest, lthr, peak = numbers["resting_hr"], numbers["lthr"], numbers["max_hr"]
    if rest is not None and peak is not None and rest >= peak:
        raise ConfigError(f"{where}: resting_hr ({rest}) must be below max_hr ({peak})")
    if lthr is not None and peak is not None and lthr > peak:
        raise ConfigError(f"{where}: lthr ({lthr}) must not be above max_hr ({peak})")
    if lthr is not None and rest is not None and lthr <= rest:
        raise ConfigError(f"{where}: lthr ({lthr}) must be above resting_hr ({rest})")


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _thresholds(path: Path, athlete: dict) -> list[Thresholds]:
    entries = athlete.get("thresholds", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: athlete.thresholds is a list of entries: write each one under "
                          "[[athlete.thresholds]], with two brackets")
    result = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: athlete.thresholds entry {number}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a table of from, max_hr, resting_hr, lthr and ftp")
        unknown = set(entry) - THRESHOLD_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        start = entry.get("from")
        if isinstance(start, str):
            try:
                start = date.fromisoformat(start)
            except ValueError:
                raise ConfigError(f"{where}: 'from' must be a date like 2024-01-01") from None
        if not isinstance(start, date):
            raise ConfigError(f"{where}: 'from' (a date like 2024-01-01) is required")
        numbers = {key: entry.get(key) for key in THRESHOLD_KEYS - {"from"}}
        for key, value in numbers.items():
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                raise ConfigError(f"{where}: {key} must be a positive number, not {value!r}")
        _check_heart_rates(where, numbers)
        earlier = next((n for n, t in enumerate(result, start=1) if t.effective_from == start), None)
        if earlier is not None:
            raise ConfigError(f"{where}: 'from' {start} is also entry {earlier}'s; each entry needs its own date")
        result.append(Thresholds(effective_from=start, **numbers))
    return result
