"""The Sink seam: where the tables land, and where every command reads them back from.

Every stage talks to the output through this interface, never through file names or the
samples' partition layout, so kinds of output plug in behind it: `parquet_folder.ParquetFolder`
(the default), `delta_tables.DeltaTables` and `object_store.ObjectStoreDeltaTables` (Delta tables
on object storage).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Callable, Protocol

import polars as pl


class LockHeld(RuntimeError):
    """Another fitpipe run is writing to this output."""


class SinkError(ValueError):
    """The output cannot be opened or read as asked; the message is one line naming it."""


class Sink(Protocol):
    """The output of a run: tables (activities, laps, manifest, weekly, daily_load, crosstrain),
    samples, the settings they were built with, and the HTML report.

    What a second implementation must guarantee, as the parquet folder does:

    - **Atomicity.** A table is replaced whole: a reader, at any moment, sees the old version
      or the new one, never part of either. A run killed at any point leaves every table readable.
    - **Ordering.** Samples written by `write_samples` become durable with `sync_samples`,
      which ingest calls before any table that refers to them; the manifest is written last,
      so after a crash the next run redoes whatever the manifest does not list yet.
    - **Idempotence.** Writing the same activity's samples again (a batch retried after a
      worker died, a file read again) replaces them: one copy per activity, never two, never a
      mix. Writing a table with the same content changes nothing a reader can see.
    - **Exclusion.** `lock` admits one writing run at a time, across processes and machines
      that share the output; it is freed when the holder dies, however it dies.
    - **Picklable.** A sink travels to worker processes, which call `write_samples`.
    """

    def describe(self) -> str:
        """Where the output is, for messages (a folder path, a URL)."""

    def exists(self) -> bool:
        """Whether there is any output here at all."""

    def lock(self, wait: bool = False) -> AbstractContextManager[None]:
        """Hold the exclusive write lock; raises LockHeld when another run holds it and `wait`
        is False. Leftovers of a dead run (temporary files) are removed on taking it."""

    def has_table(self, name: str) -> bool: ...

    def read_table(self, name: str) -> pl.DataFrame:
        """The table as stored; activities, laps and manifest conformed to their schema, and
        empty with that schema when they do not exist yet."""

    def write_table(self, name: str, table: pl.DataFrame) -> None:
        """Replace the table, atomically."""

    def write_samples(self, samples: pl.DataFrame) -> dict[str, str]:
        """Store these samples (schema.SAMPLES plus the partition columns sport and year), in
        time order within each activity, replacing each activity's earlier samples; returns a
        handle per activity for `delete_samples`' `keep`. Called in worker processes."""

    def sync_samples(self) -> None:
        """Make every sample written so far durable, before tables that refer to them."""

    def discard_unfinished_samples(self) -> None:
        """Remove what a killed worker left half-written. Called by the lock holder once every
        worker of its run is done, so nothing is being written."""

    def delete_samples(self, activity_ids: set[str], keep: set[str] = frozenset(),
                       athlete_ids: set[str] | None = None) -> None:
        """Remove these activities' samples, except those stored under the handles in `keep`.
        `athlete_ids`, when given, are the athletes whose activities these are: a sink may then
        look through those athletes' samples only, not the whole team's."""

    def read_samples(self, columns: list[str] | None = None, sport: str | None = None,
                     activity_ids: list[str] | None = None, athlete_id: str | None = None) -> pl.DataFrame:
        """Stored samples with the partition columns, all or those of one athlete, one sport or
        some activities, in time order within each activity. Only what is asked for is opened:
        the samples of a team are too many to read whole."""

    def sample_reader(self, activities: pl.DataFrame, columns: list[str]) -> Callable[[str], pl.DataFrame | None]:
        """A function giving one activity's samples (these columns), or None, for the activities
        of this table (athlete_id, activity_id, sport, start_time_local)."""

    def queryable(self, as_of: str | None = None) -> dict[str, object]:
        """Each table the sink holds, by name, as a DuckDB expression to select from, or an
        Arrow dataset DuckDB scans (for `fitpipe query`): samples included, tables not written
        yet left out. `as_of`: the tables as a completed run left them (see record_run);
        SinkError when the sink keeps no versions or knows no such run."""

    def record_run(self, started: datetime) -> str | None:
        """Record a completed run, last: its id, start and end, and the version of every table,
        so that a reader can read all tables as of one run. Returns the run's id; None when the
        sink keeps no versions, or no table changed since the last record."""

    def compact(self, retention_hours: int) -> dict[str, int] | None:
        """Merge small sample files and drop files that no version younger than the retention
        needs, never breaking a reader of the latest version; None when the sink keeps nothing
        to compact. Returns files_before, files_after and partitions_rewritten."""

    def read_settings(self) -> str | None:
        """The settings text stored with the tables, or None."""

    def write_settings(self, text: str) -> None:
        """Store the settings text, atomically."""

    def write_report(self, html: str, name: str = "index.html") -> str:
        """Store a page of the HTML report, atomically: `name` is its path within the report
        (index.html, athletes/ana.html), so pages link to each other by relative paths.
        Returns where it is."""
