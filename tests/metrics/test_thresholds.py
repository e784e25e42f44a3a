"""thresholds.parquet and bests.parquet: the window of each day, configured values winning, and
every estimate by hand on curves made from the models themselves; then both tables of the sample
files, read back by polars and DuckDB, against a brute-force loop over curves.parquet."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import duckdb
import polars as pl
import pytest

from conftest import SAMPLE_FILES, run_cli
from pipeline.config import Athlete, Thresholds
from pipeline.metrics.curves import DURATIONS_S
from pipeline.normalize import schema
from pipeline.metrics.thresholds import thresholds_table

JAN_1, MAR_1, APR_15, JUL_1 = date(2026, 1, 1), date(2026, 3, 1), date(2026, 4, 15), date(2026, 7, 1)


def activity(activity_id: str, day: date, sport: str) -> dict:
    return {"athlete_id": "ana", "activity_id": activity_id, "sport": sport,
            "start_time_local": datetime(day.year, day.month, day.day, 9)}


def model_curve(activity_id: str, sport: str, kind: str, critical: float, reserve: float) -> list[dict]:
    """A curve of the 2-parameter model itself: the best average over t s is CP + W′/t."""
    return [{"athlete_id": "ana", "activity_id": activity_id, "sport": sport, "kind": kind, "duration_s": t,
             "value": critical + reserve / t, "start_time_utc": datetime(2026, 1, 1, tzinfo=timezone.utc)}
            for t in DURATIONS_S if t <= 3600]


def flat_curve(activity_id: str, sport: str, kind: str, values: dict[int, float]) -> list[dict]:
    return [{"athlete_id": "ana", "activity_id": activity_id, "sport": sport, "kind": kind, "duration_s": t,
             "value": v, "start_time_utc": datetime(2026, 1, 1, tzinfo=timezone.utc)} for t, v in values.items()]


ACTIVITIES = pl.DataFrame([activity("x", JAN_1, "ride"), activity("y", MAR_1, "ride"),
                           activity("y2", MAR_1, "ride"), activity("z", APR_15, "run"),
                           activity("s", APR_15, "swim"), activity("w", JUL_1, "ride")])
CURVES = schema.conform(pl.DataFrame(
    model_curve("x", "ride", "power", 250.0, 20_000.0)
    + model_curve("y", "ride", "power", 280.0, 18_000.0)
    + model_curve("y2", "ride", "power", 400.0, 30_000.0)  # the same day as y: never in y's window
    + flat_curve("x", "ride", "heart_rate", {5: 185.0, 1200: 168.0})
    + model_curve("z", "run", "speed", 4.0, 200.0)
    + flat_curve("z", "run", "heart_rate", {5: 176.0, 1200: 170.0})), schema.CURVES)
EFFORTS = schema.conform(pl.DataFrame([
    {"athlete_id": "ana", "activity_id": "s", "sport": "swim", "distance_m": d, "time_s": t}
    for d, t in ((100.0, 85.0), (200.0, 180.0), (400.0, 380.0))]), schema.BEST_EFFORTS)


def in_force(table: pl.DataFrame, day: date) -> dict[str, dict]:
    return {row["threshold"]: row for row in table.filter(pl.col("date") == day).iter_rows(named=True)}


def test_each_day_uses_the_90_days_before_it_and_every_estimate_by_hand():
    table = thresholds_table(CURVES, EFFORTS, ACTIVITIES, lambda athlete: Athlete(id=athlete))
    # Jan 1: nothing before it; resting HR is the documented default.
    assert {k: v["source"] for k, v in in_force(table, JAN_1).items()} == {"resting_hr_bpm": "default"}
    # Mar 1: the window Dec 1 to Feb 28 holds x: CP 250 W and W′ 20 kJ come back from its curve;
    # max HR is its 5 s best; its ride LTHR 95 % of 168 = 159.6.
    march = in_force(table, MAR_1)
    assert march["ftp_w"]["value"] == pytest.approx(250.0)
    assert march["ftp_w"]["w_prime"] == pytest.approx(20_000.0)
    assert march["ftp_w"]["activity_ids"] == ["x"] and march["ftp_w"]["source"] == "estimated"
    assert march["max_hr_bpm"]["value"] == 185.0 and march["lthr_ride_bpm"]["value"] == pytest.approx(159.6)
    assert march["ftp_w"]["window_start"] == date(2025, 12, 1)
    # Apr 15: the window Jan 15 to Apr 14 holds y and y2 (both Mar 1), not x (Jan 1): y2's
    # model (CP 400 W) is the best at every duration.
    april = in_force(table, APR_15)
    assert april["ftp_w"]["value"] == pytest.approx(400.0) and april["ftp_w"]["activity_ids"] == ["y2"]
    assert "max_hr_bpm" not in april  # x's heart rate left the window
    # Jul 1: the window Apr 2 to Jun 30 holds z (run) and s (swim): critical speed 4 m/s, D′
    # 200 m; run LTHR 95 % of 170 = 161.5; CSS (400 − 200) / (380 − 180) = 1.0 m/s.
    july = in_force(table, JUL_1)
    assert july["threshold_run_speed_mps"]["value"] == pytest.approx(4.0)
    assert july["threshold_run_speed_mps"]["w_prime"] == pytest.approx(200.0)
    assert july["lthr_run_bpm"]["value"] == pytest.approx(161.5) and "lthr_ride_bpm" not in july
    assert july["css_mps"]["value"] == pytest.approx(1.0) and july["css_mps"]["activity_ids"] == ["s"]
    assert july["max_hr_bpm"]["value"] == 176.0 and "ftp_w" not in july


def test_a_shorter_window_forgets_sooner():
    # threshold_window_days = 30: on Apr 15 the window is Mar 16 to Apr 14, which leaves out y and
    # y2 (Mar 1); on Mar 1 it is Jan 30 to Feb 28, which leaves out x (Jan 1). No FTP on either
    # day, where the 90-day window had one (above).
    table = thresholds_table(CURVES, EFFORTS, ACTIVITIES, lambda athlete: Athlete(id=athlete, threshold_window_days=30))
    assert "ftp_w" not in in_force(table, APR_15) and "ftp_w" not in in_force(table, MAR_1)
    assert in_force(table, APR_15)["resting_hr_bpm"]["window_start"] == APR_15 - timedelta(days=30)


def test_a_ride_of_steady_power_gives_95_percent_of_its_20_minutes():
    # The same power at every duration: the CP line (t, P·t) goes through 0, so W′ is not
    # positive and the fit is refused; 95 % of 250 W = 237.5 W.
    curves = schema.conform(pl.DataFrame(flat_curve("x", "ride", "power", {t: 250.0 for t in DURATIONS_S[:20]})),
                            schema.CURVES)
    march = in_force(thresholds_table(curves, EFFORTS.clear(), ACTIVITIES, lambda a: Athlete(id=a)), MAR_1)
    assert march["ftp_w"]["value"] == pytest.approx(237.5) and march["ftp_w"]["model"] == "95% of best 20 min"


def test_configured_thresholds_win_from_their_date_and_max_hr_is_never_below_what_was_held():
    configured = Athlete(id="ana", thresholds=(Thresholds(effective_from=date(2026, 2, 1), ftp=300.0, max_hr=180.0,
                                                          lthr=165.0, resting_hr=48.0),))
    table = thresholds_table(CURVES, EFFORTS, ACTIVITIES, lambda athlete: configured)
    assert in_force(table, JAN_1)["resting_hr_bpm"]["source"] == "default"  # before `from`
    march = in_force(table, MAR_1)
    assert (march["ftp_w"]["value"], march["ftp_w"]["source"]) == (300.0, "configured")
    assert march["lthr_run_bpm"]["value"] == march["lthr_ride_bpm"]["value"] == 165.0
    assert march["resting_hr_bpm"]["value"] == 48.0
    # x held 185 bpm for 5 s, above the configured 180: that is the max HR
    assert (march["max_hr_bpm"]["value"], march["max_hr_bpm"]["source"]) == (185.0, "estimated")
    # in July z held only 176: the configured 180 stands
    assert (in_force(table, JUL_1)["max_hr_bpm"]["value"], in_force(table, JUL_1)["max_hr_bpm"]["source"]) == (
        180.0, "configured")


def test_configured_paces_win_over_critical_speed_and_css():
    # In July z's critical speed is 4 m/s and s's CSS 1.0 m/s (above). Configured: 4:00 min/km,
    # 1000 m / 240 s = 4.1667 m/s, and a CSS of 1:30 min/100 m, 100 m / 90 s = 1.1111 m/s.
    configured = Athlete(id="ana", thresholds=(Thresholds(effective_from=date(2026, 6, 1), threshold_pace=240.0,
                                                          css=90.0),))
    july = in_force(thresholds_table(CURVES, EFFORTS, ACTIVITIES, lambda athlete: configured), JUL_1)
    assert (july["threshold_run_speed_mps"]["value"], july["threshold_run_speed_mps"]["source"]) == (
        pytest.approx(1000 / 240), "configured")
    assert (july["css_mps"]["value"], july["css_mps"]["source"]) == (pytest.approx(100 / 90), "configured")
    assert july["lthr_run_bpm"]["source"] == "estimated"  # nothing else was configured


@pytest.fixture(scope="module")
def sample_output(tmp_path_factory):
    out = tmp_path_factory.mktemp("thresholds-out")
    run_cli("run", "--out", out, "--quiet", check_code=0)
    return out


def test_the_sample_files_bests_equal_a_brute_force_loop_over_their_curves(sample_output):
    curves = pl.read_parquet(sample_output / "curves.parquet")
    activities = pl.read_parquet(sample_output / "activities.parquet")
    counted = {a: s.date() for a, s, c in activities.select("activity_id", "start_time_local",
                                                             "counts_in_totals").rows() if c}
    bests = duckdb.sql(f"SELECT * FROM read_parquet('{sample_output / 'bests.parquet'}') "
                       "WHERE kind <> 'distance'").pl()
    today = bests["as_of"][0]
    for period, days in (("all_time", None), ("last_90_days", 90)):
        want: dict = {}
        for row in curves.iter_rows(named=True):
            day = counted.get(row["activity_id"])
            if day is None or (days is not None and not today - timedelta(days=days) < day <= today):
                continue
            key = (row["sport"], row["kind"], row["duration_s"])
            if key not in want or row["value"] > want[key]:
                want[key] = row["value"]
        got = {(r["sport"], r["kind"], r["duration_s"]): r["value"]
               for r in bests.filter(pl.col("period") == period).iter_rows(named=True)}
        assert got == want and want, period


def test_the_sample_files_thresholds_are_dated_and_name_their_activities(sample_output):
    thresholds = pl.read_parquet(sample_output / "thresholds.parquet")
    activities = pl.read_parquet(sample_output / "activities.parquet")
    estimated = thresholds.filter(pl.col("source") == "estimated")
    assert set(estimated["threshold"]) == {"ftp_w", "max_hr_bpm", "lthr_run_bpm", "lthr_ride_bpm",
                                           "threshold_run_speed_mps", "css_mps"}
    days = dict(zip(activities["activity_id"], activities["start_time_local"].dt.date()))
    for row in estimated.iter_rows(named=True):  # only earlier activities, within the window
        assert row["activity_ids"] and all(row["window_start"] <= days[a] < row["date"] for a in row["activity_ids"])


def true_thresholds() -> dict[str, float]:
    """The values the sample generator used, from the table it writes into sample_files/README.md."""
    readme = (SAMPLE_FILES / "README.md").read_text()
    section = readme.split("## Tests and the athlete's true thresholds")[1].split("\n## ")[0]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| `")]
    return {cells[1].strip(" `"): float(cells[2]) for cells in rows}


def test_the_sample_files_estimated_thresholds_land_within_5_percent_of_the_generators_values(sample_output):
    # The sample athlete's tests (two ride tests, a 3/12-min run test, a 5 km, a 400/200 m swim)
    # are all in the 90 days before the last day, so every estimate of that day should find them.
    truth = true_thresholds()
    thresholds = pl.read_parquet(sample_output / "thresholds.parquet")
    last_day = in_force(thresholds, thresholds["date"].max())
    assert set(truth) == set(last_day)
    for name, true_value in truth.items():
        row = last_day[name]
        assert row["source"] == ("default" if name == "resting_hr_bpm" else "estimated"), name
        assert row["value"] == pytest.approx(true_value, rel=0.05), name


def test_a_configured_window_reaches_the_table_and_stays_with_the_output(sample_output, tmp_path):
    config = tmp_path / "fitpipe.toml"
    config.write_text("[metrics]\nthreshold_window_days = 30\n")
    out = tmp_path / "out"
    run_cli("run", SAMPLE_FILES, "--config", config, "--out", out, "--quiet", check_code=0)
    table = pl.read_parquet(out / "thresholds.parquet")
    assert (table["date"] - table["window_start"]).dt.total_days().unique().to_list() == [30]
    activities = pl.read_parquet(out / "activities.parquet")
    days = dict(zip(activities["activity_id"], activities["start_time_local"].dt.date()))
    for row in table.filter(pl.col("source") == "estimated").iter_rows(named=True):
        assert all(row["date"] - timedelta(days=30) <= days[a] < row["date"] for a in row["activity_ids"])
    default = pl.read_parquet(sample_output / "thresholds.parquet")  # 90 days: other bests, other values
    assert not table.select("date", "threshold", "value").equals(default.select("date", "threshold", "value"))
    # `fitpipe metrics` without the config keeps the stored window
    run_cli("metrics", "--out", out, "--quiet", check_code=0)
    assert pl.read_parquet(out / "thresholds.parquet").equals(table)


def test_the_same_files_in_another_order_give_the_same_thresholds_to_the_last_digit(sample_output):
    # A re-run with nothing new must write nothing: the table may not depend on row order.
    written = pl.read_parquet(sample_output / "thresholds.parquet")
    curves = pl.read_parquet(sample_output / "curves.parquet")
    efforts = pl.read_parquet(sample_output / "best_efforts.parquet")
    activities = pl.read_parquet(sample_output / "activities.parquet").filter(pl.col("counts_in_totals"))
    for seed in range(5):
        shuffled = thresholds_table(curves.sample(fraction=1.0, shuffle=True, seed=seed), efforts,
                                    activities.sample(fraction=1.0, shuffle=True, seed=seed), lambda a: Athlete(id=a))
        assert shuffled.equals(written), seed
