"""The Executor seam: what runs batches of files and hands back their results.

A batch (`Batch`) is a list of files with the settings to read them; running one is
`batch.load_packed`: read, parse, normalize, compute metrics, write the samples to the sink,
and return the activity and lap rows. Ingest hands batches to an executor and takes the results
in order. There are three executors: `InProcess` (one batch after another, in this process),
`ProcessPool` (worker processes on this machine) and `run/cluster.py`'s `DaskCluster` (Dask
workers, on this machine or many).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol, TypeVar

from ..config import Athlete
from ..discover.archives import ArchiveLimits
from ..discover.files import SourceFile
from ..sinks import Sink
from .batch import FileContent, Packed, load_packed, members_read


@dataclass(frozen=True)
class Batch:
    """Files to read in one task, each with its bytes if the caller has them (zip members;
    None: read where the batch runs), and everything needed to turn them into rows and stored
    samples. All of one athlete."""

    jobs: list[tuple[SourceFile, bytes | None]]
    timezone: str
    engines: dict[str, str] | None
    athlete: Athlete
    sink: Sink
    archive_limits: ArchiveLimits = ArchiveLimits()


def run_batch(batch: Batch) -> Packed:
    """One batch's work, wherever it runs: see batch.load_packed."""
    jobs = members_read(batch.jobs, batch.archive_limits)
    return load_packed(jobs, batch.timezone, batch.engines, batch.athlete, batch.sink)


class Executor(Protocol):
    """Runs batches and hands back their files' contents.

    What a second implementation (a cluster) must guarantee, as these do:

    - **Ordering.** `run` yields each batch's contents in the order the batches came, so the
      tables do not depend on which worker finished first.
    - **Bounded memory.** It pulls batches lazily, holding only a few batches' bytes at once.
    - **Bad files cost only themselves.** A file that makes a reader raise comes back rejected
      with its reason (run_batch catches it); only a failure of the executor itself (a worker
      lost for good) raises.
    - **Retry without harm.** A batch may run more than once, say after a worker died: the
      sink's `write_samples` replaces an activity's samples, so the outcome is the same.
    - **Nothing left behind.** After `run` returns or raises, and when the process that started
      it is killed, no worker of it goes on running.
    """

    def reads_in_place(self, archives: list[Path]) -> set[Path]:
        """Which of these zip archives the workers open themselves; the members of the others
        travel in the batches as bytes."""

    def run(self, batches: Iterable[Batch]) -> Iterator[FileContent]: ...


class _ReadsMembersHere:
    """Workers on this machine could open every archive, but reading members once here
    inflates each nested zip once, not once per batch."""

    def reads_in_place(self, archives: list[Path]) -> set[Path]:
        return set()


class InProcess(_ReadsMembersHere):
    """Every batch in this process, one after another: for one file, or `workers = 1`."""

    def run(self, batches: Iterable[Batch]) -> Iterator[FileContent]:
        for batch in batches:
            yield from run_batch(batch).unpack()


# Workers already use every core; threads inside each would only contend over frames of a few
# thousand rows. OpenBLAS's idle threads even spin. Spawned workers read these at import.
SINGLE_THREADED = {"POLARS_MAX_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
# How often a worker checks that the process that started it is alive.
PARENT_CHECK_S = 0.5


class ProcessPool(_ReadsMembersHere):
    """Worker processes on this machine, `workers` of them, with up to two batches each in flight."""

    def __init__(self, workers: int):
        self.workers = workers

    def run(self, batches: Iterable[Batch]) -> Iterator[FileContent]:
        # fork would copy polars' thread pool mid-flight and can deadlock; spawn is safe.
        context = multiprocessing.get_context("spawn")
        with single_threaded_libraries(), ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
        ) as pool:
            yield from in_order(batches, lambda batch: pool.submit(run_batch, batch),
                                lambda future, batch: future.result().unpack(), window=2 * self.workers)


@contextmanager
def single_threaded_libraries() -> Iterator[None]:
    before = {name: os.environ.get(name) for name in SINGLE_THREADED}
    os.environ.update(SINGLE_THREADED)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def _start_worker(parent: int) -> None:
    # The modules imported so far live as long as the worker: keep the collector off them.
    gc.freeze()
    threading.Thread(target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """End this worker soon after its parent dies, whatever killed it (SIGKILL from the OOM
    killer, `timeout -s KILL` in a cron line): nothing else would, and each orphan holds its
    memory for ever. A dead parent's children are adopted by another process, so the parent
    pid changes."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


Task = TypeVar("Task")


def in_order(batches: Iterable[Batch], submit: Callable[[Batch], Task],
             receive: Callable[[Task, Batch], Iterable[FileContent]], window: int) -> Iterator[FileContent]:
    """Each batch submitted as a task, and the tasks' contents received in batch order, pulling
    batches lazily so that at most `window` batches' bytes wait in memory."""
    pending: deque = deque()
    for batch in batches:
        pending.append((submit(batch), batch))
        if len(pending) >= window:
            yield from receive(*pending.popleft())
    while pending:
        yield from receive(*pending.popleft())
