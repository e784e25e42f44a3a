"""Shared fixtures: the acceptance corpus, the installed CLI, output readers, an S3-compatible
server on 127.0.0.1, and headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_FILES = ROOT / "sample_files"


def corpus_dir() -> Path | None:
    configured = os.environ.get("FITPIPE_CORPUS")
    candidates = [Path(configured)] if configured else [ROOT.parent / "shared" / "corpus"]
    return next((c for c in candidates if (c / "README.md").exists()), None)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """../shared/corpus (or $FITPIPE_CORPUS). Missing: skip locally, fail under CI."""
    found = corpus_dir()
    if found is None:
        message = "acceptance corpus not found: set FITPIPE_CORPUS or put shared/corpus beside the repo"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def fitpipe_executable() -> str:
    """The installed console script, next to this interpreter."""
    beside = Path(sys.executable).with_name("fitpipe")
    found = str(beside) if beside.exists() else shutil.which("fitpipe")
    assert found, "the fitpipe entry point is not installed (pip install -e .)"
    return found


def run_cli(*args: str, cwd: Path | None = None, check_code: int | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [fitpipe_executable(), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    if check_code is not None:
        assert result.returncode == check_code, (result.returncode, result.stdout, result.stderr)
    return result


def run_cli_without(package: str, folder: Path, *args: str) -> subprocess.CompletedProcess:
    """The CLI on a machine without an optional extra: `package` raises ImportError, from a
    folder put first on PYTHONPATH."""
    hidden = folder / f"without-{package}"
    (hidden / package).mkdir(parents=True)
    (hidden / package / "__init__.py").write_text(f"raise ImportError('{package} is not installed here')\n")
    return subprocess.run([fitpipe_executable(), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(hidden)})


# --- an S3-compatible server on 127.0.0.1: moto's server mode, a real HTTP server ---------------

MOTO_SERVER = Path(sys.executable).with_name("moto_server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@dataclass
class S3Server:
    """A moto server in a process group of its own; `env` is what a client needs to reach it
    with the AWS SDKs' usual variables (the way a user points fitpipe at a store)."""

    process: subprocess.Popen
    url: str

    @classmethod
    def start(cls, extra_env: dict[str, str] | None = None) -> "S3Server":
        port = free_port()
        process = subprocess.Popen([MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True,
                                   env={**os.environ, **(extra_env or {})})
        assert wait_until(lambda: port_open(port), 30), "moto_server did not start"
        return cls(process, f"http://127.0.0.1:{port}")

    @property
    def env(self) -> dict[str, str]:
        return s3_env(self.url)

    def client(self, **keys):
        import boto3  # moto's own dependency: to make buckets and upload what a test needs

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id=keys.get("key", "test"), aws_secret_access_key=keys.get("secret", "test"))

    def upload(self, folder: Path, bucket: str, prefix: str) -> None:
        client = self.client()
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def s3_env(url: str, key: str = "test", secret: str = "test") -> dict[str, str]:
    # AWS_METADATA_ENDPOINT: a client that finds no credentials asks a closed port here, never
    # a cloud's instance-metadata address.
    return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_ENDPOINT_URL": url,
            "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_METADATA_ENDPOINT": f"http://127.0.0.1:{free_port()}", "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="session")
def s3():
    """One S3-compatible server for the session, with buckets `lake` and `uploads`."""
    server = S3Server.start()
    client = server.client()
    for bucket in ("lake", "uploads"):
        client.create_bucket(Bucket=bucket)
    yield server
    server.stop()


# --- headless Chromium: the report is checked as a user's browser opens it ---------------------

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         # Every host name fails to resolve: the page must render with no network at all.
         "--host-resolver-rules=MAP * ~NOTFOUND"]


@pytest.fixture
def chromium(tmp_path):
    """Debian's chromium (tests/setup-browser.sh installs it). Missing: skip locally, fail under CI."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: run tests/setup-browser.sh as root (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                              capture_output=True, text=True, timeout=180)
    return run


def image_check(browser: subprocess.CompletedProcess) -> dict[str, str]:
    tag = re.search(r'<p id="image-check"([^>]*)>', browser.stdout)
    assert tag, f"no image check in the DOM; chromium said: {browser.stderr[-2000:]}"
    return dict(re.findall(r'data-(\w+)="([^"]*)"', tag.group(1)))
