"""Does running go with better cycling? Weekly running time against the ride efficiency
factor some weeks later: Pearson r, a seeded percentile-bootstrap interval, and a
plain-language reading that claims no more than those intervals allow.

docs/report.md explains the method and how to read it; change both together.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

LAGS_WEEKS = (0, 1, 2, 3, 4)
# Below this many paired weeks a correlation is mostly noise, whatever its interval says.
MIN_WEEKS = 12
RESAMPLES = 2000
SEED = 20261115
CONFIDENCE = 0.95
# EF only compares like with like: intervals raise Normalized Power against heart rate, so
# with power only steady rides count.
STEADY_MAX_VI = 1.05
POWER_EF, SPEED_EF = "ef_power_w_per_bpm", "ef_speed_m_per_min_per_bpm"
EF_LABELS = {
    POWER_EF: "Normalized Power per heartbeat (W/bpm), steady rides (VI ≤ 1.05)",
    SPEED_EF: "speed per heartbeat ((m/min)/bpm), all rides",
}

SCHEMA: dict[str, pl.DataType] = {
    "lag_weeks": pl.Int32,
    "n_weeks": pl.Int32,
    "r": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "verdict": pl.String,
    "ride_ef_metric": pl.String,
    "first_week": pl.Date,
    "last_week": pl.Date,
    "resamples": pl.Int32,
    "seed": pl.Int64,
}
SERIES_SCHEMA: dict[str, pl.DataType] = {"week_start": pl.Date, "running_s": pl.Float64, "ride_ef": pl.Float64}


# --- statistics -------------------------------------------------------------


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson's r; None with fewer than 3 pairs or when either side never varies."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    dx, dy = x - x.mean(), y - y.mean()
    return float(np.clip((dx * dy).sum() / math.sqrt((dx * dx).sum() * (dy * dy).sum()), -1.0, 1.0))


def bootstrap_ci(x: np.ndarray, y: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED,
                 confidence: float = CONFIDENCE) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of r: resample the weekly pairs with replacement."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if pearson(x, y) is None:
        return None, None
    picks = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    xs, ys = x[picks], y[picks]
    # A resample that repeats one week (or only equal values) has no r; it is left out.
    varies = (np.ptp(xs, axis=1) > 0) & (np.ptp(ys, axis=1) > 0)
    if varies.sum() < resamples / 2:
        return None, None
    dx = xs[varies] - xs[varies].mean(axis=1, keepdims=True)
    dy = ys[varies] - ys[varies].mean(axis=1, keepdims=True)
    r = (dx * dy).sum(axis=1) / np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(np.clip(r, -1.0, 1.0), [tail, 100 - tail])
    return float(low), float(high)


def verdict(n_weeks: int, r: float | None, low: float | None, high: float | None) -> str:
    """too_few_weeks, no_variation, cannot_tell (interval includes 0), positive or negative."""
    if n_weeks < MIN_WEEKS:
        return "too_few_weeks"
    if r is None:
        return "no_variation"
    if low is None or high is None or low <= 0 <= high:
        return "cannot_tell"
    return "positive" if low > 0 else "negative"


# --- weekly series from activities -------------------------------------------


def ride_ef_metric(activities: pl.DataFrame) -> str | None:
    """Power EF when at least half the weeks with a ride EF have one; else speed EF."""
    rides = _weeks(activities.filter(pl.col("sport") == "ride"))
    weeks_with = {c: rides.filter(pl.col(c).is_not_null())["week_start"].n_unique() for c in (POWER_EF, SPEED_EF)}
    any_ef = rides.filter(pl.col(POWER_EF).is_not_null() | pl.col(SPEED_EF).is_not_null())["week_start"].n_unique()
    if any_ef == 0:
        return None
    return POWER_EF if weeks_with[POWER_EF] * 2 >= any_ef else SPEED_EF


def weekly_series(activities: pl.DataFrame, metric: str | None) -> pl.DataFrame:
    """Every week from the first with a run to the last activity: running_s and ride_ef.

    Weeks before the first run are left out: before the athlete ran at all, running time
    is not something that varied, and years of riding alone would swamp the comparison."""
    dated = _weeks(activities)
    runs = dated.filter(pl.col("sport") == "run")
    if runs.is_empty() or metric is None:
        return pl.DataFrame(schema=SERIES_SCHEMA)
    weeks = pl.DataFrame({"week_start": pl.date_range(runs["week_start"].min(), dated["week_start"].max(), "1w",
                                                      eager=True)})
    running = runs.group_by("week_start").agg(running_s=pl.col("moving_s").fill_null(0).sum())
    rides = dated.filter(pl.col("sport") == "ride", pl.col(metric).is_not_null(), pl.col("moving_s") > 0)
    if metric == POWER_EF:
        rides = rides.filter(pl.col("variability_index") <= STEADY_MAX_VI)
    ride_ef = rides.group_by("week_start").agg(
        ride_ef=(pl.col(metric) * pl.col("moving_s")).sum() / pl.col("moving_s").sum())
    series = weeks.join(running, on="week_start", how="left").join(ride_ef, on="week_start", how="left")
    return series.with_columns(pl.col("running_s").fill_null(0.0)).select(
        [pl.col(c).cast(t) for c, t in SERIES_SCHEMA.items()]).sort("week_start")


def _weeks(activities: pl.DataFrame) -> pl.DataFrame:
    return activities.filter(pl.col("start_time_local").is_not_null()).with_columns(
        week_start=pl.col("start_time_local").dt.truncate("1w").dt.date())


def lagged_pairs(series: pl.DataFrame, lag_weeks: int) -> pl.DataFrame:
    """Running in week w next to the ride EF of week w + lag, where both exist."""
    return series.with_columns(ride_ef_later=pl.col("ride_ef").shift(-lag_weeks)).filter(
        pl.col("ride_ef_later").is_not_null()).select("week_start", "running_s", "ride_ef_later")


# --- the table -----------------------------------------------------------------


def analyse(series: pl.DataFrame, metric: str | None, lags: tuple[int, ...] = LAGS_WEEKS,
            resamples: int = RESAMPLES, seed: int = SEED) -> pl.DataFrame:
    """One row per lag: n_weeks, r, its 95 % bootstrap interval and the verdict."""
    rows = []
    for lag in lags:
        pairs = lagged_pairs(series, lag)
        x, y = pairs["running_s"].to_numpy(), pairs["ride_ef_later"].to_numpy()
        r = pearson(x, y)
        low, high = bootstrap_ci(x, y, resamples, seed)
        rows.append({
            "lag_weeks": lag, "n_weeks": pairs.height, "r": r, "ci_low": low, "ci_high": high,
            "verdict": verdict(pairs.height, r, low, high), "ride_ef_metric": metric,
            "first_week": pairs["week_start"].min(), "last_week": pairs["week_start"].max(),
            "resamples": resamples, "seed": seed,
        })
    return pl.DataFrame(rows, schema=SCHEMA)


# --- the plain-language reading ------------------------------------------------


def reading(table: pl.DataFrame) -> str:
    """One paragraph. It names a direction only where the interval excludes zero."""
    rows = table.to_dicts()
    usable = [row for row in rows if row["verdict"] != "too_few_weeks"]
    if not usable:
        return _too_few(rows)
    if all(row["verdict"] == "no_variation" for row in usable):
        return ("Your data cannot tell yet: running time (or ride efficiency) is the same in every usable week, "
                "so there is no variation to compare.")
    found = [row for row in usable if row["verdict"] in ("positive", "negative")]
    if not found:
        return _nothing_found(usable, rows)
    return " ".join([*(_finding(row) for row in found), *_caveats(found, usable, rows)])


def _too_few(rows: list[dict]) -> str:
    most = max((row["n_weeks"] for row in rows), default=0)
    return (f"Your data cannot tell yet. Each comparison needs at least {MIN_WEEKS} weeks that have a running "
            f"total and, the given number of weeks later, rides with heart rate; the most at any lag is {most}. "
            "Keep recording runs and rides with a heart-rate strap and look again in a few weeks.")


def _nothing_found(usable: list[dict], rows: list[dict]) -> str:
    examples = "; ".join(f"lag {row['lag_weeks']}: {_numbers(row)}" for row in usable if row["r"] is not None)
    text = (f"Your data cannot tell yet whether running goes with better or worse ride efficiency. At every lag "
            f"with enough weeks, the 95 % interval includes zero, so no relationship fits the data as well as "
            f"a positive or a negative one ({examples}).")
    return " ".join([text, *_skipped(rows)])


def _finding(row: dict) -> str:
    direction = "higher" if row["verdict"] == "positive" else "lower"
    when = ("had rides with a {} efficiency factor in the same week" if row["lag_weeks"] == 0
            else f"were followed {row['lag_weeks']} week{'s' if row['lag_weeks'] > 1 else ''} later by rides "
            "with a {} efficiency factor")
    bounds = sorted(abs(v) for v in (row["ci_low"], row["ci_high"]))
    weakest, strongest = _strength(bounds[0]), _strength(bounds[1])
    strength = weakest if weakest == strongest else f"anywhere from {weakest} to {strongest}"
    return (f"In your data, weeks with more running {when.format(direction)}: {_numbers(row)}. "
            f"The interval allows a relationship that is {strength}.")


def _caveats(found: list[dict], usable: list[dict], rows: list[dict]) -> list[str]:
    notes = ["This is an association in your own data, not proof that running caused it: a training block, "
             "the season or fatigue can move both."]
    if len(usable) > 1:
        notes.append(f"With {len(usable)} lags compared, one interval that excludes zero can appear by chance; "
                     "trust it more if it still holds as weeks are added.")
    others = [row for row in usable if row not in found]
    if others:
        notes.append(f"At {_lags(others)} the interval includes zero: no conclusion there.")
    return notes + _skipped(rows)


def _skipped(rows: list[dict]) -> list[str]:
    few = [row for row in rows if row["verdict"] == "too_few_weeks"]
    if not few:
        return []
    one = len(few) == 1
    return [f"{_lags(few).capitalize()} {'has' if one else 'have'} fewer than {MIN_WEEKS} usable weeks and "
            f"{'is' if one else 'are'} not read."]


def _numbers(row: dict) -> str:
    if row["ci_low"] is None:
        return f"r = {row['r']:.2f}, no interval, {row['n_weeks']} weeks"
    return f"r = {row['r']:.2f}, 95 % CI {row['ci_low']:.2f} to {row['ci_high']:.2f}, {row['n_weeks']} weeks"


def _strength(r: float) -> str:
    return "negligible" if r < 0.1 else "weak" if r < 0.3 else "moderate" if r < 0.5 else "strong"


def _lags(rows: list[dict]) -> str:
    """'lag 2', 'lags 0 and 3', 'lags 0, 2 and 3'."""
    lags = [str(row["lag_weeks"]) for row in rows]
    return f"lag {lags[0]}" if len(lags) == 1 else f"lags {', '.join(lags[:-1])} and {lags[-1]}"
