"""curves.parquet and best_efforts.parquet, written by the real `fitpipe` and read back with
polars: a hand-built run checked by hand, the sample rides against a second computation on
their stored samples, replaced rows, and an output from before the tables."""

from __future__ import annotations

import shutil
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from conftest import SAMPLE_FILES, run_cli
from fitbuild import START, encode, record, session
from test_curves import best_by_sliding, seconds_by_loop


def hand_built_run(seconds: int = 1500, speed: float = 4.0) -> bytes:
    """A run at 4 m/s for 25 min, 250 W but 400 W from minute 10 to 11, heart rate 150 bpm."""
    messages = [record(START + timedelta(seconds=i), distance=speed * i, enhanced_speed=speed, heart_rate=150,
                       power=400 if 600 <= i < 660 else 250) for i in range(seconds + 1)]
    messages.append(session(START, seconds, "running", total_distance=speed * seconds))
    return encode(messages, local_offset_s=0)


@pytest.fixture(scope="module")
def hand_output(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run-in")
    (folder / "run.fit").write_bytes(hand_built_run())
    out = tmp_path_factory.mktemp("run-out")
    run_cli("run", folder, "--out", out, "--quiet", check_code=0)
    return out


def test_a_hand_built_runs_best_efforts_by_hand(hand_output):
    # 4 m/s throughout: 400 m in 100 s, 1 km in 250 s, a mile in 1609.344 / 4 = 402.336 s, 5 km in
    # 1,250 s; 6 km run in all, so no 10 km. Each first covered from the start.
    efforts = pl.read_parquet(hand_output / "best_efforts.parquet")
    assert efforts["distance_m"].to_list() == [400.0, 1000.0, 1609.344, 5000.0]
    assert efforts["time_s"].to_list() == pytest.approx([100.0, 250.0, 402.336, 1250.0], abs=1e-6)
    assert efforts["start_offset_s"].to_list() == pytest.approx([0.0] * 4, abs=1e-6)
    assert (efforts["start_time_utc"] == START).all()


def test_a_hand_built_runs_power_curve_by_hand(hand_output):
    # 400 W for 60 s from 600 s, 250 W otherwise, 1,501 s in all. Best 1 min: 400 W from
    # 600 s. Best 2 min: the minute of 400 W and one of 250 W, (60 × 400 + 60 × 250) / 120 =
    # 325 W. Best 20 min: any window holding the surge, (60 × 400 + 1140 × 250) / 1200 = 257.5 W.
    # The grid's durations up to 20 min (the next, 30 min, is longer than the run).
    power = pl.read_parquet(hand_output / "curves.parquet").filter(pl.col("kind") == "power")
    by_duration = dict(zip(power["duration_s"], power["value"]))
    assert by_duration[60] == 400.0 and by_duration[5] == 400.0
    assert by_duration[120] == pytest.approx(325.0)
    assert by_duration[1200] == pytest.approx((60 * 400 + 1140 * 250) / 1200)
    assert power.filter(pl.col("duration_s") == 60)["start_offset_s"].item() == 600.0
    assert sorted(power["duration_s"]) == [1, 2, 3, 5, 10, 15, 20, 30, 60, 120, 180, 300, 480, 600, 720, 900, 1200]
    heart_rate = pl.read_parquet(hand_output / "curves.parquet").filter(pl.col("kind") == "heart_rate")
    assert (heart_rate["value"] == 150.0).all()


@pytest.fixture(scope="module")
def sample_output(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples-out")
    run_cli("run", SAMPLE_FILES, "--out", out, "--quiet", check_code=0)
    return out


def test_the_sample_rides_power_curves_equal_a_second_computation_on_their_stored_samples(sample_output):
    curves = pl.read_parquet(sample_output / "curves.parquet").filter(pl.col("kind") == "power")
    samples = pl.read_parquet(sample_output / "samples" / "**" / "*.parquet", hive_partitioning=True)
    rides = sorted(set(curves["activity_id"]))[:4]
    assert len(rides) == 4
    for activity in rides:
        theirs = samples.filter(pl.col("activity_id") == activity).sort("timestamp_utc")
        t = ((theirs["timestamp_utc"] - theirs["timestamp_utc"][0]).dt.total_microseconds() / 1e6).to_numpy()
        series = seconds_by_loop(t, theirs["power_w"].fill_null(np.nan).to_numpy(), zero_in_gaps=True)
        got = curves.filter(pl.col("activity_id") == activity).sort("duration_s")
        exact = {d: best_by_sliding(series, d) for d in got["duration_s"]}
        longest_first = [max(exact[e] for e in exact if e >= d) for d in got["duration_s"]]
        assert np.allclose(got["value"].to_numpy(), longest_first, rtol=1e-9, atol=0)


def test_rows_of_a_replaced_file_are_replaced(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "run.fit").write_bytes(hand_built_run())
    out = tmp_path / "out"
    run_cli("run", folder, "--out", out, "--quiet", check_code=0)
    before = set(pl.read_parquet(out / "curves.parquet")["activity_id"])
    (folder / "run.fit").write_bytes(hand_built_run(seconds=1200, speed=3.0))  # another run in its place
    run_cli("run", folder, "--out", out, "--quiet", check_code=0)
    activities = set(pl.read_parquet(out / "activities.parquet")["activity_id"])
    for table in ("curves", "best_efforts"):
        assert set(pl.read_parquet(out / f"{table}.parquet")["activity_id"]) == activities
    assert activities.isdisjoint(before)
    efforts = pl.read_parquet(out / "best_efforts.parquet")
    assert efforts["distance_m"].to_list() == [400.0, 1000.0, 1609.344]  # 3,600 m in all


@pytest.mark.parametrize("form", ["parquet", "delta"])
def test_an_output_from_before_the_tables_gets_them_on_the_next_run(sample_output, tmp_path, form):
    out = tmp_path / "out"
    if form == "parquet":
        shutil.copytree(sample_output, out)
        want = {t: pl.read_parquet(out / f"{t}.parquet") for t in ("curves", "best_efforts")}
        for table in want:
            (out / f"{table}.parquet").unlink()
    else:
        run_cli("run", SAMPLE_FILES, "--out", out, "--quiet", "--format", "delta", check_code=0)
        want = {t: pl.read_delta(str(out / t)) for t in ("curves", "best_efforts")}
        for table in want:
            shutil.rmtree(out / table)
    run_cli("run", SAMPLE_FILES, "--out", out, "--quiet", check_code=0)  # nothing new to read
    for table, rows in want.items():
        got = pl.read_parquet(out / f"{table}.parquet") if form == "parquet" else pl.read_delta(str(out / table))
        key = [c for c in rows.columns]
        assert got.sort(key).equals(rows.sort(key)), table
