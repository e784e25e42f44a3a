"""Training load from samples: heart-rate zones, TRIMP, hrTSS, power NP/IF/TSS/VI,
efficiency factor, aerobic decoupling, and daily fitness, fatigue and form.

Definitions and their sources are in docs/metrics.md; change both together and
bump metrics.METRICS_VERSION.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ..config import Athlete
from .activity import total, weighted_ratio, weighted_sum_columns, weighted_sums, windows
from .athletes import per_athlete
from ..readers.base import constant

# Banister TRIMP weighting y = a * exp(b * HRr), by sex (Banister 1991).
TRIMP_WEIGHTS = {"male": (0.64, 1.92), "female": (0.86, 1.67)}
# Lower bounds of zones 2..5 (zone 1 is everything below the first).
ZONE_BOUNDS = {
    "lthr": (0.85, 0.90, 0.95, 1.00),  # percent of lactate threshold HR (Friel)
    "max_hr": (0.60, 0.70, 0.80, 0.90),  # percent of max HR
}
HR_ZONES = 5
NP_WINDOW = "30s"
CTL_DAYS, ATL_DAYS = 42, 7

THRESHOLD_COLUMNS = {"max_hr": "th_max_hr", "resting_hr": "th_resting_hr", "lthr": "th_lthr", "ftp": "th_ftp"}


def attach_thresholds(samples: pl.DataFrame, identity: pl.DataFrame, athlete: Athlete) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Thresholds in force on each activity's local start date, on samples and identity rows."""
    days = identity.select("activity_id", day=pl.col("start_time_local").dt.date()).sort("day")
    table = pl.DataFrame(
        {
            "thresholds_from": [t.effective_from for t in athlete.thresholds],
            **{column: [getattr(t, key) for t in athlete.thresholds] for key, column in THRESHOLD_COLUMNS.items()},
        },
        schema={"thresholds_from": pl.Date, **{c: pl.Float64 for c in THRESHOLD_COLUMNS.values()}},
    ).sort("thresholds_from")
    per_activity = days.join_asof(table, left_on="day", right_on="thresholds_from", strategy="backward").drop("day")
    identity = identity.join(per_activity.select("activity_id", "thresholds_from"), on="activity_id", how="left")
    in_force = per_activity.select(THRESHOLD_COLUMNS.values()).unique()
    if in_force.height == 1:  # one set for every activity (usual): no join of every sample
        return samples.hstack([constant(c, in_force[c][0], samples.height, pl.Float64) for c in in_force.columns]), identity
    return samples.join(per_activity.drop("thresholds_from"), on="activity_id", how="left"), identity


def with_load_columns(samples: pl.DataFrame, athlete: Athlete, key: str = "activity_id") -> pl.DataFrame:
    """Per-sample inputs of the load metrics: HR reserve, zone, and 30 s rolling power."""
    reserve = (pl.col("heart_rate_bpm") - pl.col("th_resting_hr")) / (pl.col("th_max_hr") - pl.col("th_resting_hr"))
    basis = pl.col("th_lthr") if athlete.hr_zones == "lthr" else pl.col("th_max_hr")
    zone = pl.lit(1, dtype=pl.Int8)
    for fraction in ZONE_BOUNDS[athlete.hr_zones]:
        zone = zone + (pl.col("heart_rate_bpm") >= basis * fraction).cast(pl.Int8)
    return samples.with_columns(
        hr_reserve=reserve.clip(0.0, 1.0),
        hr_zone=zone,  # null where HR or the basis threshold is missing
        power_30s=windows(samples, [key])(pl.col("power_w").rolling_mean_by("timestamp_utc", window_size=NP_WINDOW)),
    )


def load_aggregations(athlete: Athlete) -> list[pl.Expr]:
    """Group aggregations over samples prepared by metrics.with_sample_weights, with_load_columns
    and with_halves (with the same keys)."""
    a, b = TRIMP_WEIGHTS[athlete.sex]
    moving_hr = pl.col("moving") & pl.col("hr_reserve").is_not_null()
    trimp = (pl.col("dt_s") / 60 * pl.col("hr_reserve") * a * (b * pl.col("hr_reserve")).exp()).filter(moving_hr)
    zoned = pl.col("moving") & pl.col("hr_zone").is_not_null()
    zones = [
        pl.when(zoned.any()).then(total(pl.col("dt_s").filter(zoned & (pl.col("hr_zone") == k)))).alias(f"hr_zone{k}_s")
        for k in range(1, HR_ZONES + 1)
    ]
    powered = pl.col("active") & pl.col("power_30s").is_not_null()
    return [
        pl.when(moving_hr.any()).then(total(trimp)).alias("trimp"),
        *zones,
        *weighted_sums("np", pl.col("power_30s") ** 4, powered),
        *_decoupling_sums(),
        *[pl.col(c).first() for c in THRESHOLD_COLUMNS.values()],
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


def derived_load(summary: pl.DataFrame, athlete: Athlete) -> pl.DataFrame:
    """Columns computed from the aggregated ones: IF, TSS, VI, hrTSS, EF."""
    a, b = TRIMP_WEIGHTS[athlete.sex]
    is_ride = pl.col("sport") == "ride"
    np_ride = pl.when(is_ride).then(pl.col("np_w"))
    intensity = np_ride / pl.col("th_ftp")
    lthr_reserve = (pl.col("th_lthr") - pl.col("th_resting_hr")) / (pl.col("th_max_hr") - pl.col("th_resting_hr"))
    hour_at_lthr = 60 * lthr_reserve * a * (b * lthr_reserve).exp()
    summary = summary.with_columns(np_w=weighted_ratio("np") ** 0.25, decoupling_pct=_decoupling())
    summary = summary.with_columns(
        np_w=np_ride,
        intensity_factor=intensity,
        power_tss=pl.col("timer_s") * np_ride * intensity / (pl.col("th_ftp") * 3600) * 100,
        variability_index=pl.when(pl.col("avg_power_w") > 0).then(np_ride / pl.col("avg_power_w")),
        hr_tss=pl.when(lthr_reserve > 0).then(pl.col("trimp") / hour_at_lthr * 100),
        # Efficiency compares output with the heart rate of the same moving time.
        ef_power_w_per_bpm=pl.when(pl.col("avg_hr_moving_bpm") > 0).then(np_ride / pl.col("avg_hr_moving_bpm")),
        ef_speed_m_per_min_per_bpm=pl.when(pl.col("avg_hr_moving_bpm") > 0).then(
            pl.col("avg_speed_mps") * 60 / pl.col("avg_hr_moving_bpm")
        ),
    )
    return summary.with_columns(
        tss=pl.coalesce("power_tss", "hr_tss"),
        tss_source=pl.when(pl.col("power_tss").is_not_null()).then(pl.lit("power"))
        .when(pl.col("hr_tss").is_not_null()).then(pl.lit("hr")),
    ).drop([*THRESHOLD_COLUMNS.values(), *weighted_sum_columns(["np", *DECOUPLING_MEANS])])


DAILY_SCHEMA = {
    "athlete_id": pl.String, "date": pl.Date, "sport": pl.String, "activities": pl.UInt32, "trimp": pl.Float64, "tss": pl.Float64,
    "ctl": pl.Float64, "atl": pl.Float64, "tsb": pl.Float64,
}


def daily_load(activities: pl.DataFrame) -> pl.DataFrame:
    """Per athlete, every local day from their first activity to their last, per sport and 'all'."""
    return per_athlete(_days_of_one, activities.filter(pl.col("start_time_local").is_not_null()), DAILY_SCHEMA)


def _days_of_one(dated: pl.DataFrame) -> pl.DataFrame:
    """daily_load of one athlete's dated activities, without athlete_id."""
    dated = dated.with_columns(date=pl.col("start_time_local").dt.date())
    both = pl.concat([dated, dated.with_columns(sport=pl.lit("all"))])
    sums = both.group_by("date", "sport").agg(
        activities=pl.len(), trimp=pl.col("trimp").fill_null(0).sum(), tss=pl.col("tss").fill_null(0).sum()
    )
    days = pl.date_range(dated["date"].min(), dated["date"].max(), "1d", eager=True)
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
