"""One workout in several files: the richest copy is kept, the others point at it."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from conftest import SAMPLE_FILES, run_cli
from pipeline.normalize import schema
from pipeline.metrics.duplicates import DuplicateRule, mark

THREE_FORMATS = SAMPLE_FILES / "same-ride-three-formats"
T0 = datetime(2026, 10, 5, 7, 0, tzinfo=timezone.utc)


def activity(name: str, fmt: str = "fit", sport: str = "ride", start_s: float = 0, elapsed_s: float = 3600,
             distance_m: float | None = 30_000, channels: int = 3, samples: int = 3600) -> dict:
    return {"activity_id": name, "source_sha256": f"sha-{name}", "source_path": f"/in/{name}.{fmt}",
            "format": fmt, "sport": sport, "start_time_utc": T0 + timedelta(seconds=start_s),
            "elapsed_s": elapsed_s, "distance_m": distance_m, "sample_channels": channels, "n_samples": samples}


def duplicates_of(*rows: dict, rule: DuplicateRule = DuplicateRule()) -> dict[str, str | None]:
    table = schema.conform(pl.DataFrame(list(rows)), schema.ACTIVITIES)
    marked = mark(table, rule)
    return dict(zip(marked["activity_id"], marked["duplicate_of"]))


def test_fit_is_kept_over_tcx_and_gpx_even_with_fewer_channels():
    result = duplicates_of(activity("g", "gpx", channels=6), activity("f", "fit", channels=2),
                           activity("t", "tcx", channels=6))
    assert result == {"g": "f", "f": None, "t": "f"}


def test_among_one_format_more_channels_then_more_samples_win():
    assert duplicates_of(activity("a", "gpx", channels=2, samples=9000),
                         activity("b", "gpx", channels=3, samples=100)) == {"a": "b", "b": None}
    assert duplicates_of(activity("a", "gpx", samples=100), activity("b", "gpx", samples=101)) == {"a": "b", "b": None}


@pytest.mark.parametrize("start_s, same", [(119, True), (120, True), (121, False), (-120, True), (-121, False)])
def test_starts_must_be_within_two_minutes(start_s, same):
    result = duplicates_of(activity("f"), activity("g", "gpx", start_s=start_s))
    assert (result["g"] == "f") is same


@pytest.mark.parametrize("field, other, same", [
    # 3% of the larger value: 3600 s -> 108 s, 30 km -> 900 m.
    ("elapsed_s", 3600 - 108, True), ("elapsed_s", 3600 - 109, False), ("elapsed_s", 3600 * 1.03, True),
    ("distance_m", 30_000 - 900, True), ("distance_m", 30_000 - 901, False), ("distance_m", None, False),
])
def test_duration_and_distance_must_agree_within_three_percent(field, other, same):
    result = duplicates_of(activity("f"), activity("g", "gpx", **{field: other}))
    assert (result["g"] == "f") is same


@pytest.mark.parametrize("sport, same", [("ride", True), ("other", True), ("run", False), ("swim", False)])
def test_sport_families_must_match_and_unknown_matches_any(sport, same):
    result = duplicates_of(activity("f", sport="ride"), activity("g", "gpx", sport=sport))
    assert (result["g"] == "f") is same


def test_run_walk_and_hike_are_one_family():
    result = duplicates_of(activity("f", sport="run"), activity("g", "gpx", sport="hike"))
    assert result["g"] == "f"


def test_sessions_of_one_file_are_never_duplicates_of_each_other():
    a, b = activity("a"), activity("b", start_s=60)
    b["source_sha256"] = a["source_sha256"]
    assert duplicates_of(a, b) == {"a": None, "b": None}


def test_the_rule_can_be_tuned_and_turned_off():
    pair = (activity("f"), activity("g", "gpx", start_s=300, distance_m=28_000))
    assert duplicates_of(*pair)["g"] is None
    assert duplicates_of(*pair, rule=DuplicateRule(start_within_s=600, tolerance_pct=10))["g"] == "f"
    assert duplicates_of(activity("f"), activity("g", "gpx"), rule=DuplicateRule(enabled=False))["g"] is None


def test_a_kept_copy_is_never_itself_marked():
    # b matches both a richer (a) and a poorer (c) copy: a keeps both, b never claims a.
    result = duplicates_of(activity("a", "fit"), activity("b", "tcx", start_s=100), activity("c", "gpx", start_s=200))
    assert result["a"] is None and result["b"] == "a"


@pytest.fixture(scope="module")
def three_format_runs(tmp_path_factory):
    """The sample ride written as FIT, GPX and TCX, imported with the rule on and off."""
    inputs = tmp_path_factory.mktemp("three")
    for path in THREE_FORMATS.iterdir():
        shutil.copy(path, inputs / path.name)
    (inputs / "off.toml").write_text("[duplicates]\nenabled = false\n")
    runs = {}
    for name, extra in (("on", []), ("off", ["--config", inputs / "off.toml"])):
        out = tmp_path_factory.mktemp(name)
        result = run_cli("run", inputs, "--out", out, "--json", *extra, check_code=0)
        runs[name] = (out, json.loads(result.stdout))
    return inputs, runs


def test_the_three_format_ride_keeps_the_fit_copy(three_format_runs):
    inputs, runs = three_format_runs
    out, report = runs["on"]
    activities = pl.read_parquet(out / "activities.parquet")
    assert activities.height == 3 and report["duplicate_activities"] == 2
    kept = activities.filter(pl.col("duplicate_of").is_null())
    assert kept["format"].to_list() == ["fit"]
    assert sorted(activities.filter(pl.col("duplicate_of").is_not_null())["format"]) == ["gpx", "tcx"]
    assert set(activities["duplicate_of"].drop_nulls()) == {kept["activity_id"][0]}
    manifest = pl.read_parquet(out / "manifest.parquet")
    fit_path = str((inputs / "2026-10-05-ride.fit").resolve())
    by_path = dict(zip(manifest["path"], manifest["duplicate_of"]))
    assert by_path == {fit_path: None, **{str((inputs / f"2026-10-05-ride.{f}").resolve()): fit_path for f in ("gpx", "tcx")}}


def test_weekly_and_daily_tables_count_the_ride_once(three_format_runs):
    _, runs = three_format_runs
    weekly = {name: pl.read_parquet(out / "weekly.parquet").filter(sport="ride") for name, (out, _) in runs.items()}
    daily = {name: pl.read_parquet(out / "daily_load.parquet").filter(sport="ride") for name, (out, _) in runs.items()}
    assert weekly["off"]["activities"].sum() == 3 and weekly["on"]["activities"].sum() == 1
    assert daily["off"]["activities"].sum() == 3 and daily["on"]["activities"].sum() == 1
    fit_distance = pl.read_parquet(runs["on"][0] / "activities.parquet").filter(format="fit")["distance_m"][0]
    assert weekly["on"]["distance_m"].sum() == pytest.approx(fit_distance)


def test_rule_off_marks_nothing(three_format_runs):
    out, report = three_format_runs[1]["off"]
    assert report["duplicate_activities"] == 0
    assert pl.read_parquet(out / "activities.parquet")["duplicate_of"].null_count() == 3
