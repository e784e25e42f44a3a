"""Training load from samples: NP, NGP, VI, efficiency factor and aerobic decoupling, which need
no thresholds, and daily fitness, fatigue and form. TRIMP, zones and every TSS need thresholds:
metrics/load.py.

Definitions and their sources are in docs/metrics.md; change both together and
bump metrics.METRICS_VERSION.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from .activity import total, weighted_ratio, weighted_sum_columns, weighted_sums, windows
from .athletes import per_athlete

NP_WINDOW = "30s"
CTL_DAYS, ATL_DAYS = 42, 7
# Grade over the last GRADE_WINDOW of a run (the rise over the distance covered), within
# the slopes Minetti et al. (2002) measured; under GRADE_MIN_DISTANCE_M covered, flat.
GRADE_WINDOW = "30s"
GRADE_LIMIT = 0.45
GRADE_MIN_DISTANCE_M = 5.0
# Minetti et al. (2002): the energy cost of running at grade i, J/kg/m, a 5th-degree polynomial.
MINETTI_COST = (155.4, -30.4, -43.3, 46.3, 19.5, 3.6)


def running_cost(grade: pl.Expr) -> pl.Expr:
    """Minetti's cost of running at `grade` (a fraction), J/kg/m; 3.6 on the flat."""
    cost = pl.lit(0.0)
    for coefficient in MINETTI_COST:  # Horner's rule
        cost = cost * grade + coefficient
    return cost


def with_load_columns(samples: pl.DataFrame, key: str = "activity_id") -> pl.DataFrame:
    """Per-sample inputs of the load metrics: 30 s rolling power (for NP) and, on runs, 30 s
    rolling grade-adjusted speed (for NGP)."""
    per = windows(samples, [key])
    rolling = {"power_30s": per(pl.col("power_w").rolling_mean_by("timestamp_utc", window_size=NP_WINDOW))}
    if (samples["sport"] == "run").any():  # no batch of rides pays for the grades
        rise = per(pl.col("altitude_m").diff().fill_null(0.0).rolling_sum_by("timestamp_utc", window_size=GRADE_WINDOW))
        run = per(pl.col("distance_step_m").fill_null(0.0).rolling_sum_by("timestamp_utc", window_size=GRADE_WINDOW))
        grade = pl.when(run >= GRADE_MIN_DISTANCE_M).then(rise / run).otherwise(0.0).clip(-GRADE_LIMIT, GRADE_LIMIT)
        graded = pl.col("speed_mps") * running_cost(grade.fill_nan(0.0)) / MINETTI_COST[-1]
        rolling["graded_speed_30s"] = pl.when(pl.col("sport") == "run").then(
            per(graded.rolling_mean_by("timestamp_utc", window_size=NP_WINDOW)))
    else:
        rolling["graded_speed_30s"] = pl.lit(None, pl.Float64)
    return samples.with_columns(**rolling)


def load_aggregations() -> list[pl.Expr]:
    """Group aggregations over samples prepared by metrics.with_sample_weights, with_load_columns
    and with_halves (with the same keys): the sums behind NP, NGP and the aerobic decoupling."""
    return [
        *weighted_sums("np", pl.col("power_30s") ** 4, pl.col("active") & pl.col("power_30s").is_not_null()),
        *weighted_sums("ngp", pl.col("graded_speed_30s") ** 4,
                       pl.col("active") & pl.col("graded_speed_30s").is_not_null()),
        *_decoupling_sums(),
    ]


def with_halves(samples: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Add the inputs of the aerobic decoupling per group of `keys` (a lap's halves are its own):
    moving_half, 1 or 2 for the half of the group's moving time a moving sample falls in, and
    decoupling_output, power if the group has any, else speed. As columns, not inside the
    aggregation, because polars evaluates per-group broadcasts in an aggregation group by group."""
    per = windows(samples, keys)
    moving_dt = pl.when(pl.col("moving")).then(pl.col("dt_s")).otherwise(0.0)
    half_time = per(total(moving_dt) / 2)
    has_power = per(pl.col("power_w").is_not_null().any())
    return samples.with_columns(
        moving_half=pl.when(pl.col("moving")).then(
            pl.when(per(moving_dt.cum_sum()) <= half_time).then(pl.lit(1, pl.Int8)).otherwise(pl.lit(2, pl.Int8))
        ),
        decoupling_output=pl.when(has_power).then(pl.col("power_w")).otherwise(pl.col("speed_mps")),
    )


DECOUPLING_MEANS = [f"half{half}_{value}" for half in (1, 2) for value in ("output", "hr")]


def _decoupling_sums() -> list[pl.Expr]:
    """The weighted sums of each half's mean output and heart rate; _decoupling divides them
    after the group_by."""
    sums = []
    for half in (1, 2):
        usable = (pl.col("moving_half") == half) & pl.col("decoupling_output").is_not_null()
        usable = usable & pl.col("heart_rate_bpm").is_not_null()
        sums += [*weighted_sums(f"half{half}_output", "decoupling_output", usable),
                 *weighted_sums(f"half{half}_hr", "heart_rate_bpm", usable)]
    return sums


def _decoupling() -> pl.Expr:
    """Pa:HR: output per beat in the first half of moving time versus the second."""

    def per_beat(half: int) -> pl.Expr:
        return weighted_ratio(f"half{half}_output") / weighted_ratio(f"half{half}_hr")

    early, late = per_beat(1), per_beat(2)
    return pl.when(early > 0).then((early - late) / early * 100)


def derived_load(summary: pl.DataFrame) -> pl.DataFrame:
    """Columns computed from the aggregated ones: NP (rides), NGP (runs), VI, EF and decoupling.
    The load that needs thresholds (TSS, TRIMP, zones) comes after: metrics/load.py."""
    is_ride = pl.col("sport") == "ride"
    summary = summary.with_columns(np_w=weighted_ratio("np") ** 0.25, decoupling_pct=_decoupling(),
                                   ngp_mps=pl.when(pl.col("sport") == "run").then(weighted_ratio("ngp") ** 0.25))
    np_ride = pl.when(is_ride).then(pl.col("np_w"))
    return summary.with_columns(
        np_w=np_ride,
        variability_index=pl.when(pl.col("avg_power_w") > 0).then(np_ride / pl.col("avg_power_w")),
        # Efficiency compares output with the heart rate of the same moving time.
        ef_power_w_per_bpm=pl.when(pl.col("avg_hr_moving_bpm") > 0).then(np_ride / pl.col("avg_hr_moving_bpm")),
        ef_speed_m_per_min_per_bpm=pl.when(pl.col("avg_hr_moving_bpm") > 0).then(
            pl.col("avg_speed_mps") * 60 / pl.col("avg_hr_moving_bpm")
        ),
    ).drop(weighted_sum_columns(["np", "ngp", *DECOUPLING_MEANS]))


DAILY_SCHEMA = {
    "athlete_id": pl.String, "date": pl.Date, "sport": pl.String, "activities": pl.UInt32, "trimp": pl.Float64, "tss": pl.Float64,
    "ctl": pl.Float64, "atl": pl.Float64, "tsb": pl.Float64,
}


def daily_load(activities: pl.DataFrame, through: date | None = None) -> pl.DataFrame:
    """Per athlete, every local day from their first activity to their last, or to `through`
    when that is later (fitness and fatigue decay to today), per sport and 'all'."""
    return per_athlete(lambda dated: _days_of_one(dated, through),
                       activities.filter(pl.col("start_time_local").is_not_null()), DAILY_SCHEMA)


def _days_of_one(dated: pl.DataFrame, through: date | None) -> pl.DataFrame:
    """daily_load of one athlete's dated activities, without athlete_id."""
    dated = dated.with_columns(date=pl.col("start_time_local").dt.date())
    both = pl.concat([dated, dated.with_columns(sport=pl.lit("all"))])
    sums = both.group_by("date", "sport").agg(
        activities=pl.len(), trimp=pl.col("trimp").fill_null(0).sum(), tss=pl.col("tss").fill_null(0).sum()
    )
    last = dated["date"].max() if through is None else max(dated["date"].max(), through)
    days = pl.date_range(dated["date"].min(), last, "1d", eager=True)
    sports = sorted(set(dated["sport"])) + ["all"]
    grid = pl.DataFrame({"date": days}).join(pl.DataFrame({"sport": sports}), how="cross")
    table = grid.join(sums, on=["date", "sport"], how="left").with_columns(
        pl.col("activities").fill_null(0), pl.col("trimp").fill_null(0.0), pl.col("tss").fill_null(0.0)
    ).sort("sport", "date")
    parts = [_with_fitness(part) for _, part in table.group_by("sport", maintain_order=True)]
    return pl.concat(parts).select([pl.col(c).cast(t) for c, t in DAILY_SCHEMA.items() if c != "athlete_id"]).sort(
        "date", "sport")


def _with_fitness(series: pl.DataFrame) -> pl.DataFrame:
    ctl = fitness(series["tss"].to_numpy(), CTL_DAYS)
    atl = fitness(series["tss"].to_numpy(), ATL_DAYS)
    # Form is yesterday's fitness minus yesterday's fatigue, so today's session does not count yet.
    tsb = np.concatenate(([0.0], ctl[:-1] - atl[:-1]))
    return series.with_columns(ctl=pl.Series(ctl), atl=pl.Series(atl), tsb=pl.Series(tsb))


def fitness(load: np.ndarray, days: int) -> np.ndarray:
    """x_t = x_{t-1} + (load_t - x_{t-1}) / days, starting from 0 the day before the first."""
    out = np.empty(len(load))
    level = 0.0
    for i, value in enumerate(load):
        level += (value - level) / days
        out[i] = level
    return out
