"""Find activity files under the input paths and tell which ones are new."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

from . import archives, remote
from .names import detect_format
from ..normalize.schema import DEFAULT_ATHLETE

log = logging.getLogger(__name__)
ARCHIVE_FORMAT = "zip"


@dataclass(frozen=True)
class SourceFile:
    """A file on disk or on object storage (`path` a URL string, see remote), a zip archive
    (format 'zip'), or an activity file inside one (`member`)."""

    path: Path | str
    format: str
    compression: str | None
    size_bytes: int
    mtime_ns: int
    member: tuple[str, ...] = ()  # names from the archive at `path` down to the file
    refused: str | None = None  # why it is rejected unread: an unsafe archive member, a broken zip
    athlete_id: str = DEFAULT_ATHLETE  # whose file it is: the manifest keys rows by (athlete_id, key)
    etag: str | None = None  # an object's ETag on object storage

    @property
    def is_remote(self) -> bool:
        return remote.is_url(self.path)

    @property
    def key(self) -> str:
        """How the manifest names this file: its path, or archive.zip!/inner/path.fit."""
        return archives.member_key(self.path, self.member) if self.member else str(self.path)

    @property
    def is_archive(self) -> bool:
        return self.format == ARCHIVE_FORMAT and not self.member


def discover(inputs: tuple[Path | str, ...] | list[Path | str]) -> list[SourceFile]:
    """Every activity file and zip archive under `inputs` (folders, files, object-store URLs),
    recursively, sorted by path.

    A missing input raises FileNotFoundError naming it: a typo must not look like
    "nothing new". An object store that cannot be listed raises remote.RemoteError.
    """
    require_inputs(inputs)
    found: dict[str, SourceFile] = {}
    for root in inputs:
        for source in _remote_sources(root) if remote.is_url(root) else _local_sources(Path(root).expanduser()):
            found[source.key] = source
    return [found[key] for key in sorted(found)]


def _local_sources(root: Path):
    for path in [root] if root.is_file() else _walk(root):
        source = _source(path.resolve())
        if source is not None:
            yield source


def _remote_sources(url: str):
    for found in remote.listing(url):
        detected = _detected(found.url.rsplit("/", 1)[-1])
        if detected is not None:
            yield SourceFile(found.url, detected[0], detected[1], found.size_bytes, found.mtime_ns, etag=found.etag)


def require_inputs(inputs: tuple[Path | str, ...] | list[Path | str]) -> None:
    """Raise FileNotFoundError naming the first input that does not exist."""
    for root in inputs:
        if remote.is_url(root):
            remote.require(root)
        elif not Path(root).expanduser().exists():
            raise FileNotFoundError(f"{Path(root).expanduser()}: no such file or folder")


def _walk(root: Path):
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            yield Path(folder) / name


def _detected(name: str) -> tuple[str, str | None] | None:
    return (ARCHIVE_FORMAT, None) if name.lower().endswith(f".{ARCHIVE_FORMAT}") else detect_format(name)


def _source(path: Path) -> SourceFile | None:
    detected = _detected(path.name)
    if detected is None:
        return None
    stat = path.stat()
    return SourceFile(path, detected[0], detected[1], stat.st_size, stat.st_mtime_ns)


def archive_members(archive: SourceFile, limits: archives.ArchiveLimits) -> list[SourceFile]:
    """The activity files inside a zip, and the members refused unread (with their reason).

    A zip that cannot be opened at all comes back as itself, refused."""
    try:
        members, refused = archives.scan(archive.path, limits)
    except archives.ArchiveError as exc:
        return [replace(archive, refused=exc.reason)]
    found = [SourceFile(archive.path, m.format, m.compression, m.size_bytes, m.mtime_ns, m.chain,
                        athlete_id=archive.athlete_id) for m in members]
    for r in refused:
        detected = detect_format(r.chain[-1]) or (ARCHIVE_FORMAT, None)
        found.append(SourceFile(archive.path, detected[0], detected[1], 0, 0, r.chain, refused=r.reason,
                                athlete_id=archive.athlete_id))
    return sorted(found, key=lambda f: f.member)


def is_unchanged(source: SourceFile, manifest_row: dict | None) -> bool:
    """Same path, size and mtime (and ETag, on object storage) as last time: skip it without reading it."""
    return (
        manifest_row is not None
        and manifest_row["size_bytes"] == source.size_bytes
        and manifest_row["mtime_ns"] == source.mtime_ns
        and manifest_row.get("etag") == source.etag
    )
