"""ParquetFolder keeps the promises of the Sink protocol (sinks/base.py) that every stage relies
on: atomic tables, replaceable samples, an exclusive lock, and a sink that travels to workers."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from pipeline.normalize import schema
from pipeline.sinks import LockHeld, ParquetFolder, Sink, for_output

T0 = datetime(2026, 7, 6, 6, tzinfo=timezone.utc)


def _samples(activity: str, sport: str, n: int, heart_rate: float) -> pl.DataFrame:
    frame = pl.DataFrame({
        "activity_id": [activity] * n, "timestamp_utc": [T0 + timedelta(seconds=i) for i in range(n)],
        "heart_rate_bpm": [heart_rate] * n, "sport": [sport] * n, "year": [2026] * n,
    })
    return schema.conform(frame, {**schema.SAMPLES, **schema.SAMPLE_PARTITIONS})


def test_it_is_a_sink_and_travels_to_workers(tmp_path):
    sink = for_output(tmp_path)
    assert isinstance(sink, ParquetFolder) and for_output(sink) is sink
    assert pickle.loads(pickle.dumps(sink)) == sink
    for method in ("lock", "read_table", "write_table", "write_samples", "sync_samples", "delete_samples",
                   "read_samples", "sample_reader", "read_settings", "write_settings", "write_report"):
        assert callable(getattr(sink, method)), method
    assert set(Sink.__dict__) >= {"lock", "write_samples"}


def test_tables_are_replaced_whole_and_missing_ones_are_empty_with_their_schema(tmp_path):
    sink = ParquetFolder(tmp_path)
    assert not sink.has_table("activities")
    assert sink.read_table("activities").schema == pl.Schema(schema.ACTIVITIES)
    with pytest.raises(FileNotFoundError):
        sink.read_table("weekly")
    first = pl.DataFrame({"week_start": [1], "x": [1.0]})
    sink.write_table("weekly", first)
    sink.write_table("weekly", first.with_columns(x=pl.lit(2.0)))
    assert sink.read_table("weekly")["x"].to_list() == [2.0]
    assert not list(tmp_path.rglob(".tmp-*"))


def test_samples_written_again_replace_the_activitys_samples(tmp_path):
    sink = ParquetFolder(tmp_path)
    handles = sink.write_samples(pl.concat([_samples("a", "ride", 3, 120.0), _samples("b", "run", 2, 150.0)]))
    assert set(handles) == {"a", "b"}
    sink.write_samples(_samples("a", "ride", 4, 130.0))  # a retried batch, a file read again
    sink.sync_samples()
    rides = sink.read_samples(["activity_id", "heart_rate_bpm"], sport="ride")
    assert rides["heart_rate_bpm"].to_list() == [130.0] * 4
    assert sink.read_samples(activity_ids=["b"])["sport"].to_list() == ["run", "run"]
    sink.delete_samples({"a", "b"}, keep={handles["b"]})
    assert sink.read_samples(["activity_id"])["activity_id"].unique().to_list() == ["b"]


def test_one_writer_at_a_time(tmp_path):
    sink = ParquetFolder(tmp_path)
    with sink.lock():
        with pytest.raises(LockHeld):
            with ParquetFolder(tmp_path).lock():
                pass
    with sink.lock():  # freed again
        pass


def test_settings_and_report_are_kept_with_the_tables(tmp_path):
    sink = ParquetFolder(tmp_path)
    assert sink.read_settings() is None
    sink.write_settings('{"version": 1}\n')
    assert sink.read_settings() == '{"version": 1}\n'
    assert sink.write_report("<html></html>") == str(tmp_path / "report" / "index.html")
