"""How far a cluster scales: files/s with each executor, and the driver's serial cost per file.

    .venv/bin/python benchmarks/cluster.py [--files 2000] [--keep DIR] [--rounds 1]

On the 2,000-ride Garmin export of benchmarks/bulk.py, times `fitpipe run` end to end with the
process pool (2 workers), with `--cluster local:1` and with `--cluster local:2`. Then it runs the
driver alone: `ingest` with an executor that runs nothing and hands back the results a real run
recorded (unpickled as a driver receives them), on an output folder that already holds the
samples, followed by the weekly, daily and athletes tables. That is everything the driver does
in series whatever the cluster's size: planning, reading nested zip members, receiving results,
catalogue names, duplicates, writing the tables and the manifest.

The driver alone runs twice: on the export as it comes (nested zips, whose members the driver
inflates) and on the same rides as loose files on shared storage (which the workers read).

A cluster of N workers imports at most min(N x per-worker rate, driver rate) files/s, so the
driver saturates at N = driver rate / per-worker rate (docs/cluster.md). The per-worker rate is
taken from the `local:1` run, end to end.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import multiprocessing
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bulk import INNER, export_of  # noqa: E402

from pipeline.config import load_settings  # noqa: E402
from pipeline.metrics.stage import run_metrics  # noqa: E402
from pipeline.run.executors import Batch, run_batch  # noqa: E402
from pipeline.run.ingest import ingest  # noqa: E402
from pipeline.sinks import ParquetFolder  # noqa: E402

FITPIPE = Path(sys.executable).with_name("fitpipe")


class Recorder:
    """Worker processes, keeping each batch's result as the bytes that would cross the wire."""

    def __init__(self, workers: int):
        self.workers, self.recorded = workers, []

    def reads_in_place(self, archives: list[Path]) -> set[Path]:
        return set()

    def run(self, batches: Iterable[Batch]) -> Iterator:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
            for packed in pool.map(run_batch, batches):
                self.recorded.append(pickle.dumps(packed))
                yield from packed.unpack()


class Replay:
    """Runs nothing: takes the driver's batches (so it still reads the zip members it would
    send) and hands back the recorded results, unpickled one batch at a time."""

    def __init__(self, recorded: list[bytes]):
        self.recorded = recorded

    def reads_in_place(self, archives: list[Path]) -> set[Path]:
        return set()

    def run(self, batches: Iterable[Batch]) -> Iterator:
        for _, blob in zip(batches, self.recorded, strict=True):
            yield from pickle.loads(blob).unpack()


class Stages(logging.Handler):
    """The driver's own stage timings (the `-vv` lines of ingest.timed)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.endswith(" s") and ": " in message:
            stage, _, value = message.rpartition(": ")
            self.seconds[stage] = float(value[:-2])


def end_to_end(export: Path, out: Path, *options: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    result = subprocess.run([FITPIPE, "run", export, "--out", out, "--json", "--quiet", *options],
                            check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    report = json.loads(result.stdout)
    assert report["imported"] == report["files"] - report["skipped"], report
    return seconds


def driver_alone(export: Path, scratch: Path) -> tuple[float, dict[str, float], int]:
    """Seconds of the driver's serial work fed ready-made results, its stages, and the files."""
    recorded_out, out = scratch / "recorded", scratch / "driver"
    scratch.mkdir(parents=True, exist_ok=True)
    settings = load_settings(inputs=(export,), out=recorded_out, workers=2)
    recorder = Recorder(2)
    files = ingest(settings, sink=ParquetFolder(recorded_out), executor=recorder).imported
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(recorded_out / "samples", out / "samples")  # what the workers would have written
    settings = load_settings(inputs=(export,), out=out, workers=2)
    stages = Stages()
    logger = logging.getLogger("pipeline")
    logger.addHandler(stages)
    logger.setLevel(logging.DEBUG)
    try:
        started = time.perf_counter()
        sink = ParquetFolder(out)
        ingest(settings, sink=sink, executor=Replay(recorder.recorded))
        run_metrics(sink, settings, recompute=False)
        seconds = time.perf_counter() - started
    finally:
        logger.removeHandler(stages)
    return seconds, stages.seconds, files


def loose_copy(export: Path, folder: Path) -> Path:
    """The export's rides as loose files, as on a shared file system."""
    if not folder.exists():
        folder.mkdir(parents=True)
        with zipfile.ZipFile(export) as outer, zipfile.ZipFile(io.BytesIO(outer.read(INNER))) as inner:
            for info in inner.infolist():
                (folder / Path(info.filename).name).write_bytes(inner.read(info))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the generated export in")
    parser.add_argument("--only-driver", action="store_true", help="skip the end-to-end runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        folder = args.keep or scratch
        export = export_of(args.files, folder)
        rows = []
        if not args.only_driver:
            for label, options in (("process pool, 2 workers", ("--workers", "2")),
                                   ("LocalCluster, 1 worker", ("--cluster", "local:1")),
                                   ("LocalCluster, 2 workers", ("--cluster", "local:2"))):
                seconds = end_to_end(export, scratch / "out", *options)
                rows.append((label, seconds))
                print(f"{label}: {args.files / seconds:.1f} files/s", file=sys.stderr, flush=True)
        drivers = {}
        for label, source in (("export", export), ("loose files", loose_copy(export, folder / f"loose-{args.files}"))):
            drivers[label] = driver_alone(source, scratch / label)
            rows.append((f"driver alone, fed results ({label})", drivers[label][0]))
        files = drivers["export"][2]
        print(f"{'executor':<44}{'seconds':>9}{'files/s':>9}")
        for label, value in rows:
            print(f"{label:<44}{value:>9.2f}{files / value:>9.1f}")
        per_worker = files / rows[1][1] if not args.only_driver else None
        for label, (seconds, stages, _) in drivers.items():
            print(f"\ndriver's serial work on the {label}: {1e3 * seconds / files:.3f} ms per file", end="")
            if per_worker:
                print(f"; saturates at about {files / seconds / per_worker:.0f} workers of "
                      f"{per_worker:.1f} files/s (LocalCluster of 1, end to end)", end="")
            print()
            for stage, value in stages.items():
                print(f"  {stage:<70}{1e3 * value / files:>8.3f} ms/file")


if __name__ == "__main__":
    main()
