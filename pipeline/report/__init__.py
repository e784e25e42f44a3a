"""`fitpipe report`: one offline HTML page of charts from the output folder's tables, and
crosstrain.parquet. docs/report.md describes every section."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Iterator

import polars as pl

from ..config import Athlete
from ..config import Settings
from ..discover.remote import location
from ..metrics import training_load
from ..metrics.stage import NoActivities, athlete_ids, read_activities
from ..metrics.team import overview
from ..normalize.schema import DEFAULT_ATHLETE
from ..sinks import Sink, for_output
from . import crosstrain, data, html, pooled, sections, team

__all__ = ["NoActivities", "build_report", "build_reports", "write_crosstrain"]
INDEX_PAGE = "index.html"


@dataclass(frozen=True)
class TeamCrosstrain:
    """Every athlete's cross-training inputs and results, and the table with the pooled rows."""

    metrics: dict[str, str | None]  # athlete -> ride EF metric
    series: dict[str, pl.DataFrame]  # athlete -> weekly series
    table: pl.DataFrame  # crosstrain.parquet: pooled.SCHEMA

    def of(self, athlete_id: str) -> tuple[str | None, pl.DataFrame, pl.DataFrame]:
        """One athlete's metric, series and rows (crosstrain.SCHEMA)."""
        rows = self.table.filter(pl.col("athlete_id") == athlete_id).select(list(crosstrain.SCHEMA))
        series = self.series.get(athlete_id, pl.DataFrame(schema=crosstrain.SERIES_SCHEMA))
        return self.metrics.get(athlete_id), series, rows


def write_crosstrain(sink: Sink) -> TeamCrosstrain:
    """crosstrain.parquet: each athlete's correlations at every lag, and the team's pooled ones."""
    activities = read_activities(sink)
    metrics, series, tables = {}, {}, {}
    for (athlete,), theirs in activities.group_by("athlete_id", maintain_order=True):
        metrics[athlete] = crosstrain.ride_ef_metric(theirs)
        series[athlete] = crosstrain.weekly_series(theirs, metrics[athlete])
        tables[athlete] = crosstrain.analyse(series[athlete], metrics[athlete])
    table = pooled.team_table(tables)
    sink.write_table("crosstrain", table)
    return TeamCrosstrain(metrics, series, table)


def build_report(out: Path | Sink, athlete: Athlete = Athlete(), timings: dict[str, float] | None = None,
                 since: date | datetime | None = None, weeks: int | None = None,
                 today: date | None = None, page_name: str = INDEX_PAGE, home: str | None = None,
                 cross: "TeamCrosstrain | None" = None) -> Path | str:
    """Write one athlete's HTML report (`page_name` under report/) and the crosstrain table of
    every athlete to the output folder (or any sink); returns where the page is
    (out/report/index.html for a folder, by default). `home`: a link back to the team's page;
    `cross`: the crosstrain table already written for every athlete (else it is written here).

    Sections 1-5 and 7 show the weeks from `since`, or the last `weeks` (default 52), up to the
    last activity; the cross-training statistics, the power-duration curve, best efforts and
    thresholds use the whole history. Raises NoActivities
    when the athlete has no activities, or no dated ones. `timings`, when given,
    receives the seconds each step took."""
    timings = {} if timings is None else timings
    since = since.date() if isinstance(since, datetime) else since
    sink = for_output(out)
    # Polars reads the run samples without holding the GIL, so the first charts draw meanwhile.
    with ThreadPoolExecutor(max_workers=1) as pool:
        with _timed(timings, "read tables (run samples go on in the background)"):
            tables = data.read(sink, athlete, pool, since, weeks)
        with _timed(timings, "cross-training statistics"):
            metric, series, rows = (cross or write_crosstrain(sink)).of(athlete.id)
        with _timed(timings, "charts (and waiting for run samples)"):
            parts = sections.all_sections(tables.within(), rows, series, metric)
    with _timed(timings, "write html"):
        subtitle = _subtitle(tables.activities, tables.window, sink.describe(), today or date.today())
        title = f"Training report: {athlete.name or athlete.id}" if home else "Training report"
        page = sink.write_report(html.page(title, subtitle, parts, home=home), page_name)
    return location(page)


def build_reports(out: Path | Sink, settings: Settings, athlete_id: str | None = None,
                  since: date | datetime | None = None, weeks: int | None = None, today: date | None = None,
                  on_athlete: Callable[[str], None] | None = None) -> Path | str:
    """`fitpipe report`: the one athlete's report (report/index.html) of a folder without named
    athletes; for a team, every athlete's (report/athletes/<id>.html) and the team's index page
    (report/index.html), or only `athlete_id`'s page. Returns the page to open.
    `on_athlete(id)` is called after each athlete's page."""
    sink = for_output(out)
    ids = athlete_ids(sink)
    if athlete_id is not None and athlete_id not in ids:
        raise NoActivities(f"{sink.describe()}: no activities of athlete {athlete_id!r} here; "
                           f"athletes here: {', '.join(ids) or 'none'}")
    if ids == [DEFAULT_ATHLETE] or not ids:
        return build_report(sink, settings.athlete_by_id(DEFAULT_ATHLETE), since=since, weeks=weeks, today=today)
    cross = write_crosstrain(sink)
    written: dict[str, Path | str] = {}
    for athlete in [athlete_id] if athlete_id else ids:
        try:
            written[athlete] = build_report(sink, settings.athlete_by_id(athlete), since=since, weeks=weeks,
                                            today=today, page_name=team.athlete_page(athlete),
                                            home="../index.html", cross=cross)
        except NoActivities:  # an athlete without dated activities: a row on the index, no page
            pass
        if on_athlete:
            on_athlete(athlete)
    if athlete_id:
        if athlete_id not in written:
            raise NoActivities(f"{sink.describe()}: no dated activities of athlete {athlete_id!r} yet")
        return written[athlete_id]
    return _team_page(sink, settings, cross, set(written), today or date.today())


def _team_page(sink: Sink, settings: Settings, cross: "TeamCrosstrain", with_pages: set[str], today: date) -> Path | str:
    activities = read_activities(sink)
    daily = sink.read_table("daily_load") if sink.has_table("daily_load") else training_load.daily_load(activities)
    names = {a.id: a.name for a in settings.every_athlete}
    rows = overview(activities, daily, {i: names.get(i) for i in athlete_ids(sink)}, today)
    subtitle = team.subtitle(rows, activities.height, sink.describe(), today)
    parts = team.sections(rows, cross.table, with_pages)
    return location(sink.write_report(html.page("Team report", subtitle, parts), INDEX_PAGE))


def _subtitle(activities: pl.DataFrame, shown: data.Window, source: str, today: date) -> str:
    first, last = activities["start_time_local"].min(), activities["start_time_local"].max()
    text = (f"{activities.height} activities from {first:%Y-%m-%d} to {last:%Y-%m-%d}, read from {source}. "
            f"Sections 1–5 and 7 show the {shown.weeks} weeks from {shown.first} to {shown.last}; "
            f"sections 6 and 8–10 use the whole history.")
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
