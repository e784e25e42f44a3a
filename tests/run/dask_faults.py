"""Faults for real Dask workers, loaded with `dask worker --preload tests/run/dask_faults.py`.

Environment variables of the worker choose them:

- FITPIPE_TEST_KILL_MARK: a file path. The first worker to create it SIGKILLs itself while
  writing a batch's samples, after the first file is renamed into place and before the others
  are: a real kill at the worst moment, with half a batch on disk.
- FITPIPE_TEST_SLOW_BATCH_S: seconds each batch waits before writing its samples, so that a
  test can act while a run is in flight.
- FITPIPE_TEST_RAISE_ON: a file name; the reader raises RuntimeError on it, as a parser bug would.
"""

from __future__ import annotations

import os
import signal
import time

from pipeline.run import batch
from pipeline.sinks import parquet_folder

KILL_MARK = os.environ.get("FITPIPE_TEST_KILL_MARK")
SLOW_BATCH_S = float(os.environ.get("FITPIPE_TEST_SLOW_BATCH_S", "0"))
RAISE_ON = os.environ.get("FITPIPE_TEST_RAISE_ON")

# Dask may run a preload more than once: wrap the real functions, never our own wrappers.
write_samples = getattr(parquet_folder.write_samples, "wrapped", parquet_folder.write_samples)
read_bytes = getattr(batch.read_bytes, "wrapped", batch.read_bytes)
real_replace = os.replace


def _claim(mark: str) -> bool:
    try:
        os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def _dying_replace(source, target):
    """os.replace that lets one rename through, then kills this worker on the next."""
    global _renames
    _renames += 1
    if _renames == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(source, target)


_renames = 0


def faulty_write_samples(out, samples):
    time.sleep(SLOW_BATCH_S)
    if KILL_MARK and samples["activity_id"].n_unique() >= 2 and _claim(KILL_MARK):
        os.replace = _dying_replace  # this worker runs one task at a time (--nthreads 1)
    return write_samples(out, samples)


def faulty_read_bytes(data, format, name, engines=None):
    if RAISE_ON and name.endswith(RAISE_ON):
        raise RuntimeError("injected parser bug")
    return read_bytes(data, format, name, engines)


faulty_write_samples.wrapped, faulty_read_bytes.wrapped = write_samples, read_bytes
parquet_folder.write_samples = faulty_write_samples
batch.read_bytes = faulty_read_bytes
