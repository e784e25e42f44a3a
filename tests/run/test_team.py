"""A team in one output folder: a generated team of three, plus one FIT file that two athletes
both uploaded, imported with the team's fitpipe.toml (issue 21)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from conftest import SAMPLE_FILES, run_cli

TEAM = ("ana", "ben", "carla")
SHARED = SAMPLE_FILES / "garmin" / "2026-07-28-ride.fit"  # one group ride, uploaded by ana and ben
SAME_RIDE = SAMPLE_FILES / "same-ride-three-formats"  # ana's device FIT and Strava's GPX of one ride
TABLES = ("activities", "laps", "manifest", "weekly", "daily_load", "athletes", "crosstrain")
# What a single-athlete import of the same files must give the same numbers for.
SUMS = ("moving_s", "distance_m", "elapsed_s", "tss", "trimp", "ascent_m")


def generate_team(where: Path, athletes: int, weeks: int, effect: str = "mixed", seed: int | None = None) -> Path:
    args = [sys.executable, "-m", "pipeline.samplegen", str(where), "--athletes", str(athletes), "--weeks", str(weeks),
            "--effect", effect, *(["--seed", str(seed)] if seed is not None else [])]
    subprocess.run(args, check=True, capture_output=True)
    return where


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    work = tmp_path_factory.mktemp("team")
    inputs = generate_team(work / "team-files", len(TEAM), weeks=6)
    for athlete in ("ana", "ben"):
        shutil.copy(SHARED, inputs / athlete / "group-ride.fit")
    for name in ("2026-10-05-ride.fit", "2026-10-05-ride.gpx"):
        shutil.copy(SAME_RIDE / name, inputs / "ana" / name)
    out = work / "team-data"
    run_cli("run", "--config", inputs / "fitpipe.toml", "--out", out, "--quiet", check_code=0)
    run_cli("report", "--out", out, "--quiet", check_code=0)
    return work, inputs, out


def test_every_table_starts_with_the_athlete(team):
    _, _, out = team
    for name in TABLES:
        table = pl.read_parquet(out / f"{name}.parquet")
        assert table.columns[0] == "athlete_id", name
        athletes = set(table["athlete_id"].drop_nulls())
        assert athletes == set(TEAM), f"{name}: {athletes}"
        assert name == "crosstrain" or table["athlete_id"].null_count() == 0, name
    # Samples: the hive key and the column inside the files agree, file by file.
    for folder in (out / "samples").iterdir():
        inside = pl.read_parquet(folder / "**" / "*.parquet", hive_partitioning=False)["athlete_id"]
        assert set(inside) == {folder.name.removeprefix("athlete_id=")}
    counted = duckdb.sql(f"SELECT athlete_id, count(DISTINCT activity_id) FROM read_parquet("
                         f"'{out}/samples/**/*.parquet', hive_partitioning = true) GROUP BY ALL").fetchall()
    activities = pl.read_parquet(out / "activities.parquet")
    assert dict(counted) == dict(activities.group_by("athlete_id").len().iter_rows())


def test_the_same_file_under_two_athletes_is_an_activity_of_each(team):
    _, _, out = team
    sha = hashlib.sha256(SHARED.read_bytes()).hexdigest()
    activities = pl.read_parquet(out / "activities.parquet").filter(pl.col("source_sha256") == sha)
    assert sorted(activities["athlete_id"]) == ["ana", "ben"]
    assert activities["activity_id"].n_unique() == 2
    # Same start, duration and distance: within one athlete a duplicate, across two both count.
    assert activities["duplicate_of"].null_count() == 2 and activities["counts_in_totals"].all()
    manifest = pl.read_parquet(out / "manifest.parquet").filter(pl.col("sha256") == sha)
    assert sorted(manifest["status"]) == ["imported", "imported"]
    weekly = pl.read_parquet(out / "weekly.parquet").filter(pl.col("week_start") == pl.date(2026, 7, 27),
                                                            pl.col("sport") == "ride")
    assert dict(weekly.select("athlete_id", "activities").iter_rows()) == {"ana": 1, "ben": 1}


def test_duplicates_are_found_within_an_athlete_and_never_across(team):
    _, _, out = team
    activities = pl.read_parquet(out / "activities.parquet")
    kept = activities.select(duplicate_of="activity_id", kept_by="athlete_id")
    duplicates = activities.filter(pl.col("duplicate_of").is_not_null()).join(kept, on="duplicate_of")
    assert duplicates.height == 1, "ana's GPX of her FIT ride"
    assert (duplicates["athlete_id"] == duplicates["kept_by"]).all()
    assert duplicates.row(0, named=True)["format"] == "gpx"


def test_each_athletes_numbers_equal_a_single_athlete_import_of_their_files(team):
    work, inputs, out = team
    config = work / "single.toml"
    config.write_text('timezone = "Europe/Berlin"\n\n[[athlete.thresholds]]\n'
                      + (inputs / "fitpipe.toml").read_text().split("[[athletes.thresholds]]\n", 1)[1].split("\n\n")[0])
    team_activities = pl.read_parquet(out / "activities.parquet")
    team_weekly, team_daily = (pl.read_parquet(out / f"{t}.parquet") for t in ("weekly", "daily_load"))
    for athlete in TEAM:
        single = work / f"single-{athlete}"
        run_cli("run", inputs / athlete, "--config", config, "--out", single, "--quiet", check_code=0)
        alone = pl.read_parquet(single / "activities.parquet")
        theirs = team_activities.filter(pl.col("athlete_id") == athlete)
        assert theirs.height == alone.height > 0
        for column in SUMS:
            assert theirs[column].sum() == pytest.approx(alone[column].sum(), rel=1e-12), (athlete, column)
        assert theirs.drop("athlete_id", "activity_id", "parent_id", "duplicate_of").sort("start_time_utc").equals(
            alone.drop("athlete_id", "activity_id", "parent_id", "duplicate_of").sort("start_time_utc"))
        for table, whole in (("weekly", team_weekly), ("daily_load", team_daily)):
            mine = whole.filter(pl.col("athlete_id") == athlete).drop("athlete_id")
            assert mine.equals(pl.read_parquet(single / f"{table}.parquet").drop("athlete_id")), (athlete, table)


def test_a_second_run_reads_nothing_again(team):
    _, inputs, out = team
    result = run_cli("run", "--config", inputs / "fitpipe.toml", "--out", out, "--json", check_code=0)
    assert '"imported": 0' in result.stdout and '"rejected": 0' in result.stdout
