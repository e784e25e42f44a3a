"""GPX reader on gpxpy, plus heart rate, cadence, power and temperature extensions."""

from __future__ import annotations

from datetime import timezone

import gpxpy
import gpxpy.gpx
import polars as pl

from .base import RECORD_COLUMNS, ParsedFile, ReadError, frame, in_time_order, not_activity, timestamp_status
from .xmlsafe import local_name, namespace, parse_xml, require_root

# Extension element names by the namespace URI they come in, never by prefix.
GARMIN_TPX = (
    "http://www.garmin.com/xmlschemas/TrackPointExtension/v1",
    "http://www.garmin.com/xmlschemas/TrackPointExtension/v2",
)
GPXDATA = "http://www.cluetrust.com/XML/GPXDATA/1/0"
EXTENSION_COLUMNS = {
    (GARMIN_TPX, "hr"): "heart_rate_bpm",
    (GARMIN_TPX, "cad"): "cadence_rpm",
    (GARMIN_TPX, "atemp"): "temperature_c",
    (GARMIN_TPX, "wtemp"): "temperature_c",
    (GARMIN_TPX, "speed"): "speed_mps",
    ((GPXDATA,), "hr"): "heart_rate_bpm",
    ((GPXDATA,), "cadence"): "cadence_rpm",
    ((GPXDATA,), "temp"): "temperature_c",
    ((GPXDATA,), "power"): "power_w",
    # Strava writes a bare <power> with no namespace.
    (("",), "power"): "power_w",
}


def read_gpx(data: bytes, name: str) -> ParsedFile:
    root = parse_xml(data, "GPX")  # refuses entity tricks before gpxpy sees the text
    require_root(root.tag, "gpx", "GPX")
    try:
        gpx = gpxpy.parse(data.decode("utf-8-sig", errors="replace"))
    except gpxpy.gpx.GPXException as exc:
        raise ReadError(f"not a valid GPX file: {exc}") from exc

    points = [
        (track, point)
        for track in gpx.tracks
        for segment in track.segments
        for point in segment.points
    ]
    if not points:
        what = "only routes" if gpx.routes else "only waypoints" if gpx.waypoints else "it is empty"
        return not_activity("gpx", f"GPX file has no track points: {what}")
    timed = [(track, point) for track, point in points if point.time is not None]
    if not timed:
        return not_activity("gpx", "GPX track has no timestamps: a planned route, not a recording")

    status, detail = timestamp_status(len(timed), len(points), "track points")
    track_type = next((t.type for t in gpx.tracks if t.type), None)
    track_name = next((t.name.strip() for t in gpx.tracks if t.name and t.name.strip()), None)
    return ParsedFile(
        format="gpx",
        is_activity=True,
        records=_records_frame([p for _, p in timed], gpx.version),
        parse_status=status,
        parse_detail=detail,
        sport_hint=track_type,
        name_hint=track_name,
        manufacturer=gpx.creator,
    )


def _records_frame(points: list[gpxpy.gpx.GPXTrackPoint], version: str | None) -> pl.DataFrame:
    columns: dict[str, list] = {name: [None] * len(points) for name in RECORD_COLUMNS}
    for i, point in enumerate(points):
        stamp = point.time
        columns["timestamp_utc"][i] = (
            stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)
        )
        columns["lat_deg"][i] = point.latitude
        columns["lon_deg"][i] = point.longitude
        columns["altitude_m"][i] = point.elevation
        if version == "1.0" and point.speed is not None:
            columns["speed_mps"][i] = point.speed
        for column, value in _extension_values(point.extensions):
            columns[column][i] = value
    return in_time_order(frame(columns, RECORD_COLUMNS))


def _extension_values(elements) -> list[tuple[str, float]]:
    found = []
    for root in elements:
        for element in root.iter():
            column = _column_for(element.tag)
            if column is None or element.text is None:
                continue
            try:
                found.append((column, float(element.text.strip())))
            except ValueError:
                continue
    return found


def _column_for(tag) -> str | None:
    if not isinstance(tag, str):
        return None
    uri, name = namespace(tag), local_name(tag)
    for (uris, element_name), column in EXTENSION_COLUMNS.items():
        if name == element_name and uri in uris:
            return column
    return None
