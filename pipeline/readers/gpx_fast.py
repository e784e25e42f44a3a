"""Fast GPX reader: one streaming lxml pass straight into columns.

It gives the same ParsedFile as the gpxpy engine (`gpx.read_gpx`), refusals included.
gpxpy's rules that it copies, because they decide what a file yields:
- gpxpy deletes the root's default namespace, so GPX elements are matched in that
  namespace (or none), and an extension element in it counts as un-namespaced;
- only direct children count: gpx/trk/trkseg/trkpt, gpx/rte/rtept, gpx/wpt, and of each
  child tag only the first (`find`);
- the version attribute picks the field set: `<speed>` and `<course>` exist only outside
  1.1, extensions and the track `<type>` only in 1.1;
- a value that does not convert (lat, ele, sat, fix, ...) rejects the whole file, with
  gpxpy's message for the first such field in gpxpy's order; a bad time is just missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

import polars as pl
from lxml import etree

from .base import (RECORD_COLUMNS, ParsedFile, ReadError, frame, in_time_order, not_activity,
                   timestamp_status, without_cycle_collection)
from .gpx import EXTENSION_COLUMNS
from .xmlsafe import parse_xml, pull_events, release, require_root

# Track points are not streamed one by one: each chunk's complete points are read in bulk
# from their open <trkseg>.
STREAMED_TAGS = ("{*}trkseg", "{*}trk", "{*}rtept", "{*}rte", "{*}wpt", "{*}bounds")

# gpxpy.gpxfield.RE_TIMESTAMP, verbatim: `[+-−]` is a character range, as in gpxpy.
GPXPY_TIME = re.compile(
    r'^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})[T ]([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})'
    r'(\.[0-9]{1,15})?(Z|[+-−][0-9]{2}:?(?:[0-9]{2})?)?$')
# The usual device form, which datetime.fromisoformat reads the way gpxpy does, only faster.
CANONICAL_UTC_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z")
# Of those, the ones polars' strptime reads as gpxpy does, all at once: it would also take a
# leap second (60) and year 0000, which gpxpy refuses.
USUAL_UTC_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9](\.[0-9]{1,6})?Z$"
USUAL_UTC_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"
VECTORIZED_TIMES = 2000  # points from which that pays for its fixed cost
FIX_VALUES = ("none", "2d", "3d", "dgps", "pps", "3")
# Columns every track point has, in the order of the row tuples kept while streaming.
POINT_COLUMNS = ("timestamp_utc", "lat_deg", "lon_deg", "altitude_m", "speed_mps")
EXTENSION_COLUMN_NAMES = tuple(dict.fromkeys(EXTENSION_COLUMNS.values()))
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_MICROSECOND = timedelta(microseconds=1)


def _float(text: str) -> float:
    return float(text.strip())


def _int(text: str) -> int:
    return int(text.strip())


def _fix(text: str) -> str:
    if text not in FIX_VALUES:
        raise _Invalid(f'Invalid value "{text}", possible: {FIX_VALUES}')
    return text


# Typed point fields after lat, lon, ele and time, in gpxpy's order; a bad one rejects the file.
CHECKED_POINT_FIELDS = (
    ("magvar", _float), ("geoidheight", _float), ("fix", _fix), ("sat", _int), ("hdop", _float),
    ("vdop", _float), ("pdop", _float), ("ageofdgpsdata", _float), ("dgpsid", _int),
)
# Track points outside GPX 1.1 also have these, checked between time and magvar.
GPX10_TRACK_POINT_FIELDS = (("course", _float), ("speed", _float))
BOUNDS_ATTRIBUTES = ("minlat", "maxlat", "minlon", "maxlon")

# Sections of the <gpx> element in the order gpxpy reads them: the first bad value wins.
BOUNDS, WAYPOINTS, ROUTES, TRACKS = range(4)


class _Invalid(Exception):
    """A value gpxpy would refuse; the message is gpxpy's."""


def read_gpx_fast(data: bytes, name: str) -> ParsedFile:
    collector: _Collector | None = None
    with without_cycle_collection():
        for events in pull_events(data, "GPX", STREAMED_TAGS, ("start", "end")):
            if collector is None and events:
                root = events[0][1].getroottree().getroot()
                require_root(root.tag, "gpx", "GPX")
                collector = _Collector(root)
            if collector is not None:
                collector.take(events)
        return collector.result() if collector else _Collector.empty_result(data)


class _Collector:
    """Columns and counts gathered while the file streams by."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.version = root.get("version")
        self.is_gpx11 = self.version == "1.1"
        default_ns = root.nsmap.get(None) or ""
        self.tag = {n: f"{{{default_ns}}}{n}" if default_ns else n for n in (
            "trk", "trkseg", "trkpt", "rte", "rtept", "wpt", "bounds", "metadata",
            "ele", "time", "type", "name", "number", "extensions",
            *(field for field, _ in CHECKED_POINT_FIELDS + GPX10_TRACK_POINT_FIELDS))}
        self.checked_fields = [(self.tag[f], f, convert) for f, convert in CHECKED_POINT_FIELDS]
        self.gpx10_fields = [(self.tag[f], f, convert) for f, convert in GPX10_TRACK_POINT_FIELDS]
        self.checked_tags = {tag for tag, _, _ in self.checked_fields + self.gpx10_fields}
        self.extension_tags = _extension_tags(default_ns)
        # Plain functions, not bound methods, which would make a reference cycle of the collector.
        self.handlers = {
            ("start", self.tag["trkseg"]): _Collector._segment_started,
            ("end", self.tag["trkseg"]): _Collector._segment_ended,
            ("end", self.tag["trk"]): _Collector._track,
            ("end", self.tag["rtept"]): _Collector._route_point, ("end", self.tag["rte"]): _Collector._route,
            ("end", self.tag["wpt"]): _Collector._waypoint, ("end", self.tag["bounds"]): _Collector._bounds,
        }
        # One per point with a time text (read at the end: see _utc_series), in POINT_COLUMNS order.
        self.rows: list[tuple] = []
        # One per row: values in EXTENSION_COLUMN_NAMES order (None: no value), or None.
        self.extension_rows: list[tuple | None] = []
        # Child tags of a track point (or descendant tags of its <extensions>) -> how to read
        # them; a file repeats a handful of layouts, so each is worked out once.
        self.point_layouts: dict[tuple, tuple | None] = {}
        self.extension_layouts: dict[tuple, tuple] = {}
        self.segment: etree._Element | None = None  # the open <trkseg> directly under a <trk>
        self.n_points = 0
        self.n_tracks = self.n_routes = self.n_waypoints = 0
        self.track_type: str | None = None
        self.track_name: str | None = None
        self.seen = 0  # elements handled so far: document order for the error key
        self.error: tuple[tuple, str] | None = None

    # -- dispatch ---------------------------------------------------------------------------

    def take(self, events: list[tuple[str, etree._Element]]) -> None:
        """One chunk's events, then the open segment's points that the chunk completed."""
        for kind, element in events:
            handler = self.handlers.get((kind, element.tag))
            if handler is not None:
                self.seen += 1
                handler(self, element)
        if self.segment is not None:  # its last child may still be growing
            self._read_points(len(self.segment) - 1)

    def _child_of_root(self, element: etree._Element) -> bool:
        parent = element.getparent()
        return parent is not None and parent.getparent() is None

    def _in(self, element: etree._Element, parent_tag: str) -> etree._Element | None:
        """The parent if it is a `parent_tag` directly under the root, else None."""
        parent = element.getparent()
        if parent is not None and parent.tag == parent_tag and self._child_of_root(parent):
            return parent
        return None

    def _note(self, key: tuple, problem: _Invalid) -> None:
        if self.error is None or key < self.error[0]:
            self.error = (key, str(problem))

    # -- elements ---------------------------------------------------------------------------

    def _segment_started(self, segment: etree._Element) -> None:
        if self._in(segment, self.tag["trk"]) is not None:
            self.segment = segment

    def _segment_ended(self, segment: etree._Element) -> None:
        if segment is self.segment:
            self._read_points(len(segment))
            self.segment = None

    def _read_points(self, n: int) -> None:
        """Read, then free, the open segment's first n children, all complete."""
        if n <= 0:
            return
        segment = self.segment
        point_tag = self.tag["trkpt"]
        for child in segment[:n]:
            if child.tag == point_tag:
                self._track_point(child)
        del segment[:n]

    def _track_point(self, point: etree._Element) -> None:
        self.n_points += 1
        self.seen += 1
        try:
            if not self._add_plain_record(point):
                self._add_record(point)
        except _Invalid as problem:
            self._note((TRACKS, self.n_tracks, 1, self.seen), problem)

    def _add_plain_record(self, point: etree._Element) -> bool:
        """The common point, read with less Python than _add_record; False when it is not one.

        Plain: no field that needs checking (nor GPX 1.0's speed and course), readable lat,
        lon and ele. Anything else (or any doubt) goes to _add_record, which also gives
        gpxpy's error messages.
        """
        children = point[:]
        tags = tuple([child.tag for child in children])
        layout = self.point_layouts.get(tags, tags)
        if layout is tags:
            layout = self.point_layouts[tags] = self._point_layout(tags)
        if layout is None:
            return False
        ele_at, time_at, extensions_at = layout
        try:
            lat, lon = float(point.get("lat")), float(point.get("lon"))
            ele = float(children[ele_at].text) if ele_at is not None else None
        except (TypeError, ValueError):
            return False
        time = children[time_at].text if time_at is not None else None
        if not time:
            return True
        self.rows.append((time, lat, lon, ele, None))
        extensions = children[extensions_at] if extensions_at is not None else None
        self.extension_rows.append(self._plain_extensions(extensions) if extensions is not None else None)
        return True

    def _point_layout(self, tags: tuple) -> tuple | None:
        """(index of the first ele, time and extensions child, each or None), or None if not
        plain. Extensions count in GPX 1.1 only."""
        if not self.checked_tags.isdisjoint(tags):
            return None
        wanted = (self.tag["ele"], self.tag["time"], self.tag["extensions"] if self.is_gpx11 else None)
        return tuple(tags.index(tag) if tag in tags else None for tag in wanted)

    def _plain_extensions(self, extensions: etree._Element) -> tuple | None:
        """_extension_values as a tuple in EXTENSION_COLUMN_NAMES order."""
        found = list(extensions.iterdescendants())
        tags = tuple([element.tag for element in found])
        layout = self.extension_layouts.get(tags)
        if layout is None:
            layout = self.extension_layouts[tags] = self._extension_layout(tags)
        layout, single = layout
        if not layout:
            return None
        values = [None] * len(EXTENSION_COLUMN_NAMES)
        if single:  # usual: one element per column
            try:
                for slot, (index,) in layout:
                    values[slot] = float(found[index].text)  # float() strips what str.strip() does
                return tuple(values)
            except (TypeError, ValueError):  # no text, or not a number: the general rule below
                values = [None] * len(EXTENSION_COLUMN_NAMES)
        for slot, candidates in layout:
            for index in candidates:  # the last readable value wins, as in _extension_values
                text = found[index].text
                if text is None:
                    continue
                try:
                    values[slot] = float(text.strip())
                    break
                except ValueError:
                    continue
        return tuple(values)

    def _extension_layout(self, tags: tuple) -> tuple:
        """(per column read: (its slot, indices of the descendants that hold it, last first),
        whether each column has just one)."""
        layout = []
        for slot, name in enumerate(EXTENSION_COLUMN_NAMES):
            candidates = [i for i, tag in enumerate(tags) if self.extension_tags.get(tag) == name]
            if candidates:
                layout.append((slot, tuple(reversed(candidates))))
        return tuple(layout), all(len(candidates) == 1 for _, candidates in layout)

    def _add_record(self, point: etree._Element) -> None:
        children = _first_children(point)
        lat, lon, ele = self._position(point, children)
        speed = None
        if not self.is_gpx11:
            speed = self._check(children, self.gpx10_fields)
        if not self.checked_tags.isdisjoint(children):
            self._check(children, self.checked_fields)
        time = children.get(self.tag["time"])
        time = time.text if time is not None else None
        if not time:
            return
        # The gpxpy engine keeps <speed> for GPX 1.0 only (not for a missing version).
        self.rows.append((time, lat, lon, ele, speed if self.version == "1.0" else None))
        extensions = children.get(self.tag["extensions"]) if self.is_gpx11 else None
        found = self._extension_values(extensions) if extensions is not None else None
        self.extension_rows.append(tuple(found.get(n) for n in EXTENSION_COLUMN_NAMES) if found else None)

    def _position(self, point: etree._Element, children: dict) -> tuple:
        lat, lon = point.get("lat"), point.get("lon")
        ele = children.get(self.tag["ele"])
        ele = ele.text if ele is not None else None
        try:  # fast path; float() itself ignores the whitespace gpxpy strips
            return float(lat), float(lon), (float(ele) if ele is not None else None)
        except (TypeError, ValueError):
            pass
        lat = _required(lat, "latitude")
        lon = _required(lon, "longitude")
        return lat, lon, _field(children.get(self.tag["ele"]), "ele", _float)

    def _check(self, children: dict, fields: list) -> object:
        """Convert each field present, as gpxpy would; returns the last field's value."""
        value = None
        for tag, name, convert in fields:
            value = _field(children.get(tag), name, convert)
        return value

    def _extension_values(self, extensions: etree._Element) -> dict[str, float]:
        found = {}
        for element in extensions.iterdescendants():
            column = self.extension_tags.get(element.tag)
            if column is None or element.text is None:
                continue
            try:  # a later value wins, as in the gpxpy engine
                found[column] = float(element.text.strip())
            except ValueError:
                continue  # the gpxpy engine skips unreadable extension values
        return found

    def _track(self, track: etree._Element) -> None:
        if not self._child_of_root(track):
            return
        self._check_number(track, (TRACKS, self.n_tracks, 0, 0))
        if self.is_gpx11 and self.track_type is None:
            kind = track.find(self.tag["type"])
            self.track_type = (kind.text or None) if kind is not None else None
        if self.track_name is None:
            name = track.find(self.tag["name"])
            self.track_name = (name.text or "").strip() or None if name is not None else None
        self.n_tracks += 1

    def _route_point(self, point: etree._Element) -> None:
        if self._in(point, self.tag["rte"]) is None:
            return
        self._check_point(point, (ROUTES, self.n_routes, 1, self.seen))

    def _route(self, route: etree._Element) -> None:
        if not self._child_of_root(route):
            return
        self._check_number(route, (ROUTES, self.n_routes, 0, 0))
        self.n_routes += 1

    def _waypoint(self, point: etree._Element) -> None:
        if not self._child_of_root(point):
            return
        self.n_waypoints += 1
        self._check_point(point, (WAYPOINTS, 0, 0, self.seen))

    def _check_point(self, point: etree._Element, key: tuple) -> None:
        children = _first_children(point)
        try:
            self._position(point, children)
            self._check(children, self.checked_fields)
        except _Invalid as problem:
            self._note(key, problem)
        release(point)

    def _check_number(self, element: etree._Element, key: tuple) -> None:
        try:
            _field(element.find(self.tag["number"]), "number", _int)
        except _Invalid as problem:
            self._note(key, problem)

    def _bounds(self, bounds: etree._Element) -> None:
        """gpxpy reads the first <bounds> under <gpx> (1.0) or under the first <metadata> (1.1)."""
        parent = bounds.getparent()
        if self.is_gpx11:
            if parent is None or parent.tag != self.tag["metadata"] or not self._child_of_root(parent):
                return
            if parent is not self.root.find(self.tag["metadata"]):
                return
        elif parent is not self.root:
            return
        if parent.find(self.tag["bounds"]) is not bounds:
            return
        try:
            for attribute in BOUNDS_ATTRIBUTES:
                _attribute(bounds.get(attribute), _float)
        except _Invalid as problem:
            self._note((BOUNDS, 0, 0, 0), problem)

    # -- result -----------------------------------------------------------------------------

    def result(self) -> ParsedFile:
        if self.error is not None:
            raise ReadError(f"not a valid GPX file: {self.error[1]}")
        if not self.n_points:
            what = "only routes" if self.n_routes else "only waypoints" if self.n_waypoints else "it is empty"
            return not_activity("gpx", f"GPX file has no track points: {what}")
        records = frame(self._columns(), RECORD_COLUMNS) if self.rows else None
        if records is not None and records["timestamp_utc"].null_count():
            # Points whose time text gpxpy cannot read are left out, as untimed points are.
            records = records.filter(pl.col("timestamp_utc").is_not_null())
        if records is None or records.is_empty():
            return not_activity("gpx", "GPX track has no timestamps: a planned route, not a recording")
        status, detail = timestamp_status(records.height, self.n_points, "track points")
        return ParsedFile(
            format="gpx",
            is_activity=True,
            records=in_time_order(records),
            parse_status=status,
            parse_detail=detail,
            sport_hint=self.track_type,
            name_hint=self.track_name,
            manufacturer=self.root.get("creator"),
        )

    def _columns(self) -> dict[str, list]:
        columns = {name: list(values) for name, values in zip(POINT_COLUMNS, zip(*self.rows))}
        columns["timestamp_utc"] = _utc_series(columns["timestamp_utc"])
        no_extensions = (None,) * len(EXTENSION_COLUMN_NAMES)
        found = zip(*[row or no_extensions for row in self.extension_rows])
        for name, values in zip(EXTENSION_COLUMN_NAMES, found):
            if values.count(None) == len(values):
                continue
            base = columns.get(name)  # an extension value wins over the base
            columns[name] = list(values) if base is None else [b if v is None else v for v, b in zip(values, base)]
        return columns

    @staticmethod
    def empty_result(data: bytes) -> ParsedFile:
        """A file without one element the collector streams: small, so parsed whole to tell a
        GPX file holding nothing from another kind of XML."""
        require_root(parse_xml(data, "GPX").tag, "gpx", "GPX")
        return not_activity("gpx", "GPX file has no track points: it is empty")


def _utc_series(texts: list[str]) -> pl.Series:
    """Each time text as gpxpy reads it (see _utc_time), as a UTC column with null where it
    reads none. In a long track the usual form converts in one vectorized pass, which costs
    about a millisecond however short the track; the other texts convert one by one."""
    if len(texts) < VECTORIZED_TIMES:
        return _micros(_utc_time(text) for text in texts).cast(RECORD_COLUMNS["timestamp_utc"])
    series = pl.Series("timestamp_utc", texts, dtype=pl.String)
    micros = series.str.strptime(pl.Datetime("us", "UTC"), USUAL_UTC_TIME_FORMAT, strict=False).dt.epoch("us")
    others = (~series.str.contains(USUAL_UTC_TIME) | series.str.starts_with("0000")).arg_true()
    if len(others):
        micros = micros.scatter(others, _micros(_utc_time(texts[i]) for i in others.to_list()))
    return micros.cast(RECORD_COLUMNS["timestamp_utc"])


def _micros(stamps: Iterable[datetime | None]) -> pl.Series:
    """UTC datetimes as exact integer microseconds since 1970 (null for None): polars converts
    aware datetime objects one by one, several times slower."""
    micros = [None if stamp is None else (stamp - UNIX_EPOCH) // ONE_MICROSECOND for stamp in stamps]
    return pl.Series("timestamp_utc", micros, dtype=pl.Int64)


def _extension_tags(default_ns: str) -> dict[str, str]:
    """Clark tag -> column, from the gpxpy engine's (namespace URIs, name) table."""
    tags = {}
    for (uris, name), column in EXTENSION_COLUMNS.items():
        for uri in uris:
            if uri:
                tags[f"{{{uri}}}{name}"] = column
                continue
            tags[name] = column
            if default_ns:  # gpxpy strips the default namespace, so these count as bare too
                tags[f"{{{default_ns}}}{name}"] = column
    return tags


def _first_children(element: etree._Element) -> dict:
    """Tag -> first child with that tag, like gpxpy's `find` for each field."""
    children: dict = {}
    for child in element:
        children.setdefault(child.tag, child)
    return children


def _field(element: etree._Element | None, name: str, convert) -> object:
    """gpxpy's GPXField.from_xml for a child element: empty is None, unconvertible refuses."""
    if element is None or element.text is None:
        return None
    try:
        return convert(element.text)
    except _Invalid:
        raise
    except Exception as exc:
        raise _Invalid(f"Invalid value for <{name}>... {element.text} ({exc})") from exc


def _attribute(text: str | None, convert) -> object:
    """gpxpy's GPXField.from_xml for an attribute (its tag is None in the message)."""
    if text is None:
        return None
    try:
        return convert(text)
    except Exception as exc:
        raise _Invalid(f"Invalid value for <None>... {text} ({exc})") from exc


def _required(text: str | None, name: str) -> float:
    if text is None:
        raise _Invalid(f"{name} is mandatory in None (got None)")
    return _attribute(text, _float)


def _utc_time(text: str | None) -> datetime | None:
    """gpxpy.gpxfield.parse_time (an unreadable time is None), then made UTC as read_gpx does."""
    if not text:
        return None
    if CANONICAL_UTC_TIME.fullmatch(text):
        try:
            return datetime.fromisoformat(text)
        except ValueError:  # e.g. hour 24 or February 30: gpxpy gives None too
            return None
    match = GPXPY_TIME.match(text)
    if match is None:
        return None
    try:
        parts = [int(match.group(i)) for i in range(1, 7)]
        fraction = match.group(7)
        micro = int(fraction[1:7].ljust(6, "0")) if fraction else 0
        offset = _offset_minutes(match.group(8))
        stamp = datetime(*parts, micro, tzinfo=timezone.utc)
    except ValueError:
        return None
    # gpxpy accepts any offset; the conversion to UTC fails on a day or more, in both engines.
    return stamp - timezone(timedelta(minutes=offset)).utcoffset(None) if offset else stamp


def _offset_minutes(text: str | None) -> int:
    """gpxpy.gpxfield.SimpleTZ, verbatim in effect: lenient about what it cannot read."""
    if not text or len(text) < 2:
        return 0
    sign = -1 if text[0] in ("−", "-") else 1
    if text[0] in ("−", "-", "+"):
        text = text[1:]
    hour = int(text[:2]) if text[:2].isdigit() else 0
    minute = (int(text[-2:]) if text[-2:].isdigit() else 0) if len(text) >= 4 else 0
    return sign * (hour * 60 + minute)
