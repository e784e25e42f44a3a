"""Fast TCX reader: streams trackpoints with lxml straight into columns.

Same ParsedFile as the ElementTree engine (`tcx.read_tcx`). Trackpoints, the bulk of a
file, are read and freed as they stream by; what remains (activities and laps, without
their trackpoints) is small, so laps, sessions, sport and creator are read from it with
the reference engine's own helpers.
"""

from __future__ import annotations

from lxml import etree

from .base import RECORD_COLUMNS, ParsedFile, frame, in_time_order, not_activity, timestamp_status
from .tcx import _child, _children, _time, parsed_tcx
from .xmlsafe import iter_elements, local_name, release, require_root

# Where each value sits under a <Trackpoint>, by local name; the first element of a name
# at each level is the one read (as `tcx._child` does). Earlier entries win a column.
TRACKPOINT_VALUES = (
    (("Position", "LatitudeDegrees"), "lat_deg"),
    (("Position", "LongitudeDegrees"), "lon_deg"),
    (("AltitudeMeters",), "altitude_m"),
    (("DistanceMeters",), "distance_m"),
    (("HeartRateBpm", "Value"), "heart_rate_bpm"),
    (("Cadence",), "cadence_rpm"),
    (("Extensions", "TPX", "Speed"), "speed_mps"),
    (("Extensions", "TPX", "Watts"), "power_w"),
    (("Extensions", "TPX", "RunCadence"), "cadence_rpm"),
)


def read_tcx_fast(data: bytes, name: str) -> ParsedFile:
    collector = _TrackpointCollector()
    root = None
    for point in iter_elements(data, "TCX", ("{*}Trackpoint",)):
        root = collector.take(point)
    if root is None:
        return _without_trackpoints(data)
    return collector.result(root)


def _without_trackpoints(data: bytes) -> ParsedFile:
    """No trackpoint anywhere: the file is small, so the reference engine says what it is."""
    from .tcx import read_tcx

    return read_tcx(data, "")


class _TrackpointCollector:
    def __init__(self) -> None:
        self.columns: dict[str, list] = {column: [] for column in RECORD_COLUMNS}
        self.n_points = 0
        self.local_names: dict[str, str] = {}
        self.last_parent: etree._Element | None = None
        self.last_parent_counts = False

    def take(self, point: etree._Element) -> etree._Element:
        parent = point.getparent()
        if parent is not self.last_parent:  # trackpoints come in runs under one <Track>
            self.last_parent, self.last_parent_counts = parent, _in_activity_lap(point)
        if self.last_parent_counts:
            self.n_points += 1
            self._add(point)
            release(point)
        return parent.getroottree().getroot()

    def _local(self, tag: str) -> str:
        name = self.local_names.get(tag)
        if name is None:
            name = self.local_names[tag] = local_name(tag)
        return name

    def _first_by_name(self, element: etree._Element) -> dict[str, etree._Element]:
        children: dict[str, etree._Element] = {}
        for child in element:
            children.setdefault(self._local(child.tag), child)
        return children

    def _add(self, point: etree._Element) -> None:
        children = self._first_by_name(point)
        time = children.get("Time")
        stamp = _time(_stripped(time))
        if stamp is None:
            return
        row = {"timestamp_utc": stamp}
        nested: dict[str, dict] = {}
        for path, column in TRACKPOINT_VALUES:
            if row.get(column) is None:
                row[column] = _number(self._walk(children, path, nested))
        for column, values in self.columns.items():
            values.append(row.get(column))

    def _walk(self, children: dict, path: tuple[str, ...], nested: dict) -> etree._Element | None:
        """Follow `path` by first child of each name, remembering the levels already indexed."""
        element = children.get(path[0])
        for depth in range(1, len(path)):
            if element is None:
                return None
            key = path[:depth]
            if key not in nested:
                nested[key] = self._first_by_name(element)
            element = nested[key].get(path[depth])
        return element

    def result(self, root: etree._Element) -> ParsedFile:
        require_root(root.tag, "TrainingCenterDatabase", "TCX")
        activities = _children(_child(root, "Activities"), "Activity")
        if not activities:
            return not_activity("tcx", "TCX file holds no <Activity> (a course or workout file)")
        n_timed = len(self.columns["timestamp_utc"])
        if not n_timed:
            return not_activity("tcx", "TCX activity has no timed trackpoints")
        status, detail = timestamp_status(n_timed, self.n_points, "trackpoints")
        laps = [lap for activity in activities for lap in _children(activity, "Lap")]
        records = in_time_order(frame(self.columns, RECORD_COLUMNS))
        return parsed_tcx(activities[0], laps, records, status, detail)


def _in_activity_lap(point: etree._Element) -> bool:
    """Is the point inside a <Lap> of an <Activity> of the root's first <Activities>?

    Those are the laps the reference engine reads, and it takes every <Trackpoint> at
    any depth below them.
    """
    for ancestor in point.iterancestors():
        if local_name(ancestor.tag) != "Lap":
            continue
        activity = ancestor.getparent()
        activities = activity.getparent() if activity is not None else None
        if activities is None or local_name(activity.tag) != "Activity":
            continue
        root = activities.getparent()
        if root is not None and root.getparent() is None and _child(root, "Activities") is activities:
            return True
    return False


def _stripped(element: etree._Element | None) -> str | None:
    """`tcx._text` for one element: stripped text, None when empty."""
    if element is None:
        return None
    return element.text.strip() if element.text else None


def _number(element: etree._Element | None) -> float | None:
    text = _stripped(element)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
