"""Export catalogues: Strava's activities.csv names each file's activity, its type and Strava id."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from . import archives
from .discover import SourceFile

log = logging.getLogger(__name__)
Entries = dict[str, archives.StravaActivity]


class Catalogue:
    """Reads each export's catalogue once per run, on first need."""

    def __init__(self) -> None:
        self._archives: dict[Path, Entries] = {}
        self._folders: dict[Path, Entries] = {}

    def describe(self, source: SourceFile, activities: pl.DataFrame) -> pl.DataFrame:
        """`activities` with source_activity_id, source_name and source_activity_type filled in."""
        entry = self._entry(source)
        if entry is None or activities.is_empty():
            return activities
        return activities.with_columns(
            source_activity_id=pl.lit(entry.strava_id, dtype=pl.String),
            source_name=pl.lit(entry.name, dtype=pl.String),
            source_activity_type=pl.lit(entry.activity_type, dtype=pl.String),
        )

    def _entry(self, source: SourceFile) -> archives.StravaActivity | None:
        if source.member:
            if source.path not in self._archives:
                self._archives[source.path] = _read(source.path, archives.strava_activities)
            return self._archives[source.path].get(source.member[0])
        # An unpacked Strava export: <export>/activities.csv beside <export>/activities/<file>.
        export = source.path.parent.parent
        if export not in self._folders:
            csv = export / "activities.csv"
            self._folders[export] = _read(csv, _csv_file) if csv.is_file() else {}
        return self._folders[export].get(source.path.relative_to(export).as_posix())


def _csv_file(path: Path) -> Entries:
    return archives.parse_strava_csv(path.read_bytes())


def _read(path: Path, reader) -> Entries:
    """A broken catalogue costs the names, never the activities."""
    try:
        return reader(path)
    except (archives.ArchiveError, OSError) as exc:
        log.warning("%s: catalogue not read: %s", path, exc)
        return {}
