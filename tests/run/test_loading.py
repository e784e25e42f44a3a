"""Workers finish a batch of files with one metrics pass: it must equal reading each file alone."""

from __future__ import annotations

import pickle

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from benchmarks.faults import finish, split_inputs

from conftest import SAMPLE_FILES
from pipeline.config import Athlete
from pipeline.discover.files import SourceFile, discover
from pipeline.sinks import ParquetFolder
from pipeline.run.batch import Packed, load_batch, load_source, stacked


@pytest.fixture(scope="module")
def sources():
    files = discover([SAMPLE_FILES])
    # A multisport file, a swim with lengths, GPX, TCX and gzip all in one batch.
    wanted = ("multisport", "swim", ".gpx", ".tcx", ".gz", "ride", "run")
    chosen = [next(f for f in files if w in f.path.name) for w in wanted]
    return list(dict.fromkeys(chosen))


def test_a_batch_equals_its_files_read_one_by_one(sources):
    batch = load_batch([(s, None) for s in sources], "UTC", None, Athlete())
    for source, together in zip(sources, batch):
        alone = load_source(source, "UTC", None)
        assert together.status == alone.status == "imported", source.path
        for name in ("activities", "laps", "samples"):
            assert_frame_equal(getattr(together, name), getattr(alone, name), check_exact=True)


def test_a_file_that_breaks_the_batch_costs_only_itself(sources, tmp_path):
    broken = tmp_path / "broken.fit"
    broken.write_bytes(b"\x0e\x10garbage that is not a FIT file")
    bad = SourceFile(broken, "fit", None, broken.stat().st_size, 0)
    batch = load_batch([(sources[0], None), (bad, None), (sources[1], None)], "UTC", None, Athlete())
    assert [c.status for c in batch] == ["imported", "rejected", "imported"]
    assert "broken.fit" in batch[1].path and batch[1].reason


def test_identical_files_in_one_batch_get_identical_tables(sources, tmp_path):
    copy = tmp_path / sources[0].path.name
    copy.write_bytes(sources[0].path.read_bytes())
    twin = SourceFile(copy, sources[0].format, sources[0].compression, copy.stat().st_size, 0)
    first, second = load_batch([(sources[0], None), (twin, None)], "UTC", None, Athlete())
    assert first.sha256 == second.sha256
    assert_frame_equal(first.samples, second.samples)
    assert first.activities["n_samples"].to_list() == second.activities["n_samples"].to_list()



def test_a_packed_batch_unpacks_to_the_tables_the_worker_made(sources, tmp_path):
    broken = tmp_path / "broken.fit"
    broken.write_bytes(b"\x0e\x10garbage that is not a FIT file")
    bad = SourceFile(broken, "fit", None, broken.stat().st_size, 0)
    jobs = [(sources[0], None), (bad, None), (sources[1], None), (sources[0], None), (sources[2], None)]
    made = load_batch(jobs, "UTC", None, Athlete(), ParquetFolder(tmp_path / "out"))
    received = pickle.loads(pickle.dumps(Packed.pack(made))).unpack()  # as it crosses the pipe
    assert [c.status for c in received] == ["imported", "rejected", "imported", "imported", "imported"]
    assert sum(c.activities.height for c in made) > len(made) - 1  # the multisport file has several
    for sent, got in zip(made, received):
        assert (got.path, got.status, got.reason, got.sha256, got.sample_files) == \
            (sent.path, sent.status, sent.reason, sent.sha256, sent.sample_files)
        assert_frame_equal(got.activities, sent.activities, check_exact=True)
        assert_frame_equal(got.laps, sent.laps, check_exact=True)
        assert got.samples.is_empty() and sent.samples.is_empty()  # written to sample files instead


def test_stacked_keeps_every_row_and_column_even_when_frames_differ():
    """Frames of one schema stack as they are; one with an extra column (a Strava name, say)
    must not cost a row: the stack falls back to matching columns by name."""
    same = [pl.DataFrame({"activity_id": [f"a{i}"], "distance_m": [float(i)]}) for i in range(3)]
    assert stacked(same).to_dict(as_series=False) == {"activity_id": ["a0", "a1", "a2"], "distance_m": [0.0, 1.0, 2.0]}
    named = pl.DataFrame({"activity_id": ["b"], "source_name": ["Lunch ride"], "distance_m": [9.0]})
    mixed = stacked([*same, named])
    assert mixed.height == 4 and mixed["source_name"].to_list() == [None, None, None, "Lunch ride"]
    assert mixed["distance_m"].to_list() == [0.0, 1.0, 2.0, 9.0]


def test_one_run_and_two_runs_give_exactly_the_same_activities(tmp_path):
    # Batches differ (the second run reads only the new files), and float sums in polars
    # can pair values by memory position: no metric may change in the last bit with that.
    base, new = split_inputs(tmp_path, 40)
    once, twice = tmp_path / "once", tmp_path / "twice"
    assert finish(once, base, new)
    assert finish(twice, base) and finish(twice, base, new)
    for table in ("activities", "laps"):
        assert_frame_equal(pl.read_parquet(once / f"{table}.parquet"), pl.read_parquet(twice / f"{table}.parquet"),
                           check_exact=True)


def test_one_lap_shortcut_gives_the_laps_a_per_lap_summary_gives(sources, monkeypatch):
    from pipeline.metrics import compute
    from pipeline.run.batch import _prepared

    prepared = [_prepared(s, None, "UTC", None) for s in sources]
    tables = [pl.concat([getattr(c.tables, name) for c in prepared], how="diagonal_relaxed")
              for name in ("activities", "laps", "samples")]
    laps_per_activity = tables[2].group_by("activity_id").agg(pl.col("lap_index").n_unique())["lap_index"]
    assert (laps_per_activity == 1).any() and (laps_per_activity > 1).any()  # both paths are taken
    shortcut = compute.with_metrics(*tables, Athlete()).laps
    monkeypatch.setattr(compute, "_lap_summaries", lambda samples, _, summary: summary(["activity_id", "lap_index"]))
    every_lap = compute.with_metrics(*tables, Athlete()).laps
    assert_frame_equal(shortcut, every_lap, check_exact=True)
