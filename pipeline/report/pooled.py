"""Does running go with better cycling, across a team? Each athlete's within-athlete
correlations (crosstrain.analyse) pooled by a random-effects meta-analysis: Fisher's z,
weighted by n - 3, the between-athlete variance tau² by DerSimonian and Laird (1986).

DerSimonian R, Laird N. Meta-analysis in clinical trials. Controlled Clinical Trials
7(3):177-188, 1986. Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis.
Statistics in Medicine 21(11):1539-1558, 2002 (I²).

docs/report.md explains the method and how to read it; change both together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import polars as pl

from . import crosstrain

# Fewer athletes than this give a pooled estimate, but not a reading.
MIN_ATHLETES = 5
CONFIDENCE = 0.95
# I² from which athletes are said to differ a lot (Higgins et al. 2003: 50 % is "moderate to
# substantial", 75 % "high").
HIGH_HETEROGENEITY_PCT = 50.0
# The per-athlete verdicts whose r goes into the pool: enough weeks, and some variation.
QUALIFYING = ("positive", "negative", "cannot_tell")

# An athlete's columns (crosstrain.SCHEMA), with the athlete and what only pooled rows have.
SCHEMA: dict[str, pl.DataType] = {
    "athlete_id": pl.String,
    "lag_weeks": crosstrain.SCHEMA["lag_weeks"],
    "n_athletes": pl.Int32,
    **{c: crosstrain.SCHEMA[c] for c in ("n_weeks", "r", "ci_low", "ci_high")},
    "ci_low_simultaneous": pl.Float64,
    "ci_high_simultaneous": pl.Float64,
    "tau2": pl.Float64,
    "i2_pct": pl.Float64,
    **{c: crosstrain.SCHEMA[c] for c in ("verdict", "ride_ef_metric", "first_week", "last_week", "resamples", "seed")},
}


@dataclass(frozen=True)
class Pooled:
    """A random-effects pooled correlation."""

    k: int  # studies (athletes) pooled
    z: float  # pooled Fisher z
    se_z: float
    tau2: float  # between-athlete variance, on Fisher's z scale
    i2_pct: float  # share of the spread in z beyond chance, in percent
    q: float  # Cochran's Q

    @property
    def r(self) -> float:
        return math.tanh(self.z)

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """The pooled r's interval at this confidence level."""
        half = _z_quantile(confidence) * self.se_z
        return math.tanh(self.z - half), math.tanh(self.z + half)


def random_effects(r: list[float], n: list[int]) -> Pooled | None:
    """DerSimonian-Laird random-effects pool of correlations `r` from `n` pairs each; None
    without at least two studies of more than 3 pairs."""
    studies = [(math.atanh(max(min(ri, 1 - 1e-12), -1 + 1e-12)), ni - 3) for ri, ni in zip(r, n) if ni > 3]
    if len(studies) < 2:
        return None
    z = [s[0] for s in studies]
    w = [float(s[1]) for s in studies]  # 1 / var(z) = n - 3
    sum_w = sum(w)
    fixed = sum(wi * zi for wi, zi in zip(w, z)) / sum_w
    q = sum(wi * (zi - fixed) ** 2 for wi, zi in zip(w, z))
    df = len(studies) - 1
    c = sum_w - sum(wi * wi for wi in w) / sum_w
    tau2 = max(0.0, (q - df) / c) if c > 0 else 0.0
    w_star = [1 / (1 / wi + tau2) for wi in w]
    pooled_z = sum(wi * zi for wi, zi in zip(w_star, z)) / sum(w_star)
    i2 = max(0.0, (q - df) / q) * 100 if q > 0 else 0.0
    return Pooled(len(studies), pooled_z, math.sqrt(1 / sum(w_star)), tau2, i2, q)


def _z_quantile(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def team_table(per_athlete: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """crosstrain.parquet for a team: each athlete's rows (crosstrain.analyse), then one pooled
    row per lag with a null athlete_id and n_athletes."""
    rows = [table.with_columns(athlete_id=pl.lit(athlete)) for athlete, table in sorted(per_athlete.items())]
    every = pl.concat(rows, how="diagonal_relaxed") if rows else pl.DataFrame(schema=crosstrain.SCHEMA)
    lags = sorted(set(every["lag_weeks"].to_list())) or list(crosstrain.LAGS_WEEKS)
    pooled = [pooled_row(every.filter(pl.col("lag_weeks") == lag), lag, len(lags)) for lag in lags]
    table = pl.concat([every, pl.DataFrame(pooled, schema=SCHEMA)], how="diagonal_relaxed")
    return table.select([pl.col(c).cast(t) if c in table.columns else pl.lit(None, t).alias(c)
                         for c, t in SCHEMA.items()])


def pooled_row(rows: pl.DataFrame, lag: int, lags_compared: int) -> dict:
    """One lag's pooled row from the athletes' rows at that lag.

    Its verdict reads the simultaneous interval: each lag's at 1 - 0.05 / lags_compared
    (Bonferroni), so that across all the lags compared, a direction is named by chance
    at most 5 % of the time."""
    qualifying = rows.filter(pl.col("verdict").is_in(QUALIFYING) & pl.col("r").is_not_null())
    metrics = set(qualifying["ride_ef_metric"].drop_nulls().to_list())
    row = {"athlete_id": None, "lag_weeks": lag, "n_athletes": qualifying.height,
           "n_weeks": int(qualifying["n_weeks"].sum()), "ride_ef_metric": metrics.pop() if len(metrics) == 1 else None,
           "first_week": qualifying["first_week"].min(), "last_week": qualifying["last_week"].max()}
    pooled = random_effects(qualifying["r"].to_list(), qualifying["n_weeks"].to_list())
    if pooled is None:
        return {**row, "verdict": "too_few_athletes"}
    low, high = pooled.interval(1 - (1 - CONFIDENCE) / lags_compared)
    ci_low, ci_high = pooled.interval()
    return {**row, "r": pooled.r, "ci_low": ci_low, "ci_high": ci_high,
            "ci_low_simultaneous": low, "ci_high_simultaneous": high, "tau2": pooled.tau2,
            "i2_pct": pooled.i2_pct, "verdict": pooled_verdict(pooled.k, low, high)}


def pooled_verdict(athletes: int, low: float, high: float) -> str:
    """too_few_athletes, cannot_tell (interval includes 0), positive or negative."""
    if athletes < MIN_ATHLETES:
        return "too_few_athletes"
    if low <= 0 <= high:
        return "cannot_tell"
    return "positive" if low > 0 else "negative"


# --- the plain-language reading ------------------------------------------------


def reading(table: pl.DataFrame) -> str:
    """One paragraph about the pooled rows. It names a direction only where the simultaneous
    interval excludes zero, and says how much the athletes differ."""
    rows = table.filter(pl.col("athlete_id").is_null()).sort("lag_weeks").to_dicts()
    most = max((row["n_athletes"] for row in rows), default=0)
    if most < MIN_ATHLETES:
        return (f"The team cannot tell yet. Pooling needs at least {MIN_ATHLETES} athletes with "
                f"{crosstrain.MIN_WEEKS} or more usable weeks each at a lag; the most at any lag is {most}. "
                "Each athlete's own reading is on their page.")
    found = [row for row in rows if row["verdict"] in ("positive", "negative")]
    usable = [row for row in rows if row["verdict"] != "too_few_athletes"]
    listed = "; ".join(f"lag {row['lag_weeks']}: {_numbers(row)}" for row in usable)
    text = [_finding(row) for row in found] or [
        "The team cannot tell yet whether running goes with better or worse ride efficiency: at every lag "
        f"the interval includes zero ({listed})."]
    text.append(f"{len(usable)} lags were compared, so each interval that decides is widened (Bonferroni) "
                "to keep a chance finding at any one lag below 5 %.")
    if found:
        text.append("This is an association across athletes' own weeks, not proof that running caused it: "
                    "training blocks and the season can move both.")
    differ = [row for row in usable if (row["i2_pct"] or 0) >= HIGH_HETEROGENEITY_PCT]
    if differ:
        text.append(f"Athletes differ a lot (I² {max(r['i2_pct'] for r in differ):.0f} % at most): the pooled "
                    "value is an average over athletes for whom running goes with quite different changes; "
                    "look at each athlete's own rows too.")
    return " ".join(text)


def _finding(row: dict) -> str:
    direction = "higher" if row["verdict"] == "positive" else "lower"
    when = ("the same week" if row["lag_weeks"] == 0
            else f"{row['lag_weeks']} week{'s' if row['lag_weeks'] > 1 else ''} later")
    return (f"Across the team, an athlete's weeks with more running go with a {direction} ride efficiency factor "
            f"{when}: {_numbers(row)}.")


def _numbers(row: dict) -> str:
    return (f"pooled r = {row['r']:.2f}, 95 % CI {row['ci_low']:.2f} to {row['ci_high']:.2f}, "
            f"{row['n_athletes']} athletes, {row['n_weeks']} athlete-weeks, I² {row['i2_pct']:.0f} %")
