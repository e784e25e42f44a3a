"""Export catalogues: Strava's activities.csv names each file's activity, its type and Strava id."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from . import archives, remote

log = logging.getLogger(__name__)
Entries = dict[str, archives.StravaActivity]
CATALOGUE_COLUMNS = ("source_activity_id", "source_name", "source_activity_type")
CSV_NAME = archives.STRAVA_CSV


def export_catalogue(path: Path) -> Path | None:
    """The activities.csv of the unpacked Strava export a loose file sits in
    (<export>/activities.csv beside <export>/activities/<file>), if there is one."""
    csv = path.parent.parent / CSV_NAME
    return csv if csv.is_file() else None


class Catalogue:
    """Reads each export's catalogue once, on first need."""

    def __init__(self) -> None:
        self._archives: dict[Path | str, Entries] = {}
        self._folders: dict[Path, Entries] = {}

    def describe_all(self, activities: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
        """`activities` with source_activity_id, source_name and source_activity_type from the
        catalogues as they are now, and which rows a catalogue describes. A row that no readable
        catalogue describes (a loose device file, an export since deleted) keeps its values."""
        entries = [self._entry(key) for key in activities["source_path"].to_list()]
        described = pl.Series("described", [e is not None for e in entries], dtype=pl.Boolean)
        if not described.any():
            return activities, described
        values = {
            "source_activity_id": [e.strava_id if e else None for e in entries],
            "source_name": [e.name if e else None for e in entries],
            "source_activity_type": [e.activity_type if e else None for e in entries],
        }
        return activities.with_columns(
            [pl.when(described).then(pl.Series(values[c], dtype=pl.String)).otherwise(pl.col(c)).alias(c)
             for c in CATALOGUE_COLUMNS]
        ), described

    def _entry(self, key: str) -> archives.StravaActivity | None:
        """The catalogue entry of the file the manifest names `key` (a path, or archive.zip!/member)."""
        archive, *member = key.split(archives.MEMBER_SEPARATOR)
        if remote.is_url(archive):  # only a zip this run copied here: none is fetched for names alone
            readable = member and remote.copied(archive) is not None
            return self._archive_entries(archive, readable).get(member[0]) if readable else None
        path = Path(archive)
        if member:
            return self._archive_entries(path, path.is_file()).get(member[0])
        csv = export_catalogue(path)
        if csv is None:
            return None
        export = csv.parent
        if export not in self._folders:
            self._folders[export] = _read(csv, _csv_file)
        return self._folders[export].get(path.relative_to(export).as_posix())

    def _archive_entries(self, archive: Path | str, readable: bool) -> Entries:
        if archive not in self._archives:
            self._archives[archive] = _read(archive, archives.strava_activities) if readable else {}
        return self._archives[archive]


def _csv_file(path: Path) -> Entries:
    return archives.parse_strava_csv(path.read_bytes())


def _read(path: Path, reader) -> Entries:
    """A broken catalogue costs the names, never the activities."""
    try:
        return reader(path)
    except (archives.ArchiveError, OSError) as exc:
        log.warning("%s: catalogue not read: %s", path, exc)
        return {}
