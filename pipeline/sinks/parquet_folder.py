"""The output folder: parquet tables written atomically, samples partitioned by athlete, sport and year.

`ParquetFolder` is the Sink (sinks/base.py) every stage uses; the functions below it are how it
does its work, and know the folder's layout:

    <out>/activities.parquet, laps.parquet, manifest.parquet, weekly.parquet, ...
    <out>/samples/athlete_id=<athlete>/sport=<sport>/year=<year>/<activity_id>.parquet
    <out>/fitpipe-settings.json, report/index.html, report/athletes/<athlete_id>.html, .fitpipe.lock
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import polars as pl

from ..normalize import schema
from . import folder_upgrade
from .base import LockHeld, SinkError

TABLES = {
    "activities": schema.ACTIVITIES,
    "laps": schema.LAPS,
    "manifest": schema.MANIFEST,
    **schema.PER_ACTIVITY,
}
SAMPLES_DIR = "samples"
# Tables `fitpipe query` shows as views, besides samples.
QUERYABLE = ("activities", "laps", "manifest", "weekly", "daily_load", "athletes", "crosstrain", "curves",
             "best_efforts", "time_at_hr", "bests", "thresholds")
TEMP_PREFIX = ".tmp-"
LOCK_NAME = ".fitpipe.lock"
SETTINGS_NAME = "fitpipe-settings.json"
REPORT_DIR = "report"
# Below samples/: athlete_id=…/sport=…/year=…/<activity_id>.parquet
SAMPLE_GLOB = "*/*/*/*.parquet"
# Who writes a temporary file (see temporary_name): workers on several machines share the folder.
WRITER = socket.gethostname().replace("/", "_")


class LocalFolder:
    """What every sink in a local folder (`out`) keeps as plain files beside its tables: the
    settings, the report, and where it says it is."""

    out: Path

    def describe(self) -> str:
        return str(self.out)

    def exists(self) -> bool:
        return self.out.is_dir()

    def read_settings(self) -> str | None:
        try:
            return (self.out / SETTINGS_NAME).read_text(encoding="utf-8")
        except OSError:
            return None

    def write_settings(self, text: str) -> None:
        write_text_atomic(text, self.out / SETTINGS_NAME)

    def write_report(self, html: str, name: str = "index.html") -> str:
        page = self.out / REPORT_DIR / name
        write_text_atomic(html, page)
        return str(page)


@dataclass(frozen=True)
class ParquetFolder(LocalFolder):
    """A folder of parquet files: the default Sink."""

    out: Path

    def __reduce__(self):
        # Workers may start in another folder, or on another machine that mounts the same
        # storage at the same path: they get the folder as this process resolves it.
        return (ParquetFolder, (self.out.absolute(),))

    def lock(self, wait: bool = False) -> AbstractContextManager[None]:
        return exclusive(self.out, wait)

    def has_table(self, name: str) -> bool:
        return table_path(self.out, name).exists()

    def read_table(self, name: str) -> pl.DataFrame:
        return read_table(self.out, name)

    def write_table(self, name: str, table: pl.DataFrame) -> None:
        write_atomic(table, table_path(self.out, name))

    def write_samples(self, samples: pl.DataFrame) -> dict[str, str]:
        # Handles relative to the folder: the same wherever the worker that wrote them ran.
        written = write_samples(self.out, samples)
        return {activity: str(path.relative_to(self.out)) for activity, path in written.items()}

    def sync_samples(self) -> None:
        flush_to_disk()

    def discard_unfinished_samples(self) -> None:
        remove_stale_temporaries(self.out, samples_only=True)

    def delete_samples(self, activity_ids: set[str], keep: set[str] = frozenset(),
                       athlete_ids: set[str] | None = None) -> None:
        delete_samples(self.out, activity_ids, {self.out / k for k in keep}, athlete_ids)

    def read_samples(self, columns: list[str] | None = None, sport: str | None = None,
                     activity_ids: list[str] | None = None, athlete_id: str | None = None) -> pl.DataFrame:
        return read_samples(self.out, columns, sport, activity_ids, athlete_id)

    def sample_reader(self, activities: pl.DataFrame, columns: list[str]) -> Callable[[str], pl.DataFrame | None]:
        return sample_reader(self.out, activities, columns)

    def queryable(self, as_of: str | None = None) -> dict[str, str]:
        if as_of is not None:
            raise SinkError(f"{self.out}: --as-of needs Delta tables (fitpipe run --format delta); "
                            f"a parquet folder keeps no versions")
        found = {name: f"read_parquet({_sql_text(table_path(self.out, name))})" for name in QUERYABLE
                 if table_path(self.out, name).exists()}
        if next((self.out / SAMPLES_DIR).glob(SAMPLE_GLOB), None) is not None:
            files = _sql_text(self.out / SAMPLES_DIR / SAMPLE_GLOB)
            found["samples"] = f"read_parquet({files}, hive_partitioning = true)"
        return found

    def record_run(self, started: datetime) -> None:
        """Nothing to record: a parquet folder keeps no table versions."""
        return None

    def compact(self, retention_hours: int) -> None:
        """Nothing to do: one file per activity is the layout, and replaced files are gone."""
        return None


@contextmanager
def exclusive(out: Path, wait: bool = False) -> Iterator[None]:
    """Hold the output folder's lock; the kernel frees it if the process dies. A folder written
    before fitpipe knew athletes is upgraded first (folder_upgrade)."""
    with file_lock(out, wait):
        remove_stale_temporaries(out)
        folder_upgrade.upgrade(out, write_atomic)
        yield


@contextmanager
def file_lock(out: Path, wait: bool = False) -> Iterator[None]:
    """An flock on the folder's lock file: one writing run at a time, freed by the kernel
    when its holder dies, however it dies."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK_NAME, "a") as handle:  # "a": taking the lock writes nothing
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(f"{out}: another fitpipe run is writing here; try again later or use --wait") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_temporaries(out: Path, samples_only: bool = False) -> None:
    """Temp files of a run, or a worker, that was killed mid-write; only the lock holder may
    call this, while no worker of its own is writing.

    Only where fitpipe writes, so a user's own `.tmp-*` files elsewhere under --out are safe."""
    ours = [] if samples_only else [out, out / REPORT_DIR, out / REPORT_DIR / "athletes"]
    stale = [p for folder in ours for p in folder.glob(f"{TEMP_PREFIX}*")]
    stale += (out / SAMPLES_DIR).glob(f"*/*/*/{TEMP_PREFIX}*")
    for path in stale:
        path.unlink(missing_ok=True)


def _sql_text(path: Path) -> str:
    """A path as a SQL string literal."""
    return "'" + str(path.absolute()).replace("'", "''") + "'"


def table_path(out: Path, name: str) -> Path:
    return out / f"{name}.parquet"


def sample_path(out: Path, athlete: str, sport: str, year: int, activity: str) -> Path:
    return out / SAMPLES_DIR / f"athlete_id={athlete}" / f"sport={sport}" / f"year={year}" / f"{activity}.parquet"


def write_atomic(df: pl.DataFrame, path: Path) -> None:
    """Readers see the old file or the new one, never half of one."""
    with replacing(path) as temp:
        # zstd level 1: as small as the default level here, and a third faster to write.
        df.write_parquet(temp, statistics=True, compression="zstd", compression_level=1)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary name to write `path`'s new content to; once written, it is fsynced and
    renamed over `path`, so readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temporary_name(path)
    try:
        yield temp
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_text_atomic(text: str, path: Path) -> None:
    """write_atomic for text: readers see the old file or the new one, never half."""
    with replacing(path) as temp:
        temp.write_text(text, encoding="utf-8")


def temporary_name(path: Path) -> Path:
    # Hidden and not ending in .parquet, so `**/*.parquet` globs never see a half-written file;
    # remove_stale_temporaries finds a dead run's by the prefix. Host, process and thread make
    # it unique when a batch is retried while a presumed-dead worker elsewhere still writes.
    return path.with_name(f"{TEMP_PREFIX}{path.name}.{WRITER}.{os.getpid()}.{threading.get_native_id()}")


def read_table(out: Path, name: str) -> pl.DataFrame:
    """A table as stored; the ones in TABLES conformed to their schema, and empty with it when
    missing. Another missing table is a FileNotFoundError."""
    path = table_path(out, name)
    known = TABLES.get(name)
    if not path.exists():
        if known is None:
            raise FileNotFoundError(f"{path}: no such table")
        return pl.DataFrame(schema=known)
    table = pl.read_parquet(path)
    if "athlete_id" not in table.columns:  # not upgraded yet (folder_upgrade): all the default athlete's
        table = table.select(pl.lit(schema.DEFAULT_ATHLETE, pl.String).alias("athlete_id"), pl.all())
    return table if known is None else schema.conform(table, known)


def write_samples(out: Path, samples: pl.DataFrame) -> dict[str, Path]:
    """One file per activity, so adding or replacing one never rewrites the others.
    Returns each activity's file.

    All of a batch's files are written in one streaming pass, each to a temporary name in
    its own folder, then renamed: a write_parquet per file cost twice as much. Samples must
    be in time order within each activity, as normalize.prepare leaves them. Not fsynced:
    see flush_to_disk."""
    if samples.is_empty():
        return {}
    activities = samples.select("activity_id", "athlete_id", "sport", "year").unique(maintain_order=True)
    final = {a: sample_path(out, athlete, sport, year, a) for a, athlete, sport, year in activities.iter_rows()}
    temporary = {a: temporary_name(path) for a, path in final.items()}
    for folder in {path.parent for path in final.values()}:
        folder.mkdir(parents=True, exist_ok=True)

    def file_for(partition) -> str:
        # Relative to `out`: polars joins what this returns onto the base path.
        return str(temporary[partition.partition_keys["file"][0]].relative_to(out))

    try:
        samples.lazy().select(schema.conformed(samples.columns, schema.SAMPLES)).sink_parquet(
            pl.PartitionBy(out, key={"file": pl.col("activity_id")}, include_key=False, file_path_provider=file_for),
            compression="zstd", compression_level=1, statistics=True,
        )
        for activity, path in final.items():
            os.replace(temporary[activity], path)
    finally:
        for path in temporary.values():
            path.unlink(missing_ok=True)
    return final


def flush_to_disk() -> None:
    """Make every file written so far durable, before the tables that refer to them.

    One sync for a whole import instead of an fsync per sample file, which cost a
    millisecond or more each. A power cut before it can only lose sample files that no
    committed manifest refers to yet, so the next run rewrites them."""
    os.sync()


def sample_files(out: Path, athlete_ids: set[str] | None = None) -> list[Path]:
    """Every sample file, or only those of some athletes (their folders alone are listed)."""
    root = out / SAMPLES_DIR
    if athlete_ids is None:
        return sorted(root.glob(SAMPLE_GLOB))
    return sorted(p for a in athlete_ids for p in root.glob(f"athlete_id={a}/*/*/*.parquet"))


def delete_samples(out: Path, activity_ids: set[str], keep: set[Path] = frozenset(),
                   athlete_ids: set[str] | None = None) -> None:
    """Remove these activities' sample files, except the ones just written (`keep`); with
    `athlete_ids`, only those athletes' folders are looked through."""
    if not activity_ids:
        return
    for path in sample_files(out, athlete_ids):
        if path.stem in activity_ids and path not in keep:
            path.unlink()


def sample_reader(out: Path, activities: pl.DataFrame, columns) -> Callable[[str], pl.DataFrame | None]:
    """A function giving one activity's samples (these columns) from its file, or None."""
    paths = {
        activity: sample_path(out, athlete, sport, year, activity)
        for activity, athlete, sport, year in activities.select(
            "activity_id", "athlete_id", "sport", pl.col("start_time_local").dt.year()).iter_rows()
        if year is not None
    }

    def read(activity: str) -> pl.DataFrame | None:
        path = paths.get(activity)
        return pl.read_parquet(path, columns=list(columns)) if path is not None and path.exists() else None

    return read


def read_samples(out: Path, columns: list[str] | None = None, sport: str | None = None,
                 activity_ids: list[str] | None = None, athlete_id: str | None = None) -> pl.DataFrame:
    """Samples with their partition columns; only one athlete's or one sport's folders are
    opened when `athlete_id` or `sport` is given, and only the files of `activity_ids` when they are."""
    root = out / SAMPLES_DIR
    files = sorted(root.glob(f"athlete_id={athlete_id or '*'}/sport={sport or '*'}/*/*.parquet"))
    if activity_ids is not None:
        wanted = set(activity_ids)
        files = [f for f in files if f.stem in wanted]
    every = {**schema.SAMPLES, **schema.SAMPLE_PARTITIONS}
    shape = {c: every[c] for c in (columns or every)}
    if not files:
        return pl.DataFrame(schema=shape)
    frame = pl.read_parquet([str(p) for p in files], hive_partitioning=True, hive_schema=schema.SAMPLE_PARTITIONS,
                            missing_columns="insert")
    return schema.conform(frame, shape)
