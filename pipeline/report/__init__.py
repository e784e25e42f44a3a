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

from ..config import Athlete
from ..metrics.stage import NoActivities
from ..sinks import Sink, for_output
from . import crosstrain, data, html, sections

__all__ = ["NoActivities", "build_report"]


def build_report(out: Path | Sink, athlete: Athlete = Athlete(), timings: dict[str, float] | None = None,
                 since: date | datetime | None = None, weeks: int | None = None,
                 today: date | None = None) -> Path:
    """Write the HTML report and the crosstrain table to the output folder (or any sink);
    returns where the page is (out/report/index.html for a folder).

    Sections 1-5 and 7 show the weeks from `since`, or the last `weeks` (default 52), up to the
    last activity; the cross-training statistics use the whole history. Raises NoActivities
    when there are no activities, or no dated ones. `timings`, when given,
    receives the seconds each step took."""
    timings = {} if timings is None else timings
    since = since.date() if isinstance(since, datetime) else since
    sink = for_output(out)
    # Polars reads the run samples without holding the GIL, so the first charts draw meanwhile.
    with ThreadPoolExecutor(max_workers=1) as pool:
        with _timed(timings, "read tables (run samples go on in the background)"):
            tables = data.read(sink, athlete, pool, since, weeks)
        with _timed(timings, "cross-training statistics"):
            metric = crosstrain.ride_ef_metric(tables.activities)
            series = crosstrain.weekly_series(tables.activities, metric)
            cross = crosstrain.analyse(series, metric)
            sink.write_table("crosstrain", cross)
        with _timed(timings, "charts (and waiting for run samples)"):
            parts = sections.all_sections(tables.within(), cross, series, metric)
    with _timed(timings, "write html"):
        subtitle = _subtitle(tables.activities, tables.window, sink.describe(), today or date.today())
        page = sink.write_report(html.page("Training report", subtitle, parts))
    return Path(page)


def _subtitle(activities: pl.DataFrame, shown: data.Window, source: str, today: date) -> str:
    first, last = activities["start_time_local"].min(), activities["start_time_local"].max()
    text = (f"{activities.height} activities from {first:%Y-%m-%d} to {last:%Y-%m-%d}, read from {source}. "
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


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[step] = time.perf_counter() - started
