"""Does the samples layout serve a platform of many athletes? (issue 21)

Writes ATHLETES x ACTIVITIES sample files through fitpipe's own sink (ParquetFolder: one file per
activity at samples/athlete_id=…/sport=…/year=…/), half the activities in 2025 and half in 2026,
and, by hard links to the same files, the layout fitpipe had before athletes
(samples/sport=…/year=…/, athlete_id only inside the files). Then, for DuckDB and polars, it
prints how many parquet files each query opens (counted with strace: every openat of a .parquet
file) and how long it takes (median of ROUNDS, the queries taking turns):

- one athlete's year, filtered on the columns over samples/**/*.parquet;
- the same, with the path narrowed to that athlete's folder;
- the same over the layout without the athlete key;
- every athlete's year.

    python benchmarks/athletes.py                       # 1,000 athletes x 200 activities
    python benchmarks/athletes.py --athletes 100 --keep /tmp/athletes-bench
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.sinks import ParquetFolder  # noqa: E402

SPORTS = ("ride", "run", "swim")
SPORT_SHARES = (0.6, 0.3, 0.1)
ROUNDS = 3
THE_ATHLETE_INDEX = 500  # whose year is asked for (clamped to the team)
YEAR = 2025


def athlete_id(index: int) -> str:
    return f"a{index:05d}"


def write_team(out: Path, athletes: int, activities: int, rows: int) -> None:
    """Samples of every athlete through the sink, a batch of athletes per streaming write."""
    sink = ParquetFolder(out)
    rng = np.random.default_rng(20261205)
    batch = max(1, 20_000 // activities)
    for first in range(0, athletes, batch):
        frames = [_athlete_samples(i, activities, rows, rng) for i in range(first, min(first + batch, athletes))]
        sink.write_samples(pl.concat(frames))
        print(f"\r  wrote {min(first + batch, athletes)} of {athletes} athletes", end="", file=sys.stderr)
    print(file=sys.stderr)


def _athlete_samples(index: int, activities: int, rows: int, rng: np.random.Generator) -> pl.DataFrame:
    half = max(activities // 2, 1)
    starts = [datetime(2025 if n < half else 2026, 1, 1, 7) + timedelta(days=n % half * 365 // half)
              for n in range(activities)]
    sports = rng.choice(SPORTS, size=activities, p=SPORT_SHARES)
    ids = [f"{index:05d}{n:011x}" for n in range(activities)]
    seconds = np.tile(np.arange(rows) * 5, activities)
    return pl.DataFrame({
        "athlete_id": athlete_id(index),
        "activity_id": np.repeat(ids, rows),
        "timestamp_utc": np.repeat(np.array(starts, dtype="datetime64[us]"), rows) + seconds.astype("timedelta64[s]"),
        # naive above: numpy has no zones; made UTC below
        "heart_rate_bpm": rng.normal(140, 12, rows * activities).round(),
        "power_w": rng.normal(200, 40, rows * activities).round(),
        "sport": np.repeat(sports, rows),
        "year": np.repeat([s.year for s in starts], rows).astype(np.int32),
    }).with_columns(pl.col("timestamp_utc").dt.replace_time_zone("UTC"))


def link_flat_layout(out: Path) -> Path:
    """The pre-athlete layout, samples/sport=…/year=…/<id>.parquet, as hard links to the same files."""
    flat = out / "samples-without-athlete-key"
    for path in (out / "samples").glob("*/*/*/*.parquet"):
        target = flat / path.parent.parent.name / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
    return flat


def queries(out: Path, flat: Path, athlete: str) -> list[tuple[str, str, str]]:
    """(engine, what, python code that runs the query from `out`)."""
    every, flat_every = f"{out}/samples/**/*.parquet", f"{flat}/**/*.parquet"
    narrowed = f"{out}/samples/athlete_id={athlete}/*/year={YEAR}/*.parquet"
    where = f"athlete_id = '{athlete}' AND year = {YEAR}"
    polars_scan = "pl.scan_parquet({path!r}, hive_partitioning=True{extra}).filter({filter}).select(pl.len(), " \
                  "pl.col('heart_rate_bpm').mean()).collect()"
    # Given the files' schema, polars need not open any file to learn it.
    known = ", schema={'athlete_id': pl.String, 'heart_rate_bpm': pl.Float64}, hive_schema=" \
            "{'athlete_id': pl.String, 'sport': pl.String, 'year': pl.Int32}, extra_columns='ignore'"
    duck = "duckdb.sql(\"SELECT count(*), avg(heart_rate_bpm) FROM read_parquet('{path}', hive_partitioning = true) " \
           "WHERE {where}\").fetchall()"
    return [
        ("duckdb", "one athlete's year, filter on columns", duck.format(path=every, where=where)),
        ("duckdb", "one athlete's year, path narrowed", duck.format(path=narrowed, where="true")),
        ("duckdb", "one athlete's year, no athlete key", duck.format(path=flat_every, where=where)),
        ("duckdb", "every athlete's year", duck.format(path=every, where=f"year = {YEAR}")),
        ("polars", "one athlete's year, filter on columns", polars_scan.format(path=every, filter=ONE, extra="")),
        ("polars", "one athlete's year, filter on columns, schema given",
         polars_scan.format(path=every, filter=ONE, extra=known)),
        ("polars", "one athlete's year, path narrowed", polars_scan.format(path=narrowed, filter="True", extra="")),
        ("polars", "one athlete's year, no athlete key", polars_scan.format(path=flat_every, filter=ONE, extra="")),
        ("polars", "every athlete's year", polars_scan.format(path=every, filter="pl.col('year') == YEAR", extra="")),
    ]


ONE = "(pl.col('athlete_id') == ATHLETE) & (pl.col('year') == YEAR)"
PRELUDE = "import duckdb, polars as pl\nATHLETE, YEAR = {athlete!r}, {year}\n"


def files_opened(code: str, athlete: str, work: Path) -> tuple[int, int]:
    """(parquet files opened, of them another athlete's), counted from strace's openat calls."""
    trace = work / "strace.log"
    script = PRELUDE.format(athlete=athlete, year=YEAR) + code
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat", "-o", str(trace), sys.executable, "-c", script],
                   check=True, capture_output=True)
    opened = set(re.findall(r'openat\([^"]*"([^"]+\.parquet)"', trace.read_text()))
    theirs = {p for p in opened if f"athlete_id={athlete}" in p or _inside_is(p, athlete)}
    return len(opened), len(opened - theirs)


def _inside_is(path: str, athlete: str) -> bool:
    """Whether a file of the layout without the athlete key holds this athlete's samples: its
    name starts with the athlete's number (see _athlete_samples)."""
    return "athlete_id=" not in path and Path(path).name.startswith(athlete[1:])


def seconds(code: str, athlete: str) -> float:
    script = PRELUDE.format(athlete=athlete, year=YEAR) + "import time\nt = time.perf_counter()\n" + code + \
        "\nprint(time.perf_counter() - t)"
    result = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--athletes", type=int, default=1000)
    parser.add_argument("--activities", type=int, default=200, help="per athlete (an even number)")
    parser.add_argument("--rows", type=int, default=120, help="samples per activity")
    parser.add_argument("--keep", type=Path, help="write here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="fitpipe-athletes-"))
    out = work / "out"
    started = time.perf_counter()
    if not (out / "samples").exists():
        write_team(out, args.athletes, args.activities, args.rows)
    flat = out / "samples-without-athlete-key"
    if not flat.exists():
        link_flat_layout(out)
    written = time.perf_counter() - started
    athlete = athlete_id(min(THE_ATHLETE_INDEX, args.athletes - 1))
    print(f"{args.athletes} athletes x {args.activities} activities = {args.athletes * args.activities:,} sample "
          f"files of {args.rows} rows ({written:.0f} s to write and link); the query asks for {athlete}'s {YEAR}\n")
    runs = queries(out, flat, athlete)
    counts = [files_opened(code, athlete, work) for _, _, code in runs]
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(ROUNDS):  # the queries take turns, so machine noise hits all alike
        for i, (_, _, code) in enumerate(runs):
            times[i].append(seconds(code, athlete))
    print(f"| engine | query | parquet files opened | of them other athletes' | seconds (median of {ROUNDS}) |")
    print("|---|---|---:|---:|---:|")
    for (engine, what, _), (opened, others), spent in zip(runs, counts, times):
        print(f"| {engine} | {what} | {opened:,} | {others:,} | {statistics.median(spent):.3f} |")


if __name__ == "__main__":
    main()
