"""Activity files inside zip exports (Garmin Connect, Strava), read in place, never extracted.

Archives come from anywhere, so nothing a zip header says is trusted: sizes and
compression ratios are checked up front from the headers, then enforced again while
inflating, in chunks. Nested zips are opened in memory (or as a window over the outer
file when stored), up to a depth cap.
"""

from __future__ import annotations

import calendar
import csv
import io
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from . import remote
from .names import detect_format
from ..readers.base import ReadError, one_line

CHUNK_BYTES = 2**20
# bzip2 and lzma are left out on purpose: zipfile inflates them without an output
# bound per call, so a few KiB of input could blow up memory before any cap is checked.
READABLE_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
ENCRYPTED_FLAG = 0x1 | 0x40  # traditional or strong encryption
PATCHED_FLAG = 0x20
UTF8_FLAG = 0x800
LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"
CENTRAL_RECORD = struct.Struct("<4s4B4HL2L5H2L")
CENTRAL_SIGNATURE = b"PK\x01\x02"
STRAVA_CSV = "activities.csv"
# Nested zips that a scan inflated, kept for the read that follows it in the same run (a
# deflated zip cannot be listed without inflating all of it): up to this many bytes in all.
INFLATED_CACHE_BYTES = 256 * 2**20
_INFLATED: dict[tuple, bytes] = {}  # (top archive identity, chain, CRC-32, size) -> the zip's bytes


class ArchiveError(ReadError):
    """An archive or member that cannot be read; the message names it, then says why."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message


class _Refusal(Exception):
    """Internal: why a member is refused, without naming it (the caller knows which)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ArchiveLimits:
    max_member_bytes: int = 512 * 2**20    # uncompressed bytes of any one member (activity file or nested zip)
    max_archive_bytes: int = 64 * 2**30    # uncompressed total of all members of one top-level archive, nested included
    max_ratio: float = 200.0               # uncompressed / compressed for any one member (zip bombs)
    max_depth: int = 3                     # the top-level archive is depth 1; a zip inside it depth 2; ...
    max_members: int = 500_000             # entries of all containers of one top-level archive
    # Members that inflate to less than this are never refused for their ratio: a
    # small file of zeros is odd but cannot hurt, and refusing it would be a false alarm.
    ratio_floor_bytes: int = 2**20


@dataclass(frozen=True)
class Member:
    chain: tuple[str, ...]
    size_bytes: int
    mtime_ns: int
    format: str
    compression: str | None


@dataclass(frozen=True)
class Refused:
    chain: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class StravaActivity:
    strava_id: str
    name: str | None
    activity_type: str | None


MEMBER_SEPARATOR = "!/"


def member_key(archive: Path, chain: tuple[str, ...]) -> str:
    """How the manifest names a member: /x/export.zip!/DI_CONNECT/a.zip!/1.fit"""
    return MEMBER_SEPARATOR.join((str(archive), *chain))


# --- file objects -----------------------------------------------------------------


class _Window:
    """Bytes [start, start + length) of a seekable file, as a file: one member's raw
    data, or a stored nested zip opened in place instead of copied into memory."""

    def __init__(self, file, start: int, length: int):
        self._file, self._start, self._length, self._pos = file, start, length, 0

    def read(self, n: int | None = -1) -> bytes:
        left = max(self._length - self._pos, 0)
        n = left if n is None or n < 0 else min(n, left)
        self._file.seek(self._start + self._pos)
        data = self._file.read(n)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._length}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of a nested zip")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        pass  # the outer file belongs to the outer container


# --- containers and budgets ---------------------------------------------------------


@dataclass
class _Container:
    chain: tuple[str, ...]  # () for the top-level archive
    zip: zipfile.ZipFile
    file: BinaryIO  # the zip itself: a real file, an inflated copy, or a _Window
    duplicated: frozenset[str]
    origin: tuple  # the top-level archive's path, size and mtime: which bytes a chain names

    def close(self) -> None:
        self.zip.close()
        self.file.close()


class _Budget:
    """What one top-level archive may cost in total, nested containers included."""

    def __init__(self, limits: ArchiveLimits):
        self.limits = limits
        self.bytes = 0
        self.entries = 0

    def take_bytes(self, n: int) -> None:
        if self.bytes + n > self.limits.max_archive_bytes:
            raise _Refusal(f"archive total would pass the {_size(self.limits.max_archive_bytes)} cap")
        self.bytes += n

    def check_entries(self, n: int) -> None:
        if self.entries + n > self.limits.max_members:
            raise _Refusal(f"more than {self.limits.max_members} entries in the archive")

    def take_entries(self, n: int) -> None:
        self.check_entries(n)
        self.entries += n


def _open_top(archive: Path | str, budget: _Budget) -> _Container:
    try:
        raw = open(remote.local_copy(archive) if remote.is_url(archive) else archive, "rb")
    except OSError as exc:
        raise ArchiveError(f"{archive}: cannot open: {exc.strerror or exc}", "cannot open") from None
    stat = os.fstat(raw.fileno())
    try:
        return _open_container(raw, (), budget, (os.fspath(archive), stat.st_size, stat.st_mtime_ns))
    except _Refusal as refusal:
        raise ArchiveError(f"{archive}: {refusal.reason}", refusal.reason) from None


def _open_container(file: BinaryIO, chain: tuple[str, ...], budget: _Budget, origin: tuple) -> _Container:
    """Parse a zip's central directory; closes `file` on failure."""
    try:
        budget.check_entries(_count_entries(file))
        zf = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            struct.error, NotImplementedError) as exc:
        file.close()
        raise _Refusal(f"not a zip file: {one_line(exc)}") from None
    except _Refusal:
        file.close()
        raise
    infos = zf.infolist()
    try:
        budget.take_entries(len(infos))
    except _Refusal:
        zf.close()
        file.close()
        raise
    return _Container(chain, zf, file, _duplicated_names(infos), origin)


def _count_entries(file: BinaryIO) -> int:
    """Central directory records, counted before zipfile makes an object of each: a
    directory of millions of tiny records would otherwise cost gigabytes of memory.
    Counts what zipfile will parse (its own end-record reader, its offsets), not the
    count the end record claims, which can lie. 0 when there is no directory where
    zipfile will look; zipfile then refuses the file, or the count after parsing holds."""
    end = zipfile._EndRecData(file)  # private, but unchanged since Python 2
    if not end:
        return 0
    size = end[zipfile._ECD_SIZE]
    start = end[zipfile._ECD_LOCATION] - size  # where zipfile looks, prepended data allowed for
    if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
        start -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    if start < 0:
        return 0
    file.seek(start)
    directory = file.read(size)
    count, pos = 0, 0
    while pos + CENTRAL_RECORD.size <= len(directory) and directory[pos:pos + 4] == CENTRAL_SIGNATURE:
        lengths = struct.unpack_from("<3H", directory, pos + 28)
        pos += CENTRAL_RECORD.size + sum(lengths)
        count += 1
    return count


def _open_nested(parent: _Container, info: zipfile.ZipInfo, chain: tuple[str, ...],
                 limits: ArchiveLimits, budget: _Budget, keep: bool = False) -> _Container:
    """A zip inside `parent`: a window over it when stored, else inflated into memory.

    With `keep`, an inflated zip is kept (within INFLATED_CACHE_BYTES) for the next open of
    the same zip, which takes it instead of inflating it again."""
    if _is_plain_stored(info):
        budget.take_bytes(info.file_size)
        file = _member_data(parent, info)
    else:
        key = (parent.origin, chain, info.CRC, info.file_size)
        data = _INFLATED.pop(key, None)
        if data is None:
            data = _read_capped(parent, info, limits, budget)
        else:
            budget.take_bytes(len(data))  # checked when it was inflated; still counts
        if keep and len(data) + sum(map(len, _INFLATED.values())) <= INFLATED_CACHE_BYTES:
            _INFLATED[key] = data
        file = io.BytesIO(data)
    return _open_container(file, chain, budget, parent.origin)


def forget_inflated() -> None:
    """Drop the nested zips a scan kept that no read has taken."""
    _INFLATED.clear()


def _is_plain_stored(info: zipfile.ZipInfo) -> bool:
    return (info.compress_type == zipfile.ZIP_STORED and info.compress_size == info.file_size
            and not info.flag_bits & ENCRYPTED_FLAG)


def _member_data(container: _Container, info: zipfile.ZipInfo) -> _Window:
    """A member's raw (compressed) bytes, found through its local header, whose name
    and extra field lengths may differ from the central directory's."""
    file = container.file
    file.seek(info.header_offset)
    header = file.read(LOCAL_HEADER.size)
    if len(header) != LOCAL_HEADER.size or header[:4] != LOCAL_HEADER_SIGNATURE:
        raise _Refusal("bad local file header")
    fields = LOCAL_HEADER.unpack(header)
    flags, name_length, extra_length = fields[3], fields[10], fields[11]
    name = file.read(name_length).decode("utf-8" if flags & UTF8_FLAG else "cp437", errors="replace")
    if name != info.orig_filename:
        raise _Refusal("local header names another file (crafted zip?)")
    start = info.header_offset + LOCAL_HEADER.size + name_length + extra_length
    return _Window(file, start, info.compress_size)


# --- checks -----------------------------------------------------------------------


def _check_name(info: zipfile.ZipInfo) -> None:
    """Refuse names that could write outside a folder if anyone ever extracted them."""
    name = info.orig_filename
    if "\x00" in name:
        raise _Refusal("member name contains a NUL byte")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        raise _Refusal("absolute member path")
    if ".." in re.split(r"[/\\]", name):
        raise _Refusal("member path escapes the archive (..)")


def _check_unique(container: _Container, info: zipfile.ZipInfo) -> None:
    # zipfile would silently read the last copy; which one is meant is anyone's guess.
    if info.filename in container.duplicated:
        raise _Refusal("member name appears more than once in the archive")


def _check_declared(info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    """What the headers claim; enforced again while reading, since headers can lie."""
    if info.flag_bits & ENCRYPTED_FLAG:
        raise _Refusal("encrypted member")
    if info.flag_bits & PATCHED_FLAG:
        raise _Refusal("compressed patched data is not supported")
    if info.compress_type not in READABLE_METHODS:
        raise _Refusal(f"unsupported compression method {info.compress_type} (only stored and deflate are read)")
    if info.file_size > limits.max_member_bytes:
        raise _Refusal(f"{_size(info.file_size)} uncompressed exceeds the {_size(limits.max_member_bytes)} cap")
    if _too_compressed(info.file_size, info.compress_size, limits):
        ratio = info.file_size / max(info.compress_size, 1)
        raise _Refusal(f"compression ratio {ratio:.0f}:1 exceeds the {limits.max_ratio:g}:1 cap (zip bomb?)")


def _too_compressed(size: int, compressed: int, limits: ArchiveLimits) -> bool:
    return size > limits.ratio_floor_bytes and size > limits.max_ratio * max(compressed, 1)


# --- reading ------------------------------------------------------------------------


def _read_capped(container: _Container, info: zipfile.ZipInfo, limits: ArchiveLimits,
                 budget: _Budget | None) -> bytes:
    """One member's bytes. Inflated here rather than by zipfile, whose reader reads
    ahead and so cannot tell how much compressed input produced the output so far."""
    try:
        raw = _member_data(container, info)
        data, crc = _inflate_capped(raw, info.compress_type == zipfile.ZIP_DEFLATED, info.file_size, limits, budget)
    except (OSError, zlib.error) as exc:
        raise _Refusal(f"corrupt member: {one_line(exc)}") from None
    if len(data) != info.file_size:
        raise _Refusal(f"shorter than its header says ({_size(len(data))} of {_size(info.file_size)})")
    if crc != info.CRC:
        raise _Refusal("bad CRC-32 (corrupt member)")
    return data


def _inflate_capped(raw, deflated: bool, declared: int, limits: ArchiveLimits,
                    budget: _Budget | None) -> tuple[bytes, int]:
    """(bytes, CRC-32) of a member's raw data, stopping as soon as the output passes
    its declared size, the member cap, or the ratio cap."""
    inflater = zlib.decompressobj(-15) if deflated else None
    chunks, size, crc, taken, pending, exhausted = [], 0, 0, 0, b"", False
    while True:
        if not pending and not exhausted:
            pending = raw.read(CHUNK_BYTES)
            taken += len(pending)
            exhausted = not pending
        if inflater is None:
            piece, pending = pending, b""
        else:
            piece = inflater.decompress(pending, CHUNK_BYTES)
            pending = inflater.unconsumed_tail
        size += len(piece)
        _check_output(size, declared, taken - len(pending), limits)
        if budget is not None:
            budget.take_bytes(len(piece))
        chunks.append(piece)
        crc = zlib.crc32(piece, crc)
        if inflater is not None and inflater.eof:
            break
        if exhausted and not piece and not pending:
            if inflater is not None:
                raise _Refusal("member data is truncated")
            break
    return b"".join(chunks), crc


def _check_output(size: int, declared: int, consumed: int, limits: ArchiveLimits) -> None:
    if size > declared:
        raise _Refusal(f"inflates past the {_size(declared)} its header says (lying header?)")
    if size > limits.max_member_bytes:
        raise _Refusal(f"inflates beyond the {_size(limits.max_member_bytes)} cap")
    if _too_compressed(size, consumed, limits):
        raise _Refusal(f"inflates beyond {limits.max_ratio:g}:1 while reading (zip bomb?)")


# --- scan -----------------------------------------------------------------------------


def scan(archive: Path, limits: ArchiveLimits = ArchiveLimits()) -> tuple[list[Member], list[Refused]]:
    """Every activity-file member, nested zips included up to max_depth, sorted by
    chain; plus what was refused and why. Other members are ignored silently. A
    top-level file that is not a valid zip raises ArchiveError."""
    scanner = _Scanner(limits)
    top = _open_top(archive, scanner.budget)
    try:
        scanner.container(top, depth=1)
    finally:
        top.close()
    by_chain = lambda item: item.chain  # noqa: E731
    return sorted(scanner.members, key=by_chain), sorted(scanner.refused, key=by_chain)


class _Scanner:
    def __init__(self, limits: ArchiveLimits):
        self.limits = limits
        self.budget = _Budget(limits)
        self.members: list[Member] = []
        self.refused: list[Refused] = []

    def container(self, container: _Container, depth: int) -> None:
        for info in container.zip.infolist():
            if info.is_dir():
                continue
            chain = container.chain + (_printable_name(info),)
            try:
                self.entry(container, info, chain, depth)
            except _Refusal as refusal:
                self.refused.append(Refused(chain, refusal.reason))

    def entry(self, container: _Container, info: zipfile.ZipInfo, chain: tuple[str, ...], depth: int) -> None:
        _check_name(info)
        is_zip, detected = _is_zip_name(info.filename), _detect(info.filename)
        if _is_noise(info.filename) or not (is_zip or detected):
            return
        _check_unique(container, info)
        _check_declared(info, self.limits)
        if is_zip and depth >= self.limits.max_depth:
            raise _Refusal(f"nested deeper than {self.limits.max_depth} archives")
        if is_zip:
            self.nested(container, info, chain, depth)
        else:
            # Counted as declared: scan does not read activity files, and reading one
            # stops as soon as it passes its declared size.
            self.budget.take_bytes(info.file_size)
            self.members.append(Member(chain, info.file_size, _mtime_ns(info.date_time), *detected))

    def nested(self, container: _Container, info: zipfile.ZipInfo, chain: tuple[str, ...], depth: int) -> None:
        inner = _open_nested(container, info, chain, self.limits, self.budget, keep=True)
        try:
            self.container(inner, depth + 1)
        finally:
            inner.close()


# --- read_members ------------------------------------------------------------------------


def read_members(archive: Path, chains: list[tuple[str, ...]],
                 limits: ArchiveLimits = ArchiveLimits()) -> Iterator[tuple[tuple[str, ...], bytes | ArchiveError]]:
    """The bytes of each requested member (still gzip-compressed if it is a .gz), in
    the order given. Each container is opened once per run of consecutive chains that
    share it. A member that fails yields an ArchiveError and the rest continue; so
    does every member when the top-level archive cannot be opened."""
    reader = _MemberReader(remote.location(archive), limits)
    try:
        for chain in chains:
            chain = tuple(chain)
            yield chain, reader.read(chain)
    finally:
        reader.close()


@dataclass
class _Failed:
    chain: tuple[str, ...]
    message: str
    reason: str

    def error(self) -> ArchiveError:
        return ArchiveError(self.message, self.reason)


class _MemberReader:
    """Keeps open the containers on the path to the current member: open[i] is the
    container at chain[:i], so consecutive members of one nested zip share it."""

    def __init__(self, archive: Path, limits: ArchiveLimits):
        self.archive, self.limits = archive, limits
        self.budget = _Budget(limits)
        self.open: list[_Container | _Failed] = []

    def read(self, chain: tuple[str, ...]) -> bytes | ArchiveError:
        key = member_key(self.archive, chain)
        if not chain:
            return ArchiveError(f"{key}: empty member chain", "empty member chain")
        if len(chain) > self.limits.max_depth:
            reason = f"nested deeper than {self.limits.max_depth} archives"
            return ArchiveError(f"{key}: {reason}", reason)
        container = self.container(chain[:-1])
        if isinstance(container, _Failed):
            return container.error()
        try:
            return _read_capped(container, self.lookup(container, chain[-1]), self.limits, self.budget)
        except _Refusal as refusal:
            return ArchiveError(f"{key}: {refusal.reason}", refusal.reason)

    def lookup(self, container: _Container, name: str) -> zipfile.ZipInfo:
        try:
            info = container.zip.getinfo(name)
        except KeyError:
            raise _Refusal("no such member") from None
        if info.is_dir():
            raise _Refusal("is a folder")
        _check_name(info)
        _check_unique(container, info)
        _check_declared(info, self.limits)
        return info

    def container(self, path: tuple[str, ...]) -> _Container | _Failed:
        kept = 0
        while kept < min(len(self.open), len(path) + 1) and self.open[kept].chain == path[:kept]:
            kept += 1
        self.close(kept)
        while len(self.open) <= len(path):
            parent = self.open[-1] if self.open else None
            if isinstance(parent, _Failed):
                return parent
            self.open.append(self.open_one(parent, path[:len(self.open)]))
        return self.open[len(path)]

    def open_one(self, parent: _Container | None, chain: tuple[str, ...]) -> _Container | _Failed:
        try:
            if parent is None:
                return _open_top(self.archive, self.budget)
            return _open_nested(parent, self.lookup(parent, chain[-1]), chain, self.limits, self.budget)
        except ArchiveError as exc:
            return _Failed(chain, str(exc), exc.reason)
        except _Refusal as refusal:
            return _Failed(chain, f"{member_key(self.archive, chain)}: {refusal.reason}", refusal.reason)

    def close(self, keep: int = 0) -> None:
        for entry in reversed(self.open[keep:]):
            if isinstance(entry, _Container):
                entry.close()
        del self.open[keep:]


# --- Strava ---------------------------------------------------------------------------------


def strava_activities(archive: Path, limits: ArchiveLimits = ArchiveLimits()) -> dict[str, StravaActivity]:
    """Strava's activities.csv (at the root, or one folder down), keyed by member name:
    the csv's Filename, prefixed with the csv's folder so it equals the member's chain[0].
    Empty when there is no activities.csv."""
    archive = remote.location(archive)
    top = _open_top(archive, _Budget(limits))
    try:
        info = _find_strava_csv(top)
        if info is None:
            return {}
        try:
            _check_declared(info, limits)
            data = _read_capped(top, info, limits, None)
            activities = parse_strava_csv(data)
        except (_Refusal, ArchiveError) as exc:
            raise ArchiveError(f"{member_key(archive, (info.filename,))}: {exc.reason}", exc.reason) from None
    finally:
        top.close()
    folder = info.filename.rpartition("/")[0]
    return {f"{folder}/{name}" if folder else name: activity for name, activity in activities.items()}


def _find_strava_csv(container: _Container) -> zipfile.ZipInfo | None:
    found = []
    for info in container.zip.infolist():
        parts = info.filename.split("/")
        if len(parts) <= 2 and parts[-1].lower() == STRAVA_CSV and not info.is_dir():
            try:
                _check_name(info)
                _check_unique(container, info)
            except _Refusal:
                continue
            found.append((len(parts), info.filename, info))
    return min(found)[2] if found else None


def parse_strava_csv(data: bytes) -> dict[str, StravaActivity]:
    """Strava's activities.csv keyed by its Filename column (relative to the csv).

    Columns are found by header name; the first wins when a name repeats (real exports
    repeat 'Distance' and 'Elapsed Time'). Rows without a file or an id are skipped.
    """
    text = data.decode("utf-8-sig", errors="replace")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ArchiveError(f"{STRAVA_CSV}: unreadable csv: {one_line(exc)}", f"unreadable csv: {one_line(exc)}") from None
    if not rows:
        return {}
    column = _first_columns(rows[0])
    if "filename" not in column or "activity id" not in column:
        return {}
    activities = {}
    for row in rows[1:]:
        filename, strava_id = _cell(row, column["filename"]), _cell(row, column["activity id"])
        if filename and strava_id:
            activities[filename] = StravaActivity(
                strava_id, _cell(row, column.get("activity name")), _cell(row, column.get("activity type")))
    return activities


def _first_columns(header: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        columns.setdefault(name.strip().casefold(), index)
    return columns


def _cell(row: list[str], index: int | None) -> str | None:
    if index is None or index >= len(row):
        return None
    return row[index].strip() or None


# --- small helpers --------------------------------------------------------------------------


def _detect(name: str) -> tuple[str, str | None] | None:
    return detect_format(name.rsplit("/", 1)[-1])


def _is_zip_name(name: str) -> bool:
    return name.lower().endswith(".zip")


def _is_noise(name: str) -> bool:
    """macOS Finder's resource forks (__MACOSX/…/._ride.fit): named like rides, are not."""
    parts = name.split("/")
    return "__MACOSX" in parts[:-1] or parts[-1].startswith("._")


def _printable_name(info: zipfile.ZipInfo) -> str:
    # zipfile cuts names at a NUL; keep the whole name visible in the refusal.
    return info.orig_filename.replace("\x00", "\\x00")


def _duplicated_names(infos: list[zipfile.ZipInfo]) -> frozenset[str]:
    seen: set[str] = set()
    duplicated = set()
    for info in infos:
        (duplicated if info.filename in seen else seen).add(info.filename)
    return frozenset(duplicated)


def _mtime_ns(date_time: tuple[int, int, int, int, int, int]) -> int:
    """Zip's local date and time, read as UTC (zip records no zone). Out-of-range
    fields, which DOS dates allow, roll over instead of failing."""
    year, month, day, hour, minute, second = date_time
    return calendar.timegm((year, min(max(month, 1), 12), day, hour, minute, second)) * 10**9


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


__all__ = [
    "ArchiveError", "ArchiveLimits", "Member", "Refused", "StravaActivity",
    "member_key", "parse_strava_csv", "read_members", "scan", "strava_activities",
]
