"""Where a worker's time goes: milliseconds per one-hour 1 Hz ride, step by step.

    .venv/bin/python benchmarks/worker_steps.py [--files 160] [--batch BATCH_FILES] [--repeats 2]

Runs loading.load_batch in this process, single-threaded as the workers run it, over
synthetic rides (benchmarks/fitsynth.py) in batches as ingest makes them, and times the
steps by wrapping them. Steps nest: summarize is part of with_metrics. Use it to see
what to speed up next; benchmarks/bulk.py measures the target itself.
"""

from __future__ import annotations

import argparse
import os

os.environ["POLARS_MAX_THREADS"] = "1"  # as in ingest's workers; read when polars is imported
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import collections  # noqa: E402
import functools  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

from fitsynth import rides  # noqa: E402

from pipeline.metrics import activity as metrics  # noqa: E402
from pipeline.metrics import compute, load, training_load  # noqa: E402
from pipeline.run import batch as loading  # noqa: E402
from pipeline.sinks import ParquetFolder  # noqa: E402
from pipeline.run.ingest import BATCH_FILES  # noqa: E402
from pipeline.config import Athlete  # noqa: E402
from pipeline.discover.files import SourceFile  # noqa: E402

STEPS = [(loading, "read_bytes"), (loading, "prepare"), (loading, "with_metrics"), (metrics, "summarize"),
         (metrics, "with_sample_weights"), (metrics, "_climbing"), (training_load, "with_load_columns"),
         (compute, "activity_tables"), (load, "time_at_hr"), (compute, "configured_table"), (load, "with_load"),
         (ParquetFolder, "write_samples")]


def timed(spent: collections.Counter, module, name: str) -> None:
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - started

    setattr(module, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=160)
    parser.add_argument("--batch", type=int, default=BATCH_FILES)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    files = rides(args.files, datetime(2019, 3, 1, 6, 0, tzinfo=timezone.utc))
    jobs = [(SourceFile(Path(name), "fit", None, len(data), 0, (name,)), data) for name, data in files]
    batches = [jobs[i:i + args.batch] for i in range(0, len(jobs), args.batch)]
    spent: collections.Counter = collections.Counter()
    for module, name in STEPS:
        timed(spent, module, name)
    columns = {}
    for repeat in range(1, args.repeats + 1):
        spent.clear()
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            for batch in batches:
                loading.load_batch(batch, "UTC", None, Athlete(), ParquetFolder(Path(out)))
            spent["load_batch (all)"] = time.perf_counter() - started
        columns[f"run {repeat}"] = {name: seconds / len(jobs) * 1000 for name, seconds in spent.items()}
    print(f"{'ms per ride':<22}" + "".join(f"{name:>9}" for name in columns))
    for name in ["load_batch (all)", *(name for _, name in STEPS)]:
        print(f"{name:<22}" + "".join(f"{column.get(name, 0.0):>9.2f}" for column in columns.values()))
    print("steps nest: summarize, with_sample_weights and _climbing are parts of with_metrics")


if __name__ == "__main__":
    main()
