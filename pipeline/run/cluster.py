"""The Dask executor: batches of files run as Dask tasks, on this machine or on many.

The driver (the `fitpipe run` process) holds the lock, plans, sends batches and takes their
results in order; Dask workers read the input files and write the samples, on storage every
machine sees at the same path. What the driver does with the results (duplicates, the tables,
the manifest last) is the same as with any executor, so the tables are too. docs/cluster.md
says how to start a cluster, and what happens when a part of it fails.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Iterable, Iterator

from .. import __version__
from ..config import is_local_cluster
from .batch import FileContent, Packed
from .executors import Batch, in_order, run_batch, single_threaded_libraries

# How long the driver tries to reach the scheduler, and waits for a first worker.
CONNECT_TIMEOUT_S = 20
FIRST_WORKER_TIMEOUT_S = 60
# A batch that raised (not a bad file: run_batch turns those into rejections) runs again.
# A worker that died mid-batch is Dask's own business: the scheduler gives its batches to
# another worker, up to distributed.scheduler.allowed-failures (3) deaths per batch.
RETRIES = 2
# Batches in flight per worker thread: one running, one waiting, so no worker idles.
IN_FLIGHT_PER_THREAD = 2
INSTALL_HINT = "--cluster needs Dask: pip install 'fitpipe[dask]'"
log = logging.getLogger(__name__)


class ClusterError(RuntimeError):
    """The cluster cannot run this import; the message is one line. exit_code: 1 when the
    cluster failed mid-run (run again), 2 when it is set up wrongly."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def require_dask() -> None:
    """Raise ClusterError (exit 2) when the `dask` extra is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ClusterError(INSTALL_HINT, exit_code=2) from None


@dataclass(frozen=True)
class Versions:
    """What must match between the driver and every worker for the tables to be the same."""

    fitpipe: str  # the version, and a digest of the code, which a version number can hide
    python: str
    polars: str  # writes the sample files

    def describe(self) -> str:
        return f"fitpipe {self.fitpipe} on Python {self.python} with polars {self.polars}"


@cache
def versions() -> Versions:
    import polars

    return Versions(f"{__version__}+{_code_digest()}", platform.python_version(), polars.__version__)


def _code_digest() -> str:
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class WrongWorker:
    """What a task returns, instead of its batch, on a worker that differs from the driver."""

    worker: str
    versions: Versions


def mismatch(worker: str, theirs: Versions, ours: Versions) -> ClusterError:
    return ClusterError(f"Dask worker {worker} runs {theirs.describe()}, the driver {ours.describe()}: "
                        f"install the same on every worker", exit_code=2)


def run_on_worker(batch: Batch, driver: Versions) -> Packed | WrongWorker:
    """A batch's work in a Dask worker, unless the worker differs from the driver (one that
    joined after the driver's check). The samples are made durable here, on the machine that
    wrote them, before the driver writes tables that list them."""
    if versions() != driver:
        from distributed import get_worker

        return WrongWorker(get_worker().address, versions())
    packed = run_batch(batch)
    batch.sink.sync_samples()
    return packed


class DaskCluster:
    """Batches as Dask tasks. `address`: a scheduler (tcp://host:8786) or `local:N`, a
    LocalCluster of N single-threaded worker processes on this machine (`local`: one per core)."""

    def __init__(self, address: str):
        self.address = address
        self._client = None  # while run() runs

    def reads_in_place(self, archives: list[Path]) -> set[Path]:
        """The archives every worker sees at the same path, with the same size and mtime.
        Called while run() runs (ingest asks when the first batch is wanted)."""
        if not archives or self._client is None:
            return set()
        seen = self._client.run(_archives_seen, [(str(p), *_stat(p)) for p in archives])
        shared = set.intersection(*({Path(p) for p in paths} for paths in seen.values())) if seen else set()
        log.info("%d of %d zip archives are read by the workers in place; the others' members travel as bytes",
                 len(shared), len(archives))
        return shared

    def run(self, batches: Iterable[Batch]) -> Iterator[FileContent]:
        with self._connected() as client:
            driver = versions()
            self._check_workers(client, driver)
            threads = sum(client.nthreads().values())
            log.info("reading on the Dask cluster at %s: %d workers, %d threads", self.address,
                     len(client.nthreads()), threads)
            yield from in_order(
                batches, lambda batch: client.submit(run_on_worker, batch, driver, pure=False, retries=RETRIES),
                lambda task, batch: self._result(task, batch, driver), window=IN_FLIGHT_PER_THREAD * max(1, threads))

    @contextmanager
    def _connected(self):
        """A client of the scheduler, or of a LocalCluster started for the run and stopped after."""
        require_dask()
        from distributed import Client, LocalCluster

        _quiet_dask_logs()
        cluster = None
        try:
            if is_local_cluster(self.address):
                workers = int(self.address.partition(":")[2] or os.cpu_count() or 1)
                with single_threaded_libraries():  # the workers start with these set
                    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.CRITICAL)
                self._client = Client(cluster)
            else:
                self._client = Client(self.address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            if cluster is not None:
                cluster.close()
            raise ClusterError(f"cannot reach the Dask scheduler at {self.address}: {_reason(exc)}") from None
        try:
            yield self._client
        finally:
            self._client.close()
            self._client = None
            if cluster is not None:
                cluster.close()

    def _check_workers(self, client, driver: Versions) -> None:
        try:
            client.wait_for_workers(1, timeout=FIRST_WORKER_TIMEOUT_S)
        except TimeoutError:
            raise ClusterError(f"no Dask worker joined the scheduler at {self.address} "
                               f"within {FIRST_WORKER_TIMEOUT_S} s") from None
        for worker, found in sorted(client.run(versions).items()):
            if found != driver:
                raise mismatch(worker, found, driver)

    def _result(self, task, batch: Batch, driver: Versions) -> Iterator[FileContent]:
        from distributed import KilledWorker
        from distributed.client import FutureCancelledError
        from distributed.comm import CommClosedError

        try:
            result = task.result()
        except KilledWorker:
            first = batch.jobs[0][0].key
            raise ClusterError(f"Dask workers died again and again running the batch of {len(batch.jobs)} files "
                               f"from {first} (out of memory?); the tables are as before this run") from None
        except (FutureCancelledError, CommClosedError):
            raise ClusterError(f"the Dask scheduler at {self.address} went away mid-run; "
                               f"the tables are as before this run: run again once it is back") from None
        if isinstance(result, WrongWorker):
            raise mismatch(result.worker, result.versions, driver)
        yield from result.unpack()


def _archives_seen(expected: list[tuple[str, int, int]]) -> list[str]:
    """On a worker: which of these archives it sees, with the size and mtime the driver saw."""
    seen = []
    for path, size, mtime_ns in expected:
        try:
            if _stat(Path(path)) == (size, mtime_ns):
                seen.append(path)
        except OSError:
            pass
    return seen


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _quiet_dask_logs() -> None:
    """Dask logs whole tracebacks when a scheduler or a worker goes away; fitpipe says it in
    one line of its own."""
    known = list(logging.root.manager.loggerDict)  # Dask sets levels on some of its loggers
    for name in ["distributed", "tornado", *(n for n in known if n.startswith(("distributed.", "tornado.")))]:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
