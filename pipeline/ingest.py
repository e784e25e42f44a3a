"""The ingest stage: read new files, normalize them, write tables; manifest last."""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import multiprocessing
import time
import zlib
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import groupby
from pathlib import Path
from typing import Callable, Iterator

import polars as pl

from . import archives, duplicates, schema, store
from .config import Athlete, Settings
from .catalogue import Catalogue
from .discover import SourceFile, detect_format
from .plan import Plan, plan
from .normalize import Activities, normalize
from .readers import ReadError, read_bytes

log = logging.getLogger(__name__)
# Decompressed size we accept from one .gz member; real activities are far smaller.
MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024


@dataclass
class FileContent:
    """What `read_file` returns: one file's normalized tables plus how reading went."""

    path: str
    format: str
    sha256: str | None
    status: str  # imported | not_activity | rejected (duplicate is decided by ingest)
    reason: str | None
    parse_status: str | None
    tables: Activities = field(default_factory=Activities.empty)
    size_bytes: int = 0  # bytes read from disk (compressed, for .gz)
    sample_files: set[Path] = field(default_factory=set)  # written by the worker, see load_source

    @property
    def activities(self) -> pl.DataFrame:
        return self.tables.activities

    @property
    def laps(self) -> pl.DataFrame:
        return self.tables.laps

    @property
    def samples(self) -> pl.DataFrame:
        return self.tables.samples


@dataclass
class RunReport:
    files: int = 0
    imported: int = 0
    duplicates: int = 0
    not_activity: int = 0
    rejected: int = 0
    skipped: int = 0
    activities: int = 0
    duplicate_activities: int = 0
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {
            "files": self.files, "imported": self.imported, "duplicates": self.duplicates,
            "not_activity": self.not_activity, "rejected": self.rejected, "skipped": self.skipped,
            "activities": self.activities, "duplicate_activities": self.duplicate_activities,
            "seconds": round(self.seconds, 3),
        }


def read_file(path: str | Path, timezone: str = "UTC", engines: dict[str, str] | None = None,
              athlete: Athlete = Athlete()) -> FileContent:
    """Normalized content of one FIT, GPX or TCX file (optionally .gz).

    Bad content never raises: it comes back with status 'rejected' and a reason.
    """
    path = Path(path)
    detected = detect_format(path.name)
    if detected is None:
        raise ValueError(f"{path}: not a .fit, .gpx or .tcx file (optionally .gz)")
    stat = path.stat()
    source = SourceFile(path.resolve(), detected[0], detected[1], stat.st_size, stat.st_mtime_ns)
    return load_source(source, timezone, engines, athlete)


def load_source(source: SourceFile, timezone: str, engines: dict[str, str] | None,
                athlete: Athlete = Athlete(), data: bytes | None = None, samples_to: Path | None = None) -> FileContent:
    """Hash, decompress, parse and normalize one file; every failure becomes a reason.

    `data` is the file's bytes when the caller already has them (an archive member). With
    `samples_to`, the samples are written there as sample files and dropped from the result:
    the worker compresses them, and they never travel back through a pipe."""
    content = FileContent(source.key, source.format, None, "rejected", source.refused, None)
    if source.refused:
        return content
    try:
        raw = source.path.read_bytes() if data is None else data
        content.size_bytes = len(raw)
        content.sha256 = hashlib.sha256(raw).hexdigest()
        raw = _decompress(raw) if source.compression == "gzip" else raw
        parsed = read_bytes(raw, source.format, source.key, engines)
    except (ReadError, OSError, EOFError, zlib.error) as exc:
        content.reason = _one_line(exc)
        return content
    except Exception as exc:  # a parser bug must cost one file, not the run
        content.reason = f"could not parse: {type(exc).__name__}: {_one_line(exc)}"
        return content
    content.parse_status = parsed.parse_status
    if not parsed.is_activity:
        content.status, content.reason = "not_activity", parsed.not_activity_reason
        return content
    try:
        content.tables = _with_channels(normalize(parsed, source.key, content.sha256, timezone, athlete))
    except Exception as exc:
        content.reason = f"could not normalize: {type(exc).__name__}: {_one_line(exc)}"
        return content
    content.status = "imported"
    if parsed.parse_status != "ok":
        content.reason = f"partially read ({parsed.parse_status}): {parsed.parse_detail}"
    if samples_to is not None:
        content.sample_files = store.write_samples(samples_to, content.samples)
        content.tables.samples = content.samples.clear()
    return content


def _with_channels(tables: Activities) -> Activities:
    channels = duplicates.sample_channels(tables.samples)
    activities = tables.activities.drop("sample_channels").join(channels, on="activity_id", how="left")
    tables.activities = schema.conform(activities, schema.ACTIVITIES)
    return tables


def _decompress(raw: bytes) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
        data = stream.read(MAX_DECOMPRESSED_BYTES + 1)
    if len(data) > MAX_DECOMPRESSED_BYTES:
        raise ReadError(f"gzip expands beyond {MAX_DECOMPRESSED_BYTES // 2**20} MiB; refusing it")
    return data


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def ingest(
    settings: Settings,
    full: bool = False,
    on_file: Callable[[FileContent], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> RunReport:
    started = time.perf_counter()
    work = plan(settings, full)
    if on_start:
        on_start(len(work.to_read))
    report = RunReport(files=len(work.to_read) + len(work.unchanged), skipped=len(work.unchanged))
    if not work.to_read and not work.archives and store.table_path(settings.out, "manifest").exists():
        activities = store.read_table(settings.out, "activities")  # a cron run with nothing new rewrites nothing
    else:
        activities = _import(work, settings, report, on_file)
    report.activities = activities.height
    report.duplicate_activities = activities["duplicate_of"].is_not_null().sum()
    report.seconds = time.perf_counter() - started
    return report


def _import(work: Plan, settings: Settings, report: RunReport, on_file) -> pl.DataFrame:
    """Read the planned files, write the tables, manifest last; returns the activities table."""
    rewritten = [f.key for f in [*work.to_read, *work.archives]]
    kept_manifest = work.manifest.filter(~pl.col("path").is_in(rewritten))
    owners = _owners(kept_manifest)
    new_rows, imported = _read_files(work.to_read, settings, owners, report, on_file)
    new_rows += [_archive_row(archive, work.to_read) for archive in work.archives]
    activities = _write_activity_tables(settings.out, imported, set(owners), settings.duplicates)
    # The manifest goes last: after a crash the next run redoes whatever it lacks.
    new_manifest = pl.concat([kept_manifest, pl.DataFrame(new_rows, schema=schema.MANIFEST)])
    new_manifest = duplicates.annotate_manifest(new_manifest, activities)
    store.write_atomic(new_manifest.sort("path"), store.table_path(settings.out, "manifest"))
    return activities


def _read_files(to_read, settings, owners: dict[str, str], report: RunReport, on_file):
    """Manifest rows for every file read, and the tables of those newly imported.

    `owners` maps content hashes to the path that imported them; it grows as files import.
    """
    sources = {f.key: f for f in to_read}
    catalogue = Catalogue()
    rows, imported = [], []
    for content in _load_all(to_read, settings):
        row = _manifest_row(content, sources[content.path])
        content.tables.activities = catalogue.describe(sources[content.path], content.activities)
        if content.status == "imported" and content.sha256 in owners:
            original = owners[content.sha256]
            row.update(status="duplicate", activity_ids=[], duplicate_of=original,
                       reason=f"same content as {original}")
        elif content.status == "imported":
            owners[content.sha256] = content.path
            imported.append(content)
        if row["status"] == "rejected":
            log.warning("%s: rejected: %s", content.path, row["reason"])
        _count(report, row["status"])
        rows.append(row)
        if on_file:
            on_file(content)
    return rows, imported


def _write_activity_tables(out: Path, contents: list[FileContent], live_shas: set[str],
                           rule: duplicates.DuplicateRule) -> pl.DataFrame:
    """Replace the activities of re-read files and add new ones; returns the activities table."""
    activities = store.read_table(out, "activities")
    laps = store.read_table(out, "laps")
    stale_ids = set(activities.filter(~pl.col("source_sha256").is_in(list(live_shas)))["activity_id"])
    new_tables = [c.tables for c in contents]
    fresh_ids = {i for t in new_tables for i in t.activities["activity_id"]}
    written = set().union(*(c.sample_files or store.write_samples(out, c.samples) for c in contents))
    activities = _merge(activities, [t.activities for t in new_tables], stale_ids | fresh_ids, schema.ACTIVITIES)
    activities = duplicates.mark(activities, rule)
    laps = _merge(laps, [t.laps for t in new_tables], stale_ids | fresh_ids, schema.LAPS)
    store.write_atomic(activities.sort("start_time_utc", "activity_id"), store.table_path(out, "activities"))
    store.write_atomic(laps.sort("activity_id", "lap_index"), store.table_path(out, "laps"))
    # A re-imported activity may have moved partition (sport or year): drop its old file too.
    store.delete_samples(out, stale_ids | fresh_ids, keep=written)
    return activities


def _owners(manifest: pl.DataFrame) -> dict[str, str]:
    imported = manifest.filter(pl.col("status") == "imported").sort("path")
    return dict(zip(imported["sha256"].to_list(), imported["path"].to_list()))


def _merge(old: pl.DataFrame, new: list[pl.DataFrame], replaced: set[str], table_schema) -> pl.DataFrame:
    old = old.filter(~pl.col("activity_id").is_in(list(replaced)))
    return pl.concat([schema.conform(df, table_schema) for df in [old, *new]])


def _load_all(files: list[SourceFile], settings: Settings) -> Iterator[FileContent]:
    """Parse in worker processes; results come back in path order for reproducible output."""
    jobs = ((source, settings.timezone, settings.engines, settings.athlete, data, settings.out)
            for source, data in _with_member_bytes(files, settings.archive_limits))
    if settings.workers == 1 or len(files) <= 1:
        yield from (load_source(*job) for job in jobs)
        return
    # fork would copy polars' thread pool mid-flight and can deadlock; spawn is safe.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=settings.workers, mp_context=context) as pool:
        yield from _in_order(pool, jobs, window=4 * settings.workers)


def _with_member_bytes(files: list[SourceFile], limits) -> Iterator[tuple[SourceFile, bytes | None]]:
    """Each file with its bytes if it is an archive member (None: a worker reads it from disk).

    This process reads members, so each nested zip is inflated once, not once per worker."""
    for archive, group in groupby(files, key=lambda f: f.path if f.member and not f.refused else None):
        group = list(group)
        if archive is None:
            yield from ((source, None) for source in group)
            continue
        read = archives.read_members(archive, [f.member for f in group], limits)
        for source, (_, data) in zip(group, read):
            if isinstance(data, archives.ArchiveError):
                yield replace(source, refused=data.reason), None
            else:
                yield source, data


def _in_order(pool: ProcessPoolExecutor, jobs, window: int) -> Iterator[FileContent]:
    """pool.map, but pulling jobs lazily, so at most `window` members' bytes wait in memory."""
    pending: deque = deque()
    for job in jobs:
        pending.append(pool.submit(load_source, *job))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _manifest_row(content: FileContent, source: SourceFile) -> dict:
    return {
        "path": content.path,
        "sha256": content.sha256,
        "format": content.format,
        "compression": source.compression,
        "size_bytes": source.size_bytes,
        "mtime_ns": source.mtime_ns,
        "status": content.status,
        "reason": content.reason,
        "activity_ids": content.activities["activity_id"].to_list(),
        "parse_status": content.parse_status,
        "duplicate_of": None,
    }


def _archive_row(archive: SourceFile, to_read: list[SourceFile]) -> dict:
    """The archive's own row: lets the next run skip it unopened while its size and mtime hold."""
    refused = sum(1 for f in to_read if f.path == archive.path and f.member and f.refused)
    return {
        "path": archive.key, "sha256": None, "format": archive.format, "compression": None,
        "size_bytes": archive.size_bytes, "mtime_ns": archive.mtime_ns, "status": "archive",
        "reason": f"{refused} member(s) refused, see their rows" if refused else None,
        "activity_ids": [], "parse_status": None, "duplicate_of": None,
    }


def _count(report: RunReport, status: str) -> None:
    attribute = {"imported": "imported", "duplicate": "duplicates",
                 "not_activity": "not_activity", "rejected": "rejected"}[status]
    setattr(report, attribute, getattr(report, attribute) + 1)
