"""A write lock on object storage (S3, GCS, Azure), where there are no file locks.

An object store offers a conditional create: a PUT that fails when the object exists
(`If-None-Match: *`), and a conditional overwrite: a PUT that fails unless the object is still
the version you read (`If-Match: <etag>`). The lock is an object made with the first, holding who
took it and until when (a lease). The holder renews the lease with the second every third of
its length, so a live run keeps it however long it takes. A holder that dies, however it dies,
stops renewing, and once its lease has run out the next run takes the lock over, again with a
conditional overwrite, so that of two runs arriving together only one wins. A holder on this
same machine (same host name and boot) whose process is gone is known dead at once: its lock
is taken over without waiting for the lease, so a run after a killed one starts straight away.

A run that stalls past its lease (a paused laptop, a network cut) may find the lock taken over
when it wakes: `Lease.check` says so, and the object-store sink calls it before every commit,
so such a run stops before it writes over the run that took over.
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

from .base import LockHeld, SinkError

LEASE_S = 60.0
WAIT_STEP_S = 1.0


class LockLost(SinkError):
    """This run's lease ran out and may have been taken over: it must not commit again."""


@contextmanager
def object_lock(store, key: str, where: str, wait: bool = False, lease_s: float = LEASE_S) -> Iterator["Lease"]:
    """Hold the lock object `key` in `store` (an obstore store) for the block; `where` names the
    output in messages. Raises LockHeld when a live run holds it and `wait` is False."""
    etag = _acquire(store, key, where, wait, lease_s)
    renewer = Lease(store, key, etag, lease_s, where)
    renewer.start()
    try:
        yield renewer
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
        taken = _take_over_if_free(store, key, lease_s)
        if taken is not None:
            return taken
        if not wait:
            raise LockHeld(f"{where}: another fitpipe run is writing here ({_holder(store, key)}); "
                           f"try again later or use --wait")
        time.sleep(WAIT_STEP_S)


def _take_over_if_free(store, key: str, lease_s: float) -> str | None:
    """The new etag if the holder's lease has run out, or the holder is a dead process of this
    machine, and this run took the lock over."""
    try:
        result = obstore.get(store, key)
        record, etag = json.loads(bytes(result.bytes())), result.meta["e_tag"]
    except (NotFoundError, FileNotFoundError):
        return None  # released meanwhile: the next create may win
    expired = datetime.fromisoformat(record["expires_utc"]) <= datetime.now(timezone.utc)
    if not expired and not _dead_here(record):
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
    return json.dumps({"host": socket.gethostname(), "boot": _boot_id(), "pid": os.getpid(),
                       "pid_started": _started(os.getpid()), "since_utc": since or now.isoformat(),
                       "expires_utc": (now + timedelta(seconds=lease_s)).isoformat()}).encode()


def _dead_here(record: dict) -> bool:
    """Whether the holder ran on this machine, since its last boot, and its process is gone
    (no such pid, or the pid now names a process started at another time)."""
    if record.get("host") != socket.gethostname() or record.get("boot") in (None, "") or record["boot"] != _boot_id():
        return False
    return _started(int(record["pid"])) != record.get("pid_started")


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return ""  # not Linux: only the lease tells a dead holder


def _started(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot), None if there is none."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class Lease(threading.Thread):
    """Renews the lease every third of its length while the block runs."""

    def __init__(self, store, key: str, etag: str, lease_s: float, where: str):
        super().__init__(name="lock-lease", daemon=True)
        self.store, self.key, self.etag, self.lease_s, self.where = store, key, etag, lease_s, where
        self.since = datetime.now(timezone.utc).isoformat()
        self.renewed = time.monotonic()  # when the lease last started to run
        self.stopped = threading.Event()
        self.lost = False

    def check(self) -> None:
        """Raise LockLost unless this run surely still holds the lock: the last renewal is
        younger than the lease (a run that slept past it may have been taken over)."""
        if self.lost or time.monotonic() - self.renewed >= self.lease_s:
            raise LockLost(f"{self.where}: this run lost its write lock (its lease of {self.lease_s:.0f} s ran out, "
                           f"and another run may hold it now); it stopped before writing more. Run it again")

    def run(self) -> None:
        while not self.stopped.wait(self.lease_s / 3):
            started = time.monotonic()
            try:
                self.etag = obstore.put(self.store, self.key, _record(self.lease_s, self.since),
                                        mode={"e_tag": self.etag})["e_tag"]
                self.renewed = started
            except (PreconditionError, NotFoundError, FileNotFoundError):
                self.lost = True  # stalled past the lease, and another run took it over
                return
            except Exception:
                continue  # the store is unreachable for now: try again, the lease still runs

    def stop(self) -> None:
        self.stopped.set()
        self.join()
