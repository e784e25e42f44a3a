"""Activity and lap metrics from samples.

Every definition here is written out in docs/metrics.md; change both together
and bump METRICS_VERSION.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import polars as pl

from ..normalize.activities import PAUSE_GAP_S

METRICS_VERSION = "6"

# No device records nothing for this long with its timer running: an interval this long
# is a damaged or reset clock, and counts toward no duration at all.
CLOCK_JUMP_S = 6 * 3600.0
# Speeds at or below these are standing still (GPS drift), per sport.
MOVING_SPEED_MPS = {"run": 0.5, "walk": 0.3, "hike": 0.3, "ride": 1.0, "swim": 0.1, "row": 0.5, "paddle": 0.3,
                    "ski": 0.5, "skate": 0.5, "other": 0.5}
MAX_SPEED_MEDIAN_WINDOW = 5
ALTITUDE_SMOOTHING_WINDOW = 5
ASCENT_HYSTERESIS_M = 3.0
FOOT_SPORTS = ("run", "walk", "hike")


def with_sample_weights(samples: pl.DataFrame, key: str = "activity_id") -> pl.DataFrame:
    """Add interval_s (time since the previous sample), dt_s (the part of it with the
    timer running), and active and moving flags per sample."""
    threshold = _moving_speed(samples["sport"])
    moves = (
        (pl.col("speed_mps") > threshold).fill_null(False)
        | (pl.col("cadence_rpm") > 0).fill_null(False)
        | (pl.col("power_w") > 0).fill_null(False)
    )
    per = windows(samples, [key])
    has_motion_data = per((
        pl.col("speed_mps").is_not_null() | pl.col("cadence_rpm").is_not_null() | pl.col("power_w").is_not_null()
    ).any())
    interval = per(pl.col("timestamp_utc").diff().dt.total_microseconds() / 1e6).fill_null(0.0)
    # dt_s is the part of the interval with the timer running. The device's own timer
    # events decide that; only without them does a long gap count as a pause.
    running = pl.when(pl.col("paused_s").is_not_null()).then((pl.col("interval_s") - pl.col("paused_s")).clip(0.0))
    running = running.otherwise(pl.when(pl.col("interval_s") <= PAUSE_GAP_S).then(pl.col("interval_s")).otherwise(0.0))
    dt = pl.when(pl.col("interval_s") <= CLOCK_JUMP_S).then(running).otherwise(0.0)
    # Distance covered in each sample's interval; a first sample carries the distance
    # since its activity's start, as the stream counts from there.
    distance = per(pl.col("distance_m").forward_fill())
    distance_step = per(distance.diff()).fill_null(distance)
    return samples.with_columns(interval_s=interval, distance_step_m=distance_step).with_columns(dt_s=dt).with_columns(
        active=pl.col("dt_s") > 0,
        smoothed_speed=per(pl.col("speed_mps").rolling_median(MAX_SPEED_MEDIAN_WINDOW, min_samples=1)),
    ).with_columns(moving=pl.col("active") & pl.when(has_motion_data).then(moves).otherwise(True))


def windows(samples: pl.DataFrame, keys: list[str]) -> Callable[[pl.Expr], pl.Expr]:
    """Makes an expression work per group of `keys` (expr.over(keys)). With one group in the
    frame (most files hold one activity) the whole column is that group, and the expression is
    left as it is: the same steps, without the cost of partitioning."""
    if _one_group(samples, keys):
        return lambda expr: expr
    return lambda expr: expr.over(keys)


def aggregate(frame: pl.DataFrame, keys: list[str], *aggregations: pl.Expr, **named: pl.Expr) -> pl.DataFrame:
    """frame.group_by(keys, maintain_order=True).agg(...), for aggregations that each give one
    value per group. A frame of one group is aggregated whole, which gives the same row without
    hashing every row's keys (a third of the cost)."""
    if _one_group(frame, keys):
        return frame.select(*[pl.col(key).first() for key in keys], *aggregations, **named)
    return frame.group_by(keys, maintain_order=True).agg(*aggregations, **named)


def _one_group(frame: pl.DataFrame, keys: list[str]) -> bool:
    """Whether the frame has rows, all with the same keys."""
    return frame.height > 0 and all(_one_value(frame[key]) for key in keys)


def _one_value(column: pl.Series) -> bool:
    """Whether a column with rows holds one value (or only nulls)."""
    nulls = column.null_count()
    if nulls:
        return nulls == column.len()
    # A sorted column's min and max are its ends, read without a scan (a column made of one
    # value is flagged sorted); the ends differ in any stack of several activities.
    return column[0] == column[-1] and column.min() == column.max()


def _moving_speed(sports: pl.Series) -> pl.Expr:
    """Each sample's standing-still speed. Mapping a column of one sport costs a lookup per
    sample; a literal costs nothing."""
    if sports.len() and sports[0] is not None and _one_value(sports):
        return pl.lit(MOVING_SPEED_MPS.get(sports[0], MOVING_SPEED_MPS["other"]))
    return pl.col("sport").replace_strict(MOVING_SPEED_MPS, default=MOVING_SPEED_MPS["other"])


def total(values: pl.Expr) -> pl.Expr:
    """Sum in sample order, 0 when empty. Polars' sum pairs floats by where they sit in
    memory, so a group's sum could change in the last bit with whatever activities were
    batched before it; a running sum cannot."""
    return values.cum_sum().last().fill_null(0.0)


def weighted_mean(value: str | pl.Expr, where: pl.Expr) -> pl.Expr:
    """Mean over timer time (weights dt_s), not over samples, where `where` and the value
    is present; null when no time qualifies. Smart recording's uneven spacing cannot skew it."""
    weight, weighted = _weighted_totals(value, where)
    return pl.when(weight > 0).then(weighted / weight)


def weighted_sums(name: str, value: str | pl.Expr, where: pl.Expr) -> list[pl.Expr]:
    """weighted_mean's two sums, as aggregations; weighted_ratio(name) divides them after the
    group_by. Inside an aggregation, polars evaluates a repeated expression (weighted_mean's
    weight, a mean used twice) once per repetition."""
    weight, weighted = _weighted_totals(value, where)
    return [weight.alias(f"{name}__weight"), weighted.alias(f"{name}__sum")]


def _weighted_totals(value: str | pl.Expr, where: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Timer time (dt_s) where `where` holds and the value is present, and the value times it."""
    value = pl.col(value) if isinstance(value, str) else value
    usable = where & value.is_not_null()
    return total(pl.col("dt_s").filter(usable)), total((value * pl.col("dt_s")).filter(usable))


def weighted_ratio(name: str) -> pl.Expr:
    weight = pl.col(f"{name}__weight")
    return pl.when(weight > 0).then(pl.col(f"{name}__sum") / weight)


def weighted_sum_columns(names) -> list[str]:
    return [f"{name}__{part}" for name in names for part in ("weight", "sum")]


def summarize(samples: pl.DataFrame, keys: list[str], extra: list[pl.Expr] = (),
              ascent_hysteresis_m: float = ASCENT_HYSTERESIS_M) -> pl.DataFrame:
    """One row of metrics per group of `keys`, plus the `extra` aggregations.

    `samples` must come from with_sample_weights.
    """
    means = {
        "moving_hr": ("heart_rate_bpm", pl.col("moving")),
        "active_hr": ("heart_rate_bpm", pl.col("active")),
        "cadence": ("cadence_rpm", pl.col("moving") & (pl.col("cadence_rpm") > 0)),
        "power": ("power_w", pl.col("moving")),
    }
    moving_s = total(pl.col("dt_s").filter(pl.col("moving")))
    distance = pl.when(pl.col("distance_m").is_not_null().any()).then(total(pl.col("distance_step_m")))
    summary = aggregate(
        samples, keys,
        n_samples=pl.len(),
        # From the group's first sample to its last, less any clock jump between them.
        elapsed_s=total(pl.when(pl.col("interval_s") <= CLOCK_JUMP_S).then(pl.col("interval_s")).otherwise(0.0)
                        .slice(1)),
        timer_s=total(pl.col("dt_s")),  # dt_s is already only the timer-running part
        moving_s=moving_s,
        distance_m=distance,
        max_speed_mps=pl.col("smoothed_speed").max(),
        max_hr_bpm=pl.col("heart_rate_bpm").max(),
        max_power_w=pl.col("power_w").max(),
        sport=pl.col("sport").first(),
        *[sum_ for name, (value, where) in means.items() for sum_ in weighted_sums(name, value, where)],
        *extra,
    )
    summary = summary.with_columns(
        avg_hr_bpm=weighted_ratio("active_hr"),  # over timer time, stops included: as devices average
        avg_hr_moving_bpm=weighted_ratio("moving_hr"),
        avg_cadence_rpm=weighted_ratio("cadence"),
        avg_power_w=weighted_ratio("power"),
    ).drop(weighted_sum_columns(means)).with_columns(
        avg_speed_mps=pl.when(pl.col("moving_s") > 0).then(pl.col("distance_m") / pl.col("moving_s")),
    ).with_columns(
        avg_pace_s_per_km=pl.when(pl.col("sport").is_in(FOOT_SPORTS) & (pl.col("avg_speed_mps") > 0)).then(
            1000.0 / pl.col("avg_speed_mps")
        ),
        avg_pace_s_per_100m=pl.when((pl.col("sport") == "swim") & (pl.col("avg_speed_mps") > 0)).then(
            100.0 / pl.col("avg_speed_mps")
        ),
        # Devices record running cadence per foot (strides); runners count both feet.
        avg_cadence_spm=pl.when(pl.col("sport").is_in(FOOT_SPORTS)).then(2.0 * pl.col("avg_cadence_rpm")),
    )
    climbing = _climbing(samples, keys, ascent_hysteresis_m)
    return summary.join(climbing, on=keys, how="left", nulls_equal=True)


def with_recording_facts(activities: pl.DataFrame) -> pl.DataFrame:
    """Activity metrics that also use schema.RECORDING: the device timer beyond the first
    and last sample, and pool swim lengths.

    A pool swim (a pool length and active lengths with time) takes its distance, moving time,
    speed and pace from the lengths: its records are sparse (one per length, or a few an hour),
    so the sample rules see neither the swimming nor the rests at the wall."""
    outside = pl.col("timer_outside_samples_s").fill_null(0.0)
    lengths_m = pl.col("pool_active_lengths") * pl.col("pool_length_m")
    pool = (lengths_m > 0) & (pl.col("pool_active_lengths_s") > 0)
    pool_speed = lengths_m / pl.col("pool_active_lengths_s")
    return activities.with_columns(
        timer_s=pl.col("timer_s") + outside,
        elapsed_s=pl.col("elapsed_s") + outside,
        distance_m=pl.when(pool).then(lengths_m).otherwise("distance_m"),
        moving_s=pl.when(pool).then(pl.col("pool_active_lengths_s")).otherwise("moving_s"),
        avg_speed_mps=pl.when(pool).then(pool_speed).otherwise("avg_speed_mps"),
        avg_pace_s_per_100m=pl.when(pool).then(100.0 / pool_speed).otherwise("avg_pace_s_per_100m"),
        ef_speed_m_per_min_per_bpm=pl.when(pool & (pl.col("avg_hr_moving_bpm") > 0))
        .then(pool_speed * 60 / pl.col("avg_hr_moving_bpm")).otherwise("ef_speed_m_per_min_per_bpm"),
    )


def _climbing(samples: pl.DataFrame, keys: list[str], hysteresis_m: float) -> pl.DataFrame:
    """Ascent and descent per group of `keys`, on NumPy slices of one altitude array:
    materializing a frame per group cost several times the climbing arithmetic."""
    altitudes = samples.select(*keys, "altitude_m")
    starts, groups = _runs(altitudes, keys)
    if groups.is_duplicated().any():  # a group in several runs: make each group one run
        altitudes = altitudes.sort(keys, maintain_order=True)
        starts, groups = _runs(altitudes, keys)
    values = altitudes["altitude_m"]
    present, altitude = values.is_not_null().to_numpy(), values.to_numpy()
    bounds = [*starts.tolist(), altitudes.height]
    climbs = [ascent_descent(altitude[a:b][present[a:b]], hysteresis_m) for a, b in zip(bounds, bounds[1:])]
    return groups.with_columns(
        ascent_m=pl.Series([c[0] for c in climbs], dtype=pl.Float64),
        descent_m=pl.Series([c[1] for c in climbs], dtype=pl.Float64),
    )


def _runs(frame: pl.DataFrame, keys: list[str]) -> tuple[np.ndarray, pl.DataFrame]:
    """Where each run of equal keys starts, and the keys of each run."""
    if _one_group(frame, keys):
        return np.zeros(1, dtype=np.int64), frame.select(keys).head(1)
    run = frame.select(pl.struct(keys).rle_id())[:, 0].to_numpy()
    starts = np.flatnonzero(np.diff(run, prepend=-1)) if run.size else np.empty(0, dtype=np.int64)
    return starts, frame.select(keys)[starts]


def ascent_descent(altitude: np.ndarray, threshold: float = ASCENT_HYSTERESIS_M) -> tuple[float | None, float | None]:
    """Climb and drop on a centred moving average, with hysteresis.

    A turn from climbing to descending (or back) counts only once the altitude has moved
    `threshold` away from the extreme; then the whole climb to that extreme counts.
    """
    if altitude.size < 2:
        return None, None
    window = min(ALTITUDE_SMOOTHING_WINDOW, altitude.size)
    padded = np.pad(altitude, (window // 2, window - 1 - window // 2), mode="edge")
    smooth = np.convolve(padded, np.ones(window) / window, mode="valid")
    if threshold > 0 and np.isfinite(smooth).all():
        smooth = _turning_points(smooth)
    return _hysteresis(smooth.tolist(), threshold)


def _turning_points(smooth: np.ndarray) -> np.ndarray:
    """The first and last values and every local extreme: the hysteresis below ends in the
    same state on these as on all values (with a positive threshold). Inside a monotone run
    only the run's end can move the extreme further or reverse the direction, and a repeated
    value changes nothing, so dropping the rest changes no sum."""
    changed = np.concatenate(([0], np.flatnonzero(np.diff(smooth)) + 1))
    values = smooth[changed]
    if values.size < 3:
        return values
    slope = np.sign(np.diff(values))
    extremes = np.flatnonzero(slope[1:] != slope[:-1]) + 1
    return values[np.concatenate(([0], extremes, [values.size - 1]))]


def _hysteresis(smooth: list[float], threshold: float) -> tuple[float, float]:
    # Python floats, not NumPy scalars: the same IEEE arithmetic, several times faster.
    ascent = descent = 0.0
    turn = extreme = smooth[0]
    direction = 0  # 1 climbing, -1 descending, 0 not yet known
    for value in smooth[1:]:
        if direction == 0:
            if abs(value - turn) >= threshold:
                direction, extreme = (1 if value > turn else -1), value
        elif (value - extreme) * direction > 0:
            extreme = value
        elif abs(extreme - value) >= threshold:
            if direction == 1:
                ascent += extreme - turn
            else:
                descent += turn - extreme
            turn, extreme, direction = extreme, value, -direction
    if direction == 1:
        ascent += extreme - turn
    elif direction == -1:
        descent += turn - extreme
    return float(ascent), float(descent)
