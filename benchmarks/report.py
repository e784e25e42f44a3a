"""`fitpipe report` on three years of daily activities.

    .venv/bin/python benchmarks/report.py [--years 3] [--repeat 3] [--out DIR]

Writes synthetic tables straight with polars (no FIT files to parse): activities.parquet
with one activity a day (rides, runs and a swim each week, most rides with power),
weekly.parquet and daily_load.parquet from the pipeline's own functions, and 1 Hz
samples for every run under samples/sport=run/. Then it times the real build_report,
`--repeat` times, and prints the median seconds of each step. Target: under 5 s in all.
The last row runs the installed `fitpipe report` as a user would, in a new process, so it
also pays the command line's own start-up.
`--out DIR` keeps the history and its report there instead of in a temporary folder.
The first row is importing matplotlib with the report package, which a fresh
`fitpipe report` process pays once.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.metrics import training_load
from pipeline.metrics.weekly import weekly_table
from pipeline.normalize import schema
from pipeline.normalize.schema import DEFAULT_ATHLETE
from pipeline.sinks import ParquetFolder

TARGET_S = 5.0
FITPIPE = Path(sys.executable).with_name("fitpipe")
FIRST_MONDAY = datetime(2023, 1, 2)
# One week: which sport each weekday, and its moving time range in minutes.
WEEK = [("ride", 60, 120), ("run", 30, 60), ("ride", 60, 90), ("swim", 30, 45), ("ride", 45, 75),
        ("ride", 120, 240), ("run", 45, 90)]
SPEED_MPS = {"ride": (7.0, 9.0), "run": (2.7, 3.4), "swim": (0.8, 1.0), "row": (3.5, 4.2)}


def activities(days: int | list[int], rng: np.random.Generator, first_monday: datetime = FIRST_MONDAY,
               sports: dict[int, str] | None = None) -> pl.DataFrame:
    """One activity on each day (a count from the first Monday, or the day numbers), the sport
    of the weekday from WEEK unless `sports` names another for that day."""
    rows = []
    for day in (range(days) if isinstance(days, int) else days):
        sport, low, high = WEEK[day % 7]
        if sports and day in sports:
            sport, low, high = sports[day], 30, 60
        start = first_monday + timedelta(days=day, hours=7 if sport != "ride" or day % 7 == 5 else 18)
        moving = float(rng.integers(low, high + 1) * 60)
        speed = float(rng.uniform(*SPEED_MPS[sport]))
        hr = float(rng.uniform(122, 150))
        rows.append({"athlete_id": DEFAULT_ATHLETE, "activity_id": f"{day:016x}", "sport": sport, "start_time_local": start,
                     "start_time_utc": start - timedelta(hours=1), "moving_s": moving, "timer_s": moving,
                     "elapsed_s": moving + 120, "distance_m": speed * moving, "avg_speed_mps": speed,
                     "avg_hr_bpm": hr, "ef_speed_m_per_min_per_bpm": speed * 60 / hr,
                     **_sport_metrics(sport, speed, hr, moving, rng)})
    table = pl.DataFrame(rows).with_columns(pl.col("start_time_utc").dt.replace_time_zone("UTC"))
    return schema.conform(table, schema.ACTIVITIES)


def _sport_metrics(sport: str, speed: float, hr: float, moving: float, rng: np.random.Generator) -> dict:
    zones = rng.dirichlet([2, 5, 3, 1, 0.5]) * moving
    tss = moving / 3600 * float(rng.uniform(45, 90))
    values = {f"hr_zone{k}_s": float(z) for k, z in enumerate(zones, start=1)} | {"tss": tss, "trimp": tss * 1.1}
    if sport == "run":
        values["avg_pace_s_per_km"] = 1000 / speed
    if sport == "swim":
        values["avg_pace_s_per_100m"] = 100 / speed
    if sport == "ride" and rng.random() < 0.7:
        np_w = float(rng.uniform(150, 230))
        vi = float(rng.choice([1.02, 1.03, 1.12]))
        values |= {"np_w": np_w, "avg_power_w": np_w / vi, "variability_index": vi, "ef_power_w_per_bpm": np_w / hr}
    return values


def run_samples(table: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    parts = []
    for run in table.filter(pl.col("sport") == "run").iter_rows(named=True):
        n = int(run["moving_s"])
        speed = run["avg_speed_mps"] + rng.normal(0, 0.15, n)
        parts.append(pl.DataFrame({
            "athlete_id": run["athlete_id"], "activity_id": run["activity_id"], "sport": "run",
            "year": run["start_time_local"].year,
            "timestamp_utc": pl.datetime_range(run["start_time_utc"], run["start_time_utc"] + timedelta(seconds=n - 1),
                                               "1s", eager=True),
            "distance_m": np.cumsum(speed), "speed_mps": speed,
            "heart_rate_bpm": np.rint(run["avg_hr_bpm"] + 8 * np.sin(np.arange(n) / 300) + rng.normal(0, 2, n)),
            "cadence_rpm": np.full(n, 85.0), "lap_index": np.zeros(n, dtype=np.int32), "paused_s": np.zeros(n),
        }))
    return pl.concat(parts)


def write_history(out: Path, years: int) -> int:
    rng = np.random.default_rng(20261115)
    return write_tables(out, activities(365 * years, rng), rng)


# A long, uneven history for the report: twelve years from this Monday, with these spans
# (first day, last day, counted from it) left empty, and rowing in one month only.
LONG_FIRST_MONDAY = datetime(2012, 11, 5)
LONG_YEARS = 12
LONG_GAPS = ((700, 1150), (2400, 2800), (3600, 4050))
ROWING_DAYS = range(2000, 2031)


def write_long_history(out: Path) -> pl.DataFrame:
    """Every day of LONG_YEARS years from LONG_FIRST_MONDAY but the LONG_GAPS, one activity a
    day, rowing on ROWING_DAYS; returns the activities written."""
    rng = np.random.default_rng(20121105)
    days = [d for d in range(365 * LONG_YEARS) if not any(a <= d <= b for a, b in LONG_GAPS)]
    table = activities(days, rng, LONG_FIRST_MONDAY, sports={d: "row" for d in ROWING_DAYS})
    write_tables(out, table, rng)
    return table


def write_tables(out: Path, table: pl.DataFrame, rng: np.random.Generator) -> int:
    """activities, weekly and daily_load tables, and 1 Hz samples of every run."""
    table = table.with_columns(counts_in_totals=pl.lit(True))
    sink = ParquetFolder(out)
    sink.write_table("activities", table)
    sink.write_table("weekly", weekly_table(table))
    sink.write_table("daily_load", training_load.daily_load(table))
    samples = run_samples(table, rng)
    sink.write_samples(samples.with_columns(pl.col("year").cast(pl.Int32)))
    return table.height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, help="keep the history and report here (must not exist yet)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        out = args.out or Path(work)
        if args.out:
            out.mkdir(parents=True)
        started = time.perf_counter()
        count = write_history(out, args.years)
        runs = ParquetFolder(out).read_samples(["activity_id"], sport="run")["activity_id"].n_unique()
        print(f"history: {count} activities ({runs} runs with 1 Hz samples) over {args.years} years, "
              f"written in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        from pipeline.report import build_report
        imported = time.perf_counter() - started
        steps: dict[str, list[float]] = {}
        for _ in range(args.repeat):
            timings: dict[str, float] = {}
            started = time.perf_counter()
            page = build_report(out, timings=timings)
            timings["build_report total"] = time.perf_counter() - started
            for step, seconds in timings.items():
                steps.setdefault(step, []).append(seconds)
        command = statistics.median(timed_command(out) for _ in range(args.repeat))
        print_table(imported, {step: statistics.median(values) for step, values in steps.items()}, command,
                    page.stat().st_size)


def timed_command(out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([FITPIPE, "report", "--out", out, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def print_table(imported: float, steps: dict[str, float], command: float, page_bytes: int) -> None:
    total = steps["build_report total"]
    rows = [("import report package (matplotlib)", imported), *steps.items(),
            ("import + build_report", imported + total), ("`fitpipe report` in a new process", command)]
    width = max(len(step) for step, _ in rows)
    print(f"| {'step':<{width}} | seconds |")
    print(f"|{'-' * (width + 2)}|---------|")
    for step, seconds in rows:
        print(f"| {step:<{width}} | {seconds:7.2f} |")
    print(f"\npage: {page_bytes / 1e6:.2f} MB; import + build_report uses {(imported + total) / TARGET_S:.0%} "
          f"and the whole command {command / TARGET_S:.0%} of the {TARGET_S:.0f} s target")


if __name__ == "__main__":
    main()
