"""The installed `fitpipe` entry point, run in a subprocess like a user or cron would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from conftest import ROOT, SAMPLE_FILES, run_cli
from fitbuild import encode, steady_ride

SUFFIXES = (".fit", ".gpx", ".tcx", ".fit.gz", ".gpx.gz", ".tcx.gz")
TABLES = ("activities", "laps", "weekly", "daily_load", "manifest")


def _activity_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES)]


def _tables(out: Path) -> dict[str, pl.DataFrame]:
    tables = {name: pl.read_parquet(out / f"{name}.parquet") for name in TABLES}
    tables["samples"] = pl.read_parquet(out / "samples" / "**" / "*.parquet", hive_partitioning=True).sort(
        "activity_id", "timestamp_utc"
    )
    return tables


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample-out")
    result = run_cli("run", "--out", out, "--json", cwd=ROOT, check_code=0)
    return out, json.loads(result.stdout), result


def test_run_on_sample_files_reports_json_and_writes_tables(sample_run):
    out, report, result = sample_run
    files = _activity_files(SAMPLE_FILES)
    assert len(files) >= 30
    assert set(report) == {"files", "imported", "duplicates", "not_activity", "rejected", "skipped", "activities",
                           "duplicate_activities", "seconds"}
    assert report["files"] == len(files)
    assert report["rejected"] == 0 and report["skipped"] == 0
    assert report["imported"] + report["duplicates"] + report["not_activity"] == len(files)
    tables = _tables(out)
    assert tables["activities"].height == report["activities"]
    assert tables["manifest"].height == len(files)
    # The sample history is mostly rides with some runs and swims.
    sports = tables["activities"]["sport"].value_counts().sort("count", descending=True)
    assert sports["sport"][0] == "ride"
    assert {"ride", "run", "swim"} <= set(sports["sport"])
    assert {"ride", "run", "swim", "all"} <= set(tables["weekly"]["sport"])
    assert tables["weekly"]["week_start"].n_unique() >= 14


def test_duckdb_reads_the_sample_tables(sample_run):
    out, report, _ = sample_run
    db = duckdb.connect()
    sports = db.execute(
        f"select distinct sport from read_parquet('{out}/samples/**/*.parquet', hive_partitioning=true)"
    ).fetchall()
    assert {"ride", "run", "swim"} <= {s for (s,) in sports}
    n = db.execute(f"select count(*) from read_parquet('{out}/activities.parquet')").fetchone()[0]
    assert n == report["activities"]
    weekly = db.execute(
        f"select sum(moving_s) from read_parquet('{out}/weekly.parquet') where sport = 'all'"
    ).fetchone()[0]
    activities_moving = db.execute(
        f"select sum(moving_s) from read_parquet('{out}/activities.parquet') where counts_in_totals"
    ).fetchone()[0]
    assert weekly == pytest.approx(activities_moving)


def test_second_run_imports_nothing_and_changes_nothing(sample_run, tmp_path):
    out, _, _ = sample_run
    before = _tables(out)
    result = run_cli("run", "--out", out, "--json", cwd=ROOT, check_code=0)
    report = json.loads(result.stdout)
    assert report["imported"] == 0 and report["skipped"] == report["files"]
    after = _tables(out)
    for name, table in before.items():
        assert after[name].equals(table), name


def test_metrics_recomputed_from_stored_samples_match_ingest(sample_run, tmp_path):
    out, _, _ = sample_run
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(out), str(copy)], check=True)
    before = _tables(copy)
    run_cli("metrics", "--out", copy, "--json", check_code=0)
    after = _tables(copy)
    for name in ("activities", "laps", "weekly", "daily_load"):
        # Equal to the last bits but for float sums taken in another order (NP's rolling means).
        assert_frame_equal(after[name], before[name], rel_tol=1e-12, abs_tol=0.0)


def test_python_dash_m_pipeline_is_the_same_cli():
    result = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0
    for stage in ("run", "ingest", "metrics", "discover", "inspect"):
        assert stage in result.stdout
    assert "Exit codes" in result.stdout


def _folder_with(tmp_path: Path, files: dict[str, bytes]) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_a_bad_file_is_rejected_logged_and_the_run_goes_on(tmp_path):
    ride = encode(steady_ride(120))
    folder = _folder_with(tmp_path, {"a-broken.fit": b"\x0e\x10garbage" * 20, "b-ride.fit": ride})
    result = run_cli("run", folder, "--out", tmp_path / "out", "--json", check_code=1)
    report = json.loads(result.stdout)
    assert (report["imported"], report["rejected"]) == (1, 1)
    rejected_lines = [line for line in result.stderr.splitlines() if "a-broken.fit" in line]
    assert len(rejected_lines) == 1 and "rejected" in rejected_lines[0]
    manifest = pl.read_parquet(tmp_path / "out" / "manifest.parquet")
    assert manifest.filter(pl.col("status") == "rejected")["reason"][0]


def test_the_same_file_twice_is_imported_once(tmp_path):
    ride = encode(steady_ride(120))
    folder = _folder_with(tmp_path, {"a.fit": ride, "copy-of-a.fit": ride})
    result = run_cli("run", folder, "--out", tmp_path / "out", "--json", check_code=0)
    assert json.loads(result.stdout)["duplicates"] == 1
    manifest = pl.read_parquet(tmp_path / "out" / "manifest.parquet").sort("path")
    assert manifest["status"].to_list() == ["imported", "duplicate"]
    assert manifest["duplicate_of"][1] == manifest["path"][0]
    assert pl.read_parquet(tmp_path / "out" / "activities.parquet").height == 1


def test_a_missing_input_is_a_usage_error(tmp_path):
    result = run_cli("run", tmp_path / "nowhere", "--out", tmp_path / "out", check_code=2)
    assert "nowhere" in result.stderr and "no such file" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_bad_config_is_a_usage_error_naming_the_file(tmp_path):
    config = tmp_path / "fitpipe.toml"
    config.write_text('timezone = "Nowhere/Special"\n')
    result = run_cli("run", "--config", config, "--out", tmp_path / "out", check_code=2)
    assert str(config) in result.stderr.replace("\n", "") or "timezone" in result.stderr
    assert "Nowhere/Special" in result.stderr


def test_inspect_shows_one_file_and_writes_nothing(tmp_path):
    path = tmp_path / "ride.fit"
    path.write_bytes(encode(steady_ride(300)))
    result = run_cli("inspect", path, "--json", cwd=tmp_path, check_code=0)
    summary = json.loads(result.stdout)
    assert summary["status"] == "imported" and summary["format"] == "fit"
    assert summary["activities"][0]["sport"] == "ride"
    assert summary["activities"][0]["n_samples"] == 301
    assert summary["sample_columns_filled"]["heart_rate_bpm"] == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ride.fit"]


def test_discover_tells_new_from_unchanged(tmp_path):
    folder = _folder_with(tmp_path, {"ride.fit": encode(steady_ride(60)), "notes.txt": b"x"})
    out = tmp_path / "out"
    first = json.loads(run_cli("discover", folder, "--out", out, "--json", check_code=0).stdout)
    assert [(Path(r["path"]).name, r["state"]) for r in first] == [("ride.fit", "new")]
    run_cli("run", folder, "--out", out, "--quiet", check_code=0)
    second = json.loads(run_cli("discover", folder, "--out", out, "--json", check_code=0).stdout)
    assert [r["state"] for r in second] == ["unchanged"]


def test_a_duplicate_takes_over_when_its_original_changes(tmp_path):
    ride = encode(steady_ride(120))
    folder = _folder_with(tmp_path, {"a.fit": ride, "b-copy.fit": ride})
    out = tmp_path / "out"
    run_cli("run", folder, "--out", out, "--quiet", check_code=0)
    first_id = pl.read_parquet(out / "activities.parquet")["activity_id"][0]
    (folder / "a.fit").write_bytes(encode(steady_ride(240)))
    run_cli("run", folder, "--out", out, "--quiet", check_code=0)
    manifest = pl.read_parquet(out / "manifest.parquet").sort("path")
    assert manifest["status"].to_list() == ["imported", "imported"]
    activities = pl.read_parquet(out / "activities.parquet")
    assert first_id in activities["activity_id"].to_list()
    assert sorted(activities["n_samples"].to_list()) == [121, 241]


def test_an_unknown_engine_is_a_usage_error(tmp_path):
    folder = _folder_with(tmp_path, {"ride.fit": encode(steady_ride(60))})
    result = run_cli("run", folder, "--out", tmp_path / "out", "--fit-engine", "nope", check_code=2)
    assert "unknown fit engine 'nope'" in result.stderr


def test_an_activity_that_moves_partition_leaves_no_old_samples_behind(tmp_path):
    # 23:30 UTC on New Year's Eve, no GPS: in UTC it is 2025, in Berlin already 2026.
    from datetime import datetime, timezone

    start = datetime(2025, 12, 31, 23, 30, tzinfo=timezone.utc)
    folder = _folder_with(tmp_path, {"ride.fit": encode(steady_ride(60, start=start, lat=None))})
    out = tmp_path / "out"
    run_cli("run", folder, "--out", out, "--timezone", "UTC", "--quiet", check_code=0)
    run_cli("run", folder, "--out", out, "--timezone", "Europe/Berlin", "--full", "--quiet", check_code=0)
    files = sorted(p.relative_to(out / "samples").parts[:3] for p in (out / "samples").rglob("*.parquet"))
    assert files == [("athlete_id=default", "sport=ride", "year=2026")]


def test_a_second_run_on_a_locked_output_exits_3_or_waits(tmp_path):
    from pipeline.sinks import ParquetFolder

    folder = _folder_with(tmp_path, {"ride.fit": encode(steady_ride(60))})
    out = tmp_path / "out"
    with ParquetFolder(out).lock():
        result = run_cli("run", folder, "--out", out, "--json", check_code=3)
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1 and "another fitpipe run" in result.stderr
        waiting = subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(folder), "--out", str(out),
                                    "--json", "--wait"], stdout=subprocess.PIPE, text=True)
        try:
            waiting.wait(timeout=3)
            raise AssertionError("--wait did not wait for the lock")
        except subprocess.TimeoutExpired:
            pass
    stdout, _ = waiting.communicate(timeout=120)
    assert waiting.returncode == 0 and json.loads(stdout)["imported"] == 1


def test_no_table_holds_nan_missing_values_are_null(sample_run):
    out, _, _ = sample_run
    tables = _tables(out)
    for name in ("activities", "laps", "weekly", "daily_load"):
        table = tables[name]
        floats = [c for c, t in table.schema.items() if t.is_float()]
        nans = {c: table[c].is_nan().sum() for c in floats if table[c].is_nan().any()}
        assert not nans, f"{name} has NaN in {nans}"


def _stderr_on_a_terminal(*args: str) -> str:
    """Run fitpipe with stderr on a pseudo-terminal, as an interactive user sees it."""
    import pty
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "pipeline", *map(str, args)], stdout=subprocess.DEVNULL,
                               stderr=follower, env={**os.environ, "COLUMNS": "160", "TERM": "xterm"})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=300)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_shows_files_throughput_and_failures(tmp_path):
    (tmp_path / "in").mkdir()
    for n in range(3):
        (tmp_path / "in" / f"ride{n}.fit").write_bytes(encode(steady_ride(60 + n)))
    (tmp_path / "in" / "broken.fit").write_bytes(b"not a fit file at all")
    shown = _stderr_on_a_terminal("run", tmp_path / "in", "--out", tmp_path / "out", "--workers", "1")
    assert "Reading files" in shown
    assert "/4" in shown and "MB/s" in shown and "1 rejected" in shown


def test_no_progress_bar_without_a_terminal(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ride.fit").write_bytes(encode(steady_ride(60)))
    result = run_cli("run", tmp_path / "in", "--out", tmp_path / "out", check_code=0)
    assert "Reading files" not in result.stderr and "MB/s" not in result.stderr


def test_metrics_runs_from_any_folder(tmp_path):
    # It reads no input files, so the default inputs folder need not exist where it runs.
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ride.fit").write_bytes(encode(steady_ride(60)))
    run_cli("ingest", tmp_path / "in", "--out", tmp_path / "out", "--quiet", check_code=0)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run_cli("metrics", "--out", tmp_path / "out", "--quiet", cwd=elsewhere, check_code=0)
    assert (tmp_path / "out" / "weekly.parquet").exists()


def test_a_relative_out_folder_gets_every_sample_file(tmp_path):
    # The README's run command writes to the relative ./fitpipe-data.
    folder = _folder_with(tmp_path, {"a.fit": encode(steady_ride(120)), "b.fit": encode(steady_ride(90))})
    result = run_cli("run", folder, "--out", "data", "--json", cwd=tmp_path, check_code=0)
    assert json.loads(result.stdout)["imported"] == 2
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.parquet") if "samples" in p.parts)
    activities = pl.read_parquet(tmp_path / "data" / "activities.parquet")
    assert len(written) == 2 and all(p.parts[:2] == ("data", "samples") for p in written)
    assert {p.stem for p in written} == set(activities["activity_id"])
    assert not [p for p in tmp_path.rglob(".tmp-*")]
