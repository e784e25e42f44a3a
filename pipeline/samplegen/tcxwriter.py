"""Write a simulated activity as Garmin Training Center XML (TCX v2).

Written with the standard library, element order as in the TCX v2 schema.
One ``Lap`` per FIT lap; ``TotalTimeSeconds`` is the timer time, as in
Garmin Connect exports.  Trackpoint ``Cadence`` carries the same value as
the FIT ``cadence`` field (rpm for rides, strides/min for runs); ride power
goes into the ActivityExtension v2 ``TPX/Watts`` element.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .model import SimulatedActivity
from .summary import summarize
from .timeutil import iso_utc

TCX_NS = "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
ACTIVITY_EXTENSION_NS = "http://www.garmin.com/xmlschemas/ActivityExtension/v2"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

TCX_SPORT_BY_SPORT = {"ride": "Biking", "run": "Running"}
TCX_TRIGGER_BY_LAP_TRIGGER = {"distance": "Distance", "time": "Time", "manual": "Manual",
                              "session_end": "Manual"}


def _tag(name: str) -> str:
    return f"{{{TCX_NS}}}{name}"


def _text(parent: ET.Element, name: str, value) -> ET.Element:
    element = ET.SubElement(parent, _tag(name))
    element.text = str(value)
    return element


def _value(parent: ET.Element, name: str, value: int) -> None:
    """Elements like <AverageHeartRateBpm><Value>140</Value></...>."""
    _text(ET.SubElement(parent, _tag(name)), "Value", value)


def _trackpoint(track: ET.Element, activity: SimulatedActivity, i: int) -> None:
    stream = activity.stream
    point = ET.SubElement(track, _tag("Trackpoint"))
    _text(point, "Time", iso_utc(activity.time_at(i)))
    position = ET.SubElement(point, _tag("Position"))
    _text(position, "LatitudeDegrees", f"{stream.lat_deg[i]:.7f}")
    _text(position, "LongitudeDegrees", f"{stream.lon_deg[i]:.7f}")
    _text(point, "AltitudeMeters", f"{stream.altitude_m[i]:.1f}")
    _text(point, "DistanceMeters", f"{stream.distance_m[i]:.2f}")
    _value(point, "HeartRateBpm", int(stream.heart_rate[i]))
    _text(point, "Cadence", int(stream.cadence[i]))
    if stream.has_power_at(i):
        extensions = ET.SubElement(point, _tag("Extensions"))
        tpx = ET.SubElement(extensions, f"{{{ACTIVITY_EXTENSION_NS}}}TPX")
        ET.SubElement(tpx, f"{{{ACTIVITY_EXTENSION_NS}}}Watts").text = str(int(stream.power_w[i]))


def encode_tcx(activity: SimulatedActivity) -> bytes:
    ET.register_namespace("", TCX_NS)
    ET.register_namespace("tpx", ACTIVITY_EXTENSION_NS)
    ET.register_namespace("xsi", XSI_NS)

    root = ET.Element(_tag("TrainingCenterDatabase"))
    root.set(f"{{{XSI_NS}}}schemaLocation",
             f"{TCX_NS} http://www.garmin.com/xmlschemas/TrainingCenterDatabasev2.xsd")
    activities = ET.SubElement(root, _tag("Activities"))
    element = ET.SubElement(activities, _tag("Activity"), Sport=TCX_SPORT_BY_SPORT[activity.plan.sport])
    _text(element, "Id", iso_utc(activity.start_utc))

    records = [int(i) for i in activity.record_indices]
    session = activity.sessions[0]
    for lap in session.laps:
        summary = summarize(activity, lap.start, lap.end)
        lap_element = ET.SubElement(element, _tag("Lap"), StartTime=iso_utc(activity.time_at(lap.start)))
        _text(lap_element, "TotalTimeSeconds", f"{summary.timer_s:.1f}")
        _text(lap_element, "DistanceMeters", f"{summary.distance_m:.2f}")
        _text(lap_element, "MaximumSpeed", f"{summary.max_speed_mps:.3f}")
        _text(lap_element, "Calories", summary.calories_kcal)
        _value(lap_element, "AverageHeartRateBpm", summary.avg_heart_rate)
        _value(lap_element, "MaximumHeartRateBpm", summary.max_heart_rate)
        _text(lap_element, "Intensity", "Active")
        if activity.plan.sport == "ride" and summary.avg_cadence is not None:
            _text(lap_element, "Cadence", summary.avg_cadence)
        _text(lap_element, "TriggerMethod", TCX_TRIGGER_BY_LAP_TRIGGER[lap.trigger])
        track = ET.SubElement(lap_element, _tag("Track"))
        is_last_lap = lap is session.laps[-1]
        for i in records:
            if lap.start <= i < lap.end or (is_last_lap and i == lap.end):
                _trackpoint(track, activity, i)

    creator = ET.SubElement(element, _tag("Creator"))
    creator.set(f"{{{XSI_NS}}}type", "Device_t")
    _text(creator, "Name", activity.device.name)
    _text(creator, "UnitId", activity.device.serial_number)
    _text(creator, "ProductID", activity.device.product)
    version = ET.SubElement(creator, _tag("Version"))
    major, minor = divmod(int(round(activity.device.software_version * 100)), 100)
    _text(version, "VersionMajor", major)
    _text(version, "VersionMinor", minor)

    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"
