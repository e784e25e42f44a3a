"""One ride written as FIT, GPX and TCX by the sample generator must give the same metrics."""

from __future__ import annotations

import fitparse
import pytest

import pipeline
from conftest import SAMPLE_FILES

FOLDER = SAMPLE_FILES / "same-ride-three-formats"


@pytest.fixture(scope="module")
def rows() -> dict[str, dict]:
    return {
        fmt: pipeline.read_file(FOLDER / f"2026-10-05-ride.{fmt}").activities.row(0, named=True)
        for fmt in ("fit", "gpx", "tcx")
    }


@pytest.mark.parametrize("other", ["gpx", "tcx"])
def test_formats_agree(rows, other):
    fit, row = rows["fit"], rows[other]
    assert row["sport"] == fit["sport"] == "ride"
    assert row["distance_m"] == pytest.approx(fit["distance_m"], rel=0.01)
    assert row["moving_s"] == pytest.approx(fit["moving_s"], rel=0.02)
    assert abs(row["avg_hr_bpm"] - fit["avg_hr_bpm"]) <= 1
    assert row["ascent_m"] == pytest.approx(fit["ascent_m"], rel=0.10)


def test_fit_distance_matches_the_devices_own_session(rows):
    # Read independently of fitpipe: the session message the generator wrote.
    session = next(fitparse.FitFile(str(FOLDER / "2026-10-05-ride.fit")).get_messages("session")).get_values()
    assert rows["fit"]["distance_m"] == pytest.approx(session["total_distance"], rel=0.005)
    assert rows["fit"]["max_hr_bpm"] == session["max_heart_rate"]
