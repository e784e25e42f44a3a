"""`fitpipe query`: DuckDB SQL over the output's tables, through the installed entry point.
Every answer is checked against the same question asked of the files with polars."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import polars as pl
import pytest

from conftest import SAMPLE_FILES, fitpipe_executable, run_cli

VIEWS = {"activities", "workouts", "laps", "samples", "weekly", "daily_load", "manifest", "athletes", "crosstrain",
         "curves", "best_efforts", "time_at_hr", "bests", "thresholds"}


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    folder = tmp_path_factory.mktemp("query") / "out"
    run_cli("run", SAMPLE_FILES, "--out", folder, "--quiet", check_code=0)
    run_cli("report", "--out", folder, "--quiet", check_code=0)
    return folder


def every_sample(out) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(p) for p in sorted((out / "samples").rglob("*.parquet"))], how="diagonal_relaxed")


def test_every_table_is_a_view(out):
    result = run_cli("query", "--out", out, "--json", "SELECT table_name FROM information_schema.tables", check_code=0)
    assert {json.loads(line)["table_name"] for line in result.stdout.splitlines()} == VIEWS


def test_a_pipe_gets_every_row_as_a_markdown_table(out):
    sql = ("SELECT sport, count(*) AS n, round(sum(distance_m) / 1000, 3) AS km FROM workouts "
           "GROUP BY sport ORDER BY sport")
    lines = run_cli("query", "--out", out, sql, check_code=0).stdout.splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == ["sport", "n", "km"]
    assert set(lines[1]) <= {"|", "-"}
    got = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    activities = pl.read_parquet(out / "activities.parquet").filter(pl.col("counts_in_totals"))
    want = (activities.group_by("sport").agg(n=pl.len(), km=(pl.col("distance_m").sum() / 1000).round(3))
            .sort("sport"))
    assert [row[0] for row in got] == want["sport"].to_list()
    assert [int(row[1]) for row in got] == want["n"].to_list()
    assert [float(row[2]) for row in got] == pytest.approx(want["km"].to_list(), abs=1e-3)


def test_workouts_leave_out_the_other_recordings_of_a_workout(out):
    result = run_cli("query", "--out", out, "--csv",
                     "SELECT (SELECT count(*) FROM activities) AS every, (SELECT count(*) FROM workouts) AS kept",
                     check_code=0)
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    activities = pl.read_parquet(out / "activities.parquet")
    assert int(row["every"]) == activities.height
    assert int(row["kept"]) == activities.filter(pl.col("duplicate_of").is_null() & pl.col("counts_in_totals")).height
    assert int(row["kept"]) < int(row["every"]), "sample_files/ has duplicate recordings to leave out"


def test_csv_holds_every_sample_row_with_a_header(out):
    result = run_cli("query", "--out", out, "--csv", "SELECT activity_id, timestamp_utc, heart_rate_bpm FROM samples",
                     check_code=0)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    samples = every_sample(out)
    assert len(rows) == samples.height > 100_000
    assert sum(1 for r in rows if r["heart_rate_bpm"] == "") == samples["heart_rate_bpm"].null_count()
    assert all(r["timestamp_utc"].endswith("+00") for r in rows[:1000]), "UTC instants print in UTC"


def test_json_is_one_object_per_line_with_lists_kept(out):
    result = run_cli("query", "--out", out, "--json", "SELECT path, status, activity_ids FROM manifest ORDER BY path",
                     check_code=0)
    got = [json.loads(line) for line in result.stdout.splitlines()]
    manifest = pl.read_parquet(out / "manifest.parquet").sort("path")
    assert [g["path"] for g in got] == manifest["path"].to_list()
    assert [g["activity_ids"] for g in got] == manifest["activity_ids"].to_list()


def test_a_sql_error_is_one_line_and_exit_2(out):
    result = run_cli("query", "--out", out, "SELEC sport FROM activities", check_code=2)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: query: Parser Error: syntax error at or near \"SELEC\"")


def test_a_missing_table_names_itself(out):
    result = run_cli("query", "--out", out, "SELECT * FROM weekley", check_code=2)
    assert len(result.stderr.strip().splitlines()) == 1 and "weekley" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--csv", "--json"], "error: --csv and --json: give one or the other"),
])
def test_bad_options_are_one_line(out, args, message):
    result = run_cli("query", "--out", out, *args, "SELECT 1", check_code=2)
    assert result.stderr.strip() == message


def test_a_folder_without_output_is_one_line(tmp_path):
    result = run_cli("query", "--out", tmp_path / "nothing", "SELECT 1", check_code=2)
    assert result.stderr.strip().startswith(f"error: {tmp_path / 'nothing'}: no fitpipe output here")


def test_a_reader_that_stops_early_gets_no_error(out):
    # `fitpipe query --csv "SELECT * FROM samples" | head -1`
    process = subprocess.Popen([fitpipe_executable(), "query", "--out", str(out), "--csv", "SELECT * FROM samples"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().startswith(b"athlete_id,activity_id,")
    process.stdout.close()
    assert process.wait(timeout=60) == 0
    assert process.stderr.read() == b""


def test_a_terminal_sees_the_first_rows_and_how_to_get_the_rest(out):
    terminal = subprocess.run(["script", "-qec", f"{fitpipe_executable()} query --out {out} "
                               "'SELECT activity_id FROM activities ORDER BY activity_id'", "/dev/null"],
                              capture_output=True, text=True, timeout=60, env={"COLUMNS": "120", "TERM": "dumb"})
    assert terminal.returncode == 0
    first = sorted(pl.read_parquet(out / "activities.parquet")["activity_id"].to_list())
    shown = [i for i in first if i in terminal.stdout]
    assert shown == first[:50]
    assert "first 50 rows shown: pipe the output, or use --csv or --json, for every row" in terminal.stdout
