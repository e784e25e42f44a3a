"""Do two versions of fitpipe write the same tables, bit for bit?

    .venv/bin/python benchmarks/same_tables.py --rev REV [--workers 2] [INPUT ...]

Runs `fitpipe run` on the inputs (default: sample_files/ and ../shared/corpus) with the code at
git revision REV (a temporary worktree) and with this tree, each into an output folder of its
own, then compares every table and every activity's samples. Floats compare by their 64 bits,
so a difference in the last bit counts, and so does NaN against null. Prints one row per table
and exits 1 when anything differs. For changes that must not change the output: a refactor, a
new executor or sink.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import ROOT, worktree_at  # noqa: E402

TABLES = ("activities", "laps", "manifest", "weekly", "daily_load")


def run(tree: Path, inputs: list[Path], out: Path, workers: int) -> None:
    """`python -m pipeline run` with `tree`'s pipeline package (the working directory wins)."""
    subprocess.run([sys.executable, "-m", "pipeline", "run", *map(str, inputs), "--out", str(out), "--quiet",
                    "--workers", str(workers)], cwd=tree, check=False, stdout=subprocess.DEVNULL)


def tables(out: Path) -> dict[str, pl.DataFrame]:
    found = {name: pl.read_parquet(out / f"{name}.parquet") for name in TABLES if (out / f"{name}.parquet").exists()}
    samples = sorted((out / "samples").rglob("*.parquet"))
    found["samples"] = pl.concat([
        pl.read_parquet(path).with_columns(file=pl.lit(str(path.relative_to(out)))) for path in samples
    ]) if samples else pl.DataFrame()
    return found


def as_bits(frame: pl.DataFrame) -> pl.DataFrame:
    """Floats as their bit patterns, so that equality is bit equality."""
    return frame.with_columns(
        [pl.col(name).reinterpret(signed=False).alias(name) for name, dtype in frame.schema.items()
         if dtype == pl.Float64])


def differences(old: dict[str, pl.DataFrame], new: dict[str, pl.DataFrame]) -> list[tuple[str, int, int, str]]:
    """(table, rows before, rows after, what differs) per table."""
    rows = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a is None or b is None:
            rows.append((name, 0 if a is None else a.height, 0 if b is None else b.height, "missing on one side"))
            continue
        if a.columns != b.columns:
            verdict = f"columns differ: {sorted(set(a.columns) ^ set(b.columns)) or 'order'}"
        elif a.schema != b.schema:
            verdict = "types differ"
        else:
            verdict = "same" if as_bits(a).equals(as_bits(b)) else "values differ"
        rows.append((name, a.height, b.height, verdict))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", type=Path,
                        default=[ROOT / "sample_files", ROOT.parent / "shared" / "corpus"])
    parser.add_argument("--rev", required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    inputs = [p.resolve() for p in args.inputs]
    with tempfile.TemporaryDirectory() as scratch, worktree_at(args.rev, Path(scratch) / "rev") as worktree:
        old_out, new_out = Path(scratch) / "old", Path(scratch) / "new"
        run(worktree, inputs, old_out, args.workers)
        run(ROOT, inputs, new_out, args.workers)
        rows = differences(tables(old_out), tables(new_out))
    print(f"| table | rows at {args.rev} | rows in the tree | bits |")
    print("|---|---|---|---|")
    for name, before, after, verdict in rows:
        print(f"| {name} | {before:,} | {after:,} | {verdict} |")
    sys.exit(0 if all(verdict == "same" for *_, verdict in rows) else 1)


if __name__ == "__main__":
    main()
