"""Crash safety: SIGKILL `fitpipe run` at random moments, then check the next run repairs everything.

    .venv/bin/python benchmarks/faults.py [--trials 20] [--seed 1] [--files 40] [--format parquet|delta]

Inputs are sample files split in two: `base/` is imported first, `new/` arrives later. The
reference is two uninterrupted runs (base, then base + new). Each trial starts from an empty output
folder (even trials) or from one holding the base import (odd trials), starts `fitpipe run` on
base + new, kills its whole process group with SIGKILL after a seeded random delay, and checks:

- while the run lies dead, every `*.parquet` a reader can glob is a whole, readable file;
- the next run exits 0 and leaves no temporary file behind;
- every table then equals the reference: activities, laps, weekly, daily_load, manifest, samples.

tests/test_crash_safety.py runs a few trials of this in CI.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
FITPIPE = Path(sys.executable).with_name("fitpipe")
TABLES = ("activities", "laps", "weekly", "daily_load", "manifest")


@dataclass
class Trial:
    seed: int
    start: str  # empty | base
    delay_s: float
    killed_while_running: bool
    readable_while_dead: bool
    recovered: bool
    leftovers: list[str]
    differences: list[str]

    @property
    def ok(self) -> bool:
        return self.readable_while_dead and self.recovered and not self.leftovers and not self.differences


def split_inputs(work: Path, files: int) -> tuple[Path, Path]:
    """Copy `files` sample FIT files into work/base and work/new (two thirds, one third)."""
    chosen = sorted((ROOT / "sample_files" / "garmin").glob("*.fit"))[:files]
    base, new = work / "base", work / "new"
    for folder, part in ((base, chosen[: 2 * len(chosen) // 3]), (new, chosen[2 * len(chosen) // 3:])):
        folder.mkdir(parents=True)
        for path in part:
            shutil.copy2(path, folder / path.name)
    return base, new


def group_members(group: int) -> list[int]:
    """Live processes of a process group (zombies, already dead, are not counted), from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone while we looked
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state != "Z":
            members.append(int(stat.parent.name))
    return members


def wait_for(condition, timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return condition()


def fitpipe_run(out: Path, *inputs: Path, form: str = "parquet") -> subprocess.Popen:
    # A session of its own, so one killpg reaches the worker processes too.
    return subprocess.Popen([FITPIPE, "run", *inputs, "--out", out, "--quiet", "--workers", "2", "--format", form],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(out: Path, *inputs: Path, form: str = "parquet") -> bool:
    process = fitpipe_run(out, *inputs, form=form)
    _, errors = process.communicate(timeout=600)
    if process.returncode != 0:
        print(f"  run failed with {process.returncode}: {errors.decode()[-500:]}")
    return process.returncode == 0


def read_tables(out: Path, form: str = "parquet") -> dict[str, pl.DataFrame]:
    """Every table as its own reader sees it: polars for parquet files, deltalake for Delta."""
    if form == "delta":
        from deltalake import DeltaTable

        tables = {name: pl.from_arrow(DeltaTable(str(out / name)).to_pyarrow_table()) for name in (*TABLES, "samples")}
        tables["samples"] = tables["samples"].drop("write_id")
        # A Delta table's rows come in no particular order (merges): compare them sorted.
        return {name: table.sort([c for c in table.columns if not table[c].dtype.is_nested()])
                for name, table in tables.items()}
    tables = {name: pl.read_parquet(out / f"{name}.parquet") for name in TABLES}
    samples = sorted((out / "samples").rglob("*.parquet"))
    tables["samples"] = pl.read_parquet(samples, hive_partitioning=True).sort("activity_id", "timestamp_utc")
    return tables


def differences(got: dict[str, pl.DataFrame], want: dict[str, pl.DataFrame]) -> list[str]:
    return [name for name in want if not got[name].equals(want[name])]


def all_readable(out: Path, form: str = "parquet") -> bool:
    """Parquet: every file a glob finds reads whole. Delta: every table that exists reads whole."""
    if form == "delta":
        from deltalake import DeltaTable

        for name in (*TABLES, "samples"):
            try:
                if DeltaTable.is_deltatable(str(out / name)):
                    DeltaTable(str(out / name)).to_pyarrow_table()
            except Exception as exc:
                print(f"  unreadable while dead: {name}: {exc}")
                return False
        return True
    for path in out.rglob("*.parquet"):
        try:
            pl.read_parquet(path)
        except Exception:
            print(f"  unreadable while dead: {path}")
            return False
    return True


def temporaries(out: Path) -> list[str]:
    return [str(p.relative_to(out)) for p in out.rglob(".tmp-*")]


def reference(work: Path, base: Path, new: Path, form: str = "parquet") -> tuple[dict[str, pl.DataFrame], Path, float]:
    """Tables of the uninterrupted runs, the base-only output folder, and the full run's duration."""
    base_out, out = work / f"reference-base-{form}", work / f"reference-{form}"
    assert finish(base_out, base, form=form)
    shutil.copytree(base_out, out)
    started = time.perf_counter()
    assert finish(out, base, new, form=form)
    return read_tables(out, form), base_out, time.perf_counter() - started


def trial(seed: int, work: Path, base: Path, new: Path, want: dict[str, pl.DataFrame],
          base_out: Path, duration_s: float, form: str = "parquet") -> Trial:
    rng = random.Random(seed)
    out = work / f"trial-{form}-{seed}"
    start = "base" if seed % 2 else "empty"
    if start == "base":
        shutil.copytree(base_out, out)
    delay = rng.uniform(0.05, duration_s)
    process = fitpipe_run(out, base, new, form=form)
    time.sleep(delay)
    killed = process.poll() is None
    if killed:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    readable = all_readable(out, form)
    recovered = finish(out, base, new, form=form)
    result = Trial(seed, start, delay, killed, readable, recovered, temporaries(out),
                   differences(read_tables(out, form), want) if recovered else ["not recovered"])
    shutil.rmtree(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="first trial's seed; trial k uses seed + k")
    parser.add_argument("--files", type=int, default=40, help="sample FIT files to import")
    parser.add_argument("--format", default="parquet", choices=["parquet", "delta"], help="the output's format")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        base, new = split_inputs(work, args.files)
        want, base_out, duration = reference(work, base, new, args.format)
        print(f"{args.files} files; an uninterrupted run on base + new takes {duration:.2f} s")
        print(f"{'seed':>5}{'start':>7}{'kill after s':>14}{'killed':>8}{'readable':>10}{'recovered':>11}"
              f"{'leftovers':>11}  differences")
        results = []
        for k in range(args.trials):
            result = trial(args.seed + k, work, base, new, want, base_out, duration, args.format)
            results.append(result)
            print(f"{result.seed:>5}{result.start:>7}{result.delay_s:>14.2f}{str(result.killed_while_running):>8}"
                  f"{str(result.readable_while_dead):>10}{str(result.recovered):>11}{len(result.leftovers):>11}"
                  f"  {', '.join(result.differences) or '-'}")
    killed = sum(r.killed_while_running for r in results)
    print(f"{sum(r.ok for r in results)}/{len(results)} trials recovered to the reference tables "
          f"({killed} killed mid-run, {len(results) - killed} finished before the kill)")
    sys.exit(0 if all(r.ok for r in results) else 1)


if __name__ == "__main__":
    main()
