"""pipeline.read_file on hand-built files: each test builds the case it is about."""

from __future__ import annotations

import gzip
import math
from datetime import timedelta

import polars as pl
import pytest

import pipeline
from pipeline.config import Athlete
from fitbuild import MESG, START, encode, record, session, steady_ride


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_steady_ride_values_come_through_unchanged(tmp_path):
    path = write(tmp_path, "ride.fit", encode(steady_ride(600, speed=8.0), local_offset_s=7200))
    content = pipeline.read_file(path)
    assert (content.status, content.parse_status) == ("imported", "ok")
    row = content.activities.row(0, named=True)
    # 600 s at 8 m/s = 4800 m, written by hand into each record's distance.
    assert row["distance_m"] == pytest.approx(4800.0)
    assert row["elapsed_s"] == 600 and row["timer_s"] == 600 and row["moving_s"] == 600
    assert row["avg_speed_mps"] == pytest.approx(8.0)
    assert row["avg_hr_bpm"] == 140 and row["max_hr_bpm"] == 140
    assert row["sport"] == "ride" and row["n_samples"] == 601
    assert row["device_distance_m"] == pytest.approx(4800.0)
    samples = content.samples
    assert samples.schema["timestamp_utc"] == pl.Datetime("us", "UTC")
    assert samples["timestamp_utc"][0] == START
    assert samples["lat_deg"][0] == pytest.approx(46.05, abs=1e-6)


def test_heart_rate_written_as_zero_is_missing(tmp_path):
    path = write(tmp_path, "zwift.fit", encode(steady_ride(120, hr=lambda i: 0)))
    content = pipeline.read_file(path)
    assert content.samples["heart_rate_bpm"].null_count() == content.samples.height
    assert content.activities["avg_hr_bpm"][0] is None


def test_time_weighted_heart_rate_over_timer_and_over_moving_time(tmp_path):
    # 0-100 s riding at 120 bpm, 101-200 s stopped at 180 bpm, 201-300 s riding at 150 bpm.
    messages = []
    for i in range(301):
        stopped = 100 < i <= 200
        hr = 120 if i <= 100 else 180 if stopped else 150
        distance = 5.0 * min(i, 100) + (5.0 * (i - 200) if i > 200 else 0)
        messages.append(record(START + timedelta(seconds=i), distance=distance,
                               enhanced_speed=0.0 if stopped else 5.0, heart_rate=hr))
    content = pipeline.read_file(write(tmp_path, "stop.fit", encode(messages)))
    row = content.activities.row(0, named=True)
    # Each sample carries the second before it. Moving samples: i=1..100 (120 bpm) and
    # i=201..300 (150 bpm): 200 s, average (100*120 + 100*150) / 200 = 135.
    assert row["moving_s"] == 200
    assert row["avg_hr_moving_bpm"] == pytest.approx(135.0)
    # Over timer time, the stop included, as devices average: (100*120 + 100*180 + 100*150) / 300.
    assert row["avg_hr_bpm"] == pytest.approx(150.0)
    assert row["max_hr_bpm"] == 180
    assert row["distance_m"] == pytest.approx(1000.0)
    assert row["avg_speed_mps"] == pytest.approx(5.0)


def test_multisport_file_becomes_one_activity_per_session(tmp_path):
    legs = [("swimming", 300, 1.0), ("cycling", 600, 9.0), ("running", 400, 3.5)]
    messages, start, distance = [], START, 0.0
    for sport, seconds, speed in legs:
        for i in range(seconds):
            messages.append(record(start + timedelta(seconds=i), distance=distance + speed * i,
                                   enhanced_speed=speed, heart_rate=130))
        messages.append(session(start, seconds, sport, total_distance=speed * seconds))
        distance += speed * seconds
        start += timedelta(seconds=seconds)
    content = pipeline.read_file(write(tmp_path, "tri.fit", encode(messages)))
    activities = content.activities.sort("session_index")
    assert activities["sport"].to_list() == ["swim", "ride", "run"]
    assert activities["n_samples"].to_list() == [300, 600, 400]
    assert activities["parent_id"].n_unique() == 1 and activities["parent_id"][0] is not None
    assert activities["distance_m"].to_list() == pytest.approx([299.0, 5391.0, 1396.5])


def test_truncated_file_keeps_complete_records_and_says_where(tmp_path):
    data = encode(steady_ride(300))
    path = write(tmp_path, "cut.fit", data[: len(data) // 2])
    content = pipeline.read_file(path)
    assert content.status == "imported"
    assert content.parse_status == "truncated"
    assert "byte" in content.reason
    assert 100 < content.activities["n_samples"][0] < 301


def test_workout_file_is_not_an_activity(tmp_path):
    step = {"mesg_num": MESG["WORKOUT_STEP"], "message_index": 0, "duration_type": "time",
            "duration_value": 600000, "target_type": "open", "intensity": "active"}
    content = pipeline.read_file(write(tmp_path, "workout.fit", encode([step], file_type="workout")))
    assert content.status == "not_activity"
    assert "workout" in content.reason
    assert content.activities.is_empty()


def test_garbage_is_rejected_with_a_one_line_reason(tmp_path):
    content = pipeline.read_file(write(tmp_path, "junk.fit", b"this is not a fit file at all" * 10))
    assert content.status == "rejected"
    assert content.reason and "\n" not in content.reason


def test_gzip_and_upper_case_extension(tmp_path):
    data = encode(steady_ride(60))
    plain = pipeline.read_file(write(tmp_path, "ride.fit", data))
    zipped = pipeline.read_file(write(tmp_path, "RIDE.FIT.GZ", gzip.compress(data)))
    assert zipped.status == "imported"
    assert zipped.samples.drop("activity_id").equals(plain.samples.drop("activity_id"))


def test_same_content_gives_the_same_activity_id(tmp_path):
    data = encode(steady_ride(60))
    first = pipeline.read_file(write(tmp_path, "a.fit", data))
    second = pipeline.read_file(write(tmp_path, "b.fit", data))
    assert first.activities["activity_id"].to_list() == second.activities["activity_id"].to_list()


def test_local_time_from_the_device(tmp_path):
    content = pipeline.read_file(write(tmp_path, "ride.fit", encode(steady_ride(60), local_offset_s=-5 * 3600)))
    row = content.activities.row(0, named=True)
    assert (row["utc_offset_s"], row["utc_offset_source"]) == (-18000, "device")
    assert row["start_time_local"] == START.replace(tzinfo=None) - timedelta(hours=5)


def test_local_time_from_gps_when_the_device_gives_none(tmp_path):
    # Ljubljana in July is CEST, UTC+2; in January it is CET, UTC+1.
    summer = pipeline.read_file(write(tmp_path, "s.fit", encode(steady_ride(60))))
    winter_start = START.replace(month=1, day=5)
    winter = pipeline.read_file(write(tmp_path, "w.fit", encode(steady_ride(60, start=winter_start))))
    assert summer.activities.select("utc_offset_s", "utc_offset_source").row(0) == (7200, "gps")
    assert winter.activities.select("utc_offset_s", "utc_offset_source").row(0) == (3600, "gps")


def test_device_offset_of_zero_defers_to_gps(tmp_path):
    # COROS-style: local_timestamp equal to UTC although the ride is in Ljubljana.
    content = pipeline.read_file(write(tmp_path, "c.fit", encode(steady_ride(60), local_offset_s=0)))
    assert content.activities.select("utc_offset_s", "utc_offset_source").row(0) == (7200, "gps")


def test_local_time_from_the_configured_zone_without_device_or_gps(tmp_path):
    path = write(tmp_path, "indoor.fit", encode(steady_ride(60, lat=None)))
    content = pipeline.read_file(path, timezone="America/New_York")
    # New York in July is EDT, UTC-4.
    assert content.activities.select("utc_offset_s", "utc_offset_source").row(0) == (-14400, "default_zone")


def test_read_file_refuses_unknown_extensions(tmp_path):
    with pytest.raises(ValueError, match="not a .fit, .gpx or .tcx"):
        pipeline.read_file(write(tmp_path, "notes.txt", b"hello"))


def _timer_event(t, kind: str) -> dict:
    return {"mesg_num": MESG["EVENT"], "timestamp": t, "event": "timer", "event_type": kind}


def test_device_timer_events_decide_timer_time(tmp_path):
    # Records every second for 0-99 s and 160-259 s. The rider stops the timer at 100 s
    # (no record there) and restarts it at 150 s; the 10 s before the next record count
    # as timer time, as they do on the device.
    # Timer time = 0..100 (100 s) + 150..259 (109 s) = 209 s; elapsed = 259 s.
    messages = [_timer_event(START, "start")]
    for i in [*range(0, 100), *range(160, 260)]:
        messages.append(record(START + timedelta(seconds=i), distance=5.0 * i, enhanced_speed=5.0, heart_rate=140))
    messages.insert(101, _timer_event(START + timedelta(seconds=100), "stop_all"))
    messages.insert(102, _timer_event(START + timedelta(seconds=150), "start"))
    messages.append(_timer_event(START + timedelta(seconds=259), "stop_all"))
    row = pipeline.read_file(write(tmp_path, "pause.fit", encode(messages))).activities.row(0, named=True)
    assert row["elapsed_s"] == 259
    assert row["timer_s"] == 209


def test_a_damaged_clock_jump_counts_toward_no_duration(tmp_path):
    # Like strava-android-app-201.10-b1218918.fit, whose last record says 2085.
    messages = [record(START + timedelta(seconds=i), distance=5.0 * i, enhanced_speed=5.0) for i in range(61)]
    messages.append(record(START + timedelta(days=365 * 60), distance=305.0, enhanced_speed=5.0))
    row = pipeline.read_file(write(tmp_path, "jump.fit", encode(messages))).activities.row(0, named=True)
    assert row["n_samples"] == 62
    assert row["elapsed_s"] == 60 and row["timer_s"] == 60


@pytest.mark.parametrize("stop_after_last_s,expected_timer_s", [
    # Records 5..600 s (595 s between them); the timer started at 0 s, 5 s before the
    # first record, and stopped 3 s after the last: 5 + 595 + 3 = 603 s, as the device counts.
    (3, 603),
    # A stop 30 s after the last record is longer than the 10 s pause gap: the device had
    # stopped recording by then, so only the 5 s lead-in is added: 5 + 595 = 600 s.
    (30, 600),
])
def test_timer_runs_from_the_start_event_to_the_stop_event(tmp_path, stop_after_last_s, expected_timer_s):
    messages = [_timer_event(START, "start")]
    messages += [record(START + timedelta(seconds=i), distance=5.0 * i, enhanced_speed=5.0) for i in range(5, 601)]
    messages.append(_timer_event(START + timedelta(seconds=600 + stop_after_last_s), "stop_all"))
    row = pipeline.read_file(write(tmp_path, "edges.fit", encode(messages))).activities.row(0, named=True)
    assert row["timer_s"] == expected_timer_s
    assert row["moving_s"] == 595  # moving time is what the samples show


def test_pool_swim_pace_comes_from_lengths_and_pool_length(tmp_path):
    # A 25 m pool: 4 lengths of 30 s, 40 s rest at the wall, 4 lengths of 30 s. The watch
    # records heart rate only, no distance. Hand calculation: 8 active lengths = 200 m in
    # 240 s of swimming, so the pace is 100 * 240 / 200 = 120 s per 100 m.
    spans = [(0, 30, True), (30, 60, True), (60, 90, True), (90, 120, True), (120, 160, False),
             (160, 190, True), (190, 220, True), (220, 250, True), (250, 280, True)]
    messages = [record(START + timedelta(seconds=i), heart_rate=130) for i in range(281)]
    for number, (start, end, active) in enumerate(spans):
        messages.append({
            "mesg_num": MESG["LENGTH"], "message_index": number, "timestamp": START + timedelta(seconds=end),
            "start_time": START + timedelta(seconds=start), "total_elapsed_time": end - start,
            "total_timer_time": end - start, "event": "length", "event_type": "stop",
            "length_type": "active" if active else "idle",
        })
    messages.append(session(START, 280, "swimming", sub_sport="lap_swimming", pool_length=25.0))
    row = pipeline.read_file(write(tmp_path, "pool.fit", encode(messages))).activities.row(0, named=True)
    assert (row["pool_length_m"], row["pool_active_lengths"], row["pool_active_lengths_s"]) == (25.0, 8, 240.0)
    assert row["distance_m"] == 200.0
    assert row["avg_pace_s_per_100m"] == pytest.approx(120.0)


def test_running_cadence_is_reported_in_steps_per_minute(tmp_path):
    # FIT running cadence counts one foot (strides per minute): 85 strides = 170 steps.
    messages = [record(START + timedelta(seconds=i), distance=3.0 * i, enhanced_speed=3.0, cadence=85)
                for i in range(301)]
    messages.append(session(START, 300, "running", total_distance=900.0))
    row = pipeline.read_file(write(tmp_path, "run.fit", encode(messages))).activities.row(0, named=True)
    assert (row["avg_cadence_rpm"], row["avg_cadence_spm"]) == (85.0, 170.0)


def test_ascent_hysteresis_setting_decides_which_bumps_count(tmp_path):
    # A steady 20 m climb over 200 s, then 5 waves of 4 m from trough to crest (period 40 s).
    # With a 5 m hysteresis the waves never count: ascent is the 20 m climb. With 3 m each
    # wave adds close to its 4 m (a 5-sample average keeps 97.5 % of a 40 s wave).
    altitude = [0.1 * i for i in range(200)] + [20.0 - 2.0 + 2.0 * math.cos(2 * math.pi * i / 40) for i in range(200)]
    messages = [record(START + timedelta(seconds=i), distance=8.0 * i, enhanced_speed=8.0, enhanced_altitude=a)
                for i, a in enumerate(altitude)]
    messages.append(session(START, 399, "cycling"))
    data = encode(messages)
    ascent = {h: pipeline.read_file(write(tmp_path, f"hills{h}.fit", data), athlete=Athlete(ascent_hysteresis_m=h))
              .activities["ascent_m"][0] for h in (3.0, 5.0)}
    assert ascent[5.0] == pytest.approx(20.0, abs=0.5)
    assert ascent[3.0] > ascent[5.0] + 15.0
