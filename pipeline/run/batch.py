"""Read, parse and normalize files: one at a time for read_file, in batches in ingest's workers."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field, replace
from itertools import groupby
from pathlib import Path
from typing import Iterator

import numpy as np
import polars as pl

from ..metrics import duplicates
from ..normalize import schema
from ..sinks import Sink
from ..config import Athlete
from ..discover import archives, remote
from ..discover.archives import ArchiveLimits
from ..discover.files import SourceFile
from ..metrics.compute import with_metrics
from ..normalize.activities import Activities, prepare
from ..readers import ReadError, read_bytes
from ..readers.base import one_line

# Decompressed size we accept from one .gz member; real activities are far smaller.
MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"


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
    sample_files: set[str] = field(default_factory=set)  # the sink's handles of the samples written, see load_batch
    athlete_id: str = schema.DEFAULT_ATHLETE

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
               athlete: Athlete, sink: Sink | None = None) -> list[FileContent]:
    """Several files' contents, with the metrics computed for all of them at once.

    Each job is a file and its bytes if the caller has them (an archive member), else None.
    With a `sink`, samples are written to it and dropped from the result,
    so the worker compresses them and they never travel back through a pipe."""
    contents = [_prepared(source, data, timezone, engines) for source, data in jobs]
    _add_metrics([c for c in contents if c.status == "imported"], athlete, sink)
    return contents


# The tables of Activities that travel back from a worker; samples stay in the sink.
PACKED_TABLES = ("activities", "laps", *schema.PER_ACTIVITY)


@dataclass
class Packed:
    """load_batch's result as it crosses back from a worker: the files' activities, laps and
    per-activity tables stacked into one frame each. Pickling costs per frame and per
    column, and a pair of frames of ~70 columns per file cost more than the metrics' whole
    aggregation."""

    contents: list[FileContent]  # tables left out: see unpack
    tables: dict[str, pl.DataFrame]  # PACKED_TABLES, each stacked
    heights: list[tuple[int, ...]]  # per content, its rows in each of PACKED_TABLES

    @classmethod
    def pack(cls, contents: list[FileContent]) -> "Packed":
        """For contents from load_batch with a sink: their samples are in the sink, and
        unpack gives each an empty samples frame."""
        tables = [c.tables for c in contents]
        heights = [tuple(getattr(t, name).height for name in PACKED_TABLES) for t in tables]
        stripped = [replace(c, tables=Activities.empty()) for c in contents]
        return cls(stripped, {name: stacked([getattr(t, name) for t in tables]) for name in PACKED_TABLES}, heights)

    def unpack(self) -> list[FileContent]:
        empty = Activities.empty()
        at = dict.fromkeys(PACKED_TABLES, 0)
        for content, heights in zip(self.contents, self.heights):
            parts = {}
            for name, height in zip(PACKED_TABLES, heights):
                parts[name] = self.tables[name].slice(at[name], height)
                at[name] += height
            content.tables = Activities(samples=empty.samples, **parts)
        return self.contents


def load_packed(jobs: list[tuple[SourceFile, bytes | None]], timezone: str, engines: dict[str, str] | None,
                athlete: Athlete, sink: Sink) -> Packed:
    """load_batch in a worker, writing samples to `sink`; Packed.unpack gives its result."""
    return Packed.pack(load_batch(jobs, timezone, engines, athlete, sink))


def with_member_bytes(files: list[SourceFile], limits: ArchiveLimits,
                      skip: frozenset[Path] | set[Path] = frozenset()) -> Iterator[tuple[SourceFile, bytes | None]]:
    """Each file with its bytes if it is an archive member, else None (read from disk where
    the batch runs). Members directly inside the archives in `skip` are left for the batch to
    read in place; those of a nested zip are read here all the same, as reading them here, once
    for the run, inflates each nested zip once, not once per batch."""

    def read_here(f: SourceFile) -> bool:
        return bool(f.member) and not f.refused and not (f.path in skip and len(f.member) == 1)

    for archive, group in groupby(files, key=lambda f: f.path if read_here(f) else None):
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


def members_read(jobs: list[tuple[SourceFile, bytes | None]], limits: ArchiveLimits) -> list[tuple[SourceFile, bytes | None]]:
    """The jobs with the bytes of archive members that with_member_bytes left to read in place."""
    unread = [source for source, data in jobs if data is None and source.member and not source.refused]
    if not unread:
        return jobs
    read = dict(zip(((f.path, f.member) for f in unread), with_member_bytes(unread, limits)))
    return [read.get((source.path, source.member), (source, data)) for source, data in jobs]


def stacked(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """One frame of many with the same columns: a diagonal concat of thousands costs several times more."""
    try:
        return pl.concat(frames, how="vertical")  # every file's frames have the table's schema
    except pl.exceptions.PolarsError:  # should one not, stack by name rather than lose the batch
        return pl.concat(frames, how="diagonal_relaxed")


def _prepared(source: SourceFile, data: bytes | None, timezone: str, engines) -> FileContent:
    """Hash, decompress, parse and normalize one file, all but its metrics."""
    content = FileContent(source.key, source.format, None, "rejected", source.refused, None,
                          athlete_id=source.athlete_id)
    if source.refused:
        return content
    gzip_damage = None
    try:
        raw = data if data is not None else remote.fetch(source.path) if source.is_remote else source.path.read_bytes()
        content.size_bytes = len(raw)
        content.sha256 = hashlib.sha256(raw).hexdigest()
        if source.compression == "gzip":
            raw, gzip_damage = decompress(raw)
        if not raw or (len(raw) < 64 and not raw.strip()):
            raise ReadError("empty file" if gzip_damage is None else f"empty file: {gzip_damage}")
        parsed = read_bytes(raw, source.format, source.key, engines)
    except (ReadError, OSError) as exc:
        content.reason = one_line(exc) if gzip_damage is None else f"{one_line(exc)} ({gzip_damage})"
        return content
    except remote.RemoteError:
        raise  # the store failed, not the file: the run stops, and the next one reads it
    except Exception as exc:  # a parser bug must cost one file, not the run
        content.reason = f"could not parse: {type(exc).__name__}: {one_line(exc)}"
        return content
    if gzip_damage is not None:
        parsed.parse_status = "truncated" if parsed.parse_status == "ok" else parsed.parse_status
        parsed.parse_detail = "; ".join(d for d in (gzip_damage, parsed.parse_detail) if d)
    content.parse_status = parsed.parse_status
    if not parsed.is_activity:
        content.status, content.reason = "not_activity", parsed.not_activity_reason
        return content
    try:
        content.tables = prepare(parsed, source.key, content.sha256, timezone, source.athlete_id)
    except Exception as exc:
        content.reason = f"could not normalize: {type(exc).__name__}: {one_line(exc)}"
        return content
    content.status = "imported"
    if parsed.parse_status != "ok":
        content.reason = f"partially read ({parsed.parse_status}): {parsed.parse_detail}"
    return content


def _add_metrics(contents: list[FileContent], athlete: Athlete, sink: Sink | None) -> None:
    """Finish every content's tables with one with_metrics call; on failure, file by file,
    so a bad file costs only itself. With a `sink`, write the samples there instead."""
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
                _add_metrics([c for c in contents if c.sha256 == content.sha256], athlete, sink)
            return
        for content in contents:
            content.status, content.tables = "rejected", Activities.empty()
            content.reason = f"could not normalize: {type(exc).__name__}: {one_line(exc)}"
        return
    # The whole batch's samples in one pass: per file, the grouping would cost more than the writing.
    written = sink.write_samples(finished.samples) if sink is not None else None
    place = {sha: position for position, sha in enumerate(c.sha256 for c in unique)}
    file_of = {a: place[c.sha256] for c in unique for a in c.activities["activity_id"]}
    split = {name: _by_file(getattr(finished, name), file_of, len(unique)) for name in PACKED_TABLES}
    samples = _by_file(finished.samples, file_of, len(unique)) if written is None else None
    for content in contents:
        position = place[content.sha256]
        content.tables = Activities(samples=finished.samples.clear() if samples is None else samples[position],
                                    **{name: parts[position] for name, parts in split.items()})
        if written is not None:
            content.sample_files = {written[i] for i in content.activities["activity_id"]}


def _by_file(table: pl.DataFrame, file_of: dict[str, int], files: int) -> list[pl.DataFrame]:
    """Each file's rows of `table` (file_of: activity id -> file), in table order, as slices of
    one sorted copy: one pass over the table, where filtering or partitioning it per file cost
    a pass per file."""
    if files == 1:  # read_file, and a batch of one: every row is that file's, in order already
        return [table]
    places = table["activity_id"].replace_strict(file_of, return_dtype=pl.Int64).to_numpy()
    ordered = table[np.argsort(places, kind="stable")]
    counts = np.bincount(places, minlength=files).tolist()
    starts = np.cumsum([0, *counts[:-1]]).tolist()
    return [ordered.slice(start, count) for start, count in zip(starts, counts)]


def _with_channels(tables: Activities) -> Activities:
    channels = duplicates.sample_channels(tables.samples)
    activities = tables.activities.drop("sample_channels").join(channels, on="activity_id", how="left")
    tables.activities = schema.conform(activities, schema.ACTIVITIES)
    return tables


# Compressed bytes fed to zlib at a time: a damaged stream keeps what came before the damage.
GZIP_CHUNK = 1 << 14


def decompress(raw: bytes) -> tuple[bytes, str | None]:
    """A .gz file's content, and what was wrong with the gzip stream (None: nothing). A stream
    that ends early or is damaged part way gives what decompressed before, so a truncated
    .fit.gz is salvaged like a truncated .fit; no gzip data at all is a ReadError."""
    if raw[:2] != GZIP_MAGIC:
        raise ReadError("not gzip-compressed data, although the name ends in .gz")
    parts: list[bytes] = []
    rest = raw
    while rest:  # one or more gzip members, one after the other
        stream = zlib.decompressobj(wbits=31)
        for start in range(0, len(rest), GZIP_CHUNK):
            chunk = rest[start:start + GZIP_CHUNK]
            before = stream.copy()
            try:
                parts.append(stream.decompress(chunk, _room(parts)))
            except zlib.error:
                parts += _up_to_damage(before, chunk)
                return _salvaged(parts, f"gzip data damaged after {sum(map(len, parts)):,} bytes")
            if _room(parts) <= 0 or stream.unconsumed_tail:
                raise ReadError(f"gzip expands beyond {MAX_DECOMPRESSED_BYTES // 2**20} MiB; refusing it")
            if stream.eof:
                rest = stream.unused_data + rest[start + GZIP_CHUNK:]
                break
        else:
            return _salvaged(parts, f"gzip data ends early: {sum(map(len, parts)):,} bytes recovered")
        if rest[:2] != GZIP_MAGIC:
            break  # padding after the last member, as some tools write
    return b"".join(parts), None


def _room(parts: list[bytes]) -> int:
    return MAX_DECOMPRESSED_BYTES + 1 - sum(map(len, parts))


def _up_to_damage(stream, chunk: bytes) -> list[bytes]:
    """What `chunk` gives before the byte that breaks the stream, fed a few bytes at a time."""
    parts = []
    for start in range(0, len(chunk), 64):
        try:
            parts.append(stream.decompress(chunk[start:start + 64]))
        except zlib.error:
            break
    return parts


def _salvaged(parts: list[bytes], damage: str) -> tuple[bytes, str]:
    data = b"".join(parts)
    if not data:
        raise ReadError(damage.replace(": 0 bytes recovered", " before any content")
                        .replace(" after 0 bytes", " before any content"))
    return data, damage
