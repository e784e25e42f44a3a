"""The Delta Lake sink (`--format delta`): every table a Delta table under the output folder.

    <out>/activities/_delta_log/…, laps/, manifest/, weekly/, daily_load/, athletes/, crosstrain/
    <out>/samples/  partitioned athlete_id=…/sport=…/year=…, as the parquet folder's files are
    <out>/runs/     one row per completed run: its id, times and the version of every table
    <out>/fitpipe-settings.json, report/, .fitpipe.lock

Written with delta-rs (the `deltalake` package), read with polars, and by `fitpipe query` through
the table's pyarrow dataset, so no DuckDB extension has to be downloaded. A table is replaced by
one commit, so a reader sees the version before or the version after, never a mix.

Samples are appended by the workers, each write with its own `write_id`; the driver then deletes
the rows of re-imported activities that other writes left (a file read again, a batch retried
after its worker died after committing), the same job the parquet folder's file names do.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import polars as pl
from deltalake import DeltaTable

from ..normalize import schema
from .base import SinkError
from .parquet_folder import QUERYABLE, SAMPLES_DIR, TABLES, LocalFolder, file_lock

SAMPLE_PARTITIONS = ["athlete_id", "sport", "year"]
# The tables a run commits, whose versions `runs` records; `runs` itself is appended last.
VERSIONED = [*QUERYABLE, SAMPLES_DIR]
RUNS = "runs"
RUNS_SCHEMA = {"run_id": pl.String, "started_utc": pl.Datetime("us", "UTC"), "finished_utc": pl.Datetime("us", "UTC"),
               **{f"{name}_version": pl.Int64 for name in VERSIONED}}
# Tables merged on their keys (see write_table), with the order their writers sort them in.
KEYED = {"activities": (["activity_id"], ["start_time_utc", "activity_id"]),
         "laps": (["activity_id", "lap_index"], ["activity_id", "lap_index"]),
         "manifest": (["athlete_id", "path"], ["athlete_id", "path"]),
         **{name: (keys, keys) for name, keys in schema.PER_ACTIVITY_KEYS.items()}}
# Every table keeps a change data feed, so downstream loads can take only what changed (docs/bi.md).
CHANGE_FEED = {"delta.enableChangeDataFeed": "true"}
DELETE = "fitpipe_delete"
# Which write of an activity's samples a row belongs to; see the module's docstring.
WRITE_ID = "write_id"
# Delta has no unsigned integers: counts are stored signed and read back as polars wrote them.
SIGNED_FOR = {"UInt8": pl.Int16, "UInt16": pl.Int32, "UInt32": pl.Int64, "UInt64": pl.Int64}
UNSIGNED_NAMED = {"UInt8": pl.UInt8, "UInt16": pl.UInt16, "UInt32": pl.UInt32, "UInt64": pl.UInt64}


@dataclass(frozen=True)
class DeltaTables(LocalFolder):
    """A folder of Delta tables: the Sink (sinks/base.py) of `--format delta`."""

    out: Path

    def __reduce__(self):
        return (DeltaTables, (self.out.absolute(),))  # as ParquetFolder: workers write where the driver means

    def lock(self, wait: bool = False) -> AbstractContextManager[None]:
        return file_lock(self.out, wait)

    def has_table(self, name: str) -> bool:
        return DeltaTable.is_deltatable(self._uri(name), storage_options=self._options)

    def read_table(self, name: str) -> pl.DataFrame:
        known = TABLES.get(name)
        if not self.has_table(name):
            if known is None:
                raise FileNotFoundError(f"{self._uri(name)}: no such table")
            return pl.DataFrame(schema=known)
        table = self._restored(name, pl.read_delta(self._table(name)))
        if name in KEYED:  # merged, so stored in no particular order: the order its writers use
            table = table.sort(KEYED[name][1])
        return table if known is None else schema.conform(table, known)

    def write_table(self, name: str, table: pl.DataFrame) -> None:
        """Activities, laps and the manifest: one merge commit of the rows that are new,
        changed or gone, so a table's change data feed holds exactly those. The others: one
        overwrite commit. None when the table already holds exactly this."""
        current = self.read_table(name) if self.has_table(name) else None
        if name in KEYED and current is not None and current.schema == table.schema:
            self._merge(name, current, table)  # commits nothing when nothing changed
            return
        if current is not None and current.equals(table):
            return
        unsigned = {c: str(d) for c, d in table.schema.items() if str(d) in SIGNED_FOR}
        # The table's description keeps which columns polars wrote unsigned, to read them back so.
        description = "\n".join(f"{c}={d}" for c, d in unsigned.items()) or None
        _signed(table).write_delta(self._uri(name), mode="overwrite", storage_options=self._options, delta_write_options={
            "schema_mode": "overwrite", "description": description, "configuration": CHANGE_FEED})

    def _merge(self, name: str, current: pl.DataFrame, table: pl.DataFrame) -> None:
        keys = KEYED[name][0]
        hashed = [frame.select(*keys, pl.Series("row_hash", frame.hash_rows(seed=0))) for frame in (current, table)]
        changed = table.filter(_new_or_changed(hashed[0], hashed[1], keys))
        gone = current.select(keys).join(table.select(keys), on=keys, how="anti", nulls_equal=True)
        if changed.is_empty() and gone.is_empty():
            return
        source = pl.concat([_signed(changed).with_columns(pl.lit(False).alias(DELETE)),
                            gone.with_columns(pl.lit(True).alias(DELETE))], how="diagonal_relaxed")
        values = {c: f"s.`{c}`" for c in table.columns}
        (self._table(name)
         .merge(source, " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys), source_alias="s", target_alias="t")
         .when_matched_delete(predicate=f"s.{DELETE}")
         .when_matched_update(values, predicate=f"NOT s.{DELETE}")
         .when_not_matched_insert(values, predicate=f"NOT s.{DELETE}")
         .execute())

    def write_samples(self, samples: pl.DataFrame) -> dict[str, str]:
        if samples.is_empty():
            return {}
        write_id = uuid.uuid4().hex
        columns = schema.conformed(samples.columns, schema.SAMPLES)
        # Sorted by activity, each still in time order (a stable sort): compact's order already.
        rows = (samples.select(*columns, "sport", "year").with_columns(pl.lit(write_id).alias(WRITE_ID))
                .sort("athlete_id", "activity_id", maintain_order=True))
        rows.write_delta(self._uri(SAMPLES_DIR), mode="append", storage_options=self._options,
                         delta_write_options={"partition_by": SAMPLE_PARTITIONS})
        return {activity: write_id for activity in samples["activity_id"].unique()}

    def sync_samples(self) -> None:
        """Nothing to do: an append is durable once committed."""

    def discard_unfinished_samples(self) -> None:
        """Nothing to do: files of an append that never committed are invisible to readers."""

    def delete_samples(self, activity_ids: set[str], keep: set[str] = frozenset(),
                       athlete_ids: set[str] | None = None) -> None:
        if not activity_ids or not self.has_table(SAMPLES_DIR):
            return
        predicate = f"activity_id IN ({_sql_list(activity_ids)})"
        if athlete_ids:
            predicate = f"athlete_id IN ({_sql_list(athlete_ids)}) AND {predicate}"
        if keep:
            predicate += f" AND {WRITE_ID} NOT IN ({_sql_list(keep)})"
        self._table(SAMPLES_DIR).delete(predicate)  # deleting nothing commits nothing

    def read_samples(self, columns: list[str] | None = None, sport: str | None = None,
                     activity_ids: list[str] | None = None, athlete_id: str | None = None) -> pl.DataFrame:
        every = {**schema.SAMPLES, **schema.SAMPLE_PARTITIONS}
        shape = {c: every[c] for c in (columns or every)}
        if not self.has_table(SAMPLES_DIR):
            return pl.DataFrame(schema=shape)
        scan = pl.scan_delta(self._table(SAMPLES_DIR))
        for column, value in (("athlete_id", athlete_id), ("sport", sport)):
            if value is not None:
                scan = scan.filter(pl.col(column) == value)
        if activity_ids is not None:
            scan = scan.filter(pl.col("activity_id").is_in(list(activity_ids)))
        # The parquet folder's order: by partition, then activity, each in time order.
        frame = scan.sort("athlete_id", "sport", "year", "activity_id", "timestamp_utc", maintain_order=True)
        frame = frame.collect()
        return schema.conform(frame, shape)

    def sample_reader(self, activities: pl.DataFrame, columns: list[str]) -> Callable[[str], pl.DataFrame | None]:
        if not self.has_table(SAMPLES_DIR):
            return lambda activity: None
        table = self._table(SAMPLES_DIR)
        where = {a: (athlete, sport, year) for a, athlete, sport, year in activities.select(
            "activity_id", "athlete_id", "sport", pl.col("start_time_local").dt.year()).iter_rows()}

        def read(activity: str) -> pl.DataFrame | None:
            if activity not in where:
                return None
            athlete, sport, year = where[activity]
            frame = (pl.scan_delta(table).filter(pl.col("athlete_id") == athlete, pl.col("sport") == sport,
                                                  pl.col("year") == year, pl.col("activity_id") == activity)
                     .sort("timestamp_utc", maintain_order=True).select(list(columns)).collect())
            return None if frame.is_empty() else frame

        return read

    def queryable(self, as_of: str | None = None) -> dict[str, object]:
        """Each table's pyarrow dataset: DuckDB scans it with no extension to download. With
        `as_of`, each at the version that run left it (tables it did not know are left out)."""
        versions = self._versions_of(as_of) if as_of is not None else {}
        names = [n for n in VERSIONED if self.has_table(n) and (as_of is None or versions.get(n) is not None)]
        found = {n: self._table(n, version=versions.get(n)).to_pyarrow_dataset() for n in names}
        if self.has_table(RUNS):
            found[RUNS] = self._table(RUNS).to_pyarrow_dataset()
        return found

    def record_run(self, started: datetime) -> str | None:
        versions = {n: self._table(n).version() for n in VERSIONED if self.has_table(n)}
        runs = self.read_table(RUNS) if self.has_table(RUNS) else None
        if runs is not None and not runs.is_empty():
            last = runs.sort("finished_utc").row(-1, named=True)
            if all(last.get(f"{n}_version") == versions.get(n) for n in VERSIONED):
                return None  # nothing committed since: no new run to tell readers about
        finished = datetime.now(timezone.utc)
        run_id = f"{finished:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        row = {"run_id": run_id, "started_utc": started, "finished_utc": finished,
               **{f"{n}_version": versions.get(n) for n in VERSIONED}}
        # schema_mode merge: a runs table from before a table was added gains its version column.
        pl.DataFrame([row], schema=RUNS_SCHEMA).write_delta(self._uri(RUNS), mode="append", storage_options=self._options,
                                                            delta_write_options={"schema_mode": "merge"})
        return run_id

    def _versions_of(self, run_id: str) -> dict[str, int | None]:
        runs = self.read_table(RUNS) if self.has_table(RUNS) else pl.DataFrame(schema=RUNS_SCHEMA)
        found = runs.filter(pl.col("run_id") == run_id)
        if found.is_empty():
            raise SinkError(f"{self.out}: no completed run {run_id}; "
                            f"`fitpipe query --out {self.out} \"SELECT run_id FROM runs\"` lists them")
        row = found.row(0, named=True)
        return {n: row[f"{n}_version"] for n in VERSIONED}

    def compact(self, retention_hours: int) -> dict[str, int]:
        """Rewrite each samples partition held in several files as one, sorted by athlete,
        activity and time (one commit per partition: a reader of the latest version sees the
        partition before or after); then vacuum every table's files that no version younger
        than `retention_hours` uses. Returns the data files on disk before and after, and the
        partitions rewritten."""
        before = self._files_on_disk()
        rewritten = 0
        if self.has_table(SAMPLES_DIR):
            table = self._table(SAMPLES_DIR)
            for partition in _partitions_in_several_files(table):
                _rewrite_sorted(table, partition)
                rewritten += 1
        for name in [*VERSIONED, RUNS]:
            if self.has_table(name):
                self._table(name).vacuum(retention_hours, dry_run=False,
                                                        enforce_retention_duration=False)
        return {"files_before": before, "files_after": self._files_on_disk(), "partitions_rewritten": rewritten}

    def _files_on_disk(self) -> int:
        return sum(1 for _ in self.out.glob("*/**/*.parquet"))

    def _uri(self, name: str) -> str:
        """Where table `name` is, as delta-rs takes it."""
        return str(self.out / name)

    @property
    def _options(self) -> dict[str, str] | None:
        """delta-rs's storage options: none on local disk."""
        return None

    def _table(self, name: str, version: int | None = None) -> DeltaTable:
        return DeltaTable(self._uri(name), version=version, storage_options=self._options)

    def _restored(self, name: str, table: pl.DataFrame) -> pl.DataFrame:
        """The dtypes polars wrote (unsigned counts), as the table's description records them."""
        description = self._table(name).metadata().description or ""
        wanted = dict(line.split("=", 1) for line in description.splitlines() if "=" in line)
        return table.with_columns(pl.col(c).cast(UNSIGNED_NAMED[d]) for c, d in wanted.items()
                                  if c in table.columns and d in UNSIGNED_NAMED)


def _signed(table: pl.DataFrame) -> pl.DataFrame:
    return table.with_columns(pl.col(c).cast(SIGNED_FOR[str(d)]) for c, d in table.schema.items() if str(d) in SIGNED_FOR)


def _new_or_changed(old: pl.DataFrame, new: pl.DataFrame, keys: list[str]) -> pl.Series:
    """For each row of `new` (keys and row_hash), whether `old` lacks it as it is."""
    seen = old.with_columns(pl.lit(True).alias("seen"))
    matched = new.join(seen, on=[*keys, "row_hash"], how="left", nulls_equal=True, maintain_order="left")
    return matched["seen"].is_null()


def _sql_list(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in sorted(values))


def _partitions_in_several_files(table: DeltaTable) -> list[dict[str, str]]:
    files = pl.DataFrame(table.get_add_actions(flatten=True)).to_dict(as_series=False)
    keys = [f"partition.{k}" for k in SAMPLE_PARTITIONS]
    counts: dict[tuple, int] = {}
    for values in zip(*(files[k] for k in keys)):
        counts[values] = counts.get(values, 0) + 1
    return [dict(zip(SAMPLE_PARTITIONS, map(str, values))) for values, n in sorted(counts.items()) if n > 1]


def _rewrite_sorted(table: DeltaTable, partition: dict[str, str]) -> None:
    """One partition's rows as one file, sorted by athlete and activity, each activity in time
    order, replacing the partition's files in one commit."""
    where = [pl.col("athlete_id") == partition["athlete_id"], pl.col("sport") == partition["sport"],
             pl.col("year") == int(partition["year"])]
    # Stable: an activity's rows are one write's, in time order, repeated timestamps included.
    rows = pl.scan_delta(table).filter(*where).sort("athlete_id", "activity_id", maintain_order=True).collect()
    predicate = " AND ".join([f"athlete_id = {_sql_list([partition['athlete_id']])}",
                              f"sport = {_sql_list([partition['sport']])}", f"year = {int(partition['year'])}"])
    rows.write_delta(table, mode="overwrite", delta_write_options={"predicate": predicate,
                                                                   "partition_by": SAMPLE_PARTITIONS})
