"""The weekly table: every ISO week (local time) x sport, and `all`, with totals, timer-weighted
heart rate, moving-weighted efficiency and each sport's share of the week's moving time.
docs/metrics.md ("Weekly table") defines every column."""

from __future__ import annotations

import polars as pl

from .athletes import per_athlete

WEEKLY_SUMS = ("distance_m", "moving_s", "ascent_m", "trimp", "tss", *[f"hr_zone{k}_s" for k in range(1, 6)])
# Averaged over the week's activities, weighted by each one's moving time.
WEEKLY_MEANS = ("ef_power_w_per_bpm", "ef_speed_m_per_min_per_bpm")
# Heart rate over the week's timer time: activities' avg_hr_bpm weighted by their timer_s.
WEEKLY_HR = "avg_hr_timer_bpm"
# Efficiency factors only compare like with like: not across the sports in `all`.
PER_SPORT_ONLY = ("ef_power_w_per_bpm", "ef_speed_m_per_min_per_bpm")
WEEKLY_SCHEMA = {
    "athlete_id": pl.String, "week_start": pl.Date, "iso_year": pl.Int32, "iso_week": pl.Int8, "sport": pl.String,
    "activities": pl.UInt32, **{c: pl.Float64 for c in WEEKLY_SUMS}, WEEKLY_HR: pl.Float64,
    **{c: pl.Float64 for c in WEEKLY_MEANS},
    "share_of_moving_time": pl.Float64,
}


def weekly_table(activities: pl.DataFrame) -> pl.DataFrame:
    """Per athlete, a dense grid: every ISO week from their first to their last activity x
    every sport they did, plus 'all'."""
    return per_athlete(_weeks_of_one, activities.filter(pl.col("start_time_local").is_not_null()), WEEKLY_SCHEMA)


def _weeks_of_one(dated: pl.DataFrame) -> pl.DataFrame:
    """weekly_table of one athlete's dated activities, without athlete_id."""
    dated = dated.with_columns(week_start=pl.col("start_time_local").dt.truncate("1w").dt.date())
    both = pl.concat([dated, dated.with_columns(sport=pl.lit("all"))])
    sums = both.group_by("week_start", "sport").agg(
        pl.len().alias("activities"),
        *[pl.col(c).fill_null(0).sum() for c in WEEKLY_SUMS],
        _weighted("avg_hr_bpm", "timer_s").alias(WEEKLY_HR),
        *[_weighted(c, "moving_s").alias(c) for c in WEEKLY_MEANS],
    )
    weeks = pl.date_range(dated["week_start"].min(), dated["week_start"].max(), "1w", eager=True)
    sports = sorted(set(dated["sport"].to_list())) + ["all"]
    grid = pl.DataFrame({"week_start": weeks}).join(pl.DataFrame({"sport": sports}), how="cross")
    table = grid.join(sums, on=["week_start", "sport"], how="left").with_columns(
        pl.col("activities").fill_null(0),
        *[pl.col(c).fill_null(0.0) for c in WEEKLY_SUMS],
        *[pl.when(pl.col("sport") != "all").then(pl.col(c)).alias(c) for c in PER_SPORT_ONLY],
    )
    week_total = pl.col("moving_s").filter(pl.col("sport") == "all").first().over("week_start")
    table = table.with_columns(
        iso_year=pl.col("week_start").dt.iso_year(),
        iso_week=pl.col("week_start").dt.week(),
        share_of_moving_time=pl.when(week_total > 0).then(pl.col("moving_s") / week_total).otherwise(0.0),
    )
    return table.select([pl.col(c).cast(t) for c, t in WEEKLY_SCHEMA.items() if c != "athlete_id"]).sort(
        "week_start", "sport")


def _weighted(column: str, by: str) -> pl.Expr:
    """Mean of `column` over the rows that have it, weighted by `by`; null without weight."""
    weight = pl.when(pl.col(column).is_not_null()).then(pl.col(by).fill_null(0)).otherwise(0.0)
    return pl.when(weight.sum() > 0).then((pl.col(column) * weight).sum() / weight.sum())
