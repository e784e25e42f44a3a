"""Old code against new, side by side: for telling a change's effect from this machine's drift.

    .venv/bin/python benchmarks/compare.py decode [--rev REV] [--rounds 60] [FILE ...]
    .venv/bin/python benchmarks/compare.py gpx [--rev REV] [--rounds 60]
    .venv/bin/python benchmarks/compare.py bulk [--rev REV] [--rounds 3] [--keep DIR]
    .venv/bin/python benchmarks/compare.py read_file [--rev REV] [--rounds 5]

The machine's speed drifts by a quarter within minutes, so two runs of a benchmark at different
moments cannot show a 5% change. Every mode alternates the code at git revision REV (default
HEAD) with the working tree and prints the pairs.

decode: `fit_columns.decode` from REV and from the tree, loaded side by side in this process,
alternating on each corpus FIT file (default: the large ones parse.py times), `--rounds` times.

gpx: `gpx_fast.read_gpx_fast` from REV and from the tree, the same way, on a generated
20,000-point track (parse_xml.py's, with heart rate and cadence) and the corpus GPX files. Only
gpx_fast.py comes from REV: both use the tree's readers/base.py and xmlsafe.py.

bulk: `fitpipe run` on the 2,000-ride Garmin export of benchmarks/bulk.py, from a temporary
worktree at REV and from this tree in turn, each as a new process with 2 workers; wall time,
files per second and the CPU of the process and its workers.

read_file: `pipeline.read_file` on parse.py's big_activity.fit (100,000 records), from a temporary
worktree at REV and from this tree in turn, each a new process timing 15 calls after a warm one.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bulk import export_of  # noqa: E402
from parse import big_activity  # noqa: E402
from parse_xml import big_gpx  # noqa: E402

import pipeline.readers.fit_columns as tree_fit_columns  # noqa: E402
import pipeline.readers.gpx_fast as tree_gpx_fast  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "fit"
LARGE_FILES = ["sample-activity.fit", "activity-small-fenix2-run.fit", "Edge810-Vector-2013-08-16-15-35-10.fit",
               "garmin-fr935-cr.fit", "coros-pace-2-cycling-misaligned-fields.fit",
               "2019-02-17-062644-ELEMNT-297E-195-0.fit"]


def module_at(rev: str, path: str, name: str):
    """A module of the package as it was at `rev`, importable beside the tree's own."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], capture_output=True, text=True,
                            check=True).stdout
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = name.rsplit(".", 1)[0]
    sys.modules[name] = module
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)
    return module


def compare_decode(rev: str, rounds: int, names: list[str]) -> None:
    old = module_at(rev, "pipeline/readers/fit_columns.py", "pipeline.readers._fit_columns_at_rev")
    print(HEADER)
    for name in names:
        data = (CORPUS / name).read_bytes()
        print_pair(name, *alternated(lambda: old.decode(data), lambda: tree_fit_columns.decode(data), rounds))


def compare_gpx(rev: str, rounds: int) -> None:
    old = module_at(rev, "pipeline/readers/gpx_fast.py", "pipeline.readers._gpx_fast_at_rev")
    with tempfile.TemporaryDirectory() as folder:
        tracks = {"20,000-point track": big_gpx(Path(folder), 20_000).read_bytes()}
    tracks |= {path.name: path.read_bytes() for path in sorted((CORPUS.parent / "gpx").glob("*.gpx"),
                                                               key=lambda p: -p.stat().st_size)[:2]}
    print(HEADER)
    for name, data in tracks.items():
        print_pair(name, *alternated(lambda: old.read_gpx_fast(data, name),
                                     lambda: tree_gpx_fast.read_gpx_fast(data, name), rounds))


HEADER = f"{'file':42}{'old min ms':>11}{'new min ms':>11}{'x (min)':>9}{'x (median)':>11}"


def alternated(old, new, rounds: int) -> tuple[list[float], list[float]]:
    """Seconds of each call, old and new in turns, after one warm call each (definitions and
    layouts cached, as in a bulk import)."""
    times = {old: [], new: []}
    for function in times:
        function()
    for _ in range(rounds):
        for function, spent in times.items():
            started = time.perf_counter()
            function()
            spent.append(time.perf_counter() - started)
    return times[old], times[new]


def print_pair(name: str, before: list[float], after: list[float]) -> None:
    print(f"{name[:41]:42}{min(before) * 1e3:>11.2f}{min(after) * 1e3:>11.2f}{min(before) / min(after):>8.2f}x"
          f"{statistics.median(before) / statistics.median(after):>10.2f}x")


def compare_bulk(rev: str, rounds: int, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        export = export_of(2000, keep or Path(scratch))
        with worktree_at(rev, Path(scratch) / "rev") as worktree:
            trees = {"old": worktree, "new": ROOT}
            print(f"{'pair':>4}{'tree':>5}{'wall s':>8}{'files/s':>9}{'CPU s':>8}")
            for pair in range(1, rounds + 1):
                for label, tree in trees.items():
                    wall, cpu = timed_run(tree, export, Path(scratch) / f"out-{label}")
                    print(f"{pair:>4}{label:>5}{wall:>8.2f}{2000 / wall:>9.1f}{cpu:>8.2f}", flush=True)


@contextlib.contextmanager
def worktree_at(rev: str, folder: Path):
    """A checkout of `rev` in `folder` for the time of the block."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(folder), rev], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], check=True)


# Run with a tree as the working directory, so that `pipeline` is that tree's.
READ_FILE_TIMER = """
import statistics, sys, time
from pipeline import read_file
path, calls = sys.argv[1], int(sys.argv[2])
read_file(path)
times = []
for _ in range(calls):
    started = time.perf_counter()
    read_file(path)
    times.append(time.perf_counter() - started)
print(min(times), statistics.median(times))
"""


def compare_read_file(rev: str, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as scratch, worktree_at(rev, Path(scratch) / "rev") as worktree:
        big = big_activity(Path(scratch))
        medians = {"old": [], "new": []}
        print(f"{'pair':>4}{'tree':>5}{'min ms':>8}{'median ms':>10}")
        for pair in range(1, rounds + 1):
            for label, tree in (("old", worktree), ("new", ROOT)):
                result = subprocess.run([sys.executable, "-c", READ_FILE_TIMER, str(big), "15"], cwd=tree,
                                        check=True, capture_output=True, text=True)
                fastest, median = (float(value) for value in result.stdout.split())
                medians[label].append(median)
                print(f"{pair:>4}{label:>5}{fastest * 1e3:>8.1f}{median * 1e3:>10.1f}", flush=True)
        old, new = statistics.median(medians["old"]), statistics.median(medians["new"])
        print(f"median of medians: old {old * 1e3:.1f} ms, new {new * 1e3:.1f} ms, {old / new:.2f}x")


def timed_run(tree: Path, export: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one import; `python -m pipeline` run in `tree` imports that tree's code."""
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline", "run", str(export), "--out", str(out), "--quiet", "--workers",
                    "2"], cwd=tree, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["decode", "gpx", "bulk", "read_file"])
    parser.add_argument("files", nargs="*", help="corpus FIT file names (decode)")
    parser.add_argument("--rev", default="HEAD", help="the old code's git revision")
    parser.add_argument("--rounds", type=int,
                        help="turns of each (default: 60 for decode and gpx, 3 for bulk, 5 for read_file)")
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the generated export in (bulk)")
    args = parser.parse_intermixed_args()
    if args.mode == "decode":
        compare_decode(args.rev, args.rounds or 60, args.files or LARGE_FILES)
    elif args.mode == "gpx":
        compare_gpx(args.rev, args.rounds or 60)
    elif args.mode == "read_file":
        compare_read_file(args.rev, args.rounds or 5)
    else:
        compare_bulk(args.rev, args.rounds or 3, args.keep)


if __name__ == "__main__":
    main()
