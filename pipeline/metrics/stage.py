"""The metrics stage: recompute activity metrics from stored samples, then the
weekly, daily and athletes tables."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Iterable

import polars as pl

from ..config import Athlete, Settings
from ..normalize.activities import Activities
from ..normalize.schema import DEFAULT_ATHLETE
from ..normalize import schema
from ..sinks import Sink, for_output
from . import activity, duplicates, load, training_load
from .athletes import athletes_table
from .bests import bests_table
from .estimates import DEFAULT_RESTING_HR_BPM
from .thresholds import thresholds_table
from .weekly import weekly_table
from .compute import with_metrics
from .curves import activity_tables


def recompute_activity_metrics(sink: Sink, settings: Settings) -> int:
    """Rebuild every metric column from the stored samples, without parsing any file, each
    athlete's with their own thresholds. Returns the number of activities."""
    activities = sink.read_table("activities")
    if activities.is_empty():
        return 0
    laps = sink.read_table("laps")
    parts = [_recomputed(sink, theirs, laps, settings.athlete_by_id(athlete), settings.duplicates)
             for (athlete,), theirs in activities.group_by("athlete_id", maintain_order=True)]
    recomputed = pl.concat([p.activities for p in parts])
    sink.write_table("activities", recomputed.sort("start_time_utc", "activity_id"))
    sink.write_table("laps", pl.concat([p.laps for p in parts]).sort("activity_id", "lap_index"))
    _write_per_activity(sink, [{name: getattr(p, name) for name in schema.PER_ACTIVITY} for p in parts])
    sink.write_table("manifest", duplicates.annotate_manifest(sink.read_table("manifest"), recomputed))
    return recomputed.height


def _write_per_activity(sink: Sink, parts: list[dict[str, pl.DataFrame]]) -> None:
    """Each per-activity table (schema.PER_ACTIVITY) from the parts' rows of it."""
    for name, keys in schema.PER_ACTIVITY_KEYS.items():
        sink.write_table(name, pl.concat([part[name] for part in parts]).sort(keys))


def add_missing_tables(sink: Sink) -> bool:
    """An output written before a per-activity table was kept (curves, best efforts, time at
    each heart rate) gets them once, from the stored samples, athlete by athlete; True if it
    needed them."""
    if all(sink.has_table(name) for name in schema.PER_ACTIVITY) or not sink.has_table("activities"):
        return False
    activities = sink.read_table("activities")
    parts = []
    for (athlete,), theirs in activities.group_by("athlete_id", maintain_order=True):
        samples = sink.read_samples(athlete_id=athlete).sort("activity_id", "timestamp_utc", maintain_order=True)
        curves, best_efforts = activity_tables(samples, theirs)
        parts.append({"curves": curves, "best_efforts": best_efforts,
                      "time_at_hr": load.time_at_hr(activity.with_sample_weights(samples))})
    _write_per_activity(sink, parts)
    return True


def _recomputed(sink: Sink, activities: pl.DataFrame, laps: pl.DataFrame, athlete: Athlete,
                rule: duplicates.DuplicateRule) -> Activities:
    """One athlete's activities and laps with their metrics and duplicates computed again."""
    identity = activities.select([*schema.ACTIVITY_IDENTITY, *schema.DEVICE, *schema.RECORDING, *schema.PROVENANCE])
    ids = activities["activity_id"].implode()
    device_laps = laps.filter(pl.col("activity_id").is_in(ids)).select(
        "activity_id", "lap_index", "start_time_utc", *schema.DEVICE)
    samples = sink.read_samples(athlete_id=athlete.id).filter(pl.col("activity_id").is_in(ids))
    tables = with_metrics(identity, device_laps, samples.sort("activity_id", "timestamp_utc"), athlete)
    # Durations and distances may have moved, and with them which copies match.
    tables.activities = duplicates.carry_catalogue(duplicates.mark(tables.activities, rule, _streams(samples)))
    return tables


def _streams(samples: pl.DataFrame):
    """duplicates.mark's stream source over samples already in memory."""
    by_activity: dict | None = None

    def streams(activity: str) -> pl.DataFrame | None:
        nonlocal by_activity
        if by_activity is None:  # split once, on the first pair that needs samples
            by_activity = {key[0]: part for key, part in samples.partition_by("activity_id", as_dict=True).items()}
        return by_activity.get(activity)

    return streams


def write_summaries(sink: Sink, settings: Settings, today: date | None = None) -> dict[str, int]:
    """The weekly, daily_load, athletes, bests and thresholds tables from the activities, their
    curves and best efforts; returns their row counts. `today` (default: the machine's date)
    is the day the daily table runs to (when after the last activity) and the bests' periods end.

    A workout recorded in several files counts once: duplicates are left out, and so are
    triathlon transitions (duplicates.counted)."""
    every = sink.read_table("activities")
    activities = every.filter(duplicates.counted(every))
    today = today or date.today()
    curves, best_efforts = sink.read_table("curves"), sink.read_table("best_efforts")
    thresholds = thresholds_table(curves, best_efforts, activities, settings.athlete_by_id, days_of=every)
    activities = _with_load(sink, every, thresholds, settings).filter(duplicates.counted(every))
    tables = {"weekly": weekly_table(activities), "daily_load": training_load.daily_load(activities, today),
              "athletes": athletes_table(activities, settings.every_athlete, settings.timezone),
              "bests": bests_table(curves, best_efforts, activities, today), "thresholds": thresholds}
    for name, table in tables.items():
        if not _holds(sink, name, table):  # a run with nothing new writes nothing
            sink.write_table(name, table)
    return {f"{name}_rows": table.height for name, table in tables.items()}


def _with_load(sink: Sink, stored: pl.DataFrame, thresholds: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """Every activity's and lap's load from the thresholds in force on its day, written back
    where it changed; returns the activities. `stored`: the activities table as read."""
    stored_laps = sink.read_table("laps")
    activities, laps = load.with_load(stored, stored_laps, sink.read_table("time_at_hr"), thresholds,
                                      settings.athlete_by_id)
    activities = activities.sort("start_time_utc", "activity_id")
    # Compared with the tables as read already: a run with nothing new writes nothing.
    for name, table, before in (("activities", activities, stored),
                                ("laps", laps.sort("activity_id", "lap_index"), stored_laps)):
        if not table.equals(before):
            sink.write_table(name, table)
    return activities


def _holds(sink: Sink, name: str, table: pl.DataFrame) -> bool:
    """Whether the sink's table `name` already holds exactly `table`."""
    try:
        return sink.has_table(name) and sink.read_table(name).equals(table)
    except (OSError, pl.exceptions.PolarsError):
        return False


def unused_thresholds(sink: Sink, athletes: Iterable[Athlete]) -> list[str]:
    """Warnings for configured thresholds that apply to fewer activities than meant: every
    activity dated before an athlete's first `from` uses estimated thresholds instead."""
    activities = sink.read_table("activities").select("athlete_id", "start_time_local")
    warnings = []
    for athlete in athletes:
        if not athlete.thresholds:
            continue
        first = min(t.effective_from for t in athlete.thresholds)
        days = activities.filter(pl.col("athlete_id") == athlete.id)["start_time_local"].drop_nulls().dt.date()
        older = int((days < first).sum())
        if older:
            whose = "" if athlete.id == DEFAULT_ATHLETE else f"athlete {athlete.id}: "
            table = "athlete" if athlete.id == DEFAULT_ATHLETE else "athletes"
            warnings.append(f"{whose}thresholds start {first}; {older} of {days.len()} activities are older and use "
                            f"estimated thresholds (add an [[{table}.thresholds]] entry with an earlier `from`)")
    return warnings


def default_resting_hr_note(sink: Sink) -> str | None:
    """A note when some activity's TRIMP or hrTSS rests on the default resting HR, which no file
    can show: TRIMP depends on it."""
    activities = sink.read_table("activities")
    defaulted = activities.filter(pl.col("thresholds_source").str.contains("default") & pl.col("trimp").is_not_null())
    if defaulted.is_empty():
        return None
    whose = ", ".join(sorted(set(defaulted["athlete_id"]) - {DEFAULT_ATHLETE}))
    return (f"TRIMP and hrTSS of {defaulted.height} activities{f' (athletes {whose})' if whose else ''} use the default "
            f"resting heart rate of {DEFAULT_RESTING_HR_BPM:g} bpm; set resting_hr in fitpipe.toml for your own")


def run_metrics(out: Path | Sink, settings: Settings = Settings(), recompute: bool = True,
                today: date | None = None) -> dict:
    """The metrics stage on an output folder (or any sink): recompute every activity's metrics
    from its stored samples (unless `recompute` is False), then the weekly, daily and athletes
    tables. Each athlete's metrics use their own settings (Settings.athlete_by_id). `today`
    (default: the machine's date) is where fitness, fatigue and form and the bests' periods end."""
    started = time.perf_counter()
    sink = for_output(out)
    if recompute:
        activities = recompute_activity_metrics(sink, settings)
    else:
        add_missing_tables(sink)
        activities = sink.read_table("activities").height
    rows = write_summaries(sink, settings, today)
    return {"activities": activities, **rows, "seconds": round(time.perf_counter() - started, 3)}


class NoActivities(FileNotFoundError):
    """The output folder has no activities to summarize or report on."""


def read_activities(sink: Sink, athlete_id: str | None = None) -> pl.DataFrame:
    """Dated activities that weekly and daily totals count (duplicates.counted), of one
    athlete or all."""
    if not sink.has_table("activities"):
        raise NoActivities(f"{sink.describe()}: no activities here; run `fitpipe run` first")
    activities = sink.read_table("activities")
    if athlete_id is not None and not activities.is_empty():
        activities = activities.filter(pl.col("athlete_id") == athlete_id)
        if activities.is_empty():
            raise NoActivities(f"{sink.describe()}: no activities of athlete {athlete_id!r} here")
    activities = activities.filter(duplicates.counted(activities), pl.col("start_time_local").is_not_null())
    if activities.is_empty():
        raise NoActivities(f"{sink.describe()}: no dated activities yet")
    return activities


def athlete_ids(sink: Sink) -> list[str]:
    """The athletes with activities in the output, in id order."""
    if not sink.has_table("activities"):
        return []
    return sorted(sink.read_table("activities")["athlete_id"].drop_nulls().unique().to_list())


def read_weekly(sink: Sink, athlete_id: str | None = None) -> pl.DataFrame:
    """The weekly table (of one athlete, or all), or the same table built from the activities
    when only `fitpipe ingest` ran."""
    if sink.has_table("weekly"):
        weekly = sink.read_table("weekly")
        weekly = weekly if athlete_id is None else weekly.filter(pl.col("athlete_id") == athlete_id)
    else:
        weekly = weekly_table(read_activities(sink, athlete_id))
    if weekly.is_empty():
        whose = "" if athlete_id is None else f" of athlete {athlete_id!r}"
        raise NoActivities(f"{sink.describe()}: no weeks with activities{whose} yet")
    return weekly


def recent_weeks(weekly: pl.DataFrame, weeks: int) -> pl.DataFrame:
    """The last `weeks` weeks of the weekly table, every sport and `all`, oldest first."""
    starts = weekly["week_start"].unique().sort().tail(weeks)
    return weekly.filter(pl.col("week_start").is_in(starts.implode())).sort("week_start", "sport")


def sports_by_time(weekly: pl.DataFrame) -> list[str]:
    """The sports (not `all`) with any moving time in these weeks, most time first."""
    totals = weekly.filter(pl.col("sport") != "all").group_by("sport").agg(pl.col("moving_s").sum())
    return totals.filter(pl.col("moving_s") > 0).sort(["moving_s", "sport"], descending=[True, False])["sport"].to_list()
