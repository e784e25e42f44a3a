"""Shared fixtures: the acceptance corpus, the installed CLI, output readers, and headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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


def run_cli(*args: str, cwd: Path | None = None, check_code: int | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [fitpipe_executable(), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600,
        env={**os.environ, "COLUMNS": "200"},
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
