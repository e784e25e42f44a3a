"""The cost of mean-maximal curves and best efforts (pipeline/metrics/curves.py) per one-hour ride.

    .venv/bin/python benchmarks/curves.py [--repeats 200]

Takes the sample rides of sample_files/garmin (1 s recording, power, heart rate, speed and
distance), and for each piece of work prints the median time per ride scaled to one hour of
riding: the power, heart-rate and speed curves at the 25 durations of the grid, the best efforts
at the run distances, and all of it together. The issue's expectation: curves over a 1 Hz hour
at ~30 durations well under a millisecond each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import read_file  # noqa: E402
from pipeline.metrics import curves  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KINDS = {"power": "power_w", "heart_rate": "heart_rate_bpm", "speed": "speed_mps"}


def rides() -> list[dict[str, np.ndarray]]:
    found = []
    for path in sorted((ROOT / "sample_files" / "garmin").glob("*ride*.fit")):
        samples = read_file(path).samples
        if samples.height < 1800 or samples["power_w"].null_count() == samples.height:
            continue
        start = samples["timestamp_utc"].min()
        t = ((samples["timestamp_utc"] - start).dt.total_microseconds() / 1e6).to_numpy()
        found.append({"t": t, **{c: samples[c].fill_null(np.nan).to_numpy() for c in [*KINDS.values(), "distance_m"]}})
    return found


def per_hour(work, ride: dict, repeats: int) -> float:
    """Median seconds of `work(ride)` over `repeats` runs, per hour of the ride."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work(ride)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 3600 / (ride["t"][-1] - ride["t"][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    found = rides()
    work = {f"{kind} curve": (lambda r, k=kind: curves.curve(r["t"], r[KINDS[k]], k)) for kind in KINDS}
    work["best efforts (7 run distances)"] = lambda r: curves.best_efforts(r["t"], r["distance_m"], curves.RUN_DISTANCES_M)
    pieces = list(work.values())
    work["all of it"] = lambda r: [piece(r) for piece in pieces]
    hours = sum(r["t"][-1] - r["t"][0] for r in found) / 3600
    print(f"{len(found)} sample rides, {hours:.1f} h in all; median of {args.repeats} runs per ride, "
          f"then the median over rides, in ms per hour of riding\n")
    print("| work | ms per one-hour ride | fastest ride | slowest ride |")
    print("|---|---|---|---|")
    for name, function in work.items():
        costs = [per_hour(function, ride, args.repeats) * 1000 for ride in found]
        print(f"| {name} | {statistics.median(costs):.3f} | {min(costs):.3f} | {max(costs):.3f} |")


if __name__ == "__main__":
    main()
