"""One ride as two recordings, built in tests: the device's FIT (Garmin SDK encoder) and a
phone's GPX (gpxpy's writer), heading north from the same start."""

from __future__ import annotations

import math
from datetime import timedelta

import gpxpy.gpx

from fitbuild import START, encode, record, session

M_PER_DEG_LAT = 111_195.0


def _position(metres_north: float, lat0: float = 46.05, lon0: float = 14.5) -> tuple[float, float]:
    return lat0 + metres_north / M_PER_DEG_LAT, lon0


def device_ride(seconds: int = 3600, speed: float = 8.0, pause: tuple[int, int] | None = None,
                wheel_factor: float = 1.0, start=START, positions: bool = True, power: bool = False,
                sport: str = "cycling") -> bytes:
    """1 Hz records heading north at `speed`; no records during `pause` (start s, length s). The
    wheel sensor's distance is `wheel_factor` times the true one."""
    messages = []
    for i in range(seconds + 1):
        if pause and pause[0] < i < pause[0] + pause[1]:
            continue
        fields = {"distance": wheel_factor * speed * i, "enhanced_speed": speed, "heart_rate": 130 + (i // 60) % 20}
        if positions:
            fields.update(zip(("lat", "lon"), _position(speed * i)))
        if power:
            fields["power"] = 180 + (i // 30) % 40
        messages.append(record(start + timedelta(seconds=i), **fields))
    messages.append(session(start, seconds, sport, total_distance=wheel_factor * speed * seconds))
    return encode(messages)


def phone_gpx(seconds: int = 3600, speed: float = 8.0, every: int = 2, skip: tuple[int, int] | None = None,
              offset_m: float = 0.0, start=START, track_type: str = "1") -> str:
    """A point every `every` s heading north at `speed`, `offset_m` east of the device's track,
    none during `skip`; the GPX's distance comes from its positions."""
    gpx = gpxpy.gpx.GPX()
    track = gpxpy.gpx.GPXTrack()
    track.type = track_type
    segment = gpxpy.gpx.GPXTrackSegment()
    gpx.tracks.append(track)
    track.segments.append(segment)
    for i in range(0, seconds + 1, every):
        if skip and skip[0] < i < skip[0] + skip[1]:
            continue
        lat, lon = _position(speed * i)
        lon += offset_m / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
        segment.points.append(gpxpy.gpx.GPXTrackPoint(lat, lon, elevation=300.0, time=start + timedelta(seconds=i)))
    return gpx.to_xml()


