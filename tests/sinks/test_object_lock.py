"""The object-storage write lock against a real S3-compatible server on 127.0.0.1 (moto's server
mode, started here), with holders in processes of their own, killed as runs are killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipeline.sinks.base import LockHeld
from pipeline.sinks.object_lock import LockLost, object_lock


@pytest.fixture(scope="module")
def endpoint(s3) -> str:
    return s3.url


def store_code(url: str) -> str:
    return (f"S3Store('lake', endpoint='{url}', access_key_id='test', secret_access_key='test', "
            f"region='us-east-1', client_options={{'allow_http': True}})")


def the_store(url: str):
    from obstore.store import S3Store

    return S3Store("lake", endpoint=url, access_key_id="test", secret_access_key="test", region="us-east-1",
                   client_options={"allow_http": True})


@pytest.fixture
def key(request) -> str:
    """A lock object of each test's own: a killed holder's lock outlives its test."""
    return f"{request.node.name}/.fitpipe.lock"


def holder(url: str, key: str, lease_s: float, elsewhere: bool = False) -> subprocess.Popen:
    """A process that takes the lock, says so, and holds it until killed; `elsewhere`: as if
    on another machine (another host name), whose processes this one cannot see."""
    code = textwrap.dedent(f"""
        import socket, sys, time
        if {elsewhere}:
            socket.gethostname = lambda: "another-machine"
        from obstore.store import S3Store
        from pipeline.sinks.object_lock import LockLost, object_lock
        with object_lock({store_code(url)}, {key!r}, "s3://lake/fitness", lease_s={lease_s}):
            print("held", flush=True)
            time.sleep(600)
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                               start_new_session=True, cwd=Path(__file__).resolve().parents[2])
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_run_is_refused_while_the_first_holds_the_lock(endpoint, key):
    first = holder(endpoint, key, lease_s=30)
    try:
        with pytest.raises(LockHeld) as refused:
            with object_lock(the_store(endpoint), key, "s3://lake/fitness"):
                pass
        message = str(refused.value)
        assert message.startswith("s3://lake/fitness: another fitpipe run is writing here (")
        assert f"pid {first.pid}" in message and message.endswith("try again later or use --wait")
        assert "\n" not in message
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()


def test_a_released_lock_is_free_at_once(endpoint, key):
    store = the_store(endpoint)
    with object_lock(store, key, "s3://lake/fitness"):
        pass
    started = time.monotonic()
    with object_lock(store, key, "s3://lake/fitness"):
        pass
    assert time.monotonic() - started < 5


def test_the_lock_of_a_killed_holder_elsewhere_is_taken_over_once_its_lease_runs_out(endpoint, key):
    lease = 3.0
    dead = holder(endpoint, key, lease_s=lease, elsewhere=True)
    os.killpg(dead.pid, signal.SIGKILL)  # as the OOM killer does: nothing is released
    dead.wait()
    store = the_store(endpoint)
    with pytest.raises(LockHeld):  # the lease still runs
        with object_lock(store, key, "s3://lake/fitness", lease_s=lease):
            pass
    time.sleep(lease + 0.5)
    with object_lock(store, key, "s3://lake/fitness", lease_s=lease):
        pass


def test_a_live_holder_keeps_the_lock_past_its_lease(endpoint, key):
    lease = 1.5
    alive = holder(endpoint, key, lease_s=lease)
    try:
        time.sleep(3 * lease)  # it renews every lease / 3
        with pytest.raises(LockHeld):
            with object_lock(the_store(endpoint), key, "s3://lake/fitness", lease_s=lease):
                pass
    finally:
        os.killpg(alive.pid, signal.SIGKILL)
        alive.wait()


def test_the_lock_of_a_killed_holder_on_this_machine_is_taken_over_at_once(endpoint, key):
    # Its host and boot are ours and its process is gone: no need to wait for the lease.
    dead = holder(endpoint, key, lease_s=600)
    os.killpg(dead.pid, signal.SIGKILL)
    dead.wait()
    started = time.monotonic()
    with object_lock(the_store(endpoint), key, "s3://lake/fitness"):
        assert time.monotonic() - started < 5


def test_a_lost_lease_is_told_before_the_next_commit(endpoint, key):
    # A run that stalled past its lease (here: renewals that cannot reach the store) must not
    # commit again, whether or not another run took over meanwhile.
    with object_lock(the_store(endpoint), key, "s3://lake/fitness", lease_s=1.0) as lease:
        lease.check()  # just taken: held
        lease.stopped.set()  # no more renewals, as in a process paused past its lease
        time.sleep(1.2)
        with pytest.raises(LockLost) as lost:
            lease.check()
    assert str(lost.value).startswith("s3://lake/fitness: this run lost its write lock")


def test_wait_takes_the_lock_when_the_holder_lets_go(endpoint, key):
    first = holder(endpoint, key, lease_s=2.0, elsewhere=True)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    started = time.monotonic()
    with object_lock(the_store(endpoint), key, "s3://lake/fitness", wait=True, lease_s=2.0):
        waited = time.monotonic() - started
    assert 0.5 < waited < 10, "it waited for the dead holder's lease, and no longer"
