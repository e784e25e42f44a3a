"""Delta tables on object storage (`--out s3://bucket/prefix --format delta`): the Delta sink,
with the tables, settings and report as objects under the prefix, written through delta-rs's
own object store, and a lock made of a conditional create (object_lock).

    s3://bucket/prefix/activities/_delta_log/…, samples/, runs/, … as on local disk
    s3://bucket/prefix/fitpipe-settings.json, report/…, .fitpipe.lock

An object store has no rename, so nothing here relies on one: each Delta commit is a
conditional create of the next log entry (delta-rs), a settings or report page a single PUT,
which the store makes visible whole or not at all. Before every commit the run checks that it
still holds its lease (object_lock.Lease.check), so a run that stalled and was taken over stops.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Iterator

import polars as pl

from ..discover import remote
from .base import SinkError
from .delta_tables import DeltaTables
from .object_lock import Lease, object_lock
from .parquet_folder import LOCK_NAME, REPORT_DIR, SETTINGS_NAME

# The lease of the run holding each output's lock, in this process (the driver's).
_leases: dict[str, Lease] = {}


@dataclass(frozen=True)
class ObjectStoreDeltaTables(DeltaTables):
    """Delta tables under an object-store URL: the Sink of `--out s3://… --format delta`."""

    out: str  # s3://bucket/prefix, no trailing slash

    def __reduce__(self):
        return (ObjectStoreDeltaTables, (self.out,))

    def describe(self) -> str:
        return self.out

    def exists(self) -> bool:
        try:
            remote.require(self.out)
        except FileNotFoundError:
            return False
        return True

    def lock(self, wait: bool = False) -> AbstractContextManager[None]:
        return self._held(wait)

    @contextmanager
    def _held(self, wait: bool) -> Iterator[None]:
        store, key = self._store_and_key(LOCK_NAME)
        with object_lock(store, key, self.out, wait) as lease:
            _leases[self.out] = lease
            try:
                yield
            finally:
                _leases.pop(self.out, None)

    def _uri(self, name: str) -> str:
        return f"{self.out}/{name}"

    # The reads every command starts with: a store that fails there is one line (RemoteError),
    # whichever command it is, as the CLI's main reports it.
    def has_table(self, name: str) -> bool:
        return self._translated(super().has_table, name)

    def read_table(self, name: str) -> pl.DataFrame:
        return self._translated(super().read_table, name)

    def queryable(self, as_of: str | None = None) -> dict[str, object]:
        return self._translated(super().queryable, as_of)

    def _translated(self, read, *args):
        try:
            return read(*args)
        except Exception as exc:
            failure = store_failure(self.out, exc)
            if failure is None:
                raise
            raise failure from None

    @property
    def _options(self) -> dict[str, str] | None:
        """S3 commits by conditional create (`If-None-Match`), which real S3 and most
        S3-compatible servers have; AWS_S3_LOCKING_PROVIDER (a DynamoDB lock) or
        AWS_CONDITIONAL_PUT in the environment choose otherwise. Credentials from the AWS
        config files are passed on: delta-rs reads only the environment's."""
        if not self.out.lower().startswith("s3://"):
            return None
        chosen = {"AWS_S3_LOCKING_PROVIDER", "AWS_CONDITIONAL_PUT"} & set(os.environ)
        return {**({} if chosen else {"conditional_put": "etag"}), **remote.aws_profile_options()} or None

    # Every commit of the run goes through these: none once the lease may be lost.
    def write_table(self, name: str, table: pl.DataFrame) -> None:
        self._still_holding()
        super().write_table(name, table)

    def delete_samples(self, activity_ids: set[str], keep: set[str] = frozenset(),
                       athlete_ids: set[str] | None = None) -> None:
        self._still_holding()
        super().delete_samples(activity_ids, keep, athlete_ids)

    def record_run(self, started):
        self._still_holding()
        return super().record_run(started)

    def _still_holding(self) -> None:
        lease = _leases.get(self.out)
        if lease is not None:  # workers append samples without it: the driver's deletes settle them
            lease.check()

    def read_settings(self) -> str | None:
        try:
            return remote.fetch(self._uri(SETTINGS_NAME)).decode("utf-8")
        except FileNotFoundError:
            return None

    def write_settings(self, text: str) -> None:
        self._still_holding()
        self._put(SETTINGS_NAME, text.encode("utf-8"))

    def write_report(self, html: str, name: str = "index.html") -> str:
        self._put(f"{REPORT_DIR}/{name}", html.encode("utf-8"))
        return self._uri(f"{REPORT_DIR}/{name}")

    def _put(self, name: str, data: bytes) -> None:
        """One PUT: the store shows the whole object or the one before, never part."""
        import obstore

        store, key = self._store_and_key(name)
        try:
            obstore.put(store, key, data)
        except Exception as exc:
            raise remote.failure(self._uri(name), exc) from None

    def _files_on_disk(self) -> int:
        import obstore

        bucket, prefix = remote.split(self.out)
        return sum(1 for batch in obstore.list(remote.store_for(bucket), prefix=f"{prefix}/") for meta in batch
                   if meta["path"].endswith(".parquet"))

    def _store_and_key(self, name: str):
        bucket, key = remote.split(self._uri(name))
        return remote.store_for(bucket), key


def store_failure(out: str, exc: BaseException) -> remote.RemoteError | None:
    """What an error raised while using `out` means, as one line, if the store caused it; None
    for any other error. delta-rs and obstore raise kinds of their own, or OSError, and polars
    passes their text on."""
    if isinstance(exc, (remote.RemoteError, SinkError)):
        return None
    module, text = type(exc).__module__ or "", str(exc)
    from_store = (module.startswith(("deltalake", "obstore")) or isinstance(exc, OSError)
                  or "object store" in text.lower() or "Generic S3 error" in text)
    return remote.failure(out, exc) if from_store else None
