"""Baseline: end-to-end ingest time on sample_files/ and the corpus, 1 vs 2 workers.

    .venv/bin/python benchmarks/ingest.py [--repeat 3]

Every configuration runs into a fresh output folder; the table shows the median of
the repeats and the speed-up of 2 workers over 1, measured side by side in this run.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from pipeline import ingest, load_settings

ROOT = Path(__file__).resolve().parent.parent
INPUTS = {"sample_files": ROOT / "sample_files", "corpus": ROOT.parent / "shared" / "corpus"}
SUFFIXES = (".fit", ".gpx", ".tcx", ".gz")


def measure(folder: Path, workers: int, repeat: int) -> tuple[float, int]:
    times, files = [], 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            settings = load_settings(None, inputs=(folder,), out=Path(out), workers=workers)
            started = time.perf_counter()
            report = ingest(settings)
            times.append(time.perf_counter() - started)
            files = report.files
    return statistics.median(times), files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # rejected-file warnings would break up the table
    print(f"{'input':<14}{'files':>6}{'MB':>8}{'workers':>9}{'seconds':>9}{'files/s':>9}{'MB/s':>7}{'vs 1 worker':>13}")
    for name, folder in INPUTS.items():
        if not folder.exists():
            print(f"{name:<14} missing: {folder}")
            continue
        megabytes = sum(p.stat().st_size for p in folder.rglob("*") if p.name.lower().endswith(SUFFIXES)) / 1e6
        baseline = None
        for workers in (1, 2):
            seconds, files = measure(folder, workers, args.repeat)
            baseline = baseline or seconds
            print(f"{name:<14}{files:>6}{megabytes:>8.1f}{workers:>9}{seconds:>9.2f}{files / seconds:>9.1f}"
                  f"{megabytes / seconds:>7.2f}{baseline / seconds:>12.2f}x")


if __name__ == "__main__":
    main()
