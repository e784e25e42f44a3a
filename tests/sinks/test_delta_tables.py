"""`--format delta`: the same tables as the parquet folder, row for row, read back by their own
readers (polars for parquet, deltalake for Delta), on sample_files/ plus the corpus."""

from __future__ import annotations

import csv
import io
import json
import shutil

import polars as pl
import pytest
from deltalake import DeltaTable
from polars.testing import assert_frame_equal

from conftest import SAMPLE_FILES, run_cli, run_cli_without

TABLES = ("activities", "laps", "manifest", "weekly", "daily_load", "athletes", "crosstrain", "curves", "best_efforts")
# Rows are compared in this order; every table's key columns come first.
ORDER = {"activities": ["activity_id"], "laps": ["activity_id", "lap_index"], "manifest": ["athlete_id", "path"],
         "weekly": ["athlete_id", "week_start", "sport"], "daily_load": ["athlete_id", "date", "sport"],
         "athletes": ["athlete_id"], "crosstrain": ["athlete_id", "lag_weeks"],
         "samples": ["activity_id", "timestamp_utc"], "curves": ["activity_id", "kind", "duration_s"],
         "best_efforts": ["activity_id", "distance_m"]}


@pytest.fixture(scope="module")
def outputs(corpus, tmp_path_factory):
    work = tmp_path_factory.mktemp("formats")
    for form in ("parquet", "delta"):
        run_cli("run", SAMPLE_FILES, corpus, "--out", work / form, "--quiet", "--format", form, check_code=1)
        run_cli("metrics", "--out", work / form, "--quiet", check_code=0)  # recomputed from stored samples
        run_cli("report", "--out", work / form, "--quiet", check_code=0)
    return work / "parquet", work / "delta"


def parquet_table(out, name: str) -> pl.DataFrame:
    if name == "samples":
        return pl.read_parquet(out / "samples" / "**" / "*.parquet", hive_partitioning=True)
    return pl.read_parquet(out / f"{name}.parquet")


def delta_table(out, name: str) -> pl.DataFrame:
    return pl.from_arrow(DeltaTable(str(out / name)).to_pyarrow_table())


@pytest.mark.parametrize("name", [*TABLES, "samples"])
def test_both_formats_hold_the_same_rows(outputs, name):
    parquet, delta = outputs
    want, got = parquet_table(parquet, name), delta_table(delta, name)
    if name == "samples":
        assert got["write_id"].null_count() == 0
        got = got.drop("write_id")
    assert sorted(got.columns) == sorted(want.columns)
    key = ORDER[name] + [c for c in want.columns if c not in ORDER[name] and not want[c].dtype.is_nested()]
    want, got = want.sort(key), got.select(want.columns).sort(key)
    assert want.height > 0
    # Delta has no unsigned integers: counts come back signed; values must be equal, floats to the bit.
    assert_frame_equal(got, want, check_dtypes=False, check_exact=True)


def test_the_delta_sink_reads_counts_back_unsigned(outputs):
    parquet, delta = outputs
    result = run_cli("summary", "--out", delta, "--json", check_code=0)
    assert result.stdout == run_cli("summary", "--out", parquet, "--json", check_code=0).stdout


def test_query_gives_the_same_answer_on_both(outputs):
    sql = ("SELECT s.sport, count(*) AS n, sum(s.heart_rate_bpm) AS beats FROM samples s "
           "JOIN workouts w USING (activity_id) GROUP BY 1 ORDER BY 1")
    answers = [run_cli("query", "--out", out, "--csv", sql, check_code=0).stdout for out in outputs]
    assert answers[0] == answers[1]
    rows = list(csv.DictReader(io.StringIO(answers[0])))
    assert {r["sport"] for r in rows} >= {"ride", "run", "swim"}


def test_a_second_run_commits_nothing(outputs, corpus):
    _, delta = outputs
    versions = {name: DeltaTable(str(delta / name)).version() for name in [*TABLES, "samples"]}
    result = run_cli("run", SAMPLE_FILES, corpus, "--out", delta, "--json", check_code=0)
    assert '"imported": 0' in result.stdout
    assert {name: DeltaTable(str(delta / name)).version() for name in versions} == versions


def test_a_folder_keeps_its_format(outputs):
    parquet, delta = outputs
    result = run_cli("run", SAMPLE_FILES, "--out", parquet, "--format", "delta", check_code=2)
    assert result.stderr.strip() == (f"error: {parquet}: holds parquet tables, not delta; "
                                     f"choose another --out, or --format parquet")
    run_cli("run", SAMPLE_FILES, "--out", delta, "--format", "parquet", check_code=2)


def test_a_bad_format_is_one_line(tmp_path):
    result = run_cli("run", SAMPLE_FILES, "--out", tmp_path / "out", "--format", "iceberg", check_code=2)
    assert result.stderr.strip() == "error: output format 'iceberg': choose parquet or delta"


def test_without_deltalake_the_format_says_what_to_install(tmp_path):
    result = run_cli_without("deltalake", tmp_path, "run", SAMPLE_FILES, "--out", tmp_path / "out", "--format", "delta")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --format delta needs Delta Lake: pip install 'fitpipe[delta]'"


@pytest.fixture
def delta_copy(outputs, tmp_path):
    copy = tmp_path / "delta"
    shutil.copytree(outputs[1], copy)
    return copy


def samples_now(out) -> pl.DataFrame:
    return in_order(delta_table(out, "samples"))


def in_order(samples: pl.DataFrame) -> pl.DataFrame:
    """A total order: some corpus files repeat a timestamp within an activity."""
    return samples.sort("activity_id", "timestamp_utc", *[c for c in samples.columns
                                                          if c not in ("activity_id", "timestamp_utc")])


def test_compact_merges_sample_files_sorted_and_keeps_every_row(delta_copy):
    before, table = samples_now(delta_copy), DeltaTable(str(delta_copy / "samples"))
    files_before = len(table.file_uris())
    result = json.loads(run_cli("compact", "--out", delta_copy, "--retention-days", "0", "--json", check_code=0).stdout)
    table = DeltaTable(str(delta_copy / "samples"))
    partitions = {tuple(sorted(p.items())) for p in table.partitions()}
    assert len(table.file_uris()) == len(partitions) < files_before, "one file per partition after compaction"
    assert result["files_after"] < result["files_before"]
    assert_frame_equal(samples_now(delta_copy), before, check_exact=True)
    for uri in table.file_uris():  # each file sorted by activity, then time
        rows = pl.read_parquet(uri.removeprefix("file://")).select("activity_id", "timestamp_utc")
        assert rows.equals(rows.sort("activity_id", "timestamp_utc", maintain_order=True))
    on_disk = sum(1 for _ in (delta_copy / "samples").rglob("*.parquet"))
    assert on_disk == len(table.file_uris()), "retention 0: the replaced files are vacuumed"


def test_compact_within_the_retention_leaves_older_versions_readable(delta_copy):
    reader = DeltaTable(str(delta_copy / "samples"))  # a reader that loaded the latest version before
    version, before = reader.version(), samples_now(delta_copy)
    run_cli("compact", "--out", delta_copy, check_code=0)
    assert_frame_equal(in_order(pl.from_arrow(reader.to_pyarrow_table())), before)
    old = DeltaTable(str(delta_copy / "samples"), version=version)
    assert_frame_equal(in_order(pl.from_arrow(old.to_pyarrow_table())), before)
    assert DeltaTable(str(delta_copy / "samples")).version() > version


def test_compact_on_a_parquet_folder_changes_nothing(outputs):
    parquet = outputs[0]
    files = sorted(p.relative_to(parquet) for p in parquet.rglob("*.parquet"))
    result = run_cli("compact", "--out", parquet, check_code=0)
    assert result.stderr.strip() == f"{parquet}: a parquet folder, one file per activity: nothing to compact"
    assert sorted(p.relative_to(parquet) for p in parquet.rglob("*.parquet")) == files


def test_query_as_of_a_completed_run_reads_the_tables_as_it_left_them(tmp_path):
    rides = sorted((SAMPLE_FILES / "garmin").glob("*.fit"))
    inputs, delta = tmp_path / "in", tmp_path / "delta"
    inputs.mkdir()
    for path in rides[:3]:
        shutil.copy(path, inputs)
    first_only = tmp_path / "parquet-first"  # what the first run held, from the other sink
    run_cli("run", inputs, "--out", first_only, "--quiet", check_code=0)
    run_cli("run", inputs, "--out", delta, "--quiet", "--format", "delta", check_code=0)
    run_cli("run", inputs, "--out", delta, "--quiet", check_code=0)  # nothing new: no run recorded
    for path in rides[3:8]:
        shutil.copy(path, inputs)
    run_cli("run", inputs, "--out", delta, "--quiet", check_code=0)
    runs = [json.loads(line) for line in run_cli(
        "query", "--out", delta, "--json", "SELECT * FROM runs ORDER BY finished_utc", check_code=0).stdout.splitlines()]
    assert len(runs) == 2
    sql = "SELECT activity_id, distance_m FROM activities ORDER BY activity_id"
    then = run_cli("query", "--out", delta, "--csv", "--as-of", runs[0]["run_id"], sql, check_code=0).stdout
    want = pl.read_parquet(first_only / "activities.parquet").sort("activity_id")
    assert [r["activity_id"] for r in csv.DictReader(io.StringIO(then))] == want["activity_id"].to_list()
    now = run_cli("query", "--out", delta, "--csv", sql, check_code=0).stdout
    assert len(list(csv.DictReader(io.StringIO(now)))) == len(rides[:8])
    assert runs[1]["activities_version"] > runs[0]["activities_version"]
    samples_then = run_cli("query", "--out", delta, "--csv", "--as-of", runs[0]["run_id"],
                           "SELECT count(*) AS n FROM samples", check_code=0).stdout
    assert int(samples_then.splitlines()[1]) == sum(pl.read_parquet(p).height for p in (first_only / "samples").rglob("*.parquet"))


def test_as_of_an_unknown_run_or_on_parquet_is_one_line(outputs):
    parquet, delta = outputs
    result = run_cli("query", "--out", delta, "--as-of", "nope", "SELECT 1", check_code=2)
    assert result.stderr.strip().startswith(f"error: {delta}: no completed run nope;")
    result = run_cli("query", "--out", parquet, "--as-of", "nope", "SELECT 1", check_code=2)
    assert result.stderr.strip() == (f"error: {parquet}: --as-of needs Delta tables (fitpipe run --format delta); "
                                     f"a parquet folder keeps no versions")


def test_the_change_feed_gives_exactly_the_activities_added_or_changed_since_a_version(tmp_path):
    """docs/bi.md's downstream-load recipe, against a diff of the two versions' rows."""
    rides = sorted((SAMPLE_FILES / "garmin").glob("*ride.fit"))
    same = SAMPLE_FILES / "same-ride-three-formats"
    inputs, delta = tmp_path / "in", tmp_path / "delta"
    inputs.mkdir()
    for path in [*rides[:3], same / "2026-10-05-ride.fit"]:
        shutil.copy(path, inputs)
    run_cli("run", inputs, "--out", delta, "--quiet", "--format", "delta", check_code=0)
    loaded = DeltaTable(str(delta / "activities")).version()
    # Next: two new rides, and the GPX and TCX of a ride already imported (duplicates: the
    # imported row may change, as the kept copy of a workout).
    for path in [*rides[3:5], same / "2026-10-05-ride.gpx", same / "2026-10-05-ride.tcx"]:
        shutil.copy(path, inputs)
    run_cli("run", inputs, "--out", delta, "--quiet", check_code=0)

    assert_feed_is_the_diff(str(delta / "activities"), loaded, at_least=4)  # two new rides, two other recordings


def assert_feed_is_the_diff(uri: str, loaded: int, at_least: int, options: dict | None = None) -> None:
    """The change feed of table `uri` after version `loaded`, read as docs/bi.md says, holds
    exactly the rows that differ between that version and the latest: no more, no fewer."""
    table = DeltaTable(uri, storage_options=options)
    feed = pl.DataFrame(table.load_cdf(starting_version=loaded + 1))
    latest = feed.filter(pl.col("_change_type") != "update_preimage").sort("_commit_version").group_by(
        "activity_id").last()
    upserts = latest.filter(pl.col("_change_type").is_in(["insert", "update_postimage"]))
    deleted = latest.filter(pl.col("_change_type") == "delete")

    before = pl.from_arrow(DeltaTable(uri, version=loaded, storage_options=options).to_pyarrow_table())
    after = pl.from_arrow(table.to_pyarrow_table())
    columns = [c for c in after.columns if not after[c].dtype.is_nested()]
    want = after.join(before, on=columns, how="anti", nulls_equal=True)
    assert want.height >= at_least
    assert_frame_equal(upserts.select(after.columns).sort("activity_id"), want.sort("activity_id"), check_exact=True)
    assert deleted.is_empty() and before.join(after, on="activity_id", how="anti").is_empty()


def test_a_second_run_on_a_delta_output_exits_3_while_the_first_holds_the_lock(delta_copy):
    from pipeline.sinks.delta_tables import DeltaTables

    versions = {name: DeltaTable(str(delta_copy / name)).version() for name in ("activities", "samples")}
    with DeltaTables(delta_copy).lock():  # as a run in progress holds it
        result = run_cli("run", SAMPLE_FILES, "--out", delta_copy, "--full", check_code=3)
    assert result.stderr.strip() == (f"error: {delta_copy}: another fitpipe run is writing here; "
                                     f"try again later or use --wait")
    assert {name: DeltaTable(str(delta_copy / name)).version() for name in versions} == versions
