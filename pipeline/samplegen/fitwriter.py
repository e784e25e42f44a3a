"""Encode a simulated activity as a FIT activity file with garmin_fit_sdk.

Message order follows what Garmin devices write: ``file_id``, timer start
``event``, ``device_info``, then records with ``length``/``lap``/``session``
messages interleaved at the moment they close, timer ``event`` stops/starts
around auto-pauses, and finally the closing lap(s), session and
``activity``.

Encoder notes (garmin_fit_sdk 21.x):

* values must be plain Python ``int``/``float``/``str``/``datetime``;
  numpy integers are rejected, so everything is converted explicitly;
* integers outside a field's range are silently truncated to its bit width,
  so values are kept in range here;
* date_time fields accept ints (seconds since the FIT epoch), which is what
  we pass, and local_timestamp is likewise an int (UTC seconds + offset).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from garmin_fit_sdk import Encoder, Profile

from .geo import semicircles
from .model import Length, SimulatedActivity
from .summary import Summary, summarize
from .timeutil import fit_local_seconds, fit_seconds

MESG = Profile["mesg_num"]

HRM_PRO_PLUS_PRODUCT = 4130
HRM_SERIAL = 3312456789
POWER_METER_SERIAL = 2200431177

# Ordering of messages that share a timestamp.
_PRIO_TIMER_START = 0
_PRIO_DEVICE_INFO = 1
_PRIO_CLOSING = 2  # length / lap / session closing before the next record
_PRIO_RECORD = 5
_PRIO_TIMER_STOP = 6
_PRIO_FINAL = 7  # closing messages at the very end, after the timer stops


@dataclass(order=True)
class _Queued:
    index: int
    priority: int
    sequence: int
    mesg_num: int = field(compare=False)
    mesg: dict = field(compare=False)


class _MessageQueue:
    """Collect messages keyed by (sample index, priority) and emit them in order."""

    def __init__(self):
        self._items: list[_Queued] = []

    def add(self, index: int, priority: int, mesg_num: int, mesg: dict) -> None:
        self._items.append(_Queued(index, priority, len(self._items), mesg_num, mesg))

    def write_to(self, encoder: Encoder) -> None:
        for item in sorted(self._items):
            encoder.on_mesg(item.mesg_num, item.mesg)


def _speed_fields(prefix: str, value: float) -> dict:
    """Both the legacy 16-bit and the enhanced 32-bit speed field."""
    return {f"{prefix}_speed": value, f"enhanced_{prefix}_speed": value}


def _summary_fields(activity: SimulatedActivity, summary: Summary) -> dict:
    """Fields shared by lap and session messages."""
    stream = activity.stream
    mesg = {
        "timestamp": fit_seconds(activity.time_at(summary.end)),
        "start_time": fit_seconds(activity.time_at(summary.start)),
        "total_elapsed_time": summary.elapsed_s,
        "total_timer_time": summary.timer_s,
        "total_distance": round(summary.distance_m, 2),
        **_speed_fields("avg", round(summary.avg_speed_mps, 3)),
        **_speed_fields("max", round(summary.max_speed_mps, 3)),
        "avg_heart_rate": summary.avg_heart_rate,
        "max_heart_rate": summary.max_heart_rate,
        "avg_cadence": summary.avg_cadence,
        "max_cadence": summary.max_cadence,
        "avg_power": summary.avg_power,
        "max_power": summary.max_power,
        "total_ascent": summary.total_ascent_m,
        "total_descent": summary.total_descent_m,
        "total_calories": summary.calories_kcal,
        "avg_temperature": summary.avg_temperature_c,
        "max_temperature": summary.max_temperature_c,
    }
    if stream.has_position:
        mesg["start_position_lat"] = semicircles(stream.lat_deg[summary.start])
        mesg["start_position_long"] = semicircles(stream.lon_deg[summary.start])
    # The encoder skips None values, so absent data simply is not written.
    return mesg


def _record(activity: SimulatedActivity, i: int) -> dict:
    stream = activity.stream
    mesg = {"timestamp": fit_seconds(activity.time_at(i))}
    if stream.has_position:
        mesg["position_lat"] = semicircles(stream.lat_deg[i])
        mesg["position_long"] = semicircles(stream.lon_deg[i])
    mesg["distance"] = round(float(stream.distance_m[i]), 2)
    mesg["enhanced_speed"] = float(stream.speed_mps[i])
    if stream.altitude_m is not None:
        mesg["enhanced_altitude"] = float(stream.altitude_m[i])  # the encoder quantizes to 0.2 m
    mesg["heart_rate"] = int(stream.heart_rate[i])
    mesg["cadence"] = int(stream.cadence[i])
    if stream.has_power_at(i):
        mesg["power"] = int(stream.power_w[i])
    mesg["temperature"] = int(stream.temperature_c[i])
    return mesg


def _timer_event(activity: SimulatedActivity, i: int, event_type: str) -> dict:
    return {"timestamp": fit_seconds(activity.time_at(i)), "event": "timer", "event_type": event_type,
            "event_group": 0}


def _device_infos(activity: SimulatedActivity) -> list[dict]:
    timestamp = fit_seconds(activity.start_utc)
    device = activity.device
    infos = [
        {"timestamp": timestamp, "device_index": 0, "manufacturer": "garmin", "product": device.product,
         "serial_number": device.serial_number, "software_version": device.software_version,
         "source_type": "local"},
        {"timestamp": timestamp, "device_index": 1, "device_type": 120, "manufacturer": "garmin",
         "product": HRM_PRO_PLUS_PRODUCT, "serial_number": HRM_SERIAL, "ant_device_number": 41872,
         "source_type": "antplus"},
    ]
    if activity.stream.power_w is not None:
        infos.append({"timestamp": timestamp, "device_index": 2, "device_type": 11, "manufacturer": "garmin",
                      "serial_number": POWER_METER_SERIAL, "ant_device_number": 20113, "source_type": "antplus"})
    return infos


def _length_mesg(activity: SimulatedActivity, message_index: int, length: Length) -> dict:
    duration = float(length.end - length.start)
    mesg = {
        "message_index": message_index,
        "timestamp": fit_seconds(activity.time_at(length.end)),
        "event": "length",
        "event_type": "stop",
        "start_time": fit_seconds(activity.time_at(length.start)),
        "total_elapsed_time": duration,
        "total_timer_time": duration,
        "length_type": "active" if length.active else "idle",
    }
    if length.active:
        mesg.update({
            "total_strokes": length.strokes,
            "avg_speed": round(25.0 / duration, 3),
            "swim_stroke": "freestyle",
            "avg_swimming_cadence": int(round(length.strokes / duration * 60)),
        })
    return mesg


def encode_fit(activity: SimulatedActivity) -> bytes:
    """The complete FIT file for one (possibly multisport) activity."""
    last = activity.last_index
    queue = _MessageQueue()

    queue.add(0, _PRIO_TIMER_START, MESG["EVENT"], _timer_event(activity, 0, "start"))
    for info in _device_infos(activity):
        queue.add(0, _PRIO_DEVICE_INFO, MESG["DEVICE_INFO"], info)

    for i in activity.record_indices:
        queue.add(int(i), _PRIO_RECORD, MESG["RECORD"], _record(activity, int(i)))
    for pause in activity.pauses:
        queue.add(pause.start, _PRIO_TIMER_STOP, MESG["EVENT"], _timer_event(activity, pause.start, "stop_all"))
        queue.add(pause.end, _PRIO_TIMER_START, MESG["EVENT"], _timer_event(activity, pause.end, "start"))
    queue.add(last, _PRIO_TIMER_STOP, MESG["EVENT"], _timer_event(activity, last, "stop_all"))

    def closing_priority(index: int) -> int:
        return _PRIO_FINAL if index == last else _PRIO_CLOSING

    lap_index = 0
    length_index = 0
    session_summaries = []
    for session_index, session in enumerate(activity.sessions):
        first_length_of_session = length_index
        for length in session.lengths:
            queue.add(length.end, closing_priority(length.end), MESG["LENGTH"],
                      _length_mesg(activity, length_index, length))
            length_index += 1

        first_lap_index = lap_index
        for lap in session.laps:
            summary = summarize(activity, lap.start, lap.end)
            mesg = {"message_index": lap_index, "event": "lap", "event_type": "stop",
                    **_summary_fields(activity, summary),
                    "lap_trigger": lap.trigger, "intensity": lap.intensity,
                    "sport": session.sport, "sub_sport": session.sub_sport}
            if activity.stream.has_position:
                mesg["end_position_lat"] = semicircles(activity.stream.lat_deg[lap.end])
                mesg["end_position_long"] = semicircles(activity.stream.lon_deg[lap.end])
            if session.lengths:
                active = session.lengths[lap.first_length : lap.first_length + lap.num_lengths]
                mesg.update({
                    "first_length_index": first_length_of_session + lap.first_length,
                    "num_lengths": lap.num_lengths,
                    "num_active_lengths": sum(1 for length in active if length.active),
                    "total_cycles": sum(length.strokes for length in active),
                    "swim_stroke": "freestyle" if lap.intensity == "active" else None,
                })
            queue.add(lap.end, closing_priority(lap.end), MESG["LAP"], mesg)
            lap_index += 1

        summary = summarize(activity, session.start, session.end)
        session_summaries.append(summary)
        mesg = {"message_index": session_index, "event": "session", "event_type": "stop",
                **_summary_fields(activity, summary),
                "sport": session.sport, "sub_sport": session.sub_sport,
                "first_lap_index": first_lap_index, "num_laps": len(session.laps),
                "trigger": "activity_end"}
        if session.lengths:
            mesg.update({
                "pool_length": session.pool_length_m,
                "pool_length_unit": "metric",
                "num_lengths": len(session.lengths),
                "num_active_lengths": sum(1 for length in session.lengths if length.active),
                "total_cycles": sum(length.strokes for length in session.lengths),
                "swim_stroke": "freestyle",
            })
        # Sessions close after their laps at the same instant.
        queue.add(session.end, closing_priority(session.end) + 1, MESG["SESSION"], mesg)

    end_utc = activity.end_utc
    queue.add(last, _PRIO_FINAL + 2, MESG["ACTIVITY"], {
        "timestamp": fit_seconds(end_utc),
        "total_timer_time": sum(s.timer_s for s in session_summaries),
        "num_sessions": len(activity.sessions),
        "type": "manual",
        "event": "activity",
        "event_type": "stop",
        "local_timestamp": fit_local_seconds(end_utc),
    })

    encoder = Encoder()
    encoder.on_mesg(MESG["FILE_ID"], {
        "type": "activity",
        "manufacturer": "garmin",
        "product": activity.device.product,
        "serial_number": activity.device.serial_number,
        "time_created": fit_seconds(activity.start_utc),
    })
    queue.write_to(encoder)
    return encoder.close()
