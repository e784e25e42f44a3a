"""Bulk import of a Garmin Connect export: 2,000 one-hour rides at 1 Hz in nested zips.

    .venv/bin/python benchmarks/bulk.py [--files 2000] [--subset 40] [--workers 2] [--keep DIR]

Writes a Garmin-style export (DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip
inside the export zip) of synthetic rides (benchmarks/fitsynth.py), then times `fitpipe run` on it
end to end, as a user would run it (new process, startup, parsing, writing every table). The same
run with `--fit-engine fitparse` on a `--subset` export of the first files gives the ratio,
measured side by side in this run. Target: at least 100 files/s with 2 workers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from fitsynth import rides

FITPIPE = Path(sys.executable).with_name("fitpipe")
FIRST = datetime(2019, 3, 1, 6, 0, tzinfo=timezone.utc)
INNER = "DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip"


def garmin_export(path: Path, files: list[tuple[str, bytes]]) -> None:
    inner = path.with_suffix(".inner.zip")
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in files:
            archive.writestr(name, data)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("DI_CONNECT/DI-Connect-User/user_profile.json", "{}")
        archive.write(inner, INNER)
    inner.unlink()


def export_of(files: int, folder: Path) -> Path:
    """The Garmin export of `files` rides in `folder`, generated unless it is there already."""
    folder.mkdir(parents=True, exist_ok=True)
    export = folder / f"garmin-export-{files}.zip"
    if not export.exists():
        garmin_export(export, rides(files, FIRST))
    return export


def timed_run(export: Path, out: Path, workers: int, engine: str) -> tuple[float, dict]:
    started = time.perf_counter()
    result = subprocess.run(
        [FITPIPE, "run", export, "--out", out, "--json", "--quiet", "--workers", str(workers), "--fit-engine", engine],
        check=True, capture_output=True, text=True,
    )
    return time.perf_counter() - started, json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--subset", type=int, default=40, help="files for the fitparse comparison")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the generated exports in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        export, subset = folder / f"garmin-export-{args.files}.zip", folder / f"garmin-export-{args.subset}.zip"
        if not export.exists() or not subset.exists():
            files = rides(args.files, FIRST)
            garmin_export(export, files)
            garmin_export(subset, files[: args.subset])
        megabytes = {
            path: sum(i.file_size for i in zipfile.ZipFile(zipfile.ZipFile(path).open(INNER)).infolist()) / 1e6
            for path in (export, subset)
        }
        rows = []
        for path, engine in ((export, "numpy"), (subset, "numpy"), (subset, "fitparse")):
            seconds, report = timed_run(path, Path(scratch) / f"out-{path.stem}-{engine}", args.workers, engine)
            assert report["imported"] == report["files"] and report["rejected"] == 0, report
            rows.append((path.name, engine, report["files"], megabytes[path], seconds))
    print(f"{'export':<28}{'engine':>9}{'files':>7}{'MB':>8}{'seconds':>9}{'files/s':>9}{'MB/s':>7}{'vs fitparse':>13}")
    fitparse_rate = rows[2][2] / rows[2][4]
    for name, engine, files, mb, seconds in rows:
        print(f"{name:<28}{engine:>9}{files:>7}{mb:>8.1f}{seconds:>9.2f}{files / seconds:>9.1f}{mb / seconds:>7.1f}"
              f"{files / seconds / fitparse_rate:>12.1f}x")
    print(f"target: at least 100 files/s end to end with {args.workers} workers")


if __name__ == "__main__":
    main()
