"""The ingest stage: read new files, normalize them, write tables; manifest last."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import groupby
from pathlib import Path
from typing import Callable, Iterator

import polars as pl

from ..config import Athlete, Settings
from ..discover import archives
from ..discover.catalogue import Catalogue
from ..discover.files import SourceFile, archive_members
from ..discover.names import detect_format
from ..discover.plan import Plan, plan
from ..metrics import duplicates
from ..normalize import schema
from ..sinks import Sink, for_output
from .batch import FileContent, load_batch, load_source, stacked, with_member_bytes
from .cluster import DaskCluster
from .executors import Batch, Executor, InProcess, ProcessPool

log = logging.getLogger(__name__)
# Files per worker task: enough to amortize the metrics' fixed cost, few enough to spread.
BATCH_FILES = 32


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
    """Normalized content of one FIT, GPX or TCX file (optionally .gz), or of a member of a zip
    export named as the manifest names it (`export.zip!/activities/1.fit`).

    Bad content never raises: it comes back with status 'rejected' and a reason. A path that
    does not exist raises FileNotFoundError, one that is not an activity file ValueError.
    """
    key = str(path)
    if archives.MEMBER_SEPARATOR in key:
        source, data = _member(key)
        return load_batch([(replace(source, athlete_id=athlete.id), data)], timezone, engines, athlete)[0]
    path = Path(path)
    detected = detect_format(path.name)
    if detected is None:
        raise ValueError(f"{path}: not a .fit, .gpx or .tcx file (optionally .gz)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    stat = path.stat()
    source = SourceFile(path.resolve(), detected[0], detected[1], stat.st_size, stat.st_mtime_ns, athlete_id=athlete.id)
    return load_source(source, timezone, engines, athlete)


def _member(key: str) -> tuple[SourceFile, bytes | None]:
    """The archive member the manifest names `key`, and its bytes."""
    archive, *chain = key.split(archives.MEMBER_SEPARATOR)
    archive = Path(archive)
    if detect_format(chain[-1]) is None:
        raise ValueError(f"{key}: not a .fit, .gpx or .tcx file (optionally .gz)")
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: no such file")
    stat = archive.stat()
    whole = SourceFile(archive.resolve(), "zip", None, stat.st_size, stat.st_mtime_ns)
    members = {m.member: m for m in archive_members(whole, archives.ArchiveLimits())}
    source = members.get(tuple(chain))
    if source is None:
        raise FileNotFoundError(f"{key}: {archive.name} holds no such activity file")
    if source.refused:
        return source, None
    _, data = next(archives.read_members(source.path, [source.member]))
    if isinstance(data, archives.ArchiveError):
        return replace(source, refused=data.reason), None
    return source, data


@contextmanager
def timed(stage: str) -> Iterator[None]:
    """Log how long a stage took (at debug level: `-vv`)."""
    started = time.perf_counter()
    yield
    log.debug("%s: %.3f s", stage, time.perf_counter() - started)


def ingest(
    settings: Settings,
    full: bool = False,
    on_file: Callable[[FileContent], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    sink: Sink | None = None,
    executor: Executor | None = None,
) -> RunReport:
    """Read what is new or changed under the inputs and write it through `sink` (default: the
    parquet folder at settings.out), with `executor` running the batches of files (default:
    worker processes, or this process for one file or one worker)."""
    started = time.perf_counter()
    sink = sink or for_output(settings.out, settings.output_format)
    with timed("plan (discover, compare with the manifest)"):
        work = plan(settings, sink.read_table("manifest"), full)
    if on_start:
        on_start(len(work.to_read))
    report = RunReport(files=len(work.to_read) + len(work.unchanged), skipped=len(work.unchanged))
    if not work.has_work and sink.has_table("manifest"):
        activities = sink.read_table("activities")  # a cron run with nothing new rewrites nothing
    else:
        executor = executor or executor_for(settings, len(work.to_read))
        activities = _import(work, settings, report, on_file, sink, executor)
    report.activities = activities.height
    report.duplicate_activities = activities["duplicate_of"].is_not_null().sum()
    report.seconds = time.perf_counter() - started
    return report


def executor_for(settings: Settings, files: int) -> Executor:
    """The cluster's workers when one is set (settings.cluster), else worker processes for a
    run of several files, unless one worker is asked for."""
    if settings.cluster and files > 1:
        return DaskCluster(settings.cluster)
    return InProcess() if settings.workers == 1 or files <= 1 else ProcessPool(settings.workers)


def _import(work: Plan, settings: Settings, report: RunReport, on_file, sink: Sink,
            executor: Executor) -> pl.DataFrame:
    """Read the planned files, write the tables, manifest last; returns the activities table."""
    rewritten = pl.DataFrame([(f.athlete_id, f.key) for f in [*work.to_read, *work.archives, *work.catalogues]],
                             schema={"athlete_id": pl.String, "path": pl.String}, orient="row")
    kept_manifest = work.manifest.join(rewritten, on=["athlete_id", "path"], how="anti", maintain_order="left")
    owners = _owners(kept_manifest)
    with timed(f"read, parse, normalize and compute metrics of {len(work.to_read)} files"):
        new_rows, imported = _read_files(work.to_read, settings, owners, report, on_file, sink, executor)
    archives.forget_inflated()  # what plan kept and no read took
    # The workers' samples, before the tables that list them. Unconditionally: a file found to
    # be a duplicate of an imported one has rewritten that one's samples too.
    sink.discard_unfinished_samples()  # a killed worker's; its batch ran again elsewhere
    sink.sync_samples()
    new_rows += [_archive_row(archive, work.to_read) for archive in work.archives]
    new_rows += [_catalogue_row(catalogue) for catalogue in work.catalogues]
    with timed("duplicates, catalogue names, activities and laps tables"):
        activities = _write_activity_tables(sink, imported, set(owners), settings.duplicates)
    # The manifest goes last: after a crash the next run redoes whatever it lacks.
    new_manifest = pl.concat([kept_manifest, pl.DataFrame(new_rows, schema=schema.MANIFEST)])
    new_manifest = duplicates.annotate_manifest(new_manifest, activities)
    sink.write_table("manifest", new_manifest.sort("athlete_id", "path"))
    return activities


def _read_files(to_read, settings, owners: dict[str, str], report: RunReport, on_file, sink: Sink,
                executor: Executor):
    """Manifest rows for every file read, and the tables of those newly imported.

    `owners` maps (athlete, content hash) to the path that imported it; it grows as files
    import. The same bytes under two athletes (a group ride both uploaded) are each athlete's own.
    """
    sources = {(f.athlete_id, f.key): f for f in to_read}
    rows, imported = [], []
    for content in _load_all(to_read, settings, sink, executor):
        row = _manifest_row(content, sources[(content.athlete_id, content.path)])
        owned = (content.athlete_id, content.sha256)
        if content.status == "imported" and owned in owners:
            original = owners[owned]
            row.update(status="duplicate", activity_ids=[], duplicate_of=original,
                       reason=f"same content as {original}")
        elif content.status == "imported":
            owners[owned] = content.path
            imported.append(content)
        if row["status"] == "rejected":
            log.warning("%s: rejected: %s", content.path, row["reason"])
        else:
            log.info("%s: %s", content.path, _outcome(row, content))
        _count(report, row["status"])
        rows.append(row)
        if on_file:
            on_file(content)
    return rows, imported


def _write_activity_tables(sink: Sink, contents: list[FileContent], live: set[tuple[str, str]],
                           rule: duplicates.DuplicateRule) -> pl.DataFrame:
    """Replace the activities of re-read files and add new ones; returns the activities table.
    `live`: the (athlete, content hash) pairs the kept manifest rows still import."""
    activities = sink.read_table("activities")
    laps = sink.read_table("laps")
    live_rows = pl.DataFrame(list(live), schema={"athlete_id": pl.String, "source_sha256": pl.String}, orient="row")
    stale = activities.join(live_rows, on=["athlete_id", "source_sha256"], how="anti")
    stale_ids = set(stale["activity_id"])
    # Whose samples may go: only their folders are looked through.
    whose = set(stale["athlete_id"]) | {c.athlete_id for c in contents}
    new_tables = [c.tables for c in contents]
    fresh_ids = {i for t in new_tables for i in t.activities["activity_id"]}
    written = set().union(*(c.sample_files for c in contents))  # the workers wrote them
    activities = _merge(activities, [t.activities for t in new_tables], stale_ids | fresh_ids, schema.ACTIVITIES)
    # Names as the export catalogues say now (a renamed activity), then duplicates, then the
    # kept copy of each workout gets the names its duplicates carry.
    activities, described = Catalogue().describe_all(activities)
    activities = duplicates.mark(activities, rule, sink.sample_reader(activities, list(duplicates.STREAM_COLUMNS)))
    activities = duplicates.carry_catalogue(activities, overwrite=~described)
    laps = _merge(laps, [t.laps for t in new_tables], stale_ids | fresh_ids, schema.LAPS)
    sink.write_table("activities", activities.sort("start_time_utc", "activity_id"))
    sink.write_table("laps", laps.sort("activity_id", "lap_index"))
    for name, table_schema in schema.PER_ACTIVITY.items():
        merged = _merge(sink.read_table(name), [getattr(t, name) for t in new_tables], stale_ids | fresh_ids, table_schema)
        sink.write_table(name, merged.sort(schema.PER_ACTIVITY_KEYS[name]))
    # A re-imported activity may have moved partition (sport or year): drop its old samples too.
    sink.delete_samples(stale_ids | fresh_ids, keep=written, athlete_ids=whose)
    return activities


def _owners(manifest: pl.DataFrame) -> dict[tuple[str, str], str]:
    imported = manifest.filter(pl.col("status") == "imported").sort("athlete_id", "path")
    return {(athlete, sha): path for athlete, sha, path in imported.select("athlete_id", "sha256", "path").iter_rows()}


def _merge(old: pl.DataFrame, new: list[pl.DataFrame], replaced: set[str], table_schema) -> pl.DataFrame:
    old = old.filter(~pl.col("activity_id").is_in(list(replaced)))
    frames = [old, stacked(new)] if new else [old]  # stacked: thousands of one-file frames
    return schema.conform(pl.concat(frames, how="diagonal_relaxed"), table_schema)


def _load_all(files: list[SourceFile], settings: Settings, sink: Sink, executor: Executor) -> Iterator[FileContent]:
    """Every file's content, read in batches by the executor; athlete by athlete and in path
    order, for reproducible output. A batch holds one athlete's files, read with their settings."""
    size = _batch_size(len(files), settings.workers)
    athletes = {a.id: a for a in settings.athletes}
    limits = settings.archive_limits

    def batches() -> Iterator[Batch]:
        # Asked once the executor runs: a cluster's workers can say which archives they see.
        # A zip on object storage is copied here once, and its members travel as bytes.
        in_place = executor.reads_in_place(sorted({f.path for f in files if f.member and not f.refused
                                                   and not f.is_remote}))
        for athlete_id, theirs in groupby(files, key=lambda f: f.athlete_id):
            athlete = athletes[athlete_id]
            for batch in _batches(with_member_bytes(list(theirs), limits, skip=in_place), size):
                yield Batch(batch, settings.timezone_of(athlete), settings.engines, athlete, sink, limits)

    yield from executor.run(batches())


def _batch_size(files: int, workers: int) -> int:
    """Up to BATCH_FILES, but small enough that every worker gets several batches."""
    return max(1, min(BATCH_FILES, files // (4 * workers)))


def _batches(jobs: Iterator, size: int) -> Iterator[list]:
    batch = []
    for job in jobs:
        batch.append(job)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _manifest_row(content: FileContent, source: SourceFile) -> dict:
    return {
        "athlete_id": source.athlete_id,
        "path": content.path,
        "sha256": content.sha256,
        "format": content.format,
        "compression": source.compression,
        "size_bytes": source.size_bytes,
        "mtime_ns": source.mtime_ns,
        "etag": source.etag,
        "status": content.status,
        "reason": content.reason,
        "activity_ids": content.activities["activity_id"].to_list(),
        "parse_status": content.parse_status,
        "duplicate_of": None,
    }


def _archive_row(archive: SourceFile, to_read: list[SourceFile]) -> dict:
    """The archive's own row: lets the next run skip it unopened while its size and mtime hold."""
    refused = sum(1 for f in to_read if f.path == archive.path and f.athlete_id == archive.athlete_id
                  and f.member and f.refused)
    return {
        "athlete_id": archive.athlete_id, "path": archive.key, "sha256": None, "format": archive.format, "compression": None,
        "size_bytes": archive.size_bytes, "mtime_ns": archive.mtime_ns, "etag": archive.etag, "status": "archive",
        "reason": f"{refused} member(s) refused, see their rows" if refused else None,
        "activity_ids": [], "parse_status": None, "duplicate_of": None,
    }


def _outcome(row: dict, content: FileContent) -> str:
    """One file's outcome in a few words, for `-v`."""
    if row["status"] == "imported":
        count = content.activities.height
        words = f"imported, {count} {'activity' if count == 1 else 'activities'}"
        return f"{words}; {row['reason']}" if row["reason"] else words
    return f"{row['status']}: {row['reason']}"


def _catalogue_row(catalogue: SourceFile) -> dict:
    """An export catalogue's row: lets the next run tell when the names in it change."""
    return {
        "athlete_id": catalogue.athlete_id, "path": catalogue.key, "sha256": None, "format": catalogue.format, "compression": None,
        "size_bytes": catalogue.size_bytes, "mtime_ns": catalogue.mtime_ns, "etag": None, "status": "catalogue",
        "reason": None, "activity_ids": [], "parse_status": None, "duplicate_of": None,
    }


def _count(report: RunReport, status: str) -> None:
    attribute = {"imported": "imported", "duplicate": "duplicates",
                 "not_activity": "not_activity", "rejected": "rejected"}[status]
    setattr(report, attribute, getattr(report, attribute) + 1)
