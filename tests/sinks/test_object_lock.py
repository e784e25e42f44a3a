"""The object-storage write lock against a real S3-compatible server on 127.0.0.1 (moto's server
mode, started here), with holders in processes of their own, killed as runs are killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from benchmarks.faults import wait_for
from pipeline.sinks.base import LockHeld
from pipeline.sinks.object_lock import object_lock

MOTO = Path(sys.executable).with_name("moto_server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    port = free_port()
    server = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    assert wait_for(up, timeout_s=30), "moto_server did not start"
    import boto3  # moto's own dependency: only to make the bucket

    boto3.client("s3", endpoint_url=url, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket="lake")
    yield url
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()


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


def holder(url: str, key: str, lease_s: float) -> subprocess.Popen:
    """A process that takes the lock, says so, and holds it until killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from obstore.store import S3Store
        from pipeline.sinks.object_lock import object_lock
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


def test_the_lock_of_a_killed_holder_is_taken_over_once_its_lease_runs_out(endpoint, key):
    lease = 3.0
    dead = holder(endpoint, key, lease_s=lease)
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


def test_wait_takes_the_lock_when_the_holder_lets_go(endpoint, key):
    first = holder(endpoint, key, lease_s=2.0)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    started = time.monotonic()
    with object_lock(the_store(endpoint), key, "s3://lake/fitness", wait=True, lease_s=2.0):
        waited = time.monotonic() - started
    assert 0.5 < waited < 10, "it waited for the dead holder's lease, and no longer"
