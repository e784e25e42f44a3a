"""A seeded slice of benchmarks/fuzz.py: mutated corpus files never make the decoder raise."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pipeline.readers.base import PARSE_STATUSES

FUZZ = Path(__file__).resolve().parent.parent / "benchmarks" / "fuzz.py"


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("fit_fuzz", FUZZ)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fuzz_slice_never_raises(corpus):
    summary = _fuzz_module().fuzz(300, seed=20240601, corpus=corpus, memory_every=25)
    assert summary["failures"] == []
    assert set(summary["statuses"]) <= set(PARSE_STATUSES)
    assert summary["max_time"] < 5.0
