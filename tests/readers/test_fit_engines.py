"""The default FIT engine (numpy) against the reference (fitparse), through the whole reader.

tests/test_fit_columns.py compares the decoders field by field; this compares what the
pipeline keeps: every activity, lap and sample column after unit conversion and
normalization, floats within 1e-9 relative.
"""

from __future__ import annotations

import logging

import pytest
from polars.testing import assert_frame_equal

import pipeline

# fitparse stops at the COROS file's misaligned field after 1,785 of 11,272 records; the
# numpy engine reads on. tests/test_fit_columns.py compares that file with the Garmin SDK.
READ_FURTHER_THAN_FITPARSE = {"coros-pace-2-cycling-misaligned-fields.fit"}


def _fit_files(corpus):
    return sorted(p for p in (corpus / "fit").iterdir() if p.name not in READ_FURTHER_THAN_FITPARSE)


def test_engines_agree_on_every_corpus_fit_file(corpus):
    logging.disable(logging.WARNING)
    try:
        for path in _fit_files(corpus):
            ours = pipeline.read_file(path, engines={"fit": "numpy"})
            reference = pipeline.read_file(path, engines={"fit": "fitparse"})
            assert (ours.status, ours.parse_status, ours.reason is None) == (
                reference.status, reference.parse_status, reference.reason is None), path.name
            for table in ("activities", "laps", "samples"):
                # parse_detail words the same damage in each decoder's own terms.
                left, right = (getattr(c, table).drop("parse_detail", strict=False) for c in (ours, reference))
                assert_frame_equal(left, right, rel_tol=1e-9, abs_tol=0.0), f"{path.name} {table}"
    finally:
        logging.disable(logging.NOTSET)


def test_numpy_engine_reads_every_coros_record(corpus):
    path = corpus / "fit" / "coros-pace-2-cycling-misaligned-fields.fit"
    content = pipeline.read_file(path, engines={"fit": "numpy"})
    reference = pipeline.read_file(path, engines={"fit": "fitparse"})
    assert content.samples.height == 11_272  # corpus README
    assert reference.samples.height < content.samples.height
    assert content.parse_status == "misaligned_field"  # flagged: one field's values are skipped


def test_unknown_fit_engine_is_refused():
    with pytest.raises(ValueError, match="unknown fit engine 'fast'; choose from numpy, fitparse"):
        pipeline.readers.read_bytes(b"", "fit", "x.fit", {"fit": "fast"})
