"""sample_files/ is exactly what the repo's generator writes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, SAMPLE_FILES


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_committed_sample_files_match_a_fresh_generation(tmp_path):
    out = tmp_path / "generated"
    subprocess.run([sys.executable, "-m", "pipeline.samplegen", str(out)], check=True, cwd=ROOT,
                   capture_output=True, timeout=600)
    assert _digests(out) == _digests(SAMPLE_FILES)


def test_sample_files_stay_small():
    total = sum(p.stat().st_size for p in SAMPLE_FILES.rglob("*") if p.is_file())
    assert total < 10 * 1024 * 1024
