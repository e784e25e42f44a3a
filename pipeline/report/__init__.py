"""`fitpipe report`: one offline HTML page of charts from the output folder's tables, and
crosstrain.parquet. docs/report.md describes every section."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Iterator

import polars as pl

from . import crosstrain
from ..sinks import parquet_folder as store
from ..config import Athlete
from ..metrics.stage import NoActivities
from . import data, html, sections

__all__ = ["NoActivities", "build_report", "report_path", "write_text_atomic"]

REPORT_DIR, PAGE = "report", "index.html"


def report_path(out: Path) -> Path:
    return out / REPORT_DIR / PAGE


def build_report(out: Path, athlete: Athlete = Athlete(), timings: dict[str, float] | None = None,
                 since: date | datetime | None = None, weeks: int | None = None,
                 today: date | None = None) -> Path:
    """Write out/report/index.html and out/crosstrain.parquet; returns the page's path.

    Sections 1-5 and 7 show the weeks from `since`, or the last `weeks` (default 52), up to the
    last activity; the cross-training statistics use the whole history. Raises NoActivities
    when out has no activities.parquet or no dated activities in it. `timings`, when given,
    receives the seconds each step took."""
    timings = {} if timings is None else timings
    since = since.date() if isinstance(since, datetime) else since
    # Polars reads the run samples without holding the GIL, so the first charts draw meanwhile.
    with ThreadPoolExecutor(max_workers=1) as pool:
        with _timed(timings, "read tables (run samples go on in the background)"):
            tables = data.read(out, athlete, pool, since, weeks)
        with _timed(timings, "cross-training statistics"):
            metric = crosstrain.ride_ef_metric(tables.activities)
            series = crosstrain.weekly_series(tables.activities, metric)
            cross = crosstrain.analyse(series, metric)
            store.write_atomic(cross, store.table_path(out, "crosstrain"))
        with _timed(timings, "charts (and waiting for run samples)"):
            parts = sections.all_sections(tables.within(), cross, series, metric)
    with _timed(timings, "write html"):
        text = html.page("Training report", _subtitle(tables.activities, tables.window, out, today or date.today()),
                         parts)
        path = report_path(out)
        write_text_atomic(text, path)
    return path


def _subtitle(activities: pl.DataFrame, shown: data.Window, out: Path, today: date) -> str:
    first, last = activities["start_time_local"].min(), activities["start_time_local"].max()
    text = (f"{activities.height} activities from {first:%Y-%m-%d} to {last:%Y-%m-%d}, read from {out.resolve()}. "
            f"Sections 1–5 and 7 show the {shown.weeks} weeks from {shown.first} to {shown.last}; "
            f"section 6 uses the whole history.")
    age = _age(last.date(), today)
    if age:
        text += f" The last activity was {age} ago: nothing newer has been imported."
    return text


def _age(last: date, today: date) -> str | None:
    """How long ago `last` was, in words, when it is more than four weeks ago."""
    days = (today - last).days
    if days <= 28:
        return None
    if days < 365:
        months = max(1, round(days / 30.4))
        return f"{months} month{'s' if months > 1 else ''}" if days >= 61 else f"{days // 7} weeks"
    years = days / 365.25
    return f"{years:.0f} year{'s' if round(years) > 1 else ''}" if years >= 1.5 else f"{round(days / 30.4)} months"


def write_text_atomic(text: str, path: Path) -> None:
    """store.write_atomic for text: readers see the old page or the new one, never half."""
    with store.replacing(path) as temp:
        temp.write_text(text, encoding="utf-8")


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[step] = time.perf_counter() - started
