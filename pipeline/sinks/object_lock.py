"""A write lock on object storage (S3, GCS, Azure), where there are no file locks.

An object store offers a conditional create: a PUT that fails when the object exists
(`If-None-Match: *`), and a conditional overwrite: a PUT that fails unless the object is still
the version you read (`If-Match: <etag>`). The lock is an object made with the first, holding who
took it and until when (a lease). The holder renews the lease with the second every third of
its length, so a live run keeps it however long it takes. A holder that dies, however it dies,
stops renewing, and once its lease has run out the next run takes the lock over, again with a
conditional overwrite, so that of two runs arriving together only one wins.

The building block of the object-storage output (issue 23); the sink that uses it is to come.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterator

import obstore
from obstore.exceptions import AlreadyExistsError, NotFoundError, PreconditionError

from .base import LockHeld

LEASE_S = 60.0
WAIT_STEP_S = 1.0


@contextmanager
def object_lock(store, key: str, where: str, wait: bool = False, lease_s: float = LEASE_S) -> Iterator[None]:
    """Hold the lock object `key` in `store` (an obstore store) for the block; `where` names the
    output in messages. Raises LockHeld when a live run holds it and `wait` is False."""
    etag = _acquire(store, key, where, wait, lease_s)
    renewer = _Renewer(store, key, etag, lease_s)
    renewer.start()
    try:
        yield
    finally:
        renewer.stop()
        try:
            obstore.delete(store, key)
        except (NotFoundError, FileNotFoundError):
            pass


def _acquire(store, key: str, where: str, wait: bool, lease_s: float) -> str:
    while True:
        try:
            return obstore.put(store, key, _record(lease_s), mode="create")["e_tag"]
        except AlreadyExistsError:
            pass
        taken = _take_over_if_expired(store, key, lease_s)
        if taken is not None:
            return taken
        if not wait:
            raise LockHeld(f"{where}: another fitpipe run is writing here ({_holder(store, key)}); "
                           f"try again later or use --wait")
        time.sleep(WAIT_STEP_S)


def _take_over_if_expired(store, key: str, lease_s: float) -> str | None:
    """The new etag if the holder's lease has run out and this run took the lock over."""
    try:
        result = obstore.get(store, key)
        record, etag = json.loads(bytes(result.bytes())), result.meta["e_tag"]
    except (NotFoundError, FileNotFoundError):
        return None  # released meanwhile: the next create may win
    if datetime.fromisoformat(record["expires_utc"]) > datetime.now(timezone.utc):
        return None
    try:
        return obstore.put(store, key, _record(lease_s), mode={"e_tag": etag})["e_tag"]
    except (PreconditionError, AlreadyExistsError, NotFoundError, FileNotFoundError):
        return None  # another run took it over first


def _holder(store, key: str) -> str:
    try:
        record = json.loads(bytes(obstore.get(store, key).bytes()))
        return f"{record['host']} pid {record['pid']}, since {record['since_utc'][:19]}Z"
    except Exception:
        return "its holder is unknown"


def _record(lease_s: float, since: str | None = None) -> bytes:
    now = datetime.now(timezone.utc)
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since_utc": since or now.isoformat(),
                       "expires_utc": (now + timedelta(seconds=lease_s)).isoformat()}).encode()


class _Renewer(threading.Thread):
    """Renews the lease every third of its length while the block runs."""

    def __init__(self, store, key: str, etag: str, lease_s: float):
        super().__init__(name="lock-lease", daemon=True)
        self.store, self.key, self.etag, self.lease_s = store, key, etag, lease_s
        self.since = datetime.now(timezone.utc).isoformat()
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.stopped.wait(self.lease_s / 3):
            try:
                self.etag = obstore.put(self.store, self.key, _record(self.lease_s, self.since),
                                        mode={"e_tag": self.etag})["e_tag"]
            except (PreconditionError, NotFoundError, FileNotFoundError):
                self.lost = True  # stalled past the lease, and another run took it over
                return
            except Exception:
                continue  # the store is unreachable for now: try again, the lease still runs

    def stop(self) -> None:
        self.stopped.set()
        self.join()
