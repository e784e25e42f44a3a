"""Training-load metrics against hand calculations (each written out beside its test)."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

import pipeline
from pipeline.metrics import training_load
from pipeline.config import Athlete, Thresholds
from fitbuild import START, encode, record, session

REST, MAX, LTHR, FTP = 50.0, 200.0, 170.0, 250.0
ATHLETE = Athlete(thresholds=(Thresholds(date(2026, 1, 1), max_hr=MAX, resting_hr=REST, lthr=LTHR, ftp=FTP),))


def ride(tmp_path, seconds: int, hr, power=None, name="ride.fit", athlete=ATHLETE, start=START):
    """A 1 Hz ride at 8 m/s with the given heart-rate and power functions of the second."""
    messages = []
    for i in range(seconds + 1):
        fields = {"distance": 8.0 * i, "enhanced_speed": 8.0, "heart_rate": hr(i)}
        if power is not None:
            fields["power"] = power(i)
        messages.append(record(start + timedelta(seconds=i), **fields))
    messages.append(session(start, seconds, "cycling"))
    path = tmp_path / name
    path.write_bytes(encode(messages))
    return pipeline.read_file(path, athlete=athlete).activities.row(0, named=True)


def test_banister_trimp_for_a_steady_hour(tmp_path):
    row = ride(tmp_path, 3600, hr=lambda i: 150)
    # HRr = (150 - 50) / (200 - 50) = 2/3; TRIMP = 60 min * HRr * 0.64 * e^(1.92 * HRr)
    reserve = 2 / 3
    assert row["trimp"] == pytest.approx(60 * reserve * 0.64 * math.exp(1.92 * reserve), rel=1e-9)
    assert row["thresholds_source"] == "configured" and row["threshold_max_hr_bpm"] == MAX


def test_an_hour_at_lthr_is_100_hr_tss(tmp_path):
    assert ride(tmp_path, 3600, hr=lambda i: LTHR)["hr_tss"] == pytest.approx(100.0, rel=1e-9)


def test_an_hour_at_ftp_is_100_tss_with_if_1_and_vi_1(tmp_path):
    row = ride(tmp_path, 3600, hr=lambda i: 150, power=lambda i: int(FTP))
    assert row["np_w"] == pytest.approx(FTP)
    assert row["intensity_factor"] == pytest.approx(1.0)
    assert row["power_tss"] == pytest.approx(100.0)
    assert row["variability_index"] == pytest.approx(1.0)
    assert (row["tss"], row["tss_source"]) == (pytest.approx(100.0), "power")
    assert row["ef_power_w_per_bpm"] == pytest.approx(FTP / 150)


def test_normalized_power_weights_hard_efforts(tmp_path):
    # 30 min at 100 W then 30 min at 300 W. Apart from the 30 s after the step, the 30 s
    # rolling mean is 100 or 300, so NP ~ ((100^4 + 300^4) / 2) ^ (1/4) = 253.0 W, while
    # the plain average is 200 W.
    row = ride(tmp_path, 3600, hr=lambda i: 150, power=lambda i: 100 if i < 1800 else 300)
    expected = ((100**4 + 300**4) / 2) ** 0.25
    assert row["np_w"] == pytest.approx(expected, rel=0.01)
    assert row["avg_power_w"] == pytest.approx(200, rel=0.01)
    assert row["variability_index"] == pytest.approx(expected / 200, rel=0.01)


def test_time_in_lthr_zones(tmp_path):
    # LTHR 170: zone floors at 85/90/95/100 % = 144.5, 153, 161.5, 170 bpm.
    # 600 s each at 140 (z1), 150 (z2), 155 (z3), 165 (z4), 175 (z5), then 600 s more at 160
    # (z3); second 0 carries no time.
    levels = [140, 150, 155, 165, 175, 160]
    row = ride(tmp_path, 3600, hr=lambda i: levels[(i - 1) // 600] if i else 140)
    assert [row[f"hr_zone{k}_s"] for k in range(1, 6)] == [600, 600, 1200, 600, 600]


def test_time_in_max_hr_zones(tmp_path):
    athlete = Athlete(thresholds=ATHLETE.thresholds, hr_zones="max_hr")
    # Max 200: zone floors at 60/70/80/90 % = 120, 140, 160, 180 bpm; 130 bpm is zone 2.
    row = ride(tmp_path, 600, hr=lambda i: 130, athlete=athlete)
    assert [row[f"hr_zone{k}_s"] for k in range(1, 6)] == [0, 600, 0, 0, 0]


def test_aerobic_decoupling(tmp_path):
    # Same 200 W throughout; HR 140 in the first half, 154 in the second:
    # EF1 = 200/140, EF2 = 200/154, decoupling = (EF1 - EF2) / EF1 = 1 - 140/154 = 9.09 %.
    row = ride(tmp_path, 3600, hr=lambda i: 140 if i <= 1800 else 154, power=lambda i: 200)
    assert row["decoupling_pct"] == pytest.approx((1 - 140 / 154) * 100, rel=1e-6)


def test_no_thresholds_means_no_load_but_other_metrics(tmp_path):
    row = ride(tmp_path, 600, hr=lambda i: 150, power=lambda i: 200, athlete=Athlete())
    assert row["trimp"] is None and row["tss"] is None and row["hr_zone1_s"] is None
    assert row["thresholds_source"] is None  # until `fitpipe run` estimates some (test_load_sources.py)
    assert row["np_w"] == pytest.approx(200) and row["avg_hr_bpm"] == 150


def test_each_activity_uses_the_thresholds_in_force_on_its_date(tmp_path):
    athlete = Athlete(thresholds=(
        Thresholds(date(2026, 1, 1), max_hr=MAX, resting_hr=REST, lthr=LTHR, ftp=200.0),
        Thresholds(date(2026, 7, 1), max_hr=MAX, resting_hr=REST, lthr=LTHR, ftp=250.0),
    ))
    def on(day: str) -> dict:
        # 06:00 UTC is 07:00 or 08:00 in Ljubljana: the same local date.
        start = datetime.fromisoformat(f"{day}T06:00:00+00:00")
        return ride(tmp_path, 600, hr=lambda i: 150, power=lambda i: 250, athlete=athlete,
                    name=f"{day}.fit", start=start)

    before, june, switch, later = on("2025-12-31"), on("2026-06-30"), on("2026-07-01"), on("2026-07-06")
    assert before["threshold_ftp_w"] is None and before["intensity_factor"] is None
    assert june["intensity_factor"] == pytest.approx(250 / 200)
    assert switch["intensity_factor"] == later["intensity_factor"] == pytest.approx(1.0)
    assert [r["threshold_ftp_w"] for r in (june, switch, later)] == [200.0, 250.0, 250.0]


def test_fitness_fatigue_and_form_by_hand():
    # One day of 100 TSS, then rest. CTL_1 = 100/42, CTL_2 = CTL_1 * 41/42;
    # ATL_1 = 100/7; form on day 2 = CTL_1 - ATL_1.
    activities = pl.DataFrame({
        "athlete_id": ["default", "default"],
        "start_time_local": [datetime(2026, 7, 6, 8), datetime(2026, 7, 8, 8)],
        "sport": ["ride", "run"], "trimp": [80.0, None], "tss": [100.0, None],
    })
    daily = training_load.daily_load(activities).filter(pl.col("sport") == "all").sort("date")
    assert daily["date"].to_list() == [date(2026, 7, 6), date(2026, 7, 7), date(2026, 7, 8)]
    assert daily["ctl"].to_list() == pytest.approx([100 / 42, 100 / 42 * 41 / 42, 100 / 42 * (41 / 42) ** 2])
    assert daily["atl"][0] == pytest.approx(100 / 7)
    assert daily["tsb"].to_list()[:2] == pytest.approx([0.0, 100 / 42 - 100 / 7])
    assert daily["trimp"].to_list() == [80.0, 0.0, 0.0]
    run = training_load.daily_load(activities).filter(pl.col("sport") == "run")
    assert run["activities"].to_list() == [0, 0, 1]


def test_fitness_recurrence_matches_the_closed_form():
    # Constant load L for n days from 0: x_n = L * (1 - (1 - 1/k)^n).
    values = training_load.fitness(np.full(100, 50.0), 42)
    assert values[-1] == pytest.approx(50 * (1 - (41 / 42) ** 100))


def test_trimp_uses_the_female_weighting_when_configured(tmp_path):
    athlete = Athlete(thresholds=ATHLETE.thresholds, sex="female")
    row = ride(tmp_path, 3600, hr=lambda i: 150, athlete=athlete)
    # Banister's female weighting: 0.86 * e^(1.67 * HRr), HRr = 2/3.
    reserve = 2 / 3
    assert row["trimp"] == pytest.approx(60 * reserve * 0.86 * math.exp(1.67 * reserve), rel=1e-9)


def test_power_efficiency_factor_is_for_rides_only(tmp_path):
    messages = []
    for i in range(601):
        messages.append(record(START + timedelta(seconds=i), distance=3.0 * i, enhanced_speed=3.0,
                               heart_rate=150, power=250))
    messages.append(session(START, 600, "running"))
    path = tmp_path / "run.fit"
    path.write_bytes(encode(messages))
    row = pipeline.read_file(path, athlete=ATHLETE).activities.row(0, named=True)
    assert row["np_w"] is None and row["ef_power_w_per_bpm"] is None
    assert row["ef_speed_m_per_min_per_bpm"] == pytest.approx(3.0 * 60 / 150)


def test_fitness_and_fatigue_decay_to_the_day_asked_for():
    # One ride of 100 TSS on Jul 6, then nothing to Jul 10: each day without load keeps 41/42 of
    # yesterday's fitness and 6/7 of its fatigue, so on Jul 10 CTL = 100/42 × (41/42)⁴ and
    # ATL = 100/7 × (6/7)⁴; form on Jul 10 is Jul 9's CTL − ATL.
    activities = pl.DataFrame({"athlete_id": ["default"], "start_time_local": [datetime(2026, 7, 6, 8)],
                               "sport": ["ride"], "trimp": [80.0], "tss": [100.0]})
    daily = training_load.daily_load(activities, through=date(2026, 7, 10)).filter(pl.col("sport") == "all")
    assert daily["date"].to_list() == [date(2026, 7, d) for d in range(6, 11)]
    last = daily.row(-1, named=True)
    assert last["ctl"] == pytest.approx(100 / 42 * (41 / 42) ** 4)
    assert last["atl"] == pytest.approx(100 / 7 * (6 / 7) ** 4)
    assert last["tsb"] == pytest.approx(100 / 42 * (41 / 42) ** 3 - 100 / 7 * (6 / 7) ** 3)
    # a day before the last activity changes nothing: the grid still ends on it
    assert training_load.daily_load(activities, through=date(2026, 7, 1))["date"].max() == date(2026, 7, 6)
