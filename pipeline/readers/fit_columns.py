"""Columnar FIT decoder on NumPy: whole runs of equal messages are decoded at once.

Two passes. The walk (`_Walker`) steps over the message stream: definition messages are parsed one
by one in Python (they are few), and data messages are found in runs - consecutive messages with
the same header byte, hence the same definition and size - detected with NumPy strides, so the
per-message Python cost is paid only at run boundaries. Each run becomes a `_Segment`. The second
pass (`_Assembler`) views every segment's bytes through a structured dtype (zero-copy), converts
each field column once per definition, and scatters the results into one column per field and
message name, in file order. Profile data (names, types, scale, offset, components, subfields)
comes from fitparse's profile.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from fitparse.profile import MESSAGE_TYPES
from fitparse.records import BASE_TYPE_BYTE, BASE_TYPES

from .fit_crc import crc16

TIMESTAMP_FIELD = 253
COMPRESSED_TS_BITS = 5
FIELD_DESCRIPTION_MESG = 206
TIME_TYPES = ("date_time", "local_date_time")
NUMPY_CHARS = {"B": "u1", "b": "i1", "H": "u2", "h": "i2", "I": "u4", "i": "i4",
               "f": "f4", "d": "f8", "q": "i8", "Q": "u8"}
# Per base type, the raw value meaning "invalid"; floats use NaN, strings and bytes are special.
INVALID = {"enum": 0xFF, "uint8": 0xFF, "sint8": 0x7F, "uint16": 0xFFFF, "sint16": 0x7FFF,
           "uint32": 0xFFFFFFFF, "sint32": 0x7FFFFFFF, "uint8z": 0, "uint16z": 0, "uint32z": 0,
           "sint64": 0x7FFFFFFFFFFFFFFF, "uint64": 0xFFFFFFFFFFFFFFFF, "uint64z": 0}
# Output cells allowed per input byte: a fuzzed file of many tiny messages under many sparse
# definitions could otherwise ask for columns x messages cells, quadratic in the input size.
CELLS_PER_BYTE = 32
PATTERN_MAX = 4          # longest repeating message pattern looked for
PATTERN_MIN_REPEATS = 3  # shorter repeats are cheaper to walk message by message


@dataclass
class FitColumns:
    messages: dict[str, dict[str, np.ndarray]]
    status: str
    detail: str | None
    # Fields skipped because their size is not a multiple of their base type's (one line each).
    skipped_fields: tuple[str, ...] = ()


class _Stop(Exception):
    """Damage found by the walk: ends decoding with this status."""

    def __init__(self, status: str, reason: str, offset: int):
        super().__init__(reason)
        self.status, self.reason, self.offset = status, reason, offset


@dataclass(frozen=True)
class _Field:
    """One field of a definition, where it sits in the message (header byte at offset 0)."""

    column: str       # structured dtype name
    offset: int
    size: int
    base: object      # fitparse BaseType
    def_num: int
    count: int        # elements (1 for scalars, strings and bytes are one element)


@dataclass(frozen=True)
class _DevField:
    column: str
    name: str
    base: object
    scale: float | None
    offset: float | None


@dataclass
class _Definition:
    mesg_num: int
    name: str | None
    size: int                 # message size including its header byte
    dtype: np.dtype
    fields: list[_Field]
    dev_fields: list[_DevField]
    has_accumulator: bool
    timestamp_column: str | None
    skipped: tuple[str, ...] = ()  # fields left out for a misaligned size, described


@dataclass(slots=True)
class _Segment:
    """`count` messages of one definition, the first at byte `start`, one every `stride` bytes.

    The stride is the message size for a plain run; it is larger for messages interleaved with
    others in a repeating pattern (record, hrv, record, hrv, ...).
    """

    definition: _Definition
    start: int
    count: int
    stride: int
    compressed: bool
    reset_accumulators: bool
    file_index: int
    rows: np.ndarray | None = None  # indices of these messages among those of their name


def decode(data: bytes, keep: Collection[str] | None = None) -> FitColumns:
    """Never raises on any input bytes; bounded work and memory proportional to len(data)."""
    data = bytes(data)
    try:
        with np.errstate(all="ignore"):  # NaN/overflow in garbage floats are expected, not news
            walker = _Walker(data)
            walker.run()
            messages = _Assembler(data, walker.segments, keep).run()
    except Exception as exc:  # a decoder bug must not take the caller down; say so instead
        return FitColumns({}, "decode_error", f"internal decoder error {type(exc).__name__}: {exc} "
                                             f"(at byte 0 of {len(data)})")
    return FitColumns(messages, walker.status, walker.detail, tuple(walker.skipped_fields))


class _Walker:
    """Finds headers, definitions and runs of data messages; records the first damage."""

    def __init__(self, data: bytes):
        self.data = data
        self.bytes = np.frombuffer(data, dtype=np.uint8)
        self.segments: list[_Segment] = []
        self.status, self.detail = "ok", None
        self.skipped_fields: list[str] = []
        self.pending_resets: set[int] = set()
        self.file_index = 0

    def run(self) -> None:
        position, chained = 0, 0
        try:
            while position < len(self.data):
                self.file_index = chained
                position = self._file(position, chained)
                chained += 1
        except _Stop as stop:
            self._problem(stop.status, stop.reason, stop.offset)

    def _problem(self, status: str, reason: str, offset: int) -> None:
        if self.status == "ok":
            self.status, self.detail = status, f"{reason} (at byte {offset} of {len(self.data)})"

    def _file(self, start: int, chained: int) -> int:
        """Decode one (possibly chained) FIT file at `start`; return where the next one starts."""
        header_size, data_size = self._header(start, chained)
        data_start, data_end = start + header_size, start + header_size + data_size
        self.definitions: dict[int, _Definition] = {}
        self.dev_types: dict[tuple[int, int], _DevField] = {}
        self.definition_cache: dict[tuple, _Definition] = {}
        self._messages(data_start, data_end)
        if data_end + 2 > len(self.data):
            raise _Stop("truncated", "file ends before its CRC", len(self.data))
        stored = int.from_bytes(self.data[data_end:data_end + 2], "little")
        computed = crc16(memoryview(self.data)[start:data_end])
        if stored != computed:
            self._problem("crc_mismatch", f"CRC Mismatch [computed: 0x{computed:04X}, read: 0x{stored:04X}]",
                          data_end)
        return data_end + 2

    def _header(self, start: int, chained: int) -> tuple[int, int]:
        data = self.data
        remaining = len(data) - start
        if remaining < 12 or data[start + 8:start + 12] != b".FIT":
            if chained == 0:
                raise _Stop("decode_error", "Invalid .FIT File Header", start)
            if remaining < 12:
                raise _Stop("truncated", f"{remaining} stray bytes after the file's CRC", start)
            raise _Stop("trailing_bytes", "Invalid .FIT File Header after the end of the FIT data", start)
        header_size = data[start]
        if header_size < 12 or header_size == 13:
            raise _Stop("decode_error", f"Irregular File Header Size {header_size}", start)
        if header_size > remaining:
            raise _Stop("truncated", "file ends inside its header", len(data))
        if header_size >= 14:
            stored = int.from_bytes(data[start + 12:start + 14], "little")
            computed = crc16(data[start:start + 12])
            if stored not in (0, computed):  # the spec allows 0 for "not computed"
                self._problem("crc_mismatch", f"header CRC Mismatch [computed: 0x{computed:04X}, "
                                              f"read: 0x{stored:04X}]", start + 12)
        return header_size, int.from_bytes(data[start + 4:start + 8], "little")

    def _messages(self, position: int, data_end: int) -> None:
        end = min(data_end, len(self.data))
        data = self.data
        while position < end:
            header = data[position]
            if header & 0x80:  # compressed timestamp header: local type in bits 5-6
                local, mask = (header >> 5) & 0x3, 0xE0
            elif header & 0x40:
                position = self._definition(position, end, data_end)
                continue
            else:
                local, mask = header & 0x0F, 0xFF
            definition = self.definitions.get(local)
            if definition is None:
                raise _Stop("undefined_local_message",
                            f"Got data message with invalid local message type {local}", position)
            size = definition.size
            if position + size > end:
                self._ran_out(position, data_end, "data message")
            count = self._run_length(position, size, end, header & mask, mask)
            if count < 4 and mask == 0xFF:
                after_pattern = self._pattern(position, end)
                if after_pattern:
                    position = after_pattern
                    continue
            self._add_segment(definition, position, count, size, bool(header & 0x80))
            position += count * size

    def _pattern(self, position: int, end: int) -> int | None:
        """Emit a repeating pattern of 2-4 plain data messages at once; return where it ends."""
        data, heads, offsets, definitions = self.data, [], [], []
        cursor = position
        for _ in range(PATTERN_MAX):
            if cursor >= end or data[cursor] & 0xC0:
                break
            definition = self.definitions.get(data[cursor] & 0x0F)
            if definition is None or cursor + definition.size > end:
                break
            heads.append(data[cursor])
            offsets.append(cursor - position)
            definitions.append(definition)
            cursor += definition.size
            period = cursor - position
            if len(heads) < 2:
                continue
            repeats = self._pattern_repeats(position, period, end, heads, offsets)
            if repeats >= PATTERN_MIN_REPEATS:
                for definition, offset in zip(definitions, offsets):
                    self._add_segment(definition, position + offset, repeats, period, False)
                return position + repeats * period
        return None

    def _pattern_repeats(self, position: int, period: int, end: int, heads, offsets) -> int:
        available = (end - position) // period
        data = self.data
        if available < 2 or any(data[position + offset + period] != head for head, offset in zip(heads, offsets)):
            return 1  # the common case, decided without NumPy's per-call overhead
        count, step = 1, 16
        while count < available:
            upto = min(available, count + step)
            mismatch = upto
            for head, offset in zip(heads, offsets):
                found = self.bytes[position + offset + count * period:position + offset + upto * period:period]
                bad = np.flatnonzero(found != head)
                if bad.size:
                    mismatch = min(mismatch, count + int(bad[0]))
            if mismatch < upto:
                return mismatch
            count, step = upto, step * 4
        return count

    def _ran_out(self, position: int, data_end: int, what: str) -> None:
        where = "the file" if data_end > len(self.data) else "the declared data size"
        raise _Stop("truncated", f"{what} runs past the end of {where}", position)

    def _run_length(self, position: int, size: int, end: int, header: int, mask: int) -> int:
        """How many consecutive messages of `size` bytes from `position` share this header."""
        available = (end - position) // size
        if available < 2 or (self.data[position + size] & mask) != header:
            return 1
        count, step = 1, 16
        while count < available:
            upto = min(available, count + step)
            heads = self.bytes[position + count * size:position + upto * size:size]
            if mask != 0xFF:
                heads = heads & mask
            mismatch = np.flatnonzero(heads != header)
            if mismatch.size:
                return count + int(mismatch[0])
            count, step = upto, step * 4
        return count

    def _add_segment(self, definition: _Definition, start: int, count: int, stride: int, compressed: bool) -> None:
        reset = definition.mesg_num in self.pending_resets
        self.pending_resets.discard(definition.mesg_num)
        self.segments.append(_Segment(definition, start, count, stride, compressed, reset, self.file_index))
        if definition.mesg_num == FIELD_DESCRIPTION_MESG:
            self._register_dev_fields(self.segments[-1])

    def _definition(self, position: int, end: int, data_end: int) -> int:
        data = self.data
        header = data[position]
        if position + 6 > end:
            self._ran_out(position, data_end, "definition message")
        endian = ">" if data[position + 2] else "<"
        mesg_num = int.from_bytes(data[position + 3:position + 5], "big" if endian == ">" else "little")
        field_count = data[position + 5]
        cursor = position + 6 + 3 * field_count
        if cursor > end:
            self._ran_out(position, data_end, "definition message")
        triples = data[position + 6:cursor]
        dev_triples = b""
        if header & 0x20:
            if cursor + 1 > end:
                self._ran_out(position, data_end, "definition message")
            dev_end = cursor + 1 + 3 * data[cursor]
            if dev_end > end:
                self._ran_out(position, data_end, "definition message")
            dev_triples, cursor = data[cursor + 1:dev_end], dev_end
        definition = self._build_definition(endian, mesg_num, triples, dev_triples)
        self.definitions[header & 0x0F] = definition
        if definition.has_accumulator:
            # fitparse restarts component accumulation whenever such a definition is read.
            self.pending_resets = self.pending_resets | {mesg_num}
        return cursor

    def _build_definition(self, endian: str, mesg_num: int, triples: bytes, dev_triples: bytes) -> _Definition:
        dev_fields = tuple(self.dev_types.get((dev_triples[i + 2], dev_triples[i]))
                           for i in range(0, len(dev_triples), 3))
        key = (endian, mesg_num, triples, dev_triples, tuple(map(id, dev_fields)))
        cached = self.definition_cache.get(key)
        if cached is None:
            cached = self.definition_cache[key] = _make_definition(endian, mesg_num, triples, dev_triples,
                                                                   dev_fields)
            self.skipped_fields += [s for s in cached.skipped if s not in self.skipped_fields]
        return cached

    def _register_dev_fields(self, segment: _Segment) -> None:
        """field_description messages name and type the developer fields of later definitions."""
        columns = _Assembler(self.data, [], None).decode_rows(segment.definition, [segment])
        count = segment.count
        for row in range(count):
            values = {name: _cell(column, row) for name, column in columns.items()}
            index, number = _as_int(values.get("developer_data_index")), _as_int(values.get("field_definition_number"))
            base = _base_type(values.get("fit_base_type_id"))  # fuzzed sizes can make any of these tuples
            if index is None or number is None or base is None:
                continue
            name = values.get("field_name")
            name = name if isinstance(name, str) else f"unnamed_dev_field_{number}"
            self.dev_types[(index, number)] = _DevField(
                "", str(name), base, _positive(values.get("scale")), _positive(values.get("offset"), True))


BASE_TYPES_BY_NAME = {base.name: base for base in BASE_TYPES.values()}


def _base_type(value):
    """fit_base_type_id decodes to its profile name ('uint16'), or a number if it has none."""
    if isinstance(value, str):
        return BASE_TYPES_BY_NAME.get(value)
    number = _as_int(value)
    return None if number is None else BASE_TYPES.get(number)


def _cell(column, row):
    value = column[row] if row < len(column) else None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _as_int(value):
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return int(value) if not (isinstance(value, float) and math.isnan(value)) else None
    return None


def _positive(value, allow_zero=False):
    if not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if (value > 0 or (allow_zero and value == value)) else None


def _make_definition(endian: str, mesg_num: int, triples: bytes, dev_triples: bytes, dev_types) -> _Definition:
    mesg_type = MESSAGE_TYPES.get(mesg_num)
    names, formats, offsets, fields = [], [], [], []
    offset = 1
    has_accumulator = False
    skipped = []
    for index in range(0, len(triples), 3):
        def_num, size, base_id = triples[index], triples[index + 1], triples[index + 2]
        base = BASE_TYPES.get(base_id, BASE_TYPE_BYTE)
        element_size = 1 if base.name in ("string", "byte") else base.size
        if size and size % element_size == 0:
            # Misaligned sizes are skipped, as the Garmin SDK reads them as opaque bytes.
            column = f"f{index // 3}"
            count = 1 if base.name in ("string", "byte") else size // element_size
            names.append(column)
            formats.append(_numpy_format(base, size, count, endian))
            offsets.append(offset)
            fields.append(_Field(column, offset, size, base, def_num, count))
            profile = mesg_type.fields.get(def_num) if mesg_type else None
            has_accumulator |= any(c.accumulate for c in (profile.components or [])) if profile else False
        elif size:
            field_name = getattr(mesg_type.fields.get(def_num), "name", None) if mesg_type else None
            skipped.append(f"{mesg_type.name if mesg_type else mesg_num}.{field_name or def_num} "
                           f"({size} bytes of {base.name})")
        offset += size
    dev_fields = []
    for index, dev_type in zip(range(0, len(dev_triples), 3), dev_types):
        size = dev_triples[index + 1]
        if dev_type is not None and (dev_type.base.name == "string" or (
                dev_type.base.name != "byte" and size == dev_type.base.size)):
            column = f"d{index // 3}"
            names.append(column)
            formats.append(_numpy_format(dev_type.base, size, 1, endian))  # a string takes all `size`
            offsets.append(offset)
            dev_fields.append(_DevField(column, dev_type.name, dev_type.base, dev_type.scale, dev_type.offset))
        offset += size
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": offset})
    timestamp = next((f.column for f in fields if f.def_num == TIMESTAMP_FIELD and f.count == 1
                      and f.base.name not in ("string", "byte")), None)
    return _Definition(mesg_num, mesg_type.name if mesg_type else None, offset, dtype, fields, dev_fields,
                       has_accumulator, timestamp, tuple(skipped))


def _numpy_format(base, size: int, count: int, endian: str):
    if base.name == "string":
        return f"S{size}"
    if base.name == "byte":
        return ("u1", (size,))
    char = endian + NUMPY_CHARS[base.fmt]
    return (char, (count,)) if count > 1 else char


@dataclass
class _Piece:
    """Values for one output column, for some rows of one definition's messages."""

    column: str
    values: np.ndarray        # float64 or object
    rows: np.ndarray | None   # indices into the definition's rows; None: all of them
    real: bool                # a field of the message itself (wins over component-derived values)
    accumulate: tuple | None = None  # (bits, scale, offset): raw component still to accumulate


class _Assembler:
    """Turns segments into columns per message name."""

    def __init__(self, data: bytes, segments: list[_Segment], keep: Collection[str] | None):
        self.data = data
        self.bytes = np.frombuffer(data, dtype=np.uint8)
        self.segments = segments
        self.keep = None if keep is None else set(keep)

    def run(self) -> dict[str, dict[str, np.ndarray]]:
        timestamps = self._compressed_timestamps()
        by_name: dict[str, list[_Segment]] = {}
        for segment in self.segments:
            name = segment.definition.name
            if name is not None and (self.keep is None or name in self.keep):
                by_name.setdefault(name, []).append(segment)
        budget = CELLS_PER_BYTE * len(self.data) + 65536
        return {name: self._message_columns(segments, timestamps, budget) for name, segments in by_name.items()}

    def _compressed_timestamps(self) -> dict[int, np.ndarray]:
        """Timestamps of compressed-header segments: 5-bit offsets rolling over the last full one."""
        if not any(segment.compressed for segment in self.segments):
            return {}
        result, last, last_at, file_index = {}, 0, -1, 0
        for segment in self.segments:
            if segment.file_index != file_index:
                last, last_at, file_index = 0, -1, segment.file_index
            definition = segment.definition
            if segment.compressed:  # always a plain run, never part of an interleaved pattern
                offsets = self.bytes[self._positions(segment)].astype(np.int64) & 0x1F
                deltas = np.diff(offsets, prepend=last) & 0x1F
                stamps = last + np.cumsum(deltas)
                result[id(segment)] = stamps.astype(np.float64)
                last, last_at = int(stamps[-1]), segment.start
            elif definition.timestamp_column is not None:
                raw = self._rows(definition, [segment])[definition.timestamp_column]
                base = next(f.base for f in definition.fields if f.column == definition.timestamp_column)
                valid = np.flatnonzero(~_invalid_mask(raw, base))
                # Interleaved segments are listed by their first message: keep the latest in the file.
                if valid.size and segment.start + int(valid[-1]) * segment.stride > last_at:
                    last, last_at = int(raw[valid[-1]]), segment.start + int(valid[-1]) * segment.stride
        return result

    def _positions(self, segment: _Segment) -> np.ndarray:
        return segment.start + segment.stride * np.arange(segment.count)

    def _rows(self, definition: _Definition, segments: list[_Segment]) -> np.ndarray:
        """The segments' messages as one structured array (a zero-copy view for a single run)."""
        if len(segments) == 1:
            return self._view(definition.dtype, segments[0])
        # Concatenating opaque records is much cheaper than concatenating structured arrays.
        opaque = np.dtype(f"V{definition.size}")
        return np.concatenate([self._view(opaque, s) for s in segments]).view(definition.dtype)

    def _view(self, dtype: np.dtype, segment: _Segment) -> np.ndarray:
        return np.ndarray((segment.count,), dtype=dtype, buffer=self.data, offset=segment.start,
                          strides=(segment.stride,))

    def _message_columns(self, segments: list[_Segment], timestamps, budget) -> dict[str, np.ndarray]:
        total = _number_rows(segments)
        groups: dict[int, list[_Segment]] = {}
        for segment in segments:
            groups.setdefault(id(segment.definition), []).append(segment)
        pieces: list[tuple[_Piece, np.ndarray]] = []
        for group in groups.values():
            rows = group[0].rows if len(group) == 1 else np.concatenate([s.rows for s in group])
            for piece in self._definition_pieces(group[0].definition, group, timestamps):
                pieces.append((piece, rows if piece.rows is None else rows[piece.rows]))
        resets = [int(s.rows[0]) for s in segments if s.reset_accumulators]
        return _merge(pieces, total, resets, budget)

    def _definition_pieces(self, definition: _Definition, group: list[_Segment], timestamps) -> list[_Piece]:
        pieces = list(_field_pieces(definition, self._rows(definition, group)))
        if any(s.compressed for s in group):
            stamps = np.concatenate([timestamps.get(id(s), np.full(s.count, np.nan)) for s in group])
            pieces.append(_Piece("timestamp", stamps, None, True))
        return pieces

    def decode_rows(self, definition: _Definition, segments: list[_Segment]) -> dict[str, np.ndarray]:
        """Columns of just these segments (used for field_description during the walk)."""
        count = sum(s.count for s in segments)
        return _merge([(p, np.arange(count) if p.rows is None else p.rows)
                       for p in _field_pieces(definition, self._rows(definition, segments))], count, [], 1 << 30)


def _number_rows(segments: list[_Segment]) -> int:
    """Give each segment the indices of its messages among its name's messages, in file order."""
    total = sum(s.count for s in segments)
    if all(s.stride == s.definition.size for s in segments):
        first = 0
        for segment in segments:  # plain runs never overlap: file order is list order
            segment.rows = np.arange(first, first + segment.count)
            first += segment.count
        return total
    positions = np.concatenate([s.start + s.stride * np.arange(s.count) for s in segments])
    ranks = np.empty(total, dtype=np.int64)
    ranks[np.argsort(positions, kind="stable")] = np.arange(total)
    first = 0
    for segment in segments:
        segment.rows = ranks[first:first + segment.count]
        first += segment.count
    return total


def _field_pieces(definition: _Definition, rows: np.ndarray):
    mesg_type = MESSAGE_TYPES.get(definition.mesg_num)
    if mesg_type is None:
        return
    raw_by_num = {}
    for item in definition.fields:
        raw_by_num.setdefault(item.def_num, (item, rows[item.column]))
    for item in definition.fields:
        profile = mesg_type.fields.get(item.def_num)
        if profile is None:
            continue
        raw = rows[item.column]
        for target, selected in _subfield_choice(profile, raw_by_num, len(rows)):
            part = raw if selected is None else raw[selected]
            yield from _component_pieces(mesg_type, target, item, part, selected)
            yield _Piece(target.name, _convert(part, item, target), selected, True)
    for dev in definition.dev_fields:
        raw = rows[dev.column]
        values = _strings(raw) if dev.base.name == "string" else _numbers(raw, dev.base, dev.scale, dev.offset)
        yield _Piece(f"dev:{dev.name.lower()}", values, None, True)


def _subfield_choice(profile, raw_by_num, count: int):
    """(field or subfield, row indices or None) pairs: the first subfield whose reference matches."""
    if not profile.subfields:
        return [(profile, None)]
    chosen = np.zeros(count, dtype=bool)
    result = []
    for subfield in profile.subfields:
        match = np.zeros(count, dtype=bool)
        for reference in subfield.ref_fields:
            found = raw_by_num.get(reference.def_num)
            if found is None or found[0].count != 1 or found[0].base.name in ("string", "byte"):
                continue
            item, raw = found
            match |= (raw == reference.raw_value) & ~_invalid_mask(raw, item.base)
        match &= ~chosen
        if match.any():
            result.append((subfield, np.flatnonzero(match)))
            chosen |= match
    if not chosen.any():
        return [(profile, None)]
    if not chosen.all():
        result.append((profile, np.flatnonzero(~chosen)))
    return result


def _component_pieces(mesg_type, profile, item: _Field, raw: np.ndarray, selected):
    """Values the profile unpacks from this field's bits (speed -> enhanced_speed, ...)."""
    if not profile.components:
        return
    packed = _packed_bits(raw, item)
    if packed is None:
        return
    bits_value, valid = packed
    for component in profile.components:
        if item.base.name == "byte" and component.bit_offset >= 8 * item.size:
            continue
        target = mesg_type.fields.get(component.def_num)
        if target is None:
            continue
        value = (bits_value >> np.uint64(component.bit_offset)) & np.uint64((1 << component.bits) - 1)
        value = np.where(valid, value.astype(np.float64), np.nan)
        if component.accumulate:
            yield _Piece(target.name, value, selected, False, (component.bits, component.scale, component.offset))
        else:
            yield _Piece(target.name, _render(_scaled(value, component.scale, component.offset), target),
                         selected, False)


def _packed_bits(raw: np.ndarray, item: _Field):
    """The field as unsigned 64-bit integers (byte arrays little endian) plus its validity."""
    if item.base.name == "byte":
        if item.size > 8:
            return None  # e.g. hr.event_timestamp_12: left packed for the consumer
        value = np.zeros(len(raw), dtype=np.uint64)
        for index in range(item.size):
            value |= raw[:, index].astype(np.uint64) << np.uint64(8 * index)
        return value, ~(raw == 0xFF).all(axis=1)
    if item.count != 1 or item.base.name in ("string", "float32", "float64"):
        return None
    return raw.astype(np.uint64), ~_invalid_mask(raw, item.base)


def _invalid_mask(raw: np.ndarray, base) -> np.ndarray:
    if raw.dtype.kind == "f":
        return np.isnan(raw)
    invalid = INVALID.get(base.name)
    if invalid is None:
        return np.zeros(raw.shape, dtype=bool)
    return raw == raw.dtype.type(invalid if raw.dtype.kind == "u" else np.int64(invalid))


def _scaled(values: np.ndarray, scale, offset) -> np.ndarray:
    # Same operations, in the same order, as fitparse: float(raw) / scale - offset.
    if scale:
        values = values / scale
    if offset:
        values = values - offset
    return values


def _numbers(raw: np.ndarray, base, scale, offset) -> np.ndarray:
    values = raw.astype(np.float64)
    values[_invalid_mask(raw, base)] = np.nan
    return _scaled(values, scale, offset)


def _type_name(profile) -> str:
    return getattr(profile.type, "name", "")


def _named_values(profile) -> dict | None:
    if _type_name(profile) in TIME_TYPES:
        return None
    return getattr(profile.type, "values", None) or None


def _render(values: np.ndarray, profile) -> np.ndarray:
    """Float values, or profile value names (int when unnamed, None when invalid) for enum types."""
    names = _named_values(profile)
    if names is None:
        return values
    unique, inverse = np.unique(values, return_inverse=True)
    rendered = np.empty(len(unique), dtype=object)
    for index, number in enumerate(unique.tolist()):
        if number != number:
            rendered[index] = None
        else:
            number = int(number) if float(number).is_integer() else number
            rendered[index] = names.get(number, number)
    return rendered[inverse.reshape(-1)]


def _convert(raw: np.ndarray, item: _Field, profile) -> np.ndarray:
    if item.base.name == "string":
        return _strings(raw)
    if item.base.name == "byte":
        return _byte_tuples(raw)
    if item.count > 1:
        return _tuples(raw, item.base, profile)
    values = _numbers(raw, item.base, None if _named_values(profile) else profile.scale,
                      None if _named_values(profile) else profile.offset)
    return _render(values, profile)


def _strings(raw: np.ndarray) -> np.ndarray:
    out = np.empty(len(raw), dtype=object)
    for index, text in enumerate(raw.tolist()):
        out[index] = text.split(b"\0", 1)[0].decode("utf-8", errors="replace") or None
    return out


def _byte_tuples(raw: np.ndarray) -> np.ndarray:
    out = np.empty(len(raw), dtype=object)
    invalid = (raw == 0xFF).all(axis=1)
    for index, (values, bad) in enumerate(zip(raw.tolist(), invalid.tolist())):
        out[index] = None if bad else tuple(values)
    return out


def _tuples(raw: np.ndarray, base, profile) -> np.ndarray:
    """Arrays: tuples with None for invalid elements; None when every element is invalid."""
    invalid = _invalid_mask(raw, base)
    if profile.scale or profile.offset or raw.dtype.kind == "f":
        elements = _scaled(raw.astype(np.float64), profile.scale, profile.offset).tolist()
    else:
        elements = raw.tolist()
    out = np.empty(len(raw), dtype=object)
    for index, (values, bad) in enumerate(zip(elements, invalid.tolist())):
        out[index] = None if all(bad) else tuple(None if b else v for v, b in zip(values, bad))
    return out


def _merge(pieces, total: int, resets: list[int], budget: int) -> dict[str, np.ndarray]:
    """One column per name: component values first, accumulated ones next, real fields on top."""
    by_column: dict[str, list] = {}
    for piece, rows in pieces:
        by_column.setdefault(piece.column, []).append((piece, rows))
    columns: dict[str, np.ndarray] = {}
    for name in _affordable(by_column, total, budget):
        entries = by_column[name]
        is_object = any(p.values.dtype == object for p, _ in entries)
        column = np.full(total, None, dtype=object) if is_object else np.full(total, np.nan)
        for piece, rows in entries:
            if not piece.real and piece.accumulate is None:
                column[rows] = _as_column_type(piece.values, is_object)
        _write_accumulated(column, [(p, r) for p, r in entries if p.accumulate], total, resets, is_object)
        for piece, rows in entries:
            if piece.real:
                values = _as_column_type(piece.values, is_object)
                valid = _valid(values)
                column[rows[valid]] = values[valid]
        columns[name] = column
    return columns


def _affordable(by_column: dict, total: int, budget: int) -> list[str]:
    names = list(by_column)
    if total * len(names) <= budget:
        return names
    # Keep the columns that cover the most rows, within the budget.
    names.sort(key=lambda n: -sum(len(rows) for _, rows in by_column[n]))
    return names[:max(1, budget // max(total, 1))]


def _as_column_type(values: np.ndarray, is_object: bool) -> np.ndarray:
    if not is_object or values.dtype == object:
        return values
    out = values.astype(object)
    out[np.isnan(values)] = None
    return out


def _valid(values: np.ndarray) -> np.ndarray:
    if values.dtype == object:
        return np.array([v is not None for v in values.tolist()], dtype=bool)
    return ~np.isnan(values)


def _write_accumulated(column, entries, total: int, resets: list[int], is_object: bool) -> None:
    """Accumulate rolling component counters (distance in compressed_speed_distance) in file order."""
    if not entries:
        return
    raw = np.full(total, np.nan)
    for piece, rows in entries:
        raw[rows] = piece.values
    bits, scale, offset = entries[0][0].accumulate
    result = np.full(total, np.nan)
    bounds = sorted(set([0, *resets, total]))
    for start, stop in zip(bounds, bounds[1:]):
        part = raw[start:stop]
        where = np.flatnonzero(~np.isnan(part))
        if where.size:
            values = part[where].astype(np.int64)
            # Each value moves the counter forward by its difference modulo 2**bits.
            steps = np.diff(values, prepend=0) & ((1 << bits) - 1)
            result[start + where] = np.cumsum(steps)
    result = _scaled(result, scale, offset)
    column[:] = np.where(np.isnan(result), column, result) if not is_object else column
    if is_object:
        valid = ~np.isnan(result)
        column[valid] = result[valid]
