"""SIGKILL a real `fitpipe run` mid-flight: the next run must repair everything.

A few seeded trials of benchmarks/faults.py (which runs 20 or more)."""

from __future__ import annotations

import os
import signal

import pytest

from benchmarks.faults import (differences, finish, fitpipe_run, group_members, read_tables, reference,
                               split_inputs, trial, wait_for)
from conftest import run_cli


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    work = tmp_path_factory.mktemp("faults")
    base, new = split_inputs(work, files=9)
    want, base_out, duration = reference(work, base, new)
    return work, base, new, want, base_out, duration


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_killed_run_leaves_readable_tables_and_the_next_run_repairs_them(setup, seed):
    result = trial(seed, *setup)
    assert result.readable_while_dead, "a reader saw a half-written parquet file"
    assert result.recovered, "the run after the kill failed"
    assert result.leftovers == [], "temporary files survived the recovery run"
    assert result.differences == [], f"tables differ from an uninterrupted run: {result.differences}"


@pytest.fixture(scope="module")
def delta_setup(tmp_path_factory):
    work = tmp_path_factory.mktemp("faults-delta")
    base, new = split_inputs(work, files=9)
    want, base_out, duration = reference(work, base, new, "delta")
    return work, base, new, want, base_out, duration


@pytest.mark.parametrize("seed", [21, 22, 23, 24])
def test_a_killed_delta_run_leaves_readable_tables_and_the_next_run_repairs_them(delta_setup, seed):
    result = trial(seed, *delta_setup, form="delta")
    assert result.readable_while_dead, "a reader could not read a Delta table of the dead run"
    assert result.recovered, "the run after the kill failed"
    assert result.differences == [], f"tables differ from an uninterrupted run: {result.differences}"


def test_an_early_kill_of_a_delta_run_is_repaired_too(delta_setup):
    # Kills within the first quarter of a run's time, so the trial surely interrupts one.
    work, base, new, want, base_out, duration = delta_setup
    result = trial(25, work, base, new, want, base_out, duration / 4, form="delta")
    assert result.killed_while_running and result.readable_while_dead and result.recovered
    assert result.differences == []


def test_the_trials_really_kill_runs_mid_flight(setup):
    # Otherwise the test above could pass without ever interrupting anything.
    assert trial(14, *setup).killed_while_running


def test_temporaries_of_a_dead_run_are_removed_by_the_next(tmp_path):
    out, inputs = tmp_path / "out", tmp_path / "in"
    inputs.mkdir()
    stale = [out / ".tmp-activities.parquet.4242", out / "samples" / "athlete_id=default" / "sport=ride" / "year=2026" / ".tmp-ab.parquet.4242",
             out / "report" / "athletes" / ".tmp-ana.html.4242"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PAR1 half written")
    mine = out / "notes" / ".tmp-my-own-file"
    mine.parent.mkdir()
    mine.write_text("not fitpipe's")
    run_cli("run", inputs, "--out", out, "--quiet", check_code=0)
    assert not any(path.exists() for path in stale)
    assert mine.exists(), "only fitpipe's own temp files may be deleted"


# How long the workers of a run whose main process was killed may outlive it.
ORPHAN_GRACE_S = 5.0


def _kill_the_main_process_alone(out, *inputs) -> list[int]:
    """Start a run, wait until its worker processes are up, SIGKILL the main process only (as
    the OOM killer or `timeout -s KILL` does) and return the run's processes still alive
    ORPHAN_GRACE_S later."""
    process = fitpipe_run(out, *inputs)
    group = process.pid  # a session of its own: the group holds the run's processes only
    assert wait_for(lambda: len(group_members(group)) >= 3, timeout_s=60), "the workers never started"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    wait_for(lambda: not group_members(group), timeout_s=ORPHAN_GRACE_S)
    left = group_members(group)
    for pid in left:  # do not leave them to the rest of the suite
        os.kill(pid, signal.SIGKILL)
    return left


def test_workers_exit_when_the_main_process_alone_is_killed(setup, tmp_path):
    work, base, new, want, base_out, _ = setup
    out = tmp_path / "out"
    for attempt in range(3):  # killed cron runs, one after another, must not pile up
        assert _kill_the_main_process_alone(out, base, new) == [], f"orphaned workers after kill {attempt + 1}"
    assert finish(out, base, new)
    assert differences(read_tables(out), want) == []
