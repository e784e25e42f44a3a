"""Sessions and pool swims on hand-built FIT files (issue 18, items 1 and 2).

Each test builds its case with the Garmin FIT SDK's encoder; the expected values are worked out
in the comments from what the file says.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

import pipeline
from fitbuild import MESG, START, encode, record, session

YARD = 0.9144
POOL_M = 25 * YARD  # a 25-yard pool: 22.86 m


def _timer(at, event_type: str) -> dict:
    return {"mesg_num": MESG["EVENT"], "timestamp": at, "event": "timer", "event_type": event_type}


def paddleboard(seconds: int = 3600) -> bytes:
    """A stand-up paddleboard session: 1 Hz records at 1 m/s from START, timer start and stop."""
    messages = [_timer(START, "start")]
    messages += [record(START + timedelta(seconds=i), distance=float(i), enhanced_speed=1.0, heart_rate=110,
                        lat=46.0 + i / 111_195.0, lon=14.5) for i in range(seconds + 1)]
    messages += [_timer(START + timedelta(seconds=seconds), "stop_all"),
                 session(START, seconds, "stand_up_paddleboarding", total_distance=float(seconds))]
    return encode(messages)


def pool_swim(sets: int = 4, lengths_per_set: int = 5, length_s: float = 60.0, rest_s: float = 30.0) -> tuple[bytes, dict]:
    """A pool swim from START: sets of 60 s lengths with a 30 s rest at the wall between sets, a
    record at the end of each length only (as some watches write), timer events around it all."""
    messages, t, distance, lengths = [_timer(START, "start")], 0.0, 0.0, 0
    for number in range(sets):
        for _ in range(lengths_per_set):
            messages.append({"mesg_num": MESG["LENGTH"], "timestamp": START + timedelta(seconds=t + length_s),
                             "start_time": START + timedelta(seconds=t), "total_elapsed_time": length_s,
                             "total_timer_time": length_s, "length_type": "active", "message_index": lengths})
            t, distance, lengths = t + length_s, distance + POOL_M, lengths + 1
            messages.append(record(START + timedelta(seconds=t), distance=distance, heart_rate=140))
        if number < sets - 1:
            messages.append({"mesg_num": MESG["LENGTH"], "timestamp": START + timedelta(seconds=t + rest_s),
                             "start_time": START + timedelta(seconds=t), "total_elapsed_time": rest_s,
                             "total_timer_time": rest_s, "length_type": "idle", "message_index": lengths})
            t, lengths = t + rest_s, lengths + 1
    messages += [_timer(START + timedelta(seconds=t), "stop_all"),
                 session(START, t, "swimming", sub_sport="lap_swimming", pool_length=POOL_M,
                         total_distance=distance, num_active_lengths=sets * lengths_per_set)]
    return encode(messages), {"active_lengths": sets * lengths_per_set, "active_s": sets * lengths_per_set * length_s,
                              "distance_m": distance, "elapsed_s": t}


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_pool_swim_moving_time_speed_and_pace_come_from_the_active_lengths(tmp_path):
    data, swim = pool_swim()
    row = pipeline.read_file(_write(tmp_path, "swim.fit", data)).activities.row(0, named=True)
    # 4 sets of 5 lengths of 22.86 m in 60 s each, 3 rests of 30 s: 20 lengths, 457.2 m in
    # 1200 s of swimming over 1290 s. Speed 457.2 / 1200 = 0.381 m/s; pace 100 / 0.381 = 262.47 s.
    assert swim["distance_m"] == pytest.approx(457.2)
    assert row["sport"] == "swim" and row["pool_active_lengths"] == 20
    assert row["moving_s"] == pytest.approx(1200.0)
    assert row["distance_m"] == pytest.approx(457.2)
    assert row["avg_speed_mps"] == pytest.approx(457.2 / 1200)
    assert row["avg_pace_s_per_100m"] == pytest.approx(100 * 1200 / 457.2)


def test_weekly_table_counts_the_pool_swim_by_its_lengths(tmp_path):
    data, _ = pool_swim()
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder, "swim.fit", data)
    out = tmp_path / "out"
    pipeline.ingest(pipeline.load_settings(None, inputs=(folder,), out=out, workers=1))
    pipeline.run_metrics(out, recompute=False)
    import polars as pl

    weekly = pl.read_parquet(out / "weekly.parquet").filter(pl.col("sport") == "swim")
    assert weekly["moving_s"].sum() == pytest.approx(1200.0)
    assert weekly["distance_m"].sum() == pytest.approx(457.2)


def test_open_water_swim_keeps_the_sample_rule(tmp_path):
    # 1 Hz GPS records at 0.8 m/s for 600 s, no lengths: moving time from the samples.
    messages = [record(START + timedelta(seconds=i), distance=0.8 * i, enhanced_speed=0.8, lat=46.0 + 0.8 * i / 111_195.0,
                       lon=14.5) for i in range(601)]
    messages.append(session(START, 600, "swimming", sub_sport="open_water", total_distance=480.0))
    row = pipeline.read_file(_write(tmp_path, "ows.fit", encode(messages))).activities.row(0, named=True)
    assert row["moving_s"] == 600 and row["distance_m"] == pytest.approx(480.0)
    assert row["avg_speed_mps"] == pytest.approx(0.8)


def test_chained_sessions_that_share_a_start_keep_their_own_records(tmp_path):
    # Two FIT files chained in one: a paddleboard session (3,601 records, 3,600 m) and a pool
    # swim (20 records, 457.2 m), both starting at START.
    swim, expected = pool_swim()
    content = pipeline.read_file(_write(tmp_path, "chained.fit", paddleboard() + swim))
    assert content.status == "imported"
    rows = content.activities.sort("session_index").to_dicts()
    assert [r["sport_raw"] for r in rows] == ["stand_up_paddleboarding", "swimming/lap_swimming"]
    paddle, swim_row = rows
    assert paddle["n_samples"] == 3601 and paddle["distance_m"] == pytest.approx(3600.0)
    assert swim_row["n_samples"] == 20 and swim_row["distance_m"] == pytest.approx(expected["distance_m"])
    assert swim_row["moving_s"] == pytest.approx(expected["active_s"])
    assert paddle["elapsed_s"] == pytest.approx(3600.0)


def test_a_session_without_records_is_named(tmp_path):
    # A run of 600 records, then a session (a bike leg) of which no record was written.
    messages = [record(START + timedelta(seconds=i), distance=3.0 * i, heart_rate=150) for i in range(601)]
    messages += [session(START, 600, "running", total_distance=1800.0),
                 session(START + timedelta(seconds=900), 1800, "cycling", total_distance=18000.0)]
    content = pipeline.read_file(_write(tmp_path, "lost-leg.fit", encode(messages)))
    assert content.activities.height == 1
    detail = content.activities["parse_detail"][0]
    assert "session(s) without records left out: 1 (cycling, 2026-07-06 06:15:00 UTC)" in detail


def test_records_outside_every_session_span_are_counted(tmp_path):
    # 120 records, but the only session covers the last 60 s: the first 59 lie before it.
    messages = [record(START + timedelta(seconds=i), distance=3.0 * i) for i in range(120)]
    messages.append(session(START + timedelta(seconds=59), 60, "running", total_distance=180.0))
    content = pipeline.read_file(_write(tmp_path, "early.fit", encode(messages)))
    assert content.activities["n_samples"][0] == 120  # kept, and said so
    assert "59 of 120 records lie outside every session's time span" in content.activities["parse_detail"][0]
