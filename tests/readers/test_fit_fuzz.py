"""A seeded slice of benchmarks/fuzz.py: on mutated corpus files the decoder never raises, and the
reader returns a ParsedFile or raises ReadError."""

from __future__ import annotations

import importlib.util

from conftest import ROOT
from pipeline.readers.base import PARSE_STATUSES
from pipeline.readers.fit import read_fit
from test_fit_columns import _raw_definition, _raw_fit

FUZZ = ROOT / "benchmarks" / "fuzz.py"


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


# Cases the full fuzz (benchmarks/fuzz.py --seed 5) found making the reader raise TypeError:
# a damaged definition turned a time field into text or an array.
FOUND_BY_FUZZ = {5: (291, 297)}


def test_fuzz_findings_read_or_raise_read_error(corpus):
    fuzz = _fuzz_module()
    originals = fuzz.sources(corpus)
    for seed, cases in FOUND_BY_FUZZ.items():
        rng = fuzz.np.random.default_rng(seed)
        for case in range(max(cases) + 1):
            data = fuzz.make_case(rng, originals)
            if case in cases:
                fuzz.run_case(data, measure_memory=False)  # raises on anything but ReadError


def test_time_fields_of_the_wrong_type_are_left_out():
    uint32, string = 0x86, 0x07
    body = (
        # file_id: type activity, time_created declared as 4 bytes of text.
        _raw_definition(0, 0, (0, 1, 0x00), (4, 4, string)) + b"\x00\x04abcd"
        # record: timestamp and heart rate.
        + _raw_definition(1, 20, (253, 4, uint32), (3, 1, 0x02))
        + b"\x01" + (1_000_000_000).to_bytes(4, "little") + b"\x78"
        # hr with fractional_timestamp as text, then one whose event_timestamp_12 is a number.
        + _raw_definition(2, 132, (253, 4, uint32), (0, 2, string), (9, 4, uint32))
        + b"\x02" + (1_000_000_000).to_bytes(4, "little") + b"xy" + (1024).to_bytes(4, "little")
        + _raw_definition(3, 132, (10, 4, uint32)) + b"\x03" + (0xFFFFFFF0).to_bytes(4, "little")
    )
    parsed = read_fit(_raw_fit(body), "wrong-types.fit")
    assert parsed.is_activity and parsed.parse_status == "ok"
    assert parsed.records["heart_rate_bpm"].to_list() == [120]
