"""Decide each activity's UTC offset: device, then GPS position, then the configured zone."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_OFFSET_S = 14 * 3600


@lru_cache(maxsize=1)
def _finder():
    from timezonefinder import TimezoneFinder  # loads its polygons; only when needed

    return TimezoneFinder()


def zone_at(lat: float, lon: float) -> str | None:
    return _finder().timezone_at(lat=lat, lng=lon)


def offset_in_zone(zone: str, instant_utc: datetime) -> int:
    return int(instant_utc.astimezone(ZoneInfo(zone)).utcoffset().total_seconds())


def offset_for_local_wall_time(zone: str, wall: datetime) -> int:
    """Offset for a naive local wall time (used for device-relative FIT clocks)."""
    return int(wall.replace(tzinfo=ZoneInfo(zone)).utcoffset().total_seconds())


def check_zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {zone!r}") from exc
    return zone


def resolve_offset(
    start_utc: datetime,
    device_offset_s: int | None,
    first_position: tuple[float, float] | None,
    default_zone: str,
) -> tuple[int, str]:
    """(offset in seconds, where it came from: device | gps | default_zone)."""
    # Devices that know no zone write local == UTC; a position, if any, knows better.
    if device_offset_s is not None and abs(device_offset_s) <= MAX_OFFSET_S:
        if device_offset_s != 0 or first_position is None:
            return device_offset_s, "device"
    if first_position is not None:
        zone = zone_at(*first_position)
        if zone:
            return offset_in_zone(zone, start_utc.astimezone(timezone.utc)), "gps"
    return offset_in_zone(default_zone, start_utc), "default_zone"
