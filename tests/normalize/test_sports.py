"""Sports: the file's own words kept in sport_raw, a vocabulary for what people log, and
transitions kept out of training totals (issue 18, item 9)."""

from __future__ import annotations

import json
from datetime import timedelta

import polars as pl
import pytest

import pipeline
from conftest import run_cli
from fitbuild import START, encode, record, session
from pipeline.normalize.sports import SPORTS, canonical_sport
from recordings import phone_gpx


def _fit(tmp_path, sport: str, sub_sport: str | None = None, name: str = "a.fit"):
    messages = [record(START + timedelta(seconds=i), distance=2.0 * i, heart_rate=120) for i in range(121)]
    extra = {"sub_sport": sub_sport} if sub_sport else {}
    messages.append(session(START, 120, sport, total_distance=240.0, **extra))
    path = tmp_path / name
    path.write_bytes(encode(messages))
    return pipeline.read_file(path).activities.row(0, named=True)


@pytest.mark.parametrize("sport, sub_sport, expected, raw", [
    ("fitness_equipment", "indoor_rowing", "row", "fitness_equipment/indoor_rowing"),
    ("rowing", None, "row", "rowing"),
    ("stand_up_paddleboarding", None, "paddle", "stand_up_paddleboarding"),
    ("training", "strength_training", "strength", "training/strength_training"),
    ("training", "yoga", "yoga", "training/yoga"),
    ("cross_country_skiing", "skate_skiing", "ski", "cross_country_skiing/skate_skiing"),
    ("transition", None, "transition", "transition"),
    ("generic", None, "other", "generic"),
    # Sport 88 is newer than fitparse's profile (it reads a bare 88); the Garmin SDK's names it.
    ("canoeing", None, "paddle", "canoeing"),
])
def test_fit_sports(tmp_path, sport, sub_sport, expected, raw):
    row = _fit(tmp_path, sport, sub_sport)
    assert (row["sport"], row["sport_raw"]) == (expected, raw)


@pytest.mark.parametrize("track_type, expected", [("1", "ride"), ("9", "run"), ("Ride", "ride"), ("Rowing", "row"),
                                                  ("StandUpPaddling", "paddle"), ("NordicSki", "ski"), ("23", "other")])
def test_gpx_types_including_stravas_numbers(tmp_path, track_type, expected):
    path = tmp_path / "track.gpx"
    path.write_text(phone_gpx(seconds=120, track_type=track_type))
    row = pipeline.read_file(path).activities.row(0, named=True)
    assert (row["sport"], row["sport_raw"]) == (expected, track_type)


def test_numbers_mean_strava_types_only_in_gpx():
    assert canonical_sport("9", None, "gpx") == "run"
    assert canonical_sport("9", None, "fit") == "other"  # FIT sport 9 is american_football


def test_every_sport_has_a_family_for_duplicates():
    from pipeline.metrics.duplicates import SPORT_FAMILIES

    assert set(SPORT_FAMILIES) == set(SPORTS) - {"other"}


def test_transitions_stay_in_activities_but_out_of_totals(tmp_path):
    # A brick: 1,800 s ride, a 120 s transition, a 900 s run, one multisport file.
    legs = [("cycling", None, 1800, 8.0), ("transition", "bike_to_run_transition", 120, 1.0), ("running", None, 900, 3.0)]
    messages, start, distance = [], START, 0.0
    for sport, sub_sport, seconds, speed in legs:
        for i in range(seconds):
            messages.append(record(start + timedelta(seconds=i), distance=distance + speed * i, heart_rate=140))
        extra = {"sub_sport": sub_sport} if sub_sport else {}
        messages.append(session(start, seconds, sport, total_distance=speed * seconds, **extra))
        distance, start = distance + speed * seconds, start + timedelta(seconds=seconds)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "brick.fit").write_bytes(encode(messages))
    out = tmp_path / "out"
    report = json.loads(run_cli("run", folder, "--out", out, "--json", check_code=0).stdout)
    assert report["activities"] == 3
    activities = pl.read_parquet(out / "activities.parquet").sort("session_index")
    assert activities["sport"].to_list() == ["ride", "transition", "run"]
    assert activities["counts_in_totals"].to_list() == [True, False, True]
    weekly = pl.read_parquet(out / "weekly.parquet")
    week = weekly.filter(pl.col("sport") == "all")
    assert week["activities"].sum() == 2
    # Moving time of the ride and the run only: the transition's 119 s are not training.
    counted = activities.filter("counts_in_totals")["moving_s"].sum()
    assert week["moving_s"].sum() == pytest.approx(counted)
    assert "transition" not in set(weekly["sport"])
    daily = pl.read_parquet(out / "daily_load.parquet")
    assert daily.filter(pl.col("sport") == "all")["activities"].sum() == 2
