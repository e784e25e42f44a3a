"""Output folders written before fitpipe knew athletes, upgraded in place.

Such a folder has tables without `athlete_id` and samples at samples/sport=…/year=…/. Every
row in it is the athlete `default`'s, whose activity ids did not change, so the upgrade only
adds the column and moves the sample files under samples/athlete_id=default/. It runs when a
run takes the folder's lock, before anything else.

Readers never see half an upgrade of any one file: a sample file is renamed into its new
folder (one rename, so it is never in both places or in neither), then replaced by a copy with
`athlete_id` inside; each table is replaced whole. A run killed part way leaves the marker
file, and the next run takes up where it stopped.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import polars as pl

from ..normalize.schema import DEFAULT_ATHLETE

log = logging.getLogger(__name__)
MARKER = ".fitpipe-upgrading"
SAMPLES_DIR = "samples"
OLD_SAMPLE_GLOB = "sport=*/year=*/*.parquet"
OLD_TEMPORARIES_GLOB = "sport=*/year=*/.tmp-*"


def upgrade(out: Path, write_atomic) -> str | None:
    """Bring the folder at `out` to the per-athlete layout; `write_atomic(frame, path)` replaces
    a parquet file whole. Returns what was done in one line, or None when nothing was to do.
    Call it holding the folder's lock."""
    marker = out / MARKER
    resuming = marker.exists()
    tables = [path for path in sorted(out.glob("*.parquet")) if not _has_athlete(path)]
    old_samples = sorted((out / SAMPLES_DIR).glob(OLD_SAMPLE_GLOB))
    if not (resuming or tables or old_samples):
        return None
    marker.touch()
    moved = [_move(path, out) for path in old_samples]
    default = out / SAMPLES_DIR / f"athlete_id={DEFAULT_ATHLETE}"
    for path in sorted(default.glob("*/*/*.parquet")) if resuming else moved:
        if not _has_athlete(path):
            write_atomic(_with_athlete(pl.read_parquet(path)), path)
    for path in tables:
        write_atomic(_with_athlete(pl.read_parquet(path)), path)
    _remove_old_folders(out / SAMPLES_DIR)
    os.sync()  # the new files are durable before the marker says the upgrade is done
    marker.unlink()
    done = (f"{out}: upgraded for athletes: {len(tables)} tables and {len(old_samples)} sample files "
            f"now belong to athlete '{DEFAULT_ATHLETE}'")
    log.warning("%s", done)
    return done


def _has_athlete(path: Path) -> bool:
    return "athlete_id" in pl.read_parquet_schema(path)


def _with_athlete(table: pl.DataFrame) -> pl.DataFrame:
    return table.select(pl.lit(DEFAULT_ATHLETE, pl.String).alias("athlete_id"), pl.all())


def _move(path: Path, out: Path) -> Path:
    """samples/sport=S/year=Y/ID.parquet to samples/athlete_id=default/sport=S/year=Y/ID.parquet."""
    target = out / SAMPLES_DIR / f"athlete_id={DEFAULT_ATHLETE}" / path.relative_to(out / SAMPLES_DIR)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    return target


def _remove_old_folders(samples: Path) -> None:
    for temporary in samples.glob(OLD_TEMPORARIES_GLOB):
        temporary.unlink(missing_ok=True)
    for year in samples.glob("sport=*/year=*"):
        _remove_if_empty(year)
    for sport in samples.glob("sport=*"):
        _remove_if_empty(sport)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty: something of the user's; leave it
        pass
