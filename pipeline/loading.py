"""Read, parse and normalize files: one at a time for read_file, in batches in ingest's workers."""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import polars as pl

from . import duplicates, schema, store
from .config import Athlete
from .discover import SourceFile
from .normalize import Activities, prepare, with_metrics
from .readers import ReadError, read_bytes
from .readers.base import one_line

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
    sample_files: set[Path] = field(default_factory=set)  # written by the worker, see load_batch

    @property
    def activities(self) -> pl.DataFrame:
        return self.tables.activities

    @property
    def laps(self) -> pl.DataFrame:
        return self.tables.laps

    @property
    def samples(self) -> pl.DataFrame:
        return self.tables.samples


def load_source(source: SourceFile, timezone: str, engines: dict[str, str] | None,
                athlete: Athlete = Athlete()) -> FileContent:
    """One file's normalized content; every failure becomes a reason."""
    return load_batch([(source, None)], timezone, engines, athlete)[0]


def load_batch(jobs: list[tuple[SourceFile, bytes | None]], timezone: str, engines: dict[str, str] | None,
               athlete: Athlete, samples_to: Path | None = None) -> list[FileContent]:
    """Several files' contents, with the metrics computed for all of them at once.

    Each job is a file and its bytes if the caller has them (an archive member), else None.
    With `samples_to`, samples are written there as sample files and dropped from the result,
    so the worker compresses them and they never travel back through a pipe."""
    contents = [_prepared(source, data, timezone, engines) for source, data in jobs]
    _add_metrics([c for c in contents if c.status == "imported"], athlete, samples_to)
    return contents


def _prepared(source: SourceFile, data: bytes | None, timezone: str, engines) -> FileContent:
    """Hash, decompress, parse and normalize one file, all but its metrics."""
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
        content.reason = one_line(exc)
        return content
    except Exception as exc:  # a parser bug must cost one file, not the run
        content.reason = f"could not parse: {type(exc).__name__}: {one_line(exc)}"
        return content
    content.parse_status = parsed.parse_status
    if not parsed.is_activity:
        content.status, content.reason = "not_activity", parsed.not_activity_reason
        return content
    try:
        content.tables = prepare(parsed, source.key, content.sha256, timezone)
    except Exception as exc:
        content.reason = f"could not normalize: {type(exc).__name__}: {one_line(exc)}"
        return content
    content.status = "imported"
    if parsed.parse_status != "ok":
        content.reason = f"partially read ({parsed.parse_status}): {parsed.parse_detail}"
    return content


def _add_metrics(contents: list[FileContent], athlete: Athlete, samples_to: Path | None) -> None:
    """Finish every content's tables with one with_metrics call; on failure, file by file,
    so a bad file costs only itself. With `samples_to`, write the samples there instead."""
    contents = [c for c in contents if not c.activities.is_empty()]
    unique = list({c.sha256: c for c in contents}.values())  # same bytes, same activity ids
    if not unique:
        return
    try:
        finished = _with_channels(with_metrics(
            pl.concat([c.activities for c in unique], how="diagonal_relaxed"),
            pl.concat([c.laps for c in unique], how="diagonal_relaxed"),
            pl.concat([c.samples for c in unique], how="diagonal_relaxed"),
            athlete,
        ))
    except Exception as exc:
        if len(unique) > 1:
            for content in unique:
                _add_metrics([c for c in contents if c.sha256 == content.sha256], athlete, samples_to)
            return
        for content in contents:
            content.status, content.tables = "rejected", Activities.empty()
            content.reason = f"could not normalize: {type(exc).__name__}: {one_line(exc)}"
        return
    # The whole batch's samples in one pass: per file, the grouping would cost more than the writing.
    written = store.write_samples(samples_to, finished.samples) if samples_to is not None else None
    activities, laps = _by_activity(finished.activities), _by_activity(finished.laps)
    samples = _by_activity(finished.samples) if written is None else None
    for content in contents:
        ids = set(content.activities["activity_id"])
        content.tables = Activities(activities(ids), laps(ids),
                                    finished.samples.clear() if samples is None else samples(ids))
        if written is not None:
            content.sample_files = {written[i] for i in ids}


def _by_activity(table: pl.DataFrame) -> Callable[[set[str]], pl.DataFrame]:
    """A function giving the rows of a set of activities, in table order, after one pass
    over the table: filtering the table once per file would cost a pass per file."""
    parts = table.partition_by("activity_id", as_dict=True, maintain_order=True)

    def rows(ids: set[str]) -> pl.DataFrame:
        found = [part for (activity,), part in parts.items() if activity in ids]
        return found[0] if len(found) == 1 else pl.concat(found) if found else table.clear()

    return rows


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
