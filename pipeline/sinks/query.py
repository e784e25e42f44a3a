"""`fitpipe query`: DuckDB SQL over an output's tables, each a view named after its table.

The sink says where its tables are (`Sink.queryable`): a DuckDB expression to read from, such as
`read_parquet('…/activities.parquet')`, or an Arrow dataset (a Delta table's, so that no DuckDB
extension has to be downloaded). Results go to a terminal as a table, or to stdout as CSV
or JSON lines, which DuckDB writes itself so that a query of millions of samples streams out.
"""

from __future__ import annotations

import os
import sys
from typing import Iterator

import duckdb

from .base import Sink

# Each workout once: the activities that are not another file's recording of a workout kept
# elsewhere, and not triathlon transitions; what fitpipe's own weekly and daily tables count.
WORKOUTS_VIEW = "CREATE VIEW workouts AS SELECT * FROM activities WHERE counts_in_totals"
# Rows shown on a terminal; a pipe gets every row.
TERMINAL_ROWS = 50


class QueryError(ValueError):
    """The SQL failed; the message is DuckDB's, on one line."""


def connect(sink: Sink, as_of: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per table the sink holds (as of a completed run, if
    given), `workouts`, and UTC as the session's zone (so *_utc columns print in UTC)."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    sources = sink.queryable(as_of)
    for name, source in sources.items():
        if not isinstance(source, str):  # an Arrow dataset (a Delta table's): scanned in place
            connection.register(f"{name}_dataset", source)
            source = f'"{name}_dataset"'
        connection.execute(f'CREATE VIEW "{name}" AS SELECT * FROM {source}')
    if "activities" in sources:
        connection.execute(WORKOUTS_VIEW)
    return connection


def run(connection: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation:
    """The result of one SQL statement; QueryError, one line, when DuckDB refuses it."""
    try:
        result = connection.sql(sql)
    except duckdb.Error as exc:
        raise QueryError(_one_line(exc)) from None
    if result is None:
        raise QueryError("the statement returned no rows to show (use a SELECT)")
    return result


def write(connection: duckdb.DuckDBPyConnection, sql: str, form: str) -> None:
    """The whole result of `sql` (checked by `run`) on stdout as CSV (with a header) or JSON
    lines (one object per row), written by DuckDB straight to the file descriptor."""
    options = {"csv": "FORMAT csv, HEADER true", "json": "FORMAT json"}[form]
    sys.stdout.flush()
    try:
        try:
            connection.execute(f"COPY ({sql.strip().rstrip(';')}) TO '/dev/stdout' ({options})")
        except duckdb.ParserException:  # SHOW, DESCRIBE, PRAGMA: not a subquery, but a relation
            connection.sql(sql).create_view("query_result")
            connection.execute(f"COPY (SELECT * FROM query_result) TO '/dev/stdout' ({options})")
    except duckdb.Error as exc:
        if "Broken pipe" in str(exc):  # `| head` stopped reading: not an error of ours
            os._exit(0)
        raise QueryError(_one_line(exc)) from None


def rows(result: duckdb.DuckDBPyRelation, limit: int | None) -> tuple[list[str], Iterator[tuple], bool]:
    """Column names, up to `limit` rows (all with None), and whether rows were left out."""
    try:
        if limit is None:
            return result.columns, iter(result.fetchall()), False
        first = result.limit(limit + 1).fetchall()
    except duckdb.Error as exc:
        raise QueryError(_one_line(exc)) from None
    return result.columns, iter(first[:limit]), len(first) > limit


def markdown(columns: list[str], rows: Iterator[tuple]) -> Iterator[str]:
    """The rows as a Markdown table, columns padded to line up: for pipes and files, where it
    reads as text and renders as a table. Nulls are empty cells; `|` in a value is escaped."""
    cells = [list(columns)] + [["" if v is None else str(v).replace("|", "\\|").replace("\n", " ") for v in row]
                               for row in rows]
    widths = [max(3, *(len(line[i]) for line in cells)) for i in range(len(columns))]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"

    yield line(cells[0])
    yield "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    yield from (line(values) for values in cells[1:])


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
