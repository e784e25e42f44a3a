"""`fitpipe run --cluster`: the same tables as the process pool, with a LocalCluster and with a
real `dask scheduler` and two `dask worker` processes on 127.0.0.1, and the faults a cluster
has: a worker killed mid-batch, a parser that raises inside a task, the scheduler gone, the
driver killed, a worker of another version, and Dask not installed; and inputs and tables on
object storage."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import polars as pl
import pytest

from benchmarks.faults import group_members, wait_for
from pipeline.config import load_settings
from conftest import ROOT, SAMPLE_FILES, fitpipe_executable, run_cli, run_cli_without

DASK = Path(sys.executable).with_name("dask")
FAULTS = Path(__file__).with_name("dask_faults.py")


def fingerprint(out: Path) -> dict[str, str]:
    """Every parquet file of an output folder, by its path, with a digest of its bytes."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*.parquet"))}


def leftovers(out: Path) -> list[str]:
    return [str(p.relative_to(out)) for p in out.rglob(".tmp-*")]


class DaskProcesses:
    """A `dask scheduler` and `dask worker`s on 127.0.0.1, each in a session of its own."""

    def __init__(self, work: Path, workers: int = 2, env: dict[str, str] | None = None, pythonpath: Path | None = None,
                 hide: Path | None = None):
        self.hide = hide  # a folder the workers see empty (a tmpfs over it, in a mount namespace of theirs)
        self.file = work / f"scheduler-{time.monotonic_ns()}.json"
        self.env = {**os.environ, "POLARS_MAX_THREADS": "1", **(env or {})}
        if pythonpath is not None:
            self.env["PYTHONPATH"] = f"{pythonpath}{os.pathsep}{self.env.get('PYTHONPATH', '')}"
        self.scheduler = self._start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                     "--scheduler-file", self.file, env={**os.environ})
        assert wait_for(self.file.exists, timeout_s=60), "the scheduler never wrote its address"
        self.workers = [self.start_worker() for _ in range(workers)]
        self.wait_for_workers(workers)

    @property
    def address(self) -> str:
        return json.loads(self.file.read_text())["address"]

    def _start(self, *args, env, prefix=()) -> subprocess.Popen:
        return subprocess.Popen([*prefix, DASK, *map(str, args)], env=env, start_new_session=True, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start_worker(self) -> subprocess.Popen:
        prefix = () if self.hide is None else (
            "unshare", "--mount", "--propagation", "private", "sh", "-c", 'mount -t tmpfs none "$0" && exec "$@"',
            str(self.hide))
        return self._start("worker", "--scheduler-file", self.file, "--nthreads", "1", "--host", "127.0.0.1",
                           "--no-dashboard", "--preload", FAULTS, env=self.env, prefix=prefix)

    def wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(count, timeout=60)

    def kill_scheduler(self) -> None:
        os.killpg(self.scheduler.pid, signal.SIGKILL)
        self.scheduler.wait()

    def stop(self) -> None:
        for process in [self.scheduler, *self.workers]:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


@pytest.fixture(scope="module")
def inputs(corpus) -> list[Path]:
    return [SAMPLE_FILES, corpus]


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory) -> dict[str, str]:
    """The tables the process pool writes."""
    out = tmp_path_factory.mktemp("pool") / "out"
    run_cli("run", *inputs, "--out", out, "--quiet", "--workers", "2", check_code=1)  # the corpus has rejects
    return fingerprint(out)


@pytest.fixture
def dask_processes(tmp_path):
    started = []

    def start(**kwargs) -> DaskProcesses:
        started.append(DaskProcesses(tmp_path, **kwargs))
        return started[-1]

    yield start
    for processes in started:
        processes.stop()


def fitpipe_run(out: Path, inputs, cluster: str, *extra) -> subprocess.Popen:
    return subprocess.Popen([fitpipe_executable(), "run", *map(str, inputs), "--out", str(out), "--quiet",
                             "--cluster", cluster, *extra], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_a_local_cluster_writes_the_process_pools_tables_bit_for_bit(inputs, reference, tmp_path):
    out = tmp_path / "out"
    result = run_cli("run", *inputs, "--out", out, "--cluster", "local:2", check_code=1)
    assert fingerprint(out) == reference
    assert " 0 imported" not in result.stderr
    again = run_cli("run", *inputs, "--out", out, "--cluster", "local:2", "--json", check_code=0)
    assert json.loads(again.stdout)["imported"] == 0, "a second run must import nothing"
    assert fingerprint(out) == reference


def test_a_real_cluster_writes_the_process_pools_tables_bit_for_bit(inputs, reference, dask_processes, tmp_path):
    cluster = dask_processes()
    out = tmp_path / "out"
    run_cli("run", *inputs, "--out", out, "--cluster", cluster.address, check_code=1)
    assert fingerprint(out) == reference
    assert leftovers(out) == []


def test_a_worker_killed_mid_batch_has_its_batch_run_again_elsewhere(inputs, reference, dask_processes, tmp_path):
    mark = tmp_path / "killed"
    cluster = dask_processes(env={"FITPIPE_TEST_KILL_MARK": str(mark)})
    out = tmp_path / "out"
    run_cli("run", *inputs, "--out", out, "--cluster", cluster.address, check_code=1)
    assert mark.exists(), "no worker was killed: the test proved nothing"
    assert fingerprint(out) == reference
    assert leftovers(out) == [], "the killed worker's half-written samples were left behind"


def test_a_reader_that_raises_in_a_task_costs_only_its_file(inputs, dask_processes, tmp_path):
    victim = sorted((SAMPLE_FILES / "garmin").glob("*.fit"))[3]
    cluster = dask_processes(env={"FITPIPE_TEST_RAISE_ON": victim.name})
    out = tmp_path / "out"
    result = run_cli("run", *inputs, "--out", out, "--cluster", cluster.address, "--json", check_code=1)
    manifest = pl.read_parquet(out / "manifest.parquet")
    row = manifest.filter(pl.col("path") == str(victim.resolve())).row(0, named=True)
    assert row["status"] == "rejected"
    assert row["reason"] == "could not parse: RuntimeError: injected parser bug"
    assert manifest.filter(pl.col("status") == "imported").height > 90, result.stdout


def test_when_the_scheduler_goes_away_the_run_stops_with_one_line_and_the_next_completes(
        inputs, reference, dask_processes, tmp_path):
    cluster = dask_processes(env={"FITPIPE_TEST_SLOW_BATCH_S": "0.5"})
    out = tmp_path / "out"
    run = fitpipe_run(out, inputs, cluster.address)
    assert wait_for(lambda: any((out / "samples").rglob("*.parquet")), timeout_s=120), "no batch ever finished"
    cluster.kill_scheduler()
    _, errors = run.communicate(timeout=120)
    assert run.returncode == 1
    lines = errors.strip().splitlines()
    assert len(lines) == 1 and "the Dask scheduler at" in lines[0] and "went away mid-run" in lines[0], errors
    assert not (out / "manifest.parquet").exists(), "the tables must not be written from half a run"
    cluster.stop()  # its workers too: they would only wait for the old scheduler
    back = dask_processes()
    run_cli("run", *inputs, "--out", out, "--cluster", back.address, check_code=1)
    assert fingerprint(out) == reference
    assert leftovers(out) == []


def test_a_killed_driver_leaves_a_real_cluster_ready_for_the_next_run(inputs, reference, dask_processes, tmp_path):
    cluster = dask_processes(env={"FITPIPE_TEST_SLOW_BATCH_S": "0.3"})
    out = tmp_path / "out"
    run = fitpipe_run(out, inputs, cluster.address)
    assert wait_for(lambda: any((out / "samples").rglob("*.parquet")), timeout_s=120), "no batch ever finished"
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    run_cli("run", *inputs, "--out", out, "--cluster", cluster.address, check_code=1)
    assert fingerprint(out) == reference


@pytest.mark.parametrize("whole_group", [False, True], ids=["main process alone", "process group"])
def test_a_killed_driver_leaves_no_local_cluster_process_behind(inputs, reference, tmp_path, whole_group):
    out = tmp_path / "out"
    run = fitpipe_run(out, inputs, "local:2")
    group = run.pid  # a session of its own: the group holds the run's processes only
    assert wait_for(lambda: len(group_members(group)) >= 3, timeout_s=60), "the local cluster never started"
    if whole_group:
        os.killpg(group, signal.SIGKILL)
    else:
        os.kill(run.pid, signal.SIGKILL)
    run.wait()
    wait_for(lambda: not group_members(group), timeout_s=10)
    left = group_members(group)
    for pid in left:  # never leave them to the rest of the suite
        os.kill(pid, signal.SIGKILL)
    assert left == [], "processes of the killed run outlived it"
    run_cli("run", *inputs, "--out", out, "--cluster", "local:2", check_code=1)
    assert fingerprint(out) == reference


def test_a_worker_with_other_code_is_refused_in_one_line(dask_processes, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(ROOT / "pipeline", other / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "pipeline" / "run" / "batch.py", "a") as code:
        code.write("\n# an edit the driver does not have\n")
    cluster = dask_processes(workers=1, pythonpath=other)
    result = run_cli("run", SAMPLE_FILES, "--out", tmp_path / "out", "--cluster", cluster.address)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    worker = lines[0].split("Dask worker ")[1].split(" ")[0]
    assert worker.startswith("tcp://127.0.0.1:") and "install the same on every worker" in lines[0]
    assert not (tmp_path / "out" / "activities.parquet").exists()


def test_without_dask_the_cluster_option_says_what_to_install(tmp_path):
    result = run_cli_without("distributed", tmp_path, "run", SAMPLE_FILES, "--out", tmp_path / "out",
                             "--cluster", "local:2")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --cluster needs Dask: pip install 'fitpipe[dask]'"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("address", ["local:0", "scheduler", "http://host:8786", "tcp://host"])
def test_a_bad_cluster_address_is_one_line(tmp_path, address):
    result = run_cli("run", SAMPLE_FILES, "--out", tmp_path / "out", "--cluster", address, check_code=2)
    assert result.stderr.strip().splitlines() == [
        f"error: cluster: {address!r} is not a Dask scheduler address like tcp://scheduler:8786, "
        f"nor local:N for N worker processes on this machine"]


@pytest.mark.parametrize("address", ["local", "local:4", "tcp://scheduler:8786", "localhost:8786",
                                     "tls://10.0.0.5:8786", "tcp://[::1]:8786"])
def test_good_cluster_addresses_are_taken(address):
    assert load_settings(cluster=address).cluster == address


def test_the_config_file_names_the_scheduler(dask_processes, tmp_path):
    cluster = dask_processes(workers=1)
    config = tmp_path / "fitpipe.toml"
    config.write_text(f'inputs = ["{SAMPLE_FILES}"]\nout = "out"\n\n[cluster]\nscheduler = "{cluster.address}"\n')
    result = run_cli("run", "--config", config, "-vv", check_code=0)
    assert (tmp_path / "out" / "activities.parquet").exists()
    assert "reading on the Dask cluster at " + cluster.address in result.stderr


def test_an_unreachable_scheduler_is_one_line(tmp_path):
    result = run_cli("run", SAMPLE_FILES, "--out", tmp_path / "out", "--cluster", "tcp://127.0.0.1:9", check_code=1)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9"), lines


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    """A folder holding one zip export: six rides directly inside, three more in a nested zip."""
    folder = tmp_path_factory.mktemp("exports") / "ana"
    folder.mkdir()
    rides = sorted((SAMPLE_FILES / "garmin").glob("*.fit"))[:9]
    nested = io.BytesIO()
    with zipfile.ZipFile(nested, "w", zipfile.ZIP_DEFLATED) as inner:
        for path in rides[6:]:
            inner.write(path, f"activities/{path.name}")
    with zipfile.ZipFile(folder / "export.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in rides[:6]:
            archive.write(path, f"activities/{path.name}")
        archive.writestr("uploads/more.zip", nested.getvalue())
    return folder


@pytest.mark.parametrize("workers_see_it", [True, False], ids=["workers see the export", "workers do not"])
def test_zip_members_are_read_in_place_only_where_the_workers_see_the_archive(
        export, dask_processes, tmp_path, workers_see_it):
    want = tmp_path / "pool"
    run_cli("run", export, "--out", want, "--quiet", check_code=0)
    cluster = dask_processes(hide=None if workers_see_it else export)
    out = tmp_path / "out"
    result = run_cli("run", export, "--out", out, "--cluster", cluster.address, "-v", check_code=0)
    assert f"{int(workers_see_it)} of 1 zip archives are read by the workers in place" in result.stderr
    assert fingerprint(out) == fingerprint(want)
    assert pl.read_parquet(out / "activities.parquet").height == 9


def test_a_cluster_writes_delta_tables_equal_to_the_process_pools(tmp_path):
    from benchmarks.faults import read_tables

    pool, cluster = tmp_path / "pool", tmp_path / "cluster"
    run_cli("run", SAMPLE_FILES, "--out", pool, "--quiet", "--format", "delta", check_code=0)
    run_cli("run", SAMPLE_FILES, "--out", cluster, "--quiet", "--format", "delta", "--cluster", "local:2", check_code=0)
    want, got = read_tables(pool, "delta"), read_tables(cluster, "delta")
    assert [name for name in want if not got[name].equals(want[name])] == []
    assert want["samples"].height > 100_000


def test_a_cluster_reads_inputs_on_object_storage_and_writes_delta_tables_there(s3, dask_processes, monkeypatch):
    # The workers fetch loose files from the store themselves (with the credentials of their own
    # environment); a zip's members travel from the driver, which copied the zip once.
    rides = sorted((SAMPLE_FILES / "garmin").glob("*.fit"))[:12]
    client = s3.client()
    for path in rides:
        client.upload_file(str(path), "uploads", f"cluster/loose/{path.name}")
    export = io.BytesIO()
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((SAMPLE_FILES / "strava").iterdir()):
            archive.write(path, f"export/{path.name}")
    client.put_object(Bucket="uploads", Key="cluster/export.zip", Body=export.getvalue())

    pool, dask = "s3://lake/cluster-pool", "s3://lake/cluster-dask"
    run_cli("run", "s3://uploads/cluster", "--out", pool, "--quiet", env=s3.env, check_code=0)
    cluster = dask_processes(env=s3.env)
    run_cli("run", "s3://uploads/cluster", "--out", dask, "--quiet", "--cluster", cluster.address, env=s3.env,
            check_code=0)
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    options = {"conditional_put": "etag"}
    for name in ("activities", "laps", "manifest", "weekly", "samples"):
        want, got = (pl.read_delta(f"{out}/{name}", storage_options=options).drop("write_id", strict=False)
                     for out in (pool, dask))
        key = [c for c in want.columns if not want[c].dtype.is_nested()]
        assert got.sort(key).equals(want.sort(key)), name
    zipped = [p for p in (SAMPLE_FILES / "strava").iterdir() if p.name.endswith((".gpx", ".fit.gz"))]
    assert pl.read_delta(f"{pool}/activities", storage_options=options).height == len(rides) + len(zipped)
