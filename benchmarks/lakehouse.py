"""The parquet folder against Delta Lake tables, on the 2,000-ride Garmin export of benchmarks/bulk.py.

    .venv/bin/python benchmarks/lakehouse.py [--files 2000] [--keep DIR] [--rounds 3]

For each format (`fitpipe run --format parquet|delta`), prints:

- the bulk import (end to end, a new process, 2 workers), the formats alternating for --rounds
  rounds, and its median;
- a one-file incremental run (the export plus one new ride);
- data files on disk before and after `fitpipe compact` (retention 0, so replaced files go);
- "one athlete's year of samples" and "weekly totals for all athletes", in DuckDB (through
  `fitpipe query`'s views: read_parquet, or the Delta table's pyarrow dataset) and in polars
  (scan_parquet with hive partitions, or scan_delta), median of --rounds, after compaction.

The issue's target: the Delta import at most 25% slower than the parquet folder's.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bulk import FIRST, export_of  # noqa: E402
from fitsynth import rides  # noqa: E402
from parse import median_time  # noqa: E402

from pipeline.sinks import for_output  # noqa: E402
from pipeline.sinks import query as queries  # noqa: E402

FITPIPE = Path(sys.executable).with_name("fitpipe")
YEAR = 2020
FORMATS = ("parquet", "delta")
ONE_YEAR_SQL = (f"SELECT count(*) AS n, avg(heart_rate_bpm) AS hr, max(power_w) AS power FROM samples "
                f"WHERE athlete_id = 'default' AND year = {YEAR}")
WEEKLY_SQL = ("SELECT athlete_id, date_trunc('week', start_time_local) AS week, sum(moving_s) AS moving_s, "
              "sum(distance_m) AS distance_m FROM workouts GROUP BY ALL")


def timed(command: list) -> float:
    started = time.perf_counter()
    subprocess.run([FITPIPE, *map(str, command)], check=True, capture_output=True)
    return time.perf_counter() - started


def data_files(out: Path) -> int:
    return sum(1 for _ in out.rglob("*.parquet"))


def polars_queries(out: Path, form: str):
    if form == "delta":
        samples, activities = (lambda: pl.scan_delta(str(out / "samples"))), (lambda: pl.scan_delta(str(out / "activities")))
    else:
        samples = lambda: pl.scan_parquet(out / "samples" / "**" / "*.parquet", hive_partitioning=True)  # noqa: E731
        activities = lambda: pl.scan_parquet(out / "activities.parquet")  # noqa: E731

    def one_year() -> pl.DataFrame:
        return (samples().filter(pl.col("athlete_id") == "default", pl.col("year") == YEAR)
                .select(n=pl.len(), hr=pl.col("heart_rate_bpm").mean(), power=pl.col("power_w").max()).collect())

    def weekly() -> pl.DataFrame:
        return (activities().filter(pl.col("counts_in_totals"))
                .group_by("athlete_id", pl.col("start_time_local").dt.truncate("1w").alias("week"))
                .agg(pl.col("moving_s").sum(), pl.col("distance_m").sum()).collect())

    return one_year, weekly


def imports(export: Path, scratch: Path, rounds: int) -> dict[str, list[float]]:
    """Bulk import seconds per format, the formats alternating, round after round."""
    seconds: dict[str, list[float]] = {form: [] for form in FORMATS}
    for _ in range(rounds):
        for form in FORMATS:
            out = scratch / f"out-{form}"
            shutil.rmtree(out, ignore_errors=True)
            seconds[form].append(timed(["run", export, "--out", out, "--quiet", "--workers", "2", "--format", form]))
    return seconds


def measure(form: str, import_s: list[float], extra: Path, export: Path, scratch: Path, rounds: int) -> dict:
    """The rest, on the output of the last import."""
    out = scratch / f"out-{form}"
    row = {"format": form, "import_s": statistics.median(import_s)}
    row["incremental_s"] = timed(["run", export, extra, "--out", out, "--quiet", "--workers", "2"])
    row["files_before"] = data_files(out)
    timed(["compact", "--out", out, "--retention-days", "0", "--quiet"])
    row["files_after"] = data_files(out)
    connection = queries.connect(for_output(out))
    row["duckdb_year_s"] = median_time(lambda: connection.sql(ONE_YEAR_SQL).fetchall(), rounds)
    row["duckdb_weekly_s"] = median_time(lambda: connection.sql(WEEKLY_SQL).fetchall(), rounds)
    one_year, weekly = polars_queries(out, form)
    row["polars_year_s"] = median_time(one_year, rounds)
    row["polars_weekly_s"] = median_time(weekly, rounds)
    row["check"] = (connection.sql(ONE_YEAR_SQL).fetchall()[0][0], one_year()["n"][0])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the generated export in")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        folder = args.keep or scratch
        export = export_of(args.files, folder)
        extra = scratch / "one-more"
        extra.mkdir()
        name, data = rides(args.files + 1, FIRST)[-1]
        (extra / Path(name).name).write_bytes(data)
        seconds = imports(export, scratch, args.rounds)
        rows = [measure(form, seconds[form], extra, export, scratch, args.rounds) for form in FORMATS]
    print("| round | parquet import s | delta import s |\n|---|---|---|")
    for round_, pair in enumerate(zip(*(seconds[form] for form in FORMATS)), 1):
        print(f"| {round_} | {pair[0]:.2f} | {pair[1]:.2f} |")
    print()
    header = ["format", "import_s", "incremental_s", "files_before", "files_after", "duckdb_year_s",
              "duckdb_weekly_s", "polars_year_s", "polars_weekly_s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(f"{row[h]:.3f}" if isinstance(row[h], float) else str(row[h]) for h in header) + " |")
    parquet, delta = rows
    print(f"\nDelta import / parquet import (medians): {delta['import_s'] / parquet['import_s']:.2f} (target at most 1.25)")
    for row in rows:  # the same answer from both engines, or the timings mean nothing
        assert row["check"][0] == row["check"][1], row
        if row["check"][0] == 0:
            print(f"note: no samples in {YEAR}; use --files 2000 for a year of rides")
    assert parquet["check"] == delta["check"], (parquet["check"], delta["check"])


if __name__ == "__main__":
    main()
