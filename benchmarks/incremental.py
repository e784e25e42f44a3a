"""Incremental cron run: one new file on top of an already-ingested history.

    .venv/bin/python benchmarks/incremental.py [--history 2000] [--seconds 600] [--repeat 3]

Builds a folder of `--history` synthetic rides (benchmarks/fitsynth.py), ingests them once, then
times `fitpipe run` as cron would call it (a new process, startup included): with nothing new,
and with one new file added, `--repeat` times. It also checks what the one-file run rewrote: the
new activity's sample file and the small tables, never the other activities' sample files.
Target: the one-file run under 3 s.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from fitsynth import ride, rides

from pipeline import ingest, load_settings

FITPIPE = Path(sys.executable).with_name("fitpipe")
FIRST = datetime(2020, 1, 1, 6, 0, tzinfo=timezone.utc)


def timed_run(inputs: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([FITPIPE, "run", inputs, "--out", out, "--quiet"], check=True)
    return time.perf_counter() - started


def sample_mtimes(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (out / "samples").rglob("*.parquet")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=600, help="length of each history ride")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as work:
        inputs, out = Path(work) / "in", Path(work) / "out"
        inputs.mkdir()
        for name, data in rides(args.history, FIRST, args.seconds):
            (inputs / name).write_bytes(data)
        started = time.perf_counter()
        report = ingest(load_settings(None, inputs=(inputs,), out=out, workers=2))
        initial = time.perf_counter() - started
        assert report.activities == args.history, report

        unchanged = [timed_run(inputs, out) for _ in range(args.repeat)]
        one_new, rewritten = [], []
        for n in range(args.repeat):
            before = sample_mtimes(out)
            start = FIRST + timedelta(days=args.history + n)
            (inputs / f"new-{n}.fit").write_bytes(ride(start, 3600, seed=10_000 + n))
            one_new.append(timed_run(inputs, out))
            after = sample_mtimes(out)
            rewritten.append(sum(1 for p, t in after.items() if before.get(p) != t))

    print(f"history: {args.history} activities of {args.seconds} s, first import {initial:.1f} s with 2 workers")
    print(f"{'run':<34}{'median s':>10}{'min s':>8}{'sample files written':>22}{'target':>9}")
    print(f"{'fitpipe run, nothing new':<34}{statistics.median(unchanged):>10.2f}{min(unchanged):>8.2f}{0:>22}{'':>9}")
    print(f"{'fitpipe run, one new file':<34}{statistics.median(one_new):>10.2f}{min(one_new):>8.2f}"
          f"{max(rewritten):>22}{'< 3 s':>9}")


if __name__ == "__main__":
    main()
