"""The team's index page: one row per athlete (the coach's view, metrics/team.py), each linking
to that athlete's own report, and the cross-training question pooled across athletes."""

from __future__ import annotations

from datetime import date

import polars as pl

from ..metrics.team import AthleteOverview
from . import pooled
from .sections import Section, Table


def athlete_page(athlete_id: str) -> str:
    """Where an athlete's report is, relative to the report folder."""
    return f"athletes/{athlete_id}.html"


def sections(overview: list[AthleteOverview], cross: pl.DataFrame, with_pages: set[str]) -> list[Section]:
    return [athletes_section(overview, with_pages), pooled_section(cross)]


def subtitle(overview: list[AthleteOverview], activities: int, source: str, today: date) -> str:
    return (f"{len(overview)} athletes, {activities} activities, read from {source}. Fitness, fatigue and form "
            f"are as of {today}; the last 4 weeks are the 28 days up to it.")


def athletes_section(overview: list[AthleteOverview], with_pages: set[str]) -> Section:
    section = Section("athletes", "1. Athletes")
    section.text.append(
        "One row per athlete; the id links to their own report. Hours are moving time. Fitness (CTL), fatigue "
        "(ATL) and form (TSB) are continued from the last activity to today as days without load. Flags: a "
        "fitness ramp of more than 8 CTL points in 7 days, and no activity for 14 days or more.")
    rows = [[o.athlete_id, o.name or "", str(o.last_activity or "–"), _hours(o.hours_last_4_weeks),
             _number(o.ctl), _number(o.atl), _number(o.tsb),
             " / ".join(_weeks(o.weeks_since[sport]) for sport in ("run", "ride", "swim")), "; ".join(o.flags) or "–"]
            for o in overview]
    links = [athlete_page(o.athlete_id) if o.athlete_id in with_pages else None for o in overview]
    section.tables.append(Table(
        ["athlete", "name", "last activity", "last 4 weeks", "fitness", "fatigue", "form",
         "weeks since run / ride / swim", "flags"], rows, links))
    return section


def pooled_section(cross: pl.DataFrame) -> Section:
    section = Section("crosstrain-team", "2. Does running help cycling? The team")
    section.text.append(
        "Each athlete's weekly running time is set against their own ride efficiency factor 0 to 4 weeks "
        "later, as on their page; the correlations are then pooled across athletes with a random-effects "
        "meta-analysis (Fisher's z weighted by n − 3, DerSimonian–Laird between-athlete variance). "
        f"At least {pooled.MIN_ATHLETES} athletes must qualify at a lag. The numbers are in crosstrain.parquet "
        "(rows with an empty athlete_id).")
    section.text.append(pooled.reading(cross))
    rows = cross.filter(pl.col("athlete_id").is_null()).sort("lag_weeks").to_dicts()
    section.tables.append(Table(
        ["lag (weeks)", "athletes", "athlete-weeks", "pooled r", "95 % CI", "simultaneous CI", "I²", "verdict"],
        [[str(r["lag_weeks"]), str(r["n_athletes"]), str(r["n_weeks"]), _number(r["r"], 2),
          _interval(r["ci_low"], r["ci_high"]), _interval(r["ci_low_simultaneous"], r["ci_high_simultaneous"]),
          "–" if r["i2_pct"] is None else f"{r['i2_pct']:.0f} %", r["verdict"].replace("_", " ")] for r in rows]))
    return section


def _hours(hours: dict[str, float]) -> str:
    return ", ".join(f"{sport} {value:.1f} h" for sport, value in hours.items() if value > 0) or "none"


def _number(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _weeks(value: int | None) -> str:
    return "never" if value is None else str(value)


def _interval(low: float | None, high: float | None) -> str:
    return "–" if low is None or high is None else f"{low:.2f} to {high:.2f}"
