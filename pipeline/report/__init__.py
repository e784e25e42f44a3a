"""`fitpipe report`: one offline HTML page of charts from the output folder's tables, and
crosstrain.parquet. docs/report.md describes every section."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import polars as pl

from .. import crosstrain, store
from ..config import Athlete
from ..summaries import NoActivities
from . import data, html, sections

__all__ = ["NoActivities", "build_report", "report_path", "write_text_atomic"]

REPORT_DIR, PAGE = "report", "index.html"


def report_path(out: Path) -> Path:
    return out / REPORT_DIR / PAGE


def build_report(out: Path, athlete: Athlete = Athlete(), timings: dict[str, float] | None = None) -> Path:
    """Write out/report/index.html and out/crosstrain.parquet; returns the page's path.

    Raises NoActivities when out has no activities.parquet or no dated activities in it.
    `timings`, when given, receives the seconds each step took."""
    timings = {} if timings is None else timings
    # Polars reads the run samples without holding the GIL, so the first charts draw meanwhile.
    with ThreadPoolExecutor(max_workers=1) as pool:
        with _timed(timings, "read tables (run samples go on in the background)"):
            tables = data.read(out, athlete, pool)
        with _timed(timings, "cross-training statistics"):
            metric = crosstrain.ride_ef_metric(tables.activities)
            series = crosstrain.weekly_series(tables.activities, metric)
            cross = crosstrain.analyse(series, metric)
            store.write_atomic(cross, store.table_path(out, "crosstrain"))
        with _timed(timings, "charts (and waiting for run samples)"):
            parts = sections.all_sections(tables, cross, series, metric)
    with _timed(timings, "write html"):
        text = html.page("Training report", _subtitle(tables.activities, out), parts)
        path = report_path(out)
        write_text_atomic(text, path)
    return path


def _subtitle(activities: pl.DataFrame, out: Path) -> str:
    first, last = activities["start_time_local"].min(), activities["start_time_local"].max()
    return (f"{activities.height} activities from {first:%Y-%m-%d} to {last:%Y-%m-%d}, "
            f"read from {out.resolve()}.")


def write_text_atomic(text: str, path: Path) -> None:
    """store.write_atomic for text: readers see the old page or the new one, never half."""
    with store.replacing(path) as temp:
        temp.write_text(text, encoding="utf-8")


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[step] = time.perf_counter() - started
