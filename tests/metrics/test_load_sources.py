"""Load for every sport: normalized graded pace, rTSS and sTSS by hand; which source each activity
uses; and estimated thresholds reaching the load of the sample files through `fitpipe run`,
without an older activity's load moving when a newer file arrives."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta

import polars as pl
import pytest

import pipeline
from conftest import SAMPLE_FILES, run_cli
from fitbuild import START, encode, record, session
from pipeline.config import Athlete
from pipeline.metrics import load
from pipeline.normalize import schema

DAY = START.date()


def thresholds(**values: float) -> pl.DataFrame:
    """A thresholds table for `DAY` with these values, estimated."""
    return pl.DataFrame([{"athlete_id": "default", "date": DAY, "threshold": name, "value": value,
                          "source": "estimated", "model": "by hand", "activity_ids": []}
                         for name, value in values.items()], schema=schema.THRESHOLDS, strict=False)


def graded_run(tmp_path, seconds: int = 1800) -> pipeline.FileContent:
    """A run at 4 m/s up a steady 10 % slope: 0.4 m of height per second (FIT keeps altitude to
    0.2 m, speed to 1 mm/s and distance to 1 cm, so every value is exact)."""
    messages = [record(START + timedelta(seconds=i), distance=4.0 * i, enhanced_speed=4.0,
                       enhanced_altitude=100.0 + 0.4 * i, heart_rate=150) for i in range(seconds + 1)]
    messages.append(session(START, seconds, "running", total_distance=4.0 * seconds))
    path = tmp_path / "hill.fit"
    path.write_bytes(encode(messages, local_offset_s=0))
    return pipeline.read_file(path)


def test_normalized_graded_pace_and_rtss_of_a_steady_climb_by_hand(tmp_path):
    content = graded_run(tmp_path)
    # Minetti's cost at 10 %: 155.4·0.1⁵ − 30.4·0.1⁴ − 43.3·0.1³ + 46.3·0.1² + 19.5·0.1 + 3.6
    # = 0.001554 − 0.00304 − 0.0433 + 0.463 + 1.95 + 3.6 = 5.968214 J/kg/m against 3.6 on the
    # flat, so 4 m/s up it is worth 4 × 5.968214 / 3.6 = 6.631349 m/s on the flat.
    cost = 155.4e-5 - 30.4e-4 - 43.3e-3 + 46.3e-2 + 19.5e-1 + 3.6
    assert cost == pytest.approx(5.968214)
    ngp = content.tables.activities["ngp_mps"][0]
    assert ngp == pytest.approx(4 * cost / 3.6, rel=2e-3)
    # Exactly: seconds 0 and 1 (under 5 m covered) count as flat, 4 m/s; each second's 30 s mean
    # is over it and the 29 before; the 4th-power mean is over seconds 1 to 1,800 (second 0
    # carries no time).
    graded = [4.0 if i < 2 else 4 * cost / 3.6 for i in range(1801)]
    rolling = [sum(graded[max(0, i - 29):i + 1]) / len(graded[max(0, i - 29):i + 1]) for i in range(1801)]
    assert ngp == pytest.approx((sum(r ** 4 for r in rolling[1:]) / 1800) ** 0.25, rel=1e-12)
    # With a threshold run speed of 5 m/s: IF = 6.6243 / 5 = 1.32486; half an hour gives
    # rTSS = 0.5 × 1.32486² × 100 = 87.76.
    activities, laps = load.with_load(content.tables.activities, content.tables.laps, content.tables.time_at_hr,
                                      thresholds(threshold_run_speed_mps=5.0), lambda a: Athlete(id=a))
    row = activities.row(0, named=True)
    assert row["run_tss"] == pytest.approx(0.5 * (ngp / 5.0) ** 2 * 100)
    assert row["run_tss"] == pytest.approx(87.76, abs=0.01)
    assert (row["tss"], row["tss_source"], row["threshold_speed_mps"]) == (row["run_tss"], "pace", 5.0)
    assert laps["run_tss"][0] == pytest.approx(row["run_tss"])  # one lap: the activity's


def one(sport: str, **metrics) -> pl.DataFrame:
    return schema.conform(pl.DataFrame([{"athlete_id": "default", "activity_id": sport, "sport": sport,
                                         "start_time_local": datetime(DAY.year, DAY.month, DAY.day, 9), **metrics}]),
                          schema.ACTIVITIES)


def test_stss_against_css_by_hand():
    # An hour at 1.1 m/s against a CSS of 1.0 m/s: IF 1.1, sTSS = 1 × 1.1³ × 100 = 133.1.
    swim = one("swim", timer_s=3600.0, avg_speed_mps=1.1)
    activities, _ = load.with_load(swim, pl.DataFrame(schema=schema.LAPS), pl.DataFrame(schema=schema.TIME_AT_HR),
                                   thresholds(css_mps=1.0), lambda a: Athlete(id=a))
    assert activities["swim_tss"][0] == pytest.approx(133.1)
    assert activities["tss_source"][0] == "pace"


def test_each_activity_takes_power_then_pace_then_heart_rate():
    # A ride with power and heart rate: power. A ride without power: heart rate. A run whose
    # threshold pace is unknown: heart rate. 40 min at 160 bpm with LTHR 160, rest 60, max 190.
    at_hr = pl.DataFrame([{"athlete_id": "default", "activity_id": a, "lap_index": 0, "heart_rate_bpm": 160.0,
                           "moving_s": 2400.0} for a in ("ride", "run")], schema=schema.TIME_AT_HR)
    ride = one("ride", timer_s=2400.0, np_w=200.0)
    run = one("run", timer_s=2400.0, ngp_mps=3.0)
    limits = dict(max_hr_bpm=190.0, resting_hr_bpm=60.0, lthr_ride_bpm=160.0, lthr_run_bpm=160.0)
    both, _ = load.with_load(pl.concat([ride, run]), pl.DataFrame(schema=schema.LAPS), at_hr,
                             thresholds(ftp_w=250.0, **limits), lambda a: Athlete(id=a))
    by_sport = {r["sport"]: r for r in both.iter_rows(named=True)}
    # power: 40 min at IF 200 / 250 = 0.8 gives 2/3 × 0.64 × 100 = 42.67
    assert (by_sport["ride"]["tss"], by_sport["ride"]["tss_source"]) == (pytest.approx(2 / 3 * 0.8 ** 2 * 100), "power")
    # heart rate at LTHR for 40 min: 2/3 of the hour at LTHR, hrTSS 66.67
    assert (by_sport["run"]["tss"], by_sport["run"]["tss_source"]) == (pytest.approx(200 / 3), "hr")
    without_power, _ = load.with_load(ride.with_columns(np_w=pl.lit(None, pl.Float64)), pl.DataFrame(schema=schema.LAPS),
                                      at_hr, thresholds(ftp_w=250.0, **limits), lambda a: Athlete(id=a))
    assert without_power["tss_source"][0] == "hr"


@pytest.fixture(scope="module")
def incremental(tmp_path_factory):
    """The sample files without the last day's, then with it: two states of one output."""
    inputs = tmp_path_factory.mktemp("later-in")
    out = tmp_path_factory.mktemp("later-out")
    files = sorted(p for p in SAMPLE_FILES.rglob("*") if p.is_file() and p.suffix != ".md"
                   and "same-ride" not in str(p))
    last_day = max(p.name[:10] for p in files)
    for path in files:
        if path.name[:10] != last_day:
            shutil.copy(path, inputs / f"{path.parent.name}-{path.name}")
    run_cli("run", inputs, "--out", out, "--quiet", check_code=0)
    before = pl.read_parquet(out / "activities.parquet")
    for path in files:
        if path.name[:10] == last_day:
            shutil.copy(path, inputs / f"{path.parent.name}-{path.name}")
    run_cli("run", inputs, "--out", out, "--quiet", check_code=0)
    return out, before, date.fromisoformat(last_day)


def test_every_activity_of_the_sample_files_has_load_from_thresholds_estimated_before_it(incremental):
    out, _, _ = incremental
    activities = pl.read_parquet(out / "activities.parquet").filter(pl.col("counts_in_totals"))
    in_force = pl.read_parquet(out / "thresholds.parquet")
    rides = activities.filter(pl.col("tss_source") == "power")
    assert rides.height > 10 and rides["thresholds_source"].str.contains("estimated").all()
    for ride in rides.iter_rows(named=True):  # TSS by hand from the ride's NP and the table's FTP
        ftp = in_force.filter((pl.col("date") == ride["start_time_local"].date()) & (pl.col("threshold") == "ftp_w"))
        assert ride["threshold_ftp_w"] == ftp["value"].item()
        assert ride["power_tss"] == pytest.approx(ride["timer_s"] / 3600 * (ride["np_w"] / ftp["value"].item()) ** 2 * 100)
    # Only the very first day has nothing before it.
    first_day = activities["start_time_local"].min().date()
    unloaded = activities.filter(pl.col("tss").is_null())
    assert (unloaded["start_time_local"].dt.date() == first_day).all()
    assert set(activities["tss_source"].drop_nulls()) == {"power", "pace", "hr"}


def test_a_newer_file_changes_no_older_activitys_load(incremental):
    out, before, last_day = incremental
    after = pl.read_parquet(out / "activities.parquet")
    older = after.join(before.select("activity_id"), on="activity_id", how="semi").sort("activity_id")
    assert older.height == before.height and (after["start_time_local"].dt.date() == last_day).any()
    columns = [*load.THRESHOLD_LOAD, *load.IN_FORCE]
    assert older.select(columns).equals(before.sort("activity_id").select(columns))


def test_run_and_metrics_continue_the_daily_table_to_the_day_asked_for(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in sorted((SAMPLE_FILES / "garmin").glob("*ride.fit"))[:3]:
        shutil.copy(path, inputs)
    out = tmp_path / "out"
    run_cli("run", inputs, "--out", out, "--quiet", "--as-of", "2026-12-31", check_code=0)
    daily = pl.read_parquet(out / "daily_load.parquet").filter(pl.col("sport") == "all").sort("date")
    assert daily["date"][-1] == date(2026, 12, 31)
    assert (pl.read_parquet(out / "bests.parquet")["as_of"] == date(2026, 12, 31)).all()
    # the days after the last ride only decay: each keeps 41/42 of the day before's fitness
    quiet = daily.filter(pl.col("date") > daily.filter(pl.col("activities") > 0)["date"].max())
    ratios = (quiet["ctl"] / quiet["ctl"].shift(1)).drop_nulls()
    assert ratios.len() > 100 and ((ratios - 41 / 42).abs() < 1e-12).all()
    run_cli("metrics", "--out", out, "--quiet", "--as-of", "2027-01-05", check_code=0)
    assert pl.read_parquet(out / "daily_load.parquet")["date"].max() == date(2027, 1, 5)
