"""An output folder written before fitpipe knew athletes is upgraded in place on the first run
that takes its lock: the same tables and samples as a fresh import by this version, and a run
killed part way through the upgrade is finished by the next one."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from conftest import ROOT, fitpipe_executable, run_cli

FIXTURES = ROOT / "tests" / "fixtures"
OLD_FOLDER = FIXTURES / "pre-athletes-output"
SAMPLES = ROOT / "sample_files"
# The inputs the fixture was made from (tests/fixtures/README.md), and what they are called there.
INPUTS = {
    "2026-10-05-ride.fit": "same-ride-three-formats/2026-10-05-ride.fit",
    "2026-10-05-ride.gpx": "same-ride-three-formats/2026-10-05-ride.gpx",
    "2026-10-05-ride.tcx": "same-ride-three-formats/2026-10-05-ride.tcx",
    "2026-09-19-multisport.fit": "garmin/2026-09-19-multisport.fit",
    "2026-07-29-swim.fit": "garmin/2026-07-29-swim.fit",
    "2026-08-02-run.fit": "garmin/2026-08-02-run.fit",
    "copy-of-run.fit": "garmin/2026-08-02-run.fit",
    "2026-09-29-ride.fit.gz": "strava/2026-09-29-ride.fit.gz",
}
# Columns that hold where the inputs were on the machine that made the fixture.
WHERE_COLUMNS = {"activities": ["source_path"], "manifest": ["path", "mtime_ns", "duplicate_of", "reason"]}
TABLES = ("activities", "laps", "manifest", "weekly", "daily_load", "athletes")


@pytest.fixture
def config(tmp_path) -> Path:
    """The fixture's settings, without its inputs and out."""
    text = (FIXTURES / "pre-athletes-fitpipe.toml").read_text()
    path = tmp_path / "fitpipe.toml"
    path.write_text("\n".join(line for line in text.splitlines() if not line.startswith(("inputs", "out"))))
    return path


def _old_copy(where: Path) -> Path:
    shutil.copytree(OLD_FOLDER, where)
    return where


def _fresh_import(tmp_path: Path, config: Path) -> Path:
    inputs, out = tmp_path / "in", tmp_path / "fresh"
    inputs.mkdir()
    for name, source in INPUTS.items():
        shutil.copy(SAMPLES / source, inputs / name)
    run_cli("run", inputs, "--out", out, "--config", config, "--quiet", check_code=0)
    run_cli("metrics", "--out", out, "--config", config, "--quiet", check_code=0)
    return out


def _table(out: Path, name: str) -> pl.DataFrame:
    table = pl.read_parquet(out / f"{name}.parquet").drop(WHERE_COLUMNS.get(name, []))
    return table.sort(table.columns[:3]) if name == "manifest" else table


def _samples(out: Path) -> dict[str, str]:
    """Each sample file, relative to samples/, and a digest of its content as polars reads it."""
    return {str(p.relative_to(out / "samples")): _digest(pl.read_parquet(p))
            for p in sorted((out / "samples").rglob("*.parquet"))}


def _digest(frame: pl.DataFrame) -> str:
    return hashlib.sha256(frame.write_ipc(None).getvalue()).hexdigest() + str(frame.columns)


def test_the_fixture_is_an_output_of_the_version_before_athletes():
    # Otherwise the test below could pass with nothing to upgrade.
    assert "athlete_id" not in pl.read_parquet_schema(OLD_FOLDER / "activities.parquet")
    assert list((OLD_FOLDER / "samples").glob("sport=*/year=*/*.parquet"))
    assert '"version": 1' in (OLD_FOLDER / "fitpipe-settings.json").read_text()


def test_an_old_folder_is_upgraded_in_place_to_what_a_fresh_import_writes(tmp_path, config):
    old = _old_copy(tmp_path / "old")
    result = run_cli("metrics", "--out", old, "--config", config, "--quiet", check_code=0)
    assert "upgraded for athletes: 6 tables and 11 sample files" in result.stderr
    fresh = _fresh_import(tmp_path, config)
    for name in TABLES:
        upgraded, expected = _table(old, name), _table(fresh, name)
        assert upgraded.columns[0] == "athlete_id" and set(upgraded["athlete_id"]) == {"default"}, name
        assert upgraded.equals(expected), f"{name} differs from a fresh import"
    assert _samples(old) == _samples(fresh)
    assert not list((old / "samples").glob("sport=*")), "the old sample folders are gone"
    # Readers that use the folders and readers that use the files agree on whose samples they are.
    both = duckdb.sql(f"SELECT count(*) FILTER (WHERE athlete_id = 'default'), count(*) FROM read_parquet("
                      f"'{old}/samples/**/*.parquet', hive_partitioning = false)").fetchall()[0]
    assert both[0] == both[1] > 0
    # A second run finds nothing more to upgrade.
    again = run_cli("metrics", "--out", old, "--config", config, "--quiet", check_code=0)
    assert "upgraded" not in again.stderr


def test_a_folder_read_before_its_upgrade_reads_as_the_default_athlete(tmp_path):
    old = _old_copy(tmp_path / "old")
    result = run_cli("summary", "--out", old, "--json", check_code=0)
    assert '"week_start"' in result.stdout
    assert "athlete_id" not in pl.read_parquet_schema(old / "weekly.parquet"), "summary writes nothing"


def _big_old_folder(where: Path, copies: int) -> Path:
    """The fixture with `copies` more old-layout sample files (copies of its own under new
    names), so that an upgrade lasts long enough to be killed part way."""
    out = _old_copy(where)
    originals = sorted((out / "samples").glob("sport=*/year=*/*.parquet"))
    for n in range(copies):
        source = originals[n % len(originals)]
        shutil.copy(source, source.with_name(f"{n:016x}.parquet"))
    return out


def _state(out: Path) -> dict:
    return {"samples": _samples(out), **{name: pl.read_parquet(out / f"{name}.parquet").to_dicts()
                                         for name in ("activities", "laps", "manifest", "weekly")}}


def test_an_upgrade_killed_part_way_is_finished_by_the_next_run(tmp_path, config):
    reference = _big_old_folder(tmp_path / "reference", 600)
    run_cli("metrics", "--out", reference, "--config", config, "--quiet", check_code=0)
    want = _state(reference)
    interrupted = 0
    for trial, delay in enumerate((0.05, 0.3, 0.8)):
        out = _big_old_folder(tmp_path / f"trial{trial}", 600)
        process = subprocess.Popen([fitpipe_executable(), "metrics", "--out", str(out), "--config", str(config),
                                    "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(lambda: (out / ".fitpipe-upgrading").exists() or process.poll() is not None)
        time.sleep(delay)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            interrupted += (out / ".fitpipe-upgrading").exists()
        process.wait()
        for path in out.rglob("*.parquet"):  # whatever state it was left in, every file reads
            pl.read_parquet_schema(path)
        run_cli("metrics", "--out", out, "--config", config, "--quiet", check_code=0)
        assert not (out / ".fitpipe-upgrading").exists()
        assert not list(out.rglob(".tmp-*"))
        assert _state(out) == want, f"trial {trial}: differs from an uninterrupted upgrade"
    assert interrupted >= 1, "no trial killed the upgrade part way"


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
