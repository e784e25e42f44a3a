"""Columnar FIT decoder on NumPy: every message of one definition is decoded at once.

Two passes. The walk (`_Walker`) steps over the message stream and files each data message's
byte offset under its definition (`_Group`): definition messages are parsed in Python (they are
few), data messages cost one table lookup each, and a long run of one message, or of two taking
turns, is filed at once after scanning its header bytes at the period. The second pass
(`_Assembler`) gathers each group's messages into one structured array (a zero-copy view when
they are contiguous), converts each field column once per definition, and scatters the results
into one column per field and message name, in file order. Profile data (names, types, scale,
offset, components, subfields) comes from fitparse's profile.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
from fitparse.profile import MESSAGE_TYPES
from fitparse.records import BASE_TYPE_BYTE, BASE_TYPES

from .base import without_cycle_collection
from .fit_crc import crc16

TIMESTAMP_FIELD = 253
COMPRESSED_TS_MASK = 0x1F  # a compressed header's 5-bit time offset
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
# Repeats worth filing as one run; shorter runs are cheaper message by message.
MIN_RUN = 8
HEADER_BYTES = [bytes((header,)) for header in range(256)]
RUN_HEADS = [byte * MIN_RUN for byte in HEADER_BYTES]  # a shortest run's header bytes
# Messages a run's first look-ahead covers. Each look costs about the same up to thousands of
# messages, so the first covers most runs; later ones grow fourfold, in proportion to the run.
FIRST_LOOK = 256
# Up to this many values are named one by one; more go through np.unique.
SMALL_RENDER = 16
LOOKUP_NAMES = 512  # the same for integer fields, where naming one is a dict lookup
FLOAT, OBJECT = np.dtype(np.float64), np.dtype(object)
MAX_ARRAY = 255  # elements of an array field at most (a field's size is one byte)
# Kept between calls, as a bulk import meets the same few layouts file after file. Bounded:
# fuzzed or hostile files could otherwise fill them with junk layouts without end.
CACHED_FIELDS = 20_000       # fields of all cached definitions together
CACHED_MESSAGE_BYTES = 512   # largest field_description message cached
DEFINITION_CACHE_SIZE = 4096
_DEFINITIONS: dict[bytes | tuple, "_Definition"] = {}  # layout -> definition
_DESCRIPTIONS: dict[tuple, tuple | None] = {}  # (definition, message bytes) -> developer field type
_BYTE_NAMES: dict[tuple, np.ndarray] = {}  # (id(profile field), base type, kind) -> 256 names
_INT_NAMES: dict[tuple, dict] = {}  # (id(profile field), base type) -> names, the invalid value's None
_SUBFIELD_KEYS: dict[int, list] = {}  # id(profile field) -> what _subfield_keys works out
_cached_fields = 0


@dataclass
class FitColumns:
    """Per message name, one column per field, one row per message in file order.

    Numbers are float64 (NaN where invalid), scaled and offset as the profile says; names and
    text are objects (None where invalid). An array field's column is 2-D, a row of elements per
    message: float64 for numbers, uint8 for bytes. `cells` gives any column as fitparse's values.
    """

    messages: dict[str, dict[str, np.ndarray]]
    status: str
    detail: str | None
    # Fields skipped because their size is not a multiple of their base type's (one line each).
    skipped_fields: tuple[str, ...] = ()
    # For a file of several chained FIT files: per message name, the chained file (0, 1, ...)
    # each row came from. Empty for a single file.
    chained_files: dict[str, np.ndarray] = field(default_factory=dict)
    # Developer fields described in the file, by column ("dev:<name>"): their units and the
    # native field they stand for, as their field_description messages say.
    developer_fields: dict[str, "DeveloperField"] = field(default_factory=dict)


@dataclass(frozen=True)
class DeveloperField:
    name: str
    units: str | None
    native_field_num: int | None


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
    count: int = 1  # one element, as a _Field would say
    units: str | None = None
    native_field_num: int | None = None


@dataclass(frozen=True)
class _DevColumn:
    """Where a developer field's values go, in the place of a profile field."""

    name: str


@dataclass(eq=False)
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
    widest: int = 1  # elements of its widest array field (1 when it has none)
    plan: "_Plan | None" = None  # how to convert its fields, made on first use


@dataclass(eq=False)
class _Group:
    """Every data message of one definition: byte offsets, found one by one or as runs."""

    definition: _Definition
    singles: list[int] = field(default_factory=list)
    runs: list[tuple[int, int, int]] = field(default_factory=list)  # (first offset, messages, period)
    positions: np.ndarray | None = None  # all offsets, ascending, once finished
    # For the walk, which looks these up once per message: the message size with its header
    # byte, how to file one message, and whether runs of it may be filed at once.
    size: int = 0
    add: object = None
    in_runs: bool = True

    def __post_init__(self) -> None:
        self.size = self.definition.size
        self.add = self.singles.append

    def finish(self) -> None:
        parts = [np.array(self.singles, dtype=np.int64)] if self.singles else []
        if self.runs:
            parts.append(_run_offsets(self.runs))
        positions = np.concatenate(parts) if len(parts) > 1 else parts[0]
        # Runs are filed apart from the single messages around them: restore file order (the two
        # sorted parts merge: timsort, "stable", takes a fifth of quicksort's time here).
        self.positions = positions if len(parts) == 1 else np.sort(positions, kind="stable")


def _run_offsets(runs: list[tuple[int, int, int]]) -> np.ndarray:
    """Every message's offset in runs given as (first offset, messages, period), in order."""
    if len(runs) == 1:
        start, count, period = runs[0]
        return np.arange(start, start + count * period, period)
    starts, counts, periods = np.array(runs, dtype=np.int64).T
    before = np.cumsum(counts) - counts  # messages in the runs before each
    # Message i of the runs together, k-th of its run: start + k * period, k = i - before.
    every = np.arange(before[-1] + counts[-1])
    return np.repeat(starts - before * periods, counts) + every * np.repeat(periods, counts)


def forget_definitions() -> None:
    """Empty the caches kept between calls (benchmarks time a first, cold decode with this)."""
    global _cached_fields
    _cached_fields = 0
    _DEFINITIONS.clear()
    _DESCRIPTIONS.clear()
    _BYTE_NAMES.clear()
    _INT_NAMES.clear()
    _SUBFIELD_KEYS.clear()


def decode(data: bytes, keep: Collection[str] | None = None) -> FitColumns:
    """Never raises on any input bytes; bounded work and memory proportional to len(data)."""
    data = bytes(data)
    try:
        # NaN/overflow in garbage floats are expected, not news.
        with np.errstate(all="ignore"), without_cycle_collection():
            walker = _Walker(data)
            walker.run()
            assembler = _Assembler(data, walker, keep)
            messages = assembler.run()
            chained = assembler.chained_files()
    except Exception as exc:  # a decoder bug must not take the caller down; say so instead
        return FitColumns({}, "decode_error", f"internal decoder error {type(exc).__name__}: {exc} "
                                             f"(at byte 0 of {len(data)})")
    return FitColumns(messages, walker.status, walker.detail, tuple(walker.skipped_fields),
                      chained, walker.developer_fields)


class _Walker:
    """Finds headers, definitions and data messages; records the first damage."""

    def __init__(self, data: bytes):
        self.data = data
        self.groups: dict[int, _Group] = {}  # id(definition) -> its messages
        self.status, self.detail = "ok", None
        self.skipped_fields: list[str] = []
        self.file_starts: list[int] = []  # byte offset of each chained file's header
        # (mesg_num, offset) of definitions with accumulated components: counting restarts there.
        self.resets: list[tuple[int, int]] = []
        self.compressed_headers = False  # any message with a compressed timestamp header?
        self.developer_fields: dict[str, DeveloperField] = {}

    def run(self) -> None:
        position, chained = 0, 0
        try:
            while position < len(self.data):
                position = self._file(position, chained)
                chained += 1
        except _Stop as stop:
            self._problem(stop.status, stop.reason, stop.offset)
        for group in self.groups.values():
            # A field_description group's `add` is a closure on the walker: a reference cycle
            # that would keep the walker, its groups and the file's bytes alive until the
            # cyclic collector's next pass, and make that pass longer.
            group.add = None

    def _problem(self, status: str, reason: str, offset: int) -> None:
        if self.status == "ok":
            self.status, self.detail = status, f"{reason} (at byte {offset} of {len(self.data)})"

    def _file(self, start: int, chained: int) -> int:
        """Decode one (possibly chained) FIT file at `start`; return where the next one starts."""
        header_size, data_size = self._header(start, chained)
        data_start, data_end = start + header_size, start + header_size + data_size
        self.file_starts.append(start)
        # Per header byte, the group its data messages go to (None: a definition message or an
        # undefined local type). Definitions and developer field types do not outlive their file.
        self.by_header: list[_Group | None] = [None] * 256
        self.dev_types: dict[tuple[int, int], _DevField] = {}
        self.local_definitions: list[_Definition | None] = [None] * 16
        self.seen_definitions: dict[bytes, _Definition] = {}  # definition message bytes -> definition
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
        data, by_header = self.data, self.by_header
        while position < end:
            header = data[position]
            group = by_header[header]
            if group is None:
                if header & 0xC0 == 0x40:
                    position = self._definition(position, end, data_end)
                    continue
                local = (header >> 5) & 0x3 if header & 0x80 else header & 0x0F
                raise _Stop("undefined_local_message",
                            f"Got data message with invalid local message type {local}", position)
            following = position + group.size
            if following > end:
                self._ran_out(position, data_end, "data message")
            if following < end and group.in_runs:
                after = data[following]  # the same message again, or a pair taking turns?
                next_group = by_header[after]
                if next_group is not None:
                    # Where the last message of a shortest run worth filing would start.
                    last = position + (MIN_RUN - 1) * (group.size + next_group.size)
                    skipped_to = last < end and data[last] == header and self._repeats(position, end, header, after)
                    if skipped_to:
                        position = skipped_to
                        continue
            if header & 0x80:
                self.compressed_headers = True
            group.add(position)
            position = following

    def _repeats(self, position: int, end: int, header: int, after: int) -> int | None:
        """File a long run of one message, or of two taking turns (record, hrv, record, hrv, ...),
        as runs of offsets; return where it ends, or None if it is too short to be worth it."""
        group, next_group = self.by_header[header], self.by_header[after]
        size = group.size
        if after != header and not next_group.in_runs:
            return None
        period = size if after == header else size + next_group.size
        # Most runs that fall short do so within the shortest worth filing: one slice tells.
        if self.data[position:position + MIN_RUN * period:period] != RUN_HEADS[header]:
            return None
        count = self._run_length(position, period, end, (header,) if after == header else (header, after), size)
        if count < MIN_RUN:
            return None
        group.runs.append((position, count, period))
        if after != header:
            next_group.runs.append((position + size, count, period))
        if (header | after) & 0x80:
            self.compressed_headers = True
        return position + count * period

    def _ran_out(self, position: int, data_end: int, what: str) -> None:
        where = "the file" if data_end > len(self.data) else "the declared data size"
        raise _Stop("truncated", f"{what} runs past the end of {where}", position)

    def _run_length(self, position: int, period: int, end: int, headers: tuple, first_size: int) -> int:
        """How many times the headers repeat every `period` bytes from `position`.

        One header: a run of equal messages. Two: the second sits `first_size` bytes into each
        period (messages taking turns); a period counts only if both messages fit.
        """
        available = (end - position) // period
        data, count, step = self.data, 0, FIRST_LOOK
        while count < available:  # look ahead in growing steps: work stays proportional to the run
            upto = min(available, count + step)
            start = position + count * period
            matching = upto - count
            for offset, header in zip((0, first_size), headers):
                # Header bytes at the period, as bytes; the leading matches strip off in C.
                heads = data[start + offset:start + (upto - count) * period:period]
                matching = min(matching, len(heads) - len(heads.lstrip(HEADER_BYTES[header])))
            if matching < upto - count:
                return count + matching
            count, step = upto, step * 4
        return count

    def _definition(self, position: int, end: int, data_end: int) -> int:
        data = self.data
        header = data[position]
        if position + 6 > end:
            self._ran_out(position, data_end, "definition message")
        cursor = position + 6 + 3 * data[position + 5]  # past the field triples
        if cursor > end:
            self._ran_out(position, data_end, "definition message")
        fields_end = cursor
        if header & 0x20:
            if cursor + 1 > end:
                self._ran_out(position, data_end, "definition message")
            cursor += 1 + 3 * data[cursor]  # past the developer field triples
            if cursor > end:
                self._ran_out(position, data_end, "definition message")
        # Some devices repeat a definition before every few messages: look the bytes up first.
        key = data[position + 2:cursor]
        definition = self.seen_definitions.get(key)
        if definition is None:
            definition = self.seen_definitions[key] = self._build_definition(key, fields_end - position - 2)
        if self.local_definitions[header & 0x0F] is not definition:
            self._use(header & 0x0F, definition)
        if definition.has_accumulator:
            # fitparse restarts component accumulation whenever such a definition is read.
            self.resets.append((definition.mesg_num, position))
        return cursor

    def _use(self, local: int, definition: _Definition) -> None:
        """Point every header byte of this local message type at the definition."""
        self.local_definitions[local] = definition
        group = self.groups.get(id(definition))
        if group is None:
            group = self.groups[id(definition)] = _Group(definition)
            if definition.mesg_num == FIELD_DESCRIPTION_MESG:
                group.add, group.in_runs = self._field_description(group), False
        # Normal headers ignore bits 4-5; compressed timestamp headers carry types 0-3 in bits 5-6.
        table = self.by_header
        table[local] = table[local | 0x10] = table[local | 0x20] = table[local | 0x30] = group
        if local < 4:
            first = 0x80 | local << 5
            table[first:first + COMPRESSED_TS_MASK + 1] = [group] * (COMPRESSED_TS_MASK + 1)

    def _field_description(self, group: _Group):
        def add(position: int) -> None:  # later definitions need it at once
            group.singles.append(position)
            self._register_dev_fields(group.definition, position)
        return add

    def _build_definition(self, message: bytes, fields_end: int) -> _Definition:
        """From a definition message's bytes after its header and reserved byte; the field
        triples end at `fields_end`, where the developer field count (if any) starts."""
        dev_triples, dev_fields = message[fields_end + 1:], ()
        if fields_end == len(message):
            key = message  # no developer fields: the bytes are all the layout depends on
        else:
            dev_fields = tuple(self.dev_types.get((dev_triples[i + 2], dev_triples[i]))
                               for i in range(0, len(dev_triples), 3))
            # Developer field types compare by value: the key holds everything the layout depends on.
            key = (message[:fields_end], dev_triples, dev_fields)
        definition = _DEFINITIONS.get(key)
        if definition is None:
            endian = ">" if message[0] else "<"
            mesg_num = int.from_bytes(message[1:3], "big" if endian == ">" else "little")
            definition = _make_definition(endian, mesg_num, message[4:fields_end], dev_triples, dev_fields)
            _cache_definition(key, definition)
        if definition.skipped:
            self.skipped_fields += [s for s in definition.skipped if s not in self.skipped_fields]
        return definition

    def _register_dev_fields(self, definition: _Definition, position: int) -> None:
        """A field_description message names and types the developer fields of later definitions."""
        # Chained files, and files of one app, repeat the same descriptions: decode each once.
        key = (definition, self.data[position:position + definition.size])
        described = _DESCRIPTIONS.get(key, key)
        if described is key:
            described = _dev_field_type(definition, self.data, position)
            if len(_DESCRIPTIONS) < DEFINITION_CACHE_SIZE and definition.size <= CACHED_MESSAGE_BYTES:
                _DESCRIPTIONS[key] = described
        if described is not None:
            self.seen_definitions.clear()  # the same definition bytes may now mean other types
            self.dev_types[described[0]] = dev = described[1]
            self.developer_fields.setdefault(f"dev:{dev.name.lower()}", DeveloperField(
                dev.name, dev.units, dev.native_field_num))


def _cache_definition(key: bytes | tuple, definition: _Definition) -> None:
    global _cached_fields
    fields = len(definition.fields) + len(definition.dev_fields)
    if len(_DEFINITIONS) < DEFINITION_CACHE_SIZE and _cached_fields + fields <= CACHED_FIELDS:
        _DEFINITIONS[key] = definition
        _cached_fields += fields


def _dev_field_type(definition: _Definition, data: bytes, position: int):
    """((developer index, field number), type) from one field_description message, or None."""
    rows = np.ndarray((1,), dtype=definition.dtype, buffer=data, offset=position)
    columns = _merge([(p, p.rows, 0) for p in _field_pieces(definition, rows)], 1, [], 1 << 30)
    values = {name: _cell(column, 0) for name, column in columns.items()}
    index, number = _as_int(values.get("developer_data_index")), _as_int(values.get("field_definition_number"))
    base = _base_type(values.get("fit_base_type_id"))  # fuzzed sizes can make any of these tuples
    if index is None or number is None or base is None:
        return None
    name = values.get("field_name")
    name = name if isinstance(name, str) else f"unnamed_dev_field_{number}"
    units = values.get("units")
    return (index, number), _DevField("", str(name), base, _positive(values.get("scale")),
                                      _positive(values.get("offset"), True),
                                      units=units if isinstance(units, str) else None,
                                      native_field_num=_as_int(values.get("native_field_num")))


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
    widest = max([f.size if f.base.name == "byte" else f.count for f in fields if f.base.name != "string"], default=1)
    return _Definition(mesg_num, mesg_type.name if mesg_type else None, offset, dtype, fields, dev_fields,
                       has_accumulator, timestamp, tuple(skipped), widest=widest)


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
    """Turns the walk's groups into columns per message name."""

    def __init__(self, data: bytes, walker: _Walker, keep: Collection[str] | None):
        self.data = data
        self.walker = walker
        self.keep = None if keep is None else set(keep)
        # Every message counts for compressed timestamps; without them, only the messages kept.
        self.groups = [g for g in walker.groups.values()
                       if (g.singles or g.runs) and (walker.compressed_headers or self._kept(g.definition.name))]
        for group in self.groups:
            group.finish()

    def _kept(self, name: str | None) -> bool:
        return name is not None and (self.keep is None or name in self.keep)

    def run(self) -> dict[str, dict[str, np.ndarray]]:
        timestamps = self._compressed_timestamps()
        by_name: dict[str, list[_Group]] = {}
        for group in self.groups:
            if self._kept(group.definition.name):
                by_name.setdefault(group.definition.name, []).append(group)
        budget = CELLS_PER_BYTE * len(self.data) + 65536
        return {name: self._message_columns(groups, timestamps, budget) for name, groups in by_name.items()}

    def chained_files(self) -> dict[str, np.ndarray]:
        """Per kept message name, the chained file of each row (rows are in file order)."""
        starts = np.array(self.walker.file_starts, dtype=np.int64)
        if len(starts) <= 1:
            return {}
        positions: dict[str, list[np.ndarray]] = {}
        for group in self.groups:
            if self._kept(group.definition.name):
                positions.setdefault(group.definition.name, []).append(group.positions)
        return {name: (np.searchsorted(starts, np.sort(np.concatenate(parts)), side="right") - 1).astype(np.int32)
                for name, parts in positions.items()}

    def _rows(self, group: _Group) -> np.ndarray:
        """The group's messages as one structured array: a view when they are contiguous."""
        positions, dtype = group.positions, group.definition.dtype
        count, size = len(positions), dtype.itemsize
        if int(positions[-1]) - int(positions[0]) == (count - 1) * size:  # offsets only ever grow by >= size
            return np.ndarray((count,), dtype=dtype, buffer=self.data, offset=int(positions[0]))
        # One opaque message starting at every byte (overlapping, zero-copy); pick ours in one
        # gather (opaque items copy as plain bytes, field by field would be slower), then type them.
        windows = np.ndarray((len(self.data) - size + 1,), dtype=f"V{size}", buffer=self.data, strides=(1,))
        # Typed by a new array on the picked bytes: .view() checks a structured dtype in Python.
        return np.ndarray((count,), dtype=dtype, buffer=windows[positions])

    def _compressed_timestamps(self) -> dict[int, np.ndarray]:
        """Timestamps of compressed-header messages: 5-bit offsets rolling over the last full one.

        Per group (by id), a float column with NaN where the header was a normal one.
        """
        if not self.walker.compressed_headers:  # else every group is here, some with such a message
            return {}
        every_byte = np.frombuffer(self.data, dtype=np.uint8)
        compressed = {id(g): every_byte[g.positions] >= 0x80 for g in self.groups}
        positions, values, is_compressed, owners = [], [], [], []
        for group in self.groups:
            flags = compressed[id(group)]
            if flags.any():
                where = np.flatnonzero(flags)
                positions.append(group.positions[where])
                values.append(every_byte[group.positions[where]].astype(np.int64) & COMPRESSED_TS_MASK)
                is_compressed.append(np.ones(len(where), dtype=bool))
                owners.append((group, where))
            full = self._full_timestamps(group, ~flags)
            if full is not None:
                positions.append(full[0])
                values.append(full[1])
                is_compressed.append(np.zeros(len(full[0]), dtype=bool))
        stamps = _rolled_timestamps(np.concatenate(positions), np.concatenate(values),
                                    np.concatenate(is_compressed), np.array(self.walker.file_starts))
        result, first = {}, 0
        for group, where in owners:
            column = np.full(len(group.positions), np.nan)
            column[where] = stamps[first:first + len(where)]
            result[id(group)] = column
            first += len(where)
        return result

    def _full_timestamps(self, group: _Group, normal: np.ndarray):
        """(offsets, values) of the group's valid timestamp fields in normal-header messages."""
        column = group.definition.timestamp_column
        if column is None or not normal.any():
            return None
        raw = self._rows(group)[column]
        base = next(f.base for f in group.definition.fields if f.column == column)
        valid = normal & ~_invalid_mask(raw, base)
        return group.positions[valid], raw[valid].astype(np.int64)

    def _message_columns(self, groups: list[_Group], timestamps, budget) -> dict[str, np.ndarray]:
        rows_of = _number_rows(groups)
        total = sum(len(g.positions) for g in groups)
        pieces: list[tuple[_Piece, np.ndarray | None, int]] = []
        direct: dict[str, np.ndarray] | None = {} if len(groups) == 1 else None
        for group in groups:
            rows = rows_of[id(group)]
            for piece in _field_pieces(group.definition, self._rows(group), direct):
                pieces.append((piece, _subset(rows, piece.rows), id(group)))
            stamps = timestamps.get(id(group))
            if stamps is not None:
                if direct and "timestamp" in direct:  # the field's own values, then the stamps on top
                    pieces.append((_Piece("timestamp", direct.pop("timestamp"), None, True), rows, id(group)))
                pieces.append((_Piece("timestamp", stamps, None, True), rows, id(group)))
        widest = max(g.definition.widest for g in groups)
        resets = self._resets(groups) if any(piece.accumulate for piece, _, _ in pieces) else []
        merged = _merge(pieces, total, resets, budget, widest)
        return {**direct, **merged} if direct else merged

    def _resets(self, groups: list[_Group]) -> list[int]:
        """Rows where accumulation restarts: the first message after each accumulator definition."""
        mesg_num = groups[0].definition.mesg_num
        offsets = [offset for number, offset in self.walker.resets if number == mesg_num]
        if not offsets:
            return []
        positions = np.sort(np.concatenate([g.positions for g in groups]))
        return sorted(set(np.searchsorted(positions, offsets).tolist()))


def _rolled_timestamps(positions, values, compressed, file_starts) -> np.ndarray:
    """The compressed events' timestamps, in input order of the compressed events.

    In file order, a full timestamp sets the last time; a compressed one rolls the last time
    forward to the next second with its 5 low bits, and becomes the last time. Each chained file
    starts from 0.
    """
    order = np.argsort(positions, kind="stable")
    values, compressed = values[order], compressed[order]
    files = np.searchsorted(file_starts, positions[order], side="right")
    count = len(values)
    new_file = np.ones(count, dtype=bool)
    new_file[1:] = files[1:] != files[:-1]
    previous = np.concatenate(([0], values[:-1]))
    previous[new_file] = 0
    # Low bits of the last time: those of the previous event, which is either kind.
    steps = np.where(compressed, (values - previous) & COMPRESSED_TS_MASK, 0)
    restart = ~compressed | new_file
    anchor = np.maximum.accumulate(np.where(restart, np.arange(count), 0))
    base = np.where(compressed[anchor], 0, values[anchor])
    walked = np.cumsum(steps)
    stamps = base + walked - walked[anchor] + steps[anchor]
    return stamps[compressed][np.argsort(order[compressed], kind="stable")].astype(np.float64)


def _subset(rows: np.ndarray | None, selected: np.ndarray | None) -> np.ndarray | None:
    """Rows of the name's column for a piece covering `selected` of a group's messages."""
    if selected is None:
        return rows
    return selected if rows is None else rows[selected]


def _number_rows(groups: list[_Group]) -> dict[int, np.ndarray | None]:
    """Each group's messages' indices among its name's messages, in file order (None: all, in order)."""
    if len(groups) == 1:
        return {id(groups[0]): None}
    positions = np.concatenate([g.positions for g in groups])
    ranks = np.empty(len(positions), dtype=np.int64)
    ranks[np.argsort(positions, kind="stable")] = np.arange(len(positions))
    result, first = {}, 0
    for group in groups:
        result[id(group)] = ranks[first:first + len(group.positions)]
        first += len(group.positions)
    return result


@dataclass
class _Plan:
    """How one definition's fields convert, worked out once per definition.

    Plain fields (numbers without names, subfields or components, and arrays of numbers)
    convert together as the rows of one float matrix, an array's elements on rows of their own;
    one-byte named fields (most enums) as the rows of one lookup; the rest one by one.

    The scalar fields whose column nothing else can write come first, in both matrices and in
    `fields`: when the definition is its name's only one, those columns are the matrices'
    first rows, as they are.
    """

    fields: list[tuple]        # (field, profile field, "plain" / "copy" / "named" / None, row in its matrix)
    sources: list[tuple]       # (dtype column, first matrix row, rows) of the plain fields and copies
    invalid: np.ndarray        # per matrix row: the raw invalid value as float (NaN: none)
    scale: np.ndarray | None   # per matrix row: scale, 1.0 when none (None: no row has one)
    offset: np.ndarray | None  # per matrix row: offset, 0.0 when none (None: no row has one)
    named_columns: list[str]   # dtype columns of the one-byte named fields
    names: np.ndarray          # per named field: what each of the 256 raw bytes stands for
    by_num: dict[int, _Field]  # the first field of each field number (subfields refer to them)
    alone_plain: tuple[str, ...]  # the columns of the plain matrix's first rows nothing else writes
    alone_named: tuple[str, ...]  # the same for the names matrix
    dev_fields: tuple[_DevField, ...]  # developer fields converted one by one (the rest are plain)


def _plan(definition: _Definition) -> _Plan | None:
    mesg_type = MESSAGE_TYPES.get(definition.mesg_num)
    if mesg_type is None:
        return None
    if definition.plan is None:
        definition.plan = _make_plan(definition, mesg_type)
    return definition.plan


def _make_plan(definition: _Definition, mesg_type) -> _Plan:
    """The plan, with the fields whose columns nothing else writes first (see _Plan)."""
    kinds = [*_field_kinds(definition, mesg_type), *_dev_kinds(definition)]
    alone = _written_alone(kinds, mesg_type)
    lone = [kind is not None and item.count == 1 and target.name in alone for item, target, kind, _ in kinds]
    fields, sources, invalid, scale, offset, named_columns, names = [], [], [], [], [], [], []
    alone_plain, alone_named = [], []  # names of the lone fields' matrix rows, which come first
    for (item, target, kind, scaling), is_lone in sorted(zip(kinds, lone), key=lambda pair: not pair[1]):
        if is_lone:
            (alone_named if kind == "named" else alone_plain).append(target.name)
        if kind == "named":
            fields.append((item, target, kind, len(named_columns)))
            named_columns.append(item.column)
            names.append(_byte_names(target, item.base, definition.dtype[item.column]))
        elif kind is not None:
            fields.append((item, target, kind, len(invalid)))
            sources.append((item.column, len(invalid), item.count))
            invalid += [np.nan if item.base.name.startswith("float") else float(INVALID[item.base.name])] * item.count
            scale += [float(scaling.scale or 1.0)] * item.count
            offset += [float(scaling.offset or 0.0)] * item.count
        else:
            fields.append((item, target, kind, None))
    as_column = lambda values: np.array(values, dtype=np.float64).reshape(-1, 1)  # noqa: E731
    # A scale or offset column only if some row needs it (neutral: 1.0 and 0.0).
    needed = lambda values, neutral: as_column(values) if any(v != neutral for v in values) else None  # noqa: E731
    by_num: dict[int, _Field] = {}
    for item in definition.fields:
        by_num.setdefault(item.def_num, item)
    in_matrix = {item for item, _, _, _ in kinds if isinstance(item, _DevField)}
    return _Plan(fields, sources, as_column(invalid), needed(scale, 1.0), needed(offset, 0.0), named_columns,
                 np.array(names, dtype=object).reshape(-1, 256), by_num, tuple(alone_plain), tuple(alone_named),
                 tuple(dev for dev in definition.dev_fields if dev not in in_matrix))


def _field_kinds(definition: _Definition, mesg_type):
    """(field, profile field, how it converts, profile entry with its scale and offset) per
    field the profile knows; a plain field's whole-field components come first, as copies."""
    for item in definition.fields:
        profile = mesg_type.fields.get(item.def_num)
        if profile is None:
            continue
        dtype = definition.dtype[item.column]
        if _plain(item, profile, dtype, mesg_type):
            # Components first, as _component_pieces yields them before the field itself.
            copies = [] if item.count > 1 else [(mesg_type.fields[c.def_num], c) for c in profile.components or ()]
            for target, scaling in copies:
                yield item, target, "copy", scaling
            yield item, profile, "plain", profile
        elif _named_byte(item, profile, dtype):
            yield item, profile, "named", None
        else:
            yield item, profile, None, None


def _dev_kinds(definition: _Definition):
    """Developer fields that convert as plain fields do: numbers (not 64-bit integers, whose
    invalid value a float cannot tell apart), each the only one of its name in the definition."""
    names = [dev.name.lower() for dev in definition.dev_fields]
    for dev, name in zip(definition.dev_fields, names):
        dtype = definition.dtype[dev.column]
        if (dev.base.name != "string" and names.count(name) == 1
                and not (dtype.kind in "iu" and dtype.itemsize == 8)):
            yield dev, _DevColumn(f"dev:{name}"), "plain", dev


def _written_alone(fields: list[tuple], mesg_type) -> frozenset[str]:
    """Columns of the plan's plain, copy and named fields that no other field (nor a subfield or
    component of one) can write."""
    writers: dict[str, int] = {}
    for _, profile, kind, _ in fields:
        if kind is not None:
            writers[profile.name] = writers.get(profile.name, 0) + 1
            continue
        for target in (profile, *(profile.subfields or ())):
            components = (mesg_type.fields.get(c.def_num) for c in target.components or ())
            for name in (target.name, *(c.name for c in components if c is not None)):
                writers[name] = 2  # data decides what these write
    return frozenset(name for name, count in writers.items() if count == 1)


def _plain(item: _Field, profile, dtype: np.dtype, mesg_type) -> bool:
    """Numbers _convert would scale without names: arrays of numbers too, as it gives them no
    names and _component_pieces no components."""
    # 64-bit integers do not all fit a float exactly, so their invalid value is checked raw.
    if (profile.subfields or item.base.name not in INVALID | {"float32": 0, "float64": 0}
            or (dtype.base.kind in "iu" and dtype.base.itemsize == 8)):
        return False
    return item.count > 1 or (_named_values(profile) is None
                              and all(_whole_copy(c, item, mesg_type) for c in profile.components or ()))


def _whole_copy(component, item: _Field, mesg_type) -> bool:
    """A component that is the whole unsigned field again, scaled its own way (speed ->
    enhanced_speed): _component_pieces would make it from the same raw values and validity."""
    target = mesg_type.fields.get(component.def_num)
    return (target is not None and component.bit_offset == 0 and component.bits == 8 * item.size
            and not component.accumulate and item.base.name.startswith("uint")
            and _named_values(target) is None)


def _named_byte(item: _Field, profile, dtype: np.dtype) -> bool:
    return (item.count == 1 and not profile.subfields and not profile.components
            and _named_values(profile) is not None and dtype.itemsize == 1
            and item.base.name not in ("string", "byte"))


def _plain_matrix(plan: _Plan, rows: np.ndarray) -> np.ndarray:
    """_numbers for every plain field at once: the same float arithmetic, row by row."""
    matrix = np.empty((len(plan.invalid), len(rows)))
    for column, slot, count in plan.sources:
        if count == 1:
            matrix[slot] = rows[column]
        else:  # an array: one row per element
            matrix[slot:slot + count] = rows[column].T
    matrix[matrix == plan.invalid] = np.nan  # ints up to 32 bits convert exactly, so this is raw ==
    if plan.scale is not None:  # x / 1.0 and x - 0.0 are x exactly: rows without either take them too
        matrix /= plan.scale
    if plan.offset is not None:
        matrix -= plan.offset
    return matrix


def _names_matrix(plan: _Plan, rows: np.ndarray) -> np.ndarray:
    """_convert for every one-byte named field at once: one lookup of all their raw bytes."""
    codes = np.empty((len(plan.named_columns), len(rows)), dtype=np.uint8)
    for slot, column in enumerate(plan.named_columns):
        codes[slot] = rows[column].view(np.uint8)
    return plan.names[np.arange(len(codes))[:, None], codes]


def _field_pieces(definition: _Definition, rows: np.ndarray, direct: dict | None = None):
    """The definition's values as pieces for _merge. Given `direct` (the definition is its name's
    only one), the columns only one plain, copy or named field writes go there instead, whole."""
    plan = _plan(definition)
    if plan is None:
        return
    plain = _plain_matrix(plan, rows) if plan.sources else None
    named = _names_matrix(plan, rows) if plan.named_columns else None
    fields = plan.fields
    if direct is not None:  # the plan put these columns first: each a row of a matrix, whole
        direct.update(zip(plan.alone_plain, plain if plan.alone_plain else ()))
        direct.update(zip(plan.alone_named, named if plan.alone_named else ()))
        fields = fields[len(plan.alone_plain) + len(plan.alone_named):]
    matrices = {"plain": plain, "copy": plain, "named": named}
    # Fields subfields refer to, read once: def_num -> _reference's answer, and ("same", def_num)
    # -> does it hold one value in every row.
    referenced: dict = {}
    for item, profile, kind, slot in fields:
        if kind is not None:  # copies are components: below the field's own values, if any
            values = matrices[kind][slot] if item.count == 1 else plain[slot:slot + item.count].T
            yield _Piece(profile.name, values, None, kind != "copy")
            continue
        raw = rows[item.column]
        mesg_type = MESSAGE_TYPES[definition.mesg_num]
        for target, selected in _subfield_choice(profile, plan.by_num, rows, referenced):
            part = raw if selected is None else raw[selected]
            yield from _component_pieces(mesg_type, target, item, part, selected)
            yield _Piece(target.name, _convert(part, item, target), selected, True)
    for dev in plan.dev_fields:
        raw = rows[dev.column]
        values = _strings(raw) if dev.base.name == "string" else _numbers(raw, dev.base, dev.scale, dev.offset)
        yield _Piece(f"dev:{dev.name.lower()}", values, None, True)


def _subfield_choice(profile, by_num: dict[int, _Field], rows: np.ndarray, referenced: dict):
    """(field or subfield, row indices or None) pairs: the first subfield whose reference matches."""
    if not profile.subfields:
        return [(profile, None)]
    count, unchosen = len(rows), len(profile.subfields)
    if count > SMALL_RENDER and _same_references(profile, by_num, rows, referenced):
        return _subfield_choice(profile, by_num, rows[:1], {})  # every row chooses as the first
    # Per row, the index of the first subfield that matches; a few rows go faster as a list.
    choice = np.full(count, unchosen) if count > SMALL_RENDER else [unchosen] * count
    for def_num, keys, firsts, first_of in _subfield_keys(profile):
        reference = _reference(def_num, by_num, rows, referenced)
        if reference is None:
            continue
        raw, valid_rows = reference
        if count > SMALL_RENDER:
            values = raw.astype(np.float64)  # exact: reference values are small integers
            at = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
            matches = (keys[at] == values) & valid_rows
            np.minimum(choice, np.where(matches, firsts[at], unchosen), out=choice)
            continue
        for row, (value, valid) in enumerate(zip(raw.tolist(), valid_rows.tolist())):
            if valid:
                choice[row] = min(choice[row], first_of.get(value, unchosen))
    first = int(choice[0]) if count else unchosen
    if (choice.count(first) if isinstance(choice, list) else np.count_nonzero(choice == first)) == count:
        return [(profile if first == unchosen else profile.subfields[first], None)]  # no row selection
    if isinstance(choice, list):  # a few rows: sorted into targets in Python
        rows_by_choice: dict[int, list[int]] = {}
        for row, index in enumerate(choice):
            rows_by_choice.setdefault(index, []).append(row)
        indices = sorted(rows_by_choice)  # subfields in profile order, then the field itself
        return [(profile if index == unchosen else profile.subfields[index], np.array(rows_by_choice[index]))
                for index in indices]
    chosen = choice < unchosen
    result = [(profile.subfields[index], np.flatnonzero(choice == index))
              for index in np.unique(choice[chosen]).tolist()]
    if not chosen.all():
        result.append((profile, np.flatnonzero(~chosen)))
    return result


def _same_references(profile, by_num: dict[int, _Field], rows: np.ndarray, referenced: dict) -> bool:
    """Does every field the subfields refer to hold one raw value in all rows (a lap's sport)?"""
    for def_num, _, _, _ in _subfield_keys(profile):
        reference = _reference(def_num, by_num, rows, referenced)
        if reference is None:
            continue
        if ("same", def_num) not in referenced:
            raw = reference[0]
            referenced[("same", def_num)] = bool((raw == raw[0]).all())
        if not referenced[("same", def_num)]:
            return False
    return True


def _reference(def_num: int, by_num: dict[int, _Field], rows: np.ndarray, referenced: dict):
    """A field subfields refer to, read and masked once per definition however many references:
    (raw, valid), or None when there is none or it cannot be one (an array, text, bytes)."""
    if def_num not in referenced:
        item = by_num.get(def_num)
        if item is None or item.count != 1 or item.base.name in ("string", "byte"):
            referenced[def_num] = None
        else:
            raw = rows[item.column]
            referenced[def_num] = raw, ~_invalid_mask(raw, item.base)
    return referenced[def_num]


def _subfield_keys(profile) -> list[tuple[int, np.ndarray, np.ndarray, dict]]:
    """Per referenced field: its sorted reference values, the first subfield naming each, and
    the same as a dict."""
    keys = _SUBFIELD_KEYS.get(id(profile))
    if keys is None:
        firsts: dict[int, dict[int, int]] = {}
        for index, subfield in enumerate(profile.subfields):
            for reference in subfield.ref_fields:
                firsts.setdefault(reference.def_num, {}).setdefault(reference.raw_value, index)
        keys = _SUBFIELD_KEYS[id(profile)] = [
            (def_num, np.array(sorted(values), dtype=np.float64),
             np.array([values[v] for v in sorted(values)]), values)
            for def_num, values in firsts.items()]
    return keys


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
    return raw == _sentinel(raw.dtype, invalid)


def _sentinel(dtype: np.dtype, invalid: int):
    return dtype.type(invalid if dtype.kind == "u" else np.int64(invalid))


def _scaled(values: np.ndarray, scale, offset) -> np.ndarray:
    # Same operations, in the same order, as fitparse: float(raw) / scale - offset.
    if scale:
        values = values / scale
    if offset:
        values = values - offset
    return values


def _numbers(raw: np.ndarray, base, scale, offset) -> np.ndarray:
    invalid = None if raw.dtype.kind == "f" else INVALID.get(base.name)  # a float's invalid value is NaN
    values = raw.astype(np.float64)
    if invalid is not None:  # NaN where invalid, after the copy: cheaper than np.where on few values
        values[raw == _sentinel(raw.dtype, invalid)] = np.nan
    # In place on the fresh array: the same arithmetic as _scaled without its copies.
    if scale:
        values /= scale
    if offset:
        values -= offset
    return values


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
    if len(values) <= SMALL_RENDER:
        rendered = np.empty(len(values), dtype=object)
        for index, number in enumerate(values.tolist()):
            rendered[index] = _name(number, names)
        return rendered
    unique, inverse = np.unique(values, return_inverse=True)
    rendered = np.empty(len(unique), dtype=object)
    for index, number in enumerate(unique.tolist()):
        rendered[index] = _name(number, names)
    return rendered[inverse.reshape(-1)]


def _name(number: float, names: dict):
    if number != number:
        return None
    number = int(number) if float(number).is_integer() else number
    return names.get(number, number)


def _byte_names(profile, base, dtype: np.dtype) -> np.ndarray:
    """What _render makes of each of the 256 raw values of a one-byte field, as a lookup table."""
    key = (id(profile), base.name, dtype.kind)
    table = _BYTE_NAMES.get(key)
    if table is None:
        names, invalid = _named_values(profile), INVALID.get(base.name)
        table = np.empty(256, dtype=object)
        for byte in range(256):
            number = byte - 256 if dtype.kind == "i" and byte > 127 else byte
            table[byte] = None if number == invalid else names.get(number, number)
        _BYTE_NAMES[key] = table
    return table


def _convert(raw: np.ndarray, item: _Field, profile) -> np.ndarray:
    if item.base.name == "string":
        return _strings(raw)
    if item.base.name == "byte":
        return raw.copy()  # one row of bytes per message
    if item.count > 1 or _named_values(profile) is None:  # arrays: one row of elements per message
        return _numbers(raw, item.base, profile.scale, profile.offset)
    if raw.dtype.itemsize == 1:  # most enums: one lookup per message
        return _byte_names(profile, item.base, raw.dtype)[raw.view(np.uint8)]
    if raw.dtype.kind in "iu" and raw.dtype.itemsize <= 4 and len(raw) <= LOOKUP_NAMES:
        return _int_names(raw, item.base, profile)
    return _render(_numbers(raw, item.base, None, None), profile)


def _int_names(raw: np.ndarray, base, profile) -> np.ndarray:
    """_render(_numbers(raw)) for up to 32-bit integers, by one dict lookup per value: the
    same names, ints when unnamed and None when invalid, without floats in between."""
    key = (id(profile), base.name)
    names = _INT_NAMES.get(key)
    if names is None:
        names = _INT_NAMES[key] = dict(_named_values(profile))
        if base.name in INVALID:  # as a Python int, the raw value of any field up to 32 bits
            names[INVALID[base.name]] = None
    values = raw.tolist()
    return np.fromiter(map(names.get, values, values), dtype=object, count=len(values))  # get(v, default v)


def _strings(raw: np.ndarray) -> np.ndarray:
    out = np.empty(len(raw), dtype=object)
    for index, text in enumerate(raw.tolist()):
        out[index] = text.split(b"\0", 1)[0].decode("utf-8", errors="replace") or None
    return out


def cells(column: np.ndarray) -> list:
    """One Python value per message, as fitparse gives them. An array field's column is 2-D (one
    row per message): its cells are tuples, or None where every element is invalid (0xFF for
    every byte of a byte array); invalid number elements stay NaN, as in 1-D float columns."""
    if column.ndim == 1:
        return column.tolist()
    values = list(zip(*column.T.tolist()))  # the tuples straight from one list per element
    for row in np.flatnonzero(_invalid_rows(column)).tolist():
        values[row] = None
    return values


def _invalid_rows(column: np.ndarray) -> np.ndarray:
    """Per message of a 2-D (array field) column: is every element invalid?"""
    return np.isnan(column).all(axis=1) if column.dtype.kind == "f" else (column == 0xFF).all(axis=1)


def _merge(pieces, total: int, resets: list[int], budget: int, widest: int = MAX_ARRAY) -> dict[str, np.ndarray]:
    """One column per name: component values first, accumulated ones next, real fields on top.

    Pieces come as (piece, rows, owner): rows are indices into the column, or None for all of
    them in order; owner tells which group (definition) the piece's values come from.
    """
    by_column: dict[str, list] = {}
    for piece, rows, owner in pieces:
        by_column.setdefault(piece.column, []).append((piece, rows, owner))
    columns: dict[str, np.ndarray] = {}
    for name in _affordable(by_column, total, budget, widest):
        entries = by_column[name]
        only, rows, _ = entries[0]
        if len(entries) == 1 and rows is None and only.real:
            columns[name] = only.values  # one field of every message: already the column
            continue
        column = _empty_column(entries, total)
        if _disjoint_fields(entries):
            for piece, rows, _ in entries:  # an invalid value writes the column's own filler
                column[_all(rows)] = _shaped(piece.values, column)
            columns[name] = column
            continue
        for piece, rows, _ in entries:
            if not piece.real and piece.accumulate is None:
                column[_all(rows)] = _shaped(piece.values, column)
        _write_accumulated(column, [(p, r) for p, r, _ in entries if p.accumulate], total, resets)
        for piece, rows, _ in entries:
            if piece.real:
                values = _shaped(piece.values, column)
                valid = _valid(values)
                column[valid if rows is None else rows[valid]] = values[valid]
        columns[name] = column
    return columns


def _empty_column(entries, total: int) -> np.ndarray:
    """Filled with what stands for "no value": NaN for numbers and None for objects (text, names).

    A field that is an array in some definition gets a 2-D column as wide as its widest array:
    rows of NaN for numbers, of 0xFF for bytes. A narrower definition's values fill the first
    elements of their rows, as invalid ones would pad them (a plain number is an array of one).
    Arrays that do not fit that (bytes and numbers mixed, accumulated components) fall back to an
    object column of tuples.
    """
    values = [p.values for p, _, _ in entries]
    if all(v.dtype is FLOAT and v.ndim == 1 for v in values):
        return _full(total, np.nan)
    width = max(_width(v) for v in values)
    if all(v.dtype.kind == "f" for v in values) and not any(p.accumulate for p, _, _ in entries):
        return _full((total, width), np.nan)
    if all(v.ndim == 2 and v.dtype.kind == "u" for v in values):
        return _full((total, width), _filler(values[0].dtype), np.uint8)
    return np.empty(total, dtype=object)  # all None


def _full(shape, value, dtype=FLOAT) -> np.ndarray:
    """np.full without its overhead, which is most of the time for a few messages."""
    array = np.empty(shape, dtype)
    array.fill(value)
    return array


def _filler(dtype: np.dtype):
    """An invalid element: NaN for numbers, 0xFF for bytes."""
    return np.nan if dtype.kind == "f" else 0xFF


def _disjoint_fields(entries) -> bool:
    """Only real fields, each from a different definition: no two pieces can write one row."""
    owners = {owner for _, _, owner in entries}
    return len(owners) == len(entries) and all(p.real for p, _, _ in entries)


def _all(rows: np.ndarray | None):
    return slice(None) if rows is None else rows


def _affordable(by_column: dict, total: int, budget: int, widest: int) -> list[str]:
    """The columns to make, within `budget` cells; an array field's column counts its elements
    (`widest`: the most any array field of these pieces has)."""
    names = list(by_column)
    if total * len(names) * widest <= budget:
        return names
    needed = {name: total * max(_width(p.values) for p, _, _ in entries) for name, entries in by_column.items()}
    if sum(needed.values()) <= budget:
        return names
    # Keep the columns that cover the most rows, within the budget.
    names.sort(key=lambda n: -sum(total if rows is None else len(rows) for _, rows, _ in by_column[n]))
    kept, spent = [], 0
    for name in names:
        if spent + needed[name] <= budget or not kept:
            kept.append(name)
            spent += needed[name]
    return kept


def _width(values: np.ndarray) -> int:
    return values.shape[1] if values.ndim == 2 else 1


def _shaped(values: np.ndarray, column: np.ndarray) -> np.ndarray:
    """A piece's values in the column's type and shape."""
    if values.dtype is column.dtype and values.shape[1:] == column.shape[1:]:
        return values
    if column.dtype is OBJECT:
        if values.ndim == 2:
            return np.fromiter(cells(values), dtype=object, count=len(values))
        out = values.astype(object)
        out[np.isnan(values)] = None
        return out
    if column.ndim == 2 and _width(values) < column.shape[1]:
        padded = _full((len(values), column.shape[1]), _filler(column.dtype), column.dtype)
        padded[:, :_width(values)] = values.reshape(len(values), -1)
        return padded
    return values


def _valid(values: np.ndarray) -> np.ndarray:
    if values.dtype == object:
        return np.array([v is not None for v in values.tolist()], dtype=bool)
    if values.ndim == 2:
        return ~_invalid_rows(values)
    return ~np.isnan(values)


def _write_accumulated(column, entries, total: int, resets: list[int]) -> None:
    """Accumulate rolling component counters (distance in compressed_speed_distance) in file order."""
    if not entries:
        return
    raw = np.full(total, np.nan)
    for piece, rows in entries:
        raw[_all(rows)] = piece.values
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
    valid = ~np.isnan(result)
    column[valid] = result[valid]
