"""Every SQL and Python snippet in README.md and docs/ runs against the sample output, and gives
a result of the shape a reader expects (issue 19, item 20).

The snippets run as written, from a folder that holds the output as `fitpipe-data/` (the default
--out), so their paths need no edits. SQL runs in one DuckDB connection per document, in order,
so later queries see the views the first block creates. Python runs with `spark` bound to a local
Spark session for the Spark snippet.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from conftest import ROOT, SAMPLE_FILES, run_cli

TEXTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CONFIG = """
[[athlete.thresholds]]
from = "2026-01-01"
max_hr = 190
resting_hr = 50
lthr = 168
ftp = 260
"""


def snippets(language: str) -> list[tuple[str, int, str]]:
    found = []
    for path in TEXTS:
        for number, code in enumerate(re.findall(rf"```{language}\n(.*?)```", path.read_text(), re.DOTALL), 1):
            found.append((path.name, number, code))
    return found


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """sample_files/ plus one broken file, imported to fitpipe-data/ with thresholds, with the
    report's crosstrain.parquet, the same as Delta tables in fitpipe-delta/, and a ride.fit for
    the README's read_file."""
    work = tmp_path_factory.mktemp("docs-snippets")
    inputs = work / "inputs"
    shutil.copytree(SAMPLE_FILES, inputs)
    (inputs / "broken.fit").write_bytes(b"not a FIT file")
    (work / "fitpipe.toml").write_text(CONFIG)
    run_cli("run", inputs, "--quiet", cwd=work, check_code=1)  # 1: the broken file is rejected
    run_cli("report", "--quiet", cwd=work, check_code=0)
    # docs/bi.md's Delta recipes read the same files as Delta tables.
    run_cli("run", inputs, "--quiet", "--out", "fitpipe-delta", "--format", "delta", cwd=work, check_code=1)
    shutil.copy(SAMPLE_FILES / "garmin" / "2026-07-28-ride.fit", work / "ride.fit")
    return work


def test_the_docs_have_snippets_to_check():
    assert len(snippets("sql")) >= 9 and len(snippets("python")) >= 3


# Frames that are whole tables as stored: they hold every recording, duplicates included.
WHOLE_TABLES = {"activities", "laps", "samples"}


def _frame(relation) -> pl.DataFrame:
    """A DuckDB result as a polars frame, without pyarrow."""
    return pl.DataFrame(relation.fetchall(), schema=relation.columns, orient="row")


def _check_result(result: pl.DataFrame, where: str, whole_table: bool = False) -> None:
    assert result.height > 0, f"{where}: no rows"
    if whole_table or {"timestamp_utc", "lap_index"} & set(result.columns):
        return  # a table as stored, or samples and laps: many rows per activity
    if "activity_id" in result.columns:
        assert result["activity_id"].is_unique().all(), f"{where}: an activity twice"
    if {"start_time_local", "sport"} <= set(result.columns):
        rows = result.select("start_time_local", "sport")
        assert not rows.is_duplicated().any(), f"{where}: one workout twice (a duplicate recording?)"


@pytest.mark.parametrize("document", sorted({name for name, _, _ in snippets("sql")}))
def test_every_sql_snippet_runs(workdir, monkeypatch, document):
    monkeypatch.chdir(workdir)
    db = duckdb.connect()
    for name, number, code in snippets("sql"):
        if name != document:
            continue
        for statement in duckdb.extract_statements(code):
            if statement.type == duckdb.StatementType.SELECT:
                _check_result(_frame(db.sql(statement.query)), f"{name} sql block {number}: {statement.query.strip()[:60]}")
            else:
                db.execute(statement.query)


def test_the_activities_query_lists_each_workout_once(workdir, monkeypatch):
    # The three-format sample ride is one workout in three files: the documented query must show
    # it once, not three times.
    monkeypatch.chdir(workdir)
    activities = pl.read_parquet("fitpipe-data/activities.parquet")
    assert activities.filter(pl.col("duplicate_of").is_not_null()).height >= 2
    db = duckdb.connect()
    code = next(c for n, _, c in snippets("sql") if n == "bi.md" and "CREATE VIEW" in c)
    db.execute(code)
    query = next(c for n, _, c in snippets("sql") if n == "bi.md" and "pace_per_km" in c)
    shown = _frame(db.sql(query.replace("LIMIT 20", "").rstrip().rstrip(";")))
    assert shown.height == activities.filter("counts_in_totals").height


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[1]").appName("fitpipe-docs")
               .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
    yield session
    session.stop()


@pytest.mark.parametrize("name, number, code", snippets("python"), ids=lambda v: str(v)[:20])
def test_every_python_snippet_runs(workdir, monkeypatch, request, name, number, code):
    monkeypatch.chdir(workdir)
    namespace = {"spark": request.getfixturevalue("spark")} if "spark." in code else {}
    exec(compile(code, f"{name} python block {number}", "exec"), namespace)
    frames = {key: value for key, value in namespace.items() if isinstance(value, pl.DataFrame)}
    for key, frame in frames.items():
        _check_result(frame, f"{name} python block {number}: {key}", whole_table=key in WHOLE_TABLES)
    if "workouts" in namespace:
        workouts = namespace["workouts"]
        ids = workouts["activity_id"] if isinstance(workouts, pl.DataFrame) else [
            r.activity_id for r in workouts.select("activity_id").collect()]
        assert len(ids) == len(set(ids)) > 0
    assert frames or "spark." in code or "read_file" in code
