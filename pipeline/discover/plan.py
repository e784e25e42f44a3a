"""What a run must read: discovered files and archive members, less what the manifest says is unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from .archives import MEMBER_SEPARATOR, ArchiveLimits
from .catalogue import export_catalogue
from ..config import Settings
from .files import SourceFile, archive_members, discover, is_unchanged

CATALOGUE_FORMAT = "csv"


@dataclass
class Plan:
    to_read: list[SourceFile]
    unchanged: list[SourceFile]
    manifest: pl.DataFrame
    archives: list[SourceFile]  # archives opened this run: each gets a manifest row of its own
    # Export catalogues (Strava's activities.csv beside loose files) new or changed since the
    # last run: their names are read again, and each gets a manifest row of its own.
    catalogues: list[SourceFile] = field(default_factory=list)

    @property
    def has_work(self) -> bool:
        return bool(self.to_read or self.archives or self.catalogues)


def plan(settings: Settings, manifest: pl.DataFrame, full: bool = False) -> Plan:
    """What to read of every athlete's inputs, given the manifest of earlier runs (empty on a
    first run; `full` reads everything again). Files come athlete by athlete, each athlete's in
    path order; every athlete's files are compared with their own manifest rows only."""
    whole = Plan([], [], manifest, [])
    for athlete in settings.athletes:
        theirs = manifest.filter(pl.col("athlete_id") == athlete.id)
        part = _plan_one(settings.inputs_of(athlete), athlete.id, theirs, full, settings.archive_limits)
        for name in ("to_read", "unchanged", "archives", "catalogues"):
            getattr(whole, name).extend(getattr(part, name))
    return whole


def _plan_one(inputs, athlete_id: str, manifest: pl.DataFrame, full: bool, limits: ArchiveLimits) -> Plan:
    known = {row["path"]: row for row in manifest.iter_rows(named=True)}
    found = [replace(f, athlete_id=athlete_id) for f in discover(inputs)]
    files, opened = _expanded(found, known, full, limits)
    changed = {f.key for f in files if f.refused or _changed(f, known, full)}
    # A duplicate must be read again when its original changes: it may be the last copy.
    orphaned = {row["path"] for row in known.values() if row["status"] == "duplicate" and row["duplicate_of"] in changed}
    to_read = [f for f in files if f.key in changed or f.key in orphaned]
    unchanged = [f for f in files if f.key not in changed and f.key not in orphaned]
    catalogues = [c for c in _catalogues(files, athlete_id) if _changed(c, known, full)]
    return Plan(to_read, unchanged, manifest, opened, catalogues)


def _catalogues(files: list[SourceFile], athlete_id: str) -> list[SourceFile]:
    """The export catalogues of the loose files (archives carry theirs inside)."""
    # On object storage only zipped exports' catalogues are read (inside the zip).
    found: set[Path] = {export_catalogue(f.path) for f in files if not f.member and not f.is_remote} - {None}
    return [SourceFile(path, CATALOGUE_FORMAT, None, (stat := path.stat()).st_size, stat.st_mtime_ns,
                       athlete_id=athlete_id) for path in sorted(found)]


def _expanded(found: list[SourceFile], known: dict[str, dict], full: bool,
              limits: ArchiveLimits) -> tuple[list[SourceFile], list[SourceFile]]:
    """Archives replaced by their members: scanned if the archive changed, else from the manifest."""
    files, opened = [], []
    for source in found:
        if not source.is_archive:
            files.append(source)
        elif _changed(source, known, full):
            members = archive_members(source, limits)
            files.extend(members)
            if all(m.member for m in members):  # a broken zip comes back as itself, its own row
                opened.append(source)
        else:
            files.extend(_known_members(source, known))
    return files, opened


def _changed(source: SourceFile, known: dict[str, dict], full: bool) -> bool:
    return full or not is_unchanged(source, known.get(source.key))


def _known_members(archive: SourceFile, known: dict[str, dict]) -> list[SourceFile]:
    """An unchanged archive's members as the manifest recorded them, without opening it."""
    prefix = archive.key + MEMBER_SEPARATOR
    return [
        SourceFile(archive.path, row["format"], row["compression"], row["size_bytes"], row["mtime_ns"],
                   tuple(key[len(prefix):].split(MEMBER_SEPARATOR)), athlete_id=archive.athlete_id, etag=row["etag"])
        for key, row in known.items() if key.startswith(prefix)
    ]
