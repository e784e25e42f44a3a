"""Settings: defaults, then fitpipe.toml (or --config), then command-line flags."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from .discover.archives import ArchiveLimits
from .discover.remote import is_url
from .metrics.duplicates import DuplicateRule
from .readers import ENGINES
from .normalize.schema import DEFAULT_ATHLETE
from .normalize.timezones import check_zone

DEFAULT_CONFIG_NAME = "fitpipe.toml"
DEFAULT_OUT = Path("fitpipe-data")
DEFAULT_INPUT = Path("sample_files")
THRESHOLD_KEYS = {"from", "max_hr", "resting_hr", "lthr", "ftp", "threshold_pace", "css"}


class Pace(NamedTuple):
    """A configured pace: written "m:ss" per `per`, kept as seconds per `metres`."""
    example: str
    per: str
    metres: float


PACE_KEYS = {"threshold_pace": Pace("4:25", "km", 1000.0), "css": Pace("1:40", "100 m", 100.0)}
PACE = re.compile(r"([0-9]{1,2}):([0-5][0-9])")
TOP_LEVEL_KEYS = {"inputs", "out", "timezone", "workers", "athlete", "athletes", "engines", "metrics", "duplicates",
                  "archives", "cluster", "output"}
CLUSTER_KEYS = {"scheduler"}
OUTPUT_KEYS = {"format"}
OUTPUT_FORMATS = ("parquet", "delta")
# A Dask scheduler's address (tcp://host:8786, or host:8786), or local[:N] for a cluster of N
# worker processes on this machine.
LOCAL_CLUSTER = re.compile(r"local(:[1-9][0-9]{0,3})?")
SCHEDULER_ADDRESS = re.compile(r"((tcp|tls|ws|wss|ucx)://)?[A-Za-z0-9._\[\]:-]+:[0-9]{1,5}")
# An athlete's id: used in paths, partition folders and keys, so plain and stable.
ATHLETE_ID = re.compile(r"[a-z0-9_-]{1,64}")
TEAM_ATHLETE_KEYS = {"id", "name", "inputs", "timezone", "sex", "hr_zones", "thresholds"}
METRICS_KEYS = {"ascent_hysteresis_m", "threshold_window_days"}
THRESHOLD_WINDOW_DAYS = (7, 730)
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
    threshold_pace: float | None = None  # s per km
    css: float | None = None  # s per 100 m


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
    threshold_window_days: int = 90  # estimates use the bests of this many days before each day
    id: str = DEFAULT_ATHLETE
    name: str | None = None
    inputs: tuple[Path | str, ...] = ()  # empty: the run's inputs; a str is an object-store URL
    timezone: str | None = None  # None: the run's timezone


@dataclass(frozen=True)
class Settings:
    inputs: tuple[Path | str, ...] = (DEFAULT_INPUT,)  # a str is an object-store URL (discover.remote)
    out: Path | str = DEFAULT_OUT  # a folder, or an object-store URL for Delta tables
    timezone: str = "UTC"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    athletes: tuple[Athlete, ...] = (Athlete(),)
    engines: dict[str, str] = field(default_factory=dict)
    duplicates: DuplicateRule = field(default_factory=DuplicateRule)
    archive_limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    # Where batches run (--cluster, [cluster] scheduler): not stored, as it changes no output.
    cluster: str | None = None
    # The output's kind ([output] format, --format): None for whatever the folder holds, else parquet.
    output_format: str | None = None
    # The config file these came from (None: defaults and flags only); not a setting itself.
    config_path: Path | None = field(default=None, compare=False)
    # Whether `inputs` were named (by a flag or the config file) rather than defaulted.
    inputs_given: bool = field(default=False, compare=False)
    # Athletes the output folder already holds that this run does not name: their settings,
    # as stored with the tables, still shape their metrics, summaries and reports.
    stored_athletes: tuple[Athlete, ...] = ()

    @property
    def athlete(self) -> Athlete:
        """The first athlete: the only one of a setup without [[athletes]]."""
        return self.athletes[0]

    @property
    def is_team(self) -> bool:
        return len(self.athletes) > 1 or self.athletes[0].id != DEFAULT_ATHLETE

    def inputs_of(self, athlete: Athlete) -> tuple[Path | str, ...]:
        return athlete.inputs or self.inputs

    def timezone_of(self, athlete: Athlete) -> str:
        return athlete.timezone or self.timezone

    @property
    def every_athlete(self) -> tuple[Athlete, ...]:
        """The athletes of this run, then the others the output holds."""
        return self.athletes + self.stored_athletes

    def athlete_by_id(self, athlete_id: str) -> Athlete:
        """An athlete's settings; defaults for an athlete no settings name."""
        known = next((a for a in self.every_athlete if a.id == athlete_id), None)
        return known or Athlete(id=athlete_id)


def load_settings(config_path: Path | None = None, athlete_id: str | None = None,
                  athletes_root: Path | None = None, **overrides) -> Settings:
    """Read the config file (if any) and apply non-None flag overrides. `athlete_id`
    (--athlete) names whose files the inputs are, or picks one athlete of [[athletes]];
    `athletes_root` (--athletes-from-folders) makes each of its subfolders an athlete."""
    path = config_path or (Path(DEFAULT_CONFIG_NAME) if Path(DEFAULT_CONFIG_NAME).exists() else None)
    settings = _from_file(path) if path else Settings()
    given = {key: value for key, value in overrides.items() if value is not None}
    if "engines" in given:
        given["engines"] = {**settings.engines, **given["engines"]}
    where = f"{path}: " if path else ""
    if settings.is_team and "inputs" in given and athlete_id is None:
        raise ConfigError(f"{where}the config names athletes ([[athletes]]); say whose files "
                          f"{' '.join(map(str, given['inputs']))} are with --athlete ID")
    settings = replace(settings, **given, config_path=path,
                       inputs_given=settings.inputs_given or "inputs" in given)
    _check(settings, where)
    if athlete_id is not None and athletes_root is not None:
        raise ConfigError("--athlete and --athletes-from-folders: give one or the other")
    if athlete_id is not None:
        settings = _one_athlete(settings, athlete_id, "inputs" in given, where)
    if athletes_root is not None:
        settings = _athletes_from_folders(settings, athletes_root, "inputs" in given, where)
    return settings


def _one_athlete(settings: Settings, athlete_id: str, inputs_given: bool, where: str) -> Settings:
    """--athlete ID: one athlete of [[athletes]] (their inputs, or the ones named), or the
    configured athlete under this id."""
    check_athlete_id(athlete_id, "--athlete")
    if not settings.is_team:
        return replace(settings, athletes=(replace(settings.athlete, id=athlete_id),))
    chosen = next((a for a in settings.athletes if a.id == athlete_id), None)
    if chosen is None:
        raise ConfigError(f"{where}unknown athlete {athlete_id!r}; the config names "
                          f"{', '.join(a.id for a in settings.athletes)}")
    if inputs_given:
        chosen = replace(chosen, inputs=settings.inputs)
    return replace(settings, athletes=(chosen,))


def athlete_id_for(folder_name: str) -> str:
    """A folder's name as an athlete id: lower case, runs of other characters as one '-'."""
    return re.sub(r"[^a-z0-9_-]+", "-", folder_name.lower()).strip("-")[:64]


def _athletes_from_folders(settings: Settings, root: Path, inputs_given: bool, where: str) -> Settings:
    """--athletes-from-folders ROOT: each subfolder is one athlete, named after it, as in
    GoldenCheetah's athlete library. Athletes of [[athletes]] with the same id keep their
    settings and get the folder as their inputs."""
    if inputs_given or (settings.inputs_given and not settings.is_team):
        raise ConfigError(f"{where}--athletes-from-folders takes each athlete's files from their folder "
                          "under ROOT; name no other inputs")
    root = root.expanduser()
    if not root.is_dir():
        raise ConfigError(f"{root}: no such folder (--athletes-from-folders)")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ConfigError(f"{root}: no subfolders, so no athletes (--athletes-from-folders)")
    configured = {a.id: a for a in settings.athletes} if settings.is_team else {}
    # A folder no [[athletes]] entry names gets [athlete]'s settings; a team config's entries are their own.
    defaults = Athlete(**_metric_fields(settings.athlete)) if settings.is_team else settings.athlete
    athletes, seen = [], {}
    for folder in folders:
        athlete_id = athlete_id_for(folder.name)
        if not athlete_id:
            raise ConfigError(f"{folder}: cannot make an athlete id of this folder's name; rename it to "
                              "letters, digits, '_' or '-'")
        if athlete_id in seen:
            raise ConfigError(f"{folder}: same athlete id {athlete_id!r} as {seen[athlete_id]}; rename one of them")
        seen[athlete_id] = folder
        base = configured.pop(athlete_id, None) or replace(defaults, name=None, timezone=None)
        athletes.append(replace(base, id=athlete_id, name=base.name or folder.name, inputs=(folder,)))
    return replace(settings, athletes=(*athletes, *configured.values()), inputs=(), inputs_given=True)


def _check(settings: Settings, where: str) -> None:
    if not isinstance(settings.timezone, str):
        raise ConfigError(f"{where}timezone must be a zone name like \"Europe/Berlin\"")
    try:
        check_zone(settings.timezone)
    except ValueError as exc:
        raise ConfigError(f"{where}timezone: {exc}") from None
    if not isinstance(settings.workers, int) or isinstance(settings.workers, bool) or settings.workers < 1:
        raise ConfigError(f"{where}workers must be a whole number of at least 1, not {settings.workers!r}")
    if settings.cluster is not None and not _is_cluster_address(settings.cluster):
        raise ConfigError(f"{where}cluster: {settings.cluster!r} is not a Dask scheduler address like "
                          f"tcp://scheduler:8786, nor local:N for N worker processes on this machine")
    if settings.output_format is not None and settings.output_format not in OUTPUT_FORMATS:
        raise ConfigError(f"{where}output format {settings.output_format!r}: choose parquet or delta")
    for fmt, engine in settings.engines.items():
        if fmt not in ENGINES:
            raise ConfigError(f"{where}engines: unknown format {fmt!r}; choose from {', '.join(ENGINES)}")
        if engine not in ENGINES[fmt]:
            raise ConfigError(f"{where}unknown {fmt} engine {engine!r}; choose from {', '.join(ENGINES[fmt])}")


def is_local_cluster(address: str) -> bool:
    """`local` or `local:N`: a cluster of worker processes on this machine (not localhost:8786)."""
    return address == "local" or address.startswith("local:")


def _is_cluster_address(value) -> bool:
    if not isinstance(value, str):
        return False
    pattern = LOCAL_CLUSTER if is_local_cluster(value) else SCHEDULER_ADDRESS
    return pattern.fullmatch(value) is not None


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
    if "output" in raw:
        _check_table(path, "output", raw["output"], OUTPUT_KEYS, 'format = "delta"')
        values["output_format"] = raw["output"].get("format")
    if "cluster" in raw:
        _check_table(path, "cluster", raw["cluster"], CLUSTER_KEYS, 'scheduler = "tcp://scheduler:8786"')
        values["cluster"] = raw["cluster"].get("scheduler")
    parameters = _metric_parameters(path, raw.get("metrics", {}))
    defaults = replace(_athlete(path, raw.get("athlete", {})), **parameters)
    if "athletes" in raw:
        if "inputs" in raw:
            raise ConfigError(f"{path}: with [[athletes]], each athlete has its own inputs; remove the top-level inputs")
        values["athletes"] = _team(path, raw["athletes"], defaults, "thresholds" in raw.get("athlete", {}))
        values["inputs"], values["inputs_given"] = (), True
    else:
        values["athletes"] = (defaults,)
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
    window = table.get("threshold_window_days", Athlete.threshold_window_days)
    low, high = THRESHOLD_WINDOW_DAYS
    if not isinstance(window, int) or isinstance(window, bool) or not low <= window <= high:
        raise ConfigError(f"{path}: metrics.threshold_window_days must be a whole number of days from {low} to "
                          f"{high}, not {window!r}")
    return {"ascent_hysteresis_m": float(hysteresis), "threshold_window_days": window}


def _metric_fields(athlete: Athlete) -> dict:
    """The [metrics] settings, which every athlete of a config shares (each key is an Athlete field)."""
    return {key: getattr(athlete, key) for key in METRICS_KEYS}


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


def _athlete(path: Path, athlete: dict, default_sex: str = "male", default_zones: str = "lthr",
             label: str = "athlete") -> Athlete:
    if not isinstance(athlete, dict):
        raise ConfigError(f"{path}: athlete must be a table like [athlete] sex = \"female\"")
    unknown = set(athlete) - ATHLETE_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown athlete setting(s) {', '.join(sorted(unknown))}")
    sex = athlete.get("sex", default_sex)
    if sex not in SEXES:
        raise ConfigError(f"{path}: {label}.sex must be one of {', '.join(SEXES)}, not {sex!r}")
    zones = athlete.get("hr_zones", default_zones)
    if zones not in HR_ZONE_BASES:
        raise ConfigError(f"{path}: {label}.hr_zones must be one of {', '.join(HR_ZONE_BASES)}, not {zones!r}")
    return Athlete(thresholds=tuple(_thresholds(path, athlete, label)), sex=sex, hr_zones=zones)


def check_athlete_id(value, where: str) -> str:
    if not isinstance(value, str) or not ATHLETE_ID.fullmatch(value):
        raise ConfigError(f"{where}: athlete id {value!r} must be 1 to 64 of a-z, 0-9, '_' and '-'")
    return value


def _check_entry(where: str, entry, keys: set[str], holding: str) -> None:
    """One entry of a list of tables ([[athletes]], [[….thresholds]]): a table of known keys."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be a table {holding}")
    unknown = set(entry) - keys
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")


def _team(path: Path, entries, defaults: Athlete, top_level_thresholds: bool) -> tuple[Athlete, ...]:
    """[[athletes]]: one table per athlete; [athlete] gives defaults for sex and hr_zones."""
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: athletes is a list of athletes: write each one under [[athletes]], with two brackets")
    athletes, owner = [], {}
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: athletes entry {number}"
        _check_entry(where, entry, TEAM_ATHLETE_KEYS, "with id, inputs and athlete settings")
        athlete_id = check_athlete_id(entry.get("id"), where)
        if any(a.id == athlete_id for a in athletes):
            raise ConfigError(f"{where}: athlete id {athlete_id!r} is given twice")
        if "thresholds" in entry and top_level_thresholds:
            raise ConfigError(f"{where}: thresholds are given both for athlete {athlete_id!r} and at the top level "
                              "([athlete]); give them in one place")
        inputs = entry.get("inputs")
        inputs = inputs if isinstance(inputs, list) else [inputs] if isinstance(inputs, str) else None
        if not inputs or not all(isinstance(p, str) for p in inputs):
            raise ConfigError(f"{where}: athlete {athlete_id!r} needs inputs, a path or a list of paths")
        resolved = tuple(_resolve(path.parent, p) for p in inputs)
        for source in resolved:
            key = _owned_key(source)
            other = next((o for o in owner if key == o or key.is_relative_to(o) or o.is_relative_to(key)), None)
            if other is not None:
                raise ConfigError(f"{where}: input {source} is also given to athlete {owner[other]!r}"
                                  f"{'' if other == key else ' (one holds the other)'}; give each input to one athlete")
            owner[key] = athlete_id
        name, zone = entry.get("name"), entry.get("timezone")
        if name is not None and not isinstance(name, str):
            raise ConfigError(f"{where}: name must be text")
        if zone is not None:
            try:
                check_zone(zone if isinstance(zone, str) else "")
            except ValueError as exc:
                raise ConfigError(f"{where}: timezone: {exc}") from None
        own = _athlete(path, {k: entry[k] for k in ("sex", "hr_zones", "thresholds") if k in entry},
                       default_sex=defaults.sex, default_zones=defaults.hr_zones, label=f"athletes entry {number}")
        athletes.append(replace(own, thresholds=own.thresholds if "thresholds" in entry else defaults.thresholds,
                                **_metric_fields(defaults), id=athlete_id, name=name, inputs=resolved,
                                timezone=zone))
    return tuple(athletes)


def _check_heart_rates(where: str, numbers: dict) -> None:
    """Resting < LTHR <= max: anything else would make heart-rate reserve meaningless."""
    rest, lthr, peak = numbers["resting_hr"], numbers["lthr"], numbers["max_hr"]
    if rest is not None and peak is not None and rest >= peak:
        raise ConfigError(f"{where}: resting_hr ({rest}) must be below max_hr ({peak})")
    if lthr is not None and peak is not None and lthr > peak:
        raise ConfigError(f"{where}: lthr ({lthr}) must not be above max_hr ({peak})")
    if lthr is not None and rest is not None and lthr <= rest:
        raise ConfigError(f"{where}: lthr ({lthr}) must be above resting_hr ({rest})")


def _resolve(base: Path, value: str) -> Path | str:
    """A path relative to the config file's folder; an object-store URL as it is."""
    if is_url(value):
        return value
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _owned_key(source: Path | str) -> PurePosixPath:
    """An input as a path to compare with other athletes' (a URL as s3:/bucket/key)."""
    return PurePosixPath(source) if is_url(source) else PurePosixPath(source.expanduser().resolve())



def _thresholds(path: Path, athlete: dict, label: str = "athlete") -> list[Thresholds]:
    entries = athlete.get("thresholds", [])
    table = "athlete" if label == "athlete" else "athletes"
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: {label}.thresholds is a list of entries: write each one under "
                          f"[[{table}.thresholds]], with two brackets")
    result = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: {label}.thresholds entry {number}"
        _check_entry(where, entry, THRESHOLD_KEYS, "of from, max_hr, resting_hr, lthr, ftp, threshold_pace and css")
        start = entry.get("from")
        if isinstance(start, str):
            try:
                start = date.fromisoformat(start)
            except ValueError:
                raise ConfigError(f"{where}: 'from' must be a date like 2024-01-01") from None
        if not isinstance(start, date):
            raise ConfigError(f"{where}: 'from' (a date like 2024-01-01) is required")
        numbers = {key: entry.get(key) for key in THRESHOLD_KEYS - {"from"} - PACE_KEYS.keys()}
        for key, value in numbers.items():
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                raise ConfigError(f"{where}: {key} must be a positive number, not {value!r}")
        _check_heart_rates(where, numbers)
        earlier = next((n for n, t in enumerate(result, start=1) if t.effective_from == start), None)
        if earlier is not None:
            raise ConfigError(f"{where}: 'from' {start} is also entry {earlier}'s; each entry needs its own date")
        paces = {key: _pace_s(where, key, entry.get(key)) for key in PACE_KEYS}
        result.append(Thresholds(effective_from=start, **numbers, **paces))
    return result


def _pace_s(where: str, key: str, value: object) -> float | None:
    """A pace written "m:ss" as seconds."""
    found = PACE.fullmatch(value) if isinstance(value, str) else None
    if value is not None and (found is None or found[0] == "0:00"):
        pace = PACE_KEYS[key]
        raise ConfigError(f'{where}: {key} must be a pace like "{pace.example}" (minutes:seconds per {pace.per}), '
                          f'not {value!r}')
    return None if found is None else 60.0 * int(found[1]) + int(found[2])
