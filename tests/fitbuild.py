"""Build small FIT files in tests with the Garmin FIT SDK's own encoder."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from garmin_fit_sdk import Encoder, Profile

MESG = Profile["mesg_num"]
DEG_TO_SEMICIRCLE = 2**31 / 180.0
START = datetime(2026, 7, 6, 6, 0, 0, tzinfo=timezone.utc)  # a Monday, summer time in Europe


def record(t: datetime, **fields) -> dict:
    values = {"mesg_num": MESG["RECORD"], "timestamp": t}
    lat, lon = fields.pop("lat", None), fields.pop("lon", None)
    if lat is not None:
        values["position_lat"] = round(lat * DEG_TO_SEMICIRCLE)
        values["position_long"] = round(lon * DEG_TO_SEMICIRCLE)
    values.update(fields)
    return values


def session(start: datetime, seconds: float, sport: str, **fields) -> dict:
    return {
        "mesg_num": MESG["SESSION"], "timestamp": start + timedelta(seconds=seconds), "start_time": start,
        "total_elapsed_time": seconds, "total_timer_time": seconds, "sport": sport, **fields,
    }


def encode(messages: list[dict], file_type: str = "activity", local_offset_s: int | None = None,
           field_descriptions: dict | None = None) -> bytes:
    """A complete FIT file: file_id, the given messages, and an activity message if asked.
    `field_descriptions` are the encoder's developer field descriptions, by field key."""
    encoder = Encoder(field_descriptions)
    first_time = next((m["timestamp"] for m in messages if "timestamp" in m), START)
    encoder.write_mesg({
        "mesg_num": MESG["FILE_ID"], "type": file_type, "manufacturer": "development",
        "product": 1, "serial_number": 1234, "time_created": first_time,
    })
    for message in messages:
        encoder.write_mesg(message)
    if local_offset_s is not None:
        last = max(m["timestamp"] for m in messages if "timestamp" in m)
        encoder.write_mesg({
            "mesg_num": MESG["ACTIVITY"], "timestamp": last, "num_sessions": 1, "type": "manual",
            "local_timestamp": last + timedelta(seconds=local_offset_s),
        })
    return encoder.close()


def steady_ride(seconds: int = 600, start: datetime = START, hr=lambda i: 140, speed: float = 8.0,
                lat: float | None = 46.05, lon: float | None = 14.50) -> list[dict]:
    """1 Hz records of a steady ride heading north, plus its session."""
    messages = []
    for i in range(seconds + 1):
        fields = {"distance": speed * i, "enhanced_speed": speed, "heart_rate": hr(i)}
        if lat is not None:
            fields.update(lat=lat + speed * i / 111_195.0, lon=lon)
        messages.append(record(start + timedelta(seconds=i), **fields))
    messages.append(session(start, seconds, "cycling", total_distance=speed * seconds))
    return messages
