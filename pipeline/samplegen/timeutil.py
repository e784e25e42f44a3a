"""Time helpers: the athlete's local time zone and FIT time conversions.

The athletes live in a Europe/Berlin-like zone.  The generator only covers
2025-12 .. 2026-11 (sample_files/: 2026-07-27 .. 2026-11-15; a team: up to a year
before 2026-11-30), so instead of depending on the system tz database (which
would make the output machine dependent) the two daylight-saving switches
inside that window are written down explicitly.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

UTC = timezone.utc

#: Central European Summer Time starts on the last Sunday of March,
#: 2026-03-29 at 01:00 UTC (02:00 CET -> 03:00 CEST), and ends on the last
#: Sunday of October, 2026-10-25 at 01:00 UTC (03:00 CEST -> 02:00 CET).
SUMMER_TIME_STARTS_UTC = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
SUMMER_TIME_ENDS_UTC = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
SUMMER_OFFSET = timedelta(hours=2)
WINTER_OFFSET = timedelta(hours=1)

#: FIT timestamps count seconds since 1989-12-31T00:00:00 UTC.
FIT_EPOCH = datetime(1989, 12, 31, tzinfo=UTC)


def utc_offset_at(moment_utc: datetime) -> timedelta:
    """Local offset from UTC at the given UTC instant."""
    return SUMMER_OFFSET if SUMMER_TIME_STARTS_UTC <= moment_utc < SUMMER_TIME_ENDS_UTC else WINTER_OFFSET


def local_to_utc(day: date, local_time: time) -> datetime:
    """Convert a local wall-clock time to an aware UTC datetime.

    Activities start in the morning or evening, never inside the ambiguous
    02:00-03:00 hour of the switch night, so trying the summer offset first
    is unambiguous.
    """
    naive_local = datetime.combine(day, local_time)
    as_summer = (naive_local - SUMMER_OFFSET).replace(tzinfo=UTC)
    if utc_offset_at(as_summer) == SUMMER_OFFSET:
        return as_summer
    return (naive_local - WINTER_OFFSET).replace(tzinfo=UTC)


def fit_seconds(moment_utc: datetime) -> int:
    """Seconds since the FIT epoch (what a FIT date_time field stores)."""
    return int((moment_utc - FIT_EPOCH).total_seconds())


def fit_local_seconds(moment_utc: datetime) -> int:
    """FIT local_date_time: the UTC FIT seconds shifted by the local offset."""
    return fit_seconds(moment_utc) + int(utc_offset_at(moment_utc).total_seconds())


def iso_utc(moment_utc: datetime) -> str:
    """ISO-8601 with a trailing Z, as GPX and TCX files write it."""
    return moment_utc.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
