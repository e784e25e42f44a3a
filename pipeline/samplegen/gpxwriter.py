"""Write a simulated activity as GPX 1.1 (as a phone app would export it).

Heart rate and cadence go into the Garmin TrackPointExtension v1, which is
what Strava, Garmin Connect and most apps write and read.  Times are UTC
with a trailing ``Z``.  Power has no place in GPX and is left out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import gpxpy
import gpxpy.gpx

from .model import SimulatedActivity

TRACKPOINT_EXTENSION_NS = "http://www.garmin.com/xmlschemas/TrackPointExtension/v1"
TRACKPOINT_EXTENSION_XSD = "http://www.garmin.com/xmlschemas/TrackPointExtensionv1.xsd"

GPX_TYPE_BY_SPORT = {"ride": "cycling", "run": "running"}


def _extension(heart_rate: int, cadence: int) -> ET.Element:
    ext = ET.Element(f"{{{TRACKPOINT_EXTENSION_NS}}}TrackPointExtension")
    ET.SubElement(ext, f"{{{TRACKPOINT_EXTENSION_NS}}}hr").text = str(heart_rate)
    ET.SubElement(ext, f"{{{TRACKPOINT_EXTENSION_NS}}}cad").text = str(cadence)
    return ext


def encode_gpx(activity: SimulatedActivity, creator: str, track_name: str) -> str:
    stream = activity.stream
    gpx = gpxpy.gpx.GPX()
    gpx.creator = creator
    gpx.time = activity.start_utc
    gpx.nsmap["gpxtpx"] = TRACKPOINT_EXTENSION_NS
    gpx.schema_locations = [
        "http://www.topografix.com/GPX/1/1",
        "http://www.topografix.com/GPX/1/1/gpx.xsd",
        TRACKPOINT_EXTENSION_NS,
        TRACKPOINT_EXTENSION_XSD,
    ]

    track = gpxpy.gpx.GPXTrack(name=track_name)
    track.type = GPX_TYPE_BY_SPORT[activity.plan.sport]
    segment = gpxpy.gpx.GPXTrackSegment()
    for i in activity.record_indices:
        i = int(i)
        point = gpxpy.gpx.GPXTrackPoint(
            latitude=round(float(stream.lat_deg[i]), 7),
            longitude=round(float(stream.lon_deg[i]), 7),
            elevation=round(float(stream.altitude_m[i]), 1),
            time=activity.time_at(i),
        )
        point.extensions.append(_extension(int(stream.heart_rate[i]), int(stream.cadence[i])))
        segment.points.append(point)
    track.segments.append(segment)
    gpx.tracks.append(track)
    return gpx.to_xml(version="1.1")
