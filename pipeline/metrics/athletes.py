"""Athletes: every summary table is built athlete by athlete, and the athletes table says
who each one is."""

from __future__ import annotations

from datetime import date
from typing import Callable, Iterable

import polars as pl

from ..config import Athlete
from ..normalize import schema


def per_athlete(build: Callable[[pl.DataFrame], pl.DataFrame], activities: pl.DataFrame,
                table_schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """`build` on each athlete's activities alone, with `athlete_id` first; athletes in id
    order. `table_schema` is the result's, athlete_id included."""
    parts = [
        build(theirs).select(pl.lit(athlete, pl.String).alias("athlete_id"), pl.all())
        for (athlete,), theirs in activities.sort("athlete_id", maintain_order=True)
        .group_by("athlete_id", maintain_order=True)
    ]
    parts = [part for part in parts if not part.is_empty()]
    return pl.concat(parts) if parts else pl.DataFrame(schema=table_schema)


def athletes_table(activities: pl.DataFrame, athletes: Iterable[Athlete], default_timezone: str,
                   today: date | None = None) -> pl.DataFrame:
    """One row per athlete, configured or found in `activities` (the activities that count in
    totals): who they are, the thresholds in force `today`, their first and last activity."""
    today = today or date.today()
    configured = {a.id: a for a in athletes}
    spans = (activities.group_by("athlete_id")
             .agg(first_activity_local=pl.col("start_time_local").min(),
                  last_activity_local=pl.col("start_time_local").max(), activities=pl.len()))
    ids = sorted(set(configured) | set(spans["athlete_id"].to_list()))
    described = {k: v for k, v in schema.ATHLETES.items() if k not in spans.columns or k == "athlete_id"}
    rows = [_row(configured.get(i) or Athlete(id=i), default_timezone, today) for i in ids]
    table = pl.DataFrame(rows, schema=described, strict=False)
    table = table.join(spans, on="athlete_id", how="left", maintain_order="left")
    return schema.conform(table.with_columns(pl.col("activities").fill_null(0)), schema.ATHLETES)


def _row(athlete: Athlete, default_timezone: str, today: date) -> dict:
    in_force = max((t for t in athlete.thresholds if t.effective_from <= today),
                   key=lambda t: t.effective_from, default=None)
    return {
        "athlete_id": athlete.id, "name": athlete.name, "timezone": athlete.timezone or default_timezone,
        "sex": athlete.sex, "hr_zones": athlete.hr_zones,
        "thresholds_from": in_force.effective_from if in_force else None,
        **{k: getattr(in_force, k) if in_force else None for k in ("max_hr", "resting_hr", "lthr", "ftp")},
    }
