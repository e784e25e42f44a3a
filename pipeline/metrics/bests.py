"""An athlete's bests (issue 24, part 4): per sport, the best at each duration of the curves and
at each distance of the best efforts, over all time, the last 365 days and the last 90 days, with
the activity that holds it. Built from the curves and best_efforts tables, so it costs no samples.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from ..normalize import schema

# Period name -> how many days back from `today` it reaches (today included); None: all time.
PERIODS_DAYS = {"all_time": None, "last_365_days": 365, "last_90_days": 90}
# Keys of one best: a curve's kind and duration, or a distance (kind "distance").
BEST_KEYS = ["athlete_id", "sport", "kind", "duration_s", "distance_m"]


def efforts(curves: pl.DataFrame, best_efforts: pl.DataFrame, activities: pl.DataFrame) -> pl.DataFrame:
    """Curve points and distance bests as one frame with a `score` that is higher when better
    (the value of a curve, minus the time of a distance) and the activity's local `date`; only
    of `activities` (the ones that count: no duplicate recording counts twice)."""
    dated = activities.select("activity_id", date=pl.col("start_time_local").dt.date())
    points = curves.join(dated, on="activity_id").select(
        *BEST_KEYS[:3], "duration_s", pl.lit(None, pl.Float64).alias("distance_m"), "value",
        pl.lit(None, pl.Float64).alias("time_s"), "activity_id", "start_time_utc", "date", score=pl.col("value"))
    distances = best_efforts.join(dated, on="activity_id").select(
        *BEST_KEYS[:2], pl.lit("distance").alias("kind"), pl.lit(None, pl.Int32).alias("duration_s"), "distance_m",
        pl.lit(None, pl.Float64).alias("value"), "time_s", "activity_id", "start_time_utc", "date",
        score=-pl.col("time_s"))
    return pl.concat([points, distances]).filter(pl.col("score").is_not_nan() & pl.col("date").is_not_null())


def bests_table(curves: pl.DataFrame, best_efforts: pl.DataFrame, activities: pl.DataFrame,
                today: date | None = None) -> pl.DataFrame:
    """schema.BESTS: the best of each key per period ending `today` (default: the machine's
    date). A tie goes to the earlier effort, which set it first."""
    today = today or date.today()
    found = efforts(curves, best_efforts, activities).sort(
        ["score", "start_time_utc", "activity_id"], descending=[True, False, False])
    periods = []
    for period, days in PERIODS_DAYS.items():
        inside = found if days is None else found.filter(pl.col("date") > today - timedelta(days=days))
        periods.append(inside.filter(pl.col("date") <= today).group_by(BEST_KEYS, maintain_order=True).first()
                       .with_columns(period=pl.lit(period)))
    table = pl.concat(periods).with_columns(as_of=pl.lit(today, pl.Date))
    return schema.conform(table, schema.BESTS).sort(
        "athlete_id", "sport", "kind", "duration_s", "distance_m", "period", nulls_last=True)
