"""The cross-training answer pooled across athletes (report/pooled.py): the random-effects
arithmetic against a hand calculation and against statsmodels, and the honesty rules of its
verdict and reading."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from pipeline.report import crosstrain, pooled


def test_random_effects_by_hand():
    # r = 0.3, 0.5, 0.1 from n = 20, 30, 25 pairs.
    # z = atanh(r) = 0.309520, 0.549306, 0.100335; weights n - 3 = 17, 27, 22 (sum 66).
    # Fixed-effect z = (17*0.309520 + 27*0.549306 + 22*0.100335) / 66 = 0.337886.
    # Q = 17*(0.309520-0.337886)^2 + 27*(0.549306-0.337886)^2 + 22*(0.100335-0.337886)^2 = 2.462005.
    # C = 66 - (17^2 + 27^2 + 22^2) / 66 = 66 - 1502/66 = 43.242424.
    # tau^2 = (Q - 2) / C = 0.010684;  I^2 = (Q - 2) / Q = 18.77 %.
    # Random-effects weights 1 / (1/w + tau^2) = 14.3869, 20.9551, 17.8131 (sum 53.1551);
    # z = 17.75116 / 53.1551 = 0.333949, SE = sqrt(1 / 53.1551) = 0.137160;
    # r = tanh(0.333949) = 0.32206; 95 % CI tanh(0.333949 -+ 1.959964 * 0.137160) = 0.06503 to 0.53902.
    result = pooled.random_effects([0.3, 0.5, 0.1], [20, 30, 25])
    assert result.k == 3
    assert result.q == pytest.approx(2.462005, abs=1e-5)
    assert result.tau2 == pytest.approx(0.010684, abs=1e-6)
    assert result.i2_pct == pytest.approx(18.77, abs=0.01)
    assert result.r == pytest.approx(0.32206, abs=1e-5)
    assert result.interval() == pytest.approx((0.06503, 0.53902), abs=1e-5)


def test_homogeneous_studies_pool_to_the_fixed_effect():
    # Q below its degrees of freedom: tau^2 is truncated at 0 (DerSimonian-Laird), and the pool
    # is the inverse-variance mean. Equal r everywhere: Q = 0, I^2 = 0, and r comes back.
    same = pooled.random_effects([0.4] * 6, [15, 20, 25, 30, 35, 40])
    assert same.tau2 == 0.0 and same.i2_pct == 0.0 and same.r == pytest.approx(0.4)
    assert same.se_z == pytest.approx(1 / math.sqrt(sum(n - 3 for n in [15, 20, 25, 30, 35, 40])))


@pytest.mark.parametrize("seed", range(5))
def test_random_effects_agrees_with_statsmodels(seed):
    # Heterogeneous studies (Q > df), where statsmodels' DL estimate, which it does not
    # truncate at 0, is the textbook one.
    rng = np.random.default_rng(seed)
    k = int(rng.integers(5, 30))
    n = rng.integers(12, 60, size=k)
    r = np.tanh(rng.normal(0.2, 0.4, size=k))
    ours = pooled.random_effects(r.tolist(), n.tolist())
    theirs = combine_effects(np.arctanh(r), 1 / (n - 3), method_re="dl", use_t=False)
    assert theirs.tau2 > 0, "the example must be heterogeneous"
    assert ours.tau2 == pytest.approx(theirs.tau2, rel=1e-9)
    assert ours.i2_pct == pytest.approx(theirs.i2 * 100, rel=1e-9)
    assert ours.q == pytest.approx(theirs.q, rel=1e-9)
    assert ours.z == pytest.approx(theirs.mean_effect_re, rel=1e-9)
    low, high = theirs.conf_int(use_t=False)[1]  # (low, high) of: fixed, random, fixed wls, random wls
    assert ours.interval() == pytest.approx((math.tanh(low), math.tanh(high)), rel=1e-9)


def _athlete_rows(athletes: dict[str, list[tuple[float | None, int, str]]]) -> dict[str, pl.DataFrame]:
    """crosstrain.analyse-shaped rows: per athlete, (r, n_weeks, verdict) at lags 0, 1, ..."""
    tables = {}
    for athlete, lags in athletes.items():
        rows = [{"lag_weeks": lag, "n_weeks": n, "r": r, "ci_low": None, "ci_high": None, "verdict": verdict,
                 "ride_ef_metric": crosstrain.POWER_EF, "first_week": date(2026, 1, 5), "last_week": date(2026, 6, 1),
                 "resamples": crosstrain.RESAMPLES, "seed": crosstrain.SEED} for lag, (r, n, verdict) in enumerate(lags)]
        tables[athlete] = pl.DataFrame(rows, schema=crosstrain.SCHEMA)
    return tables


def test_the_team_table_has_each_athletes_rows_then_pooled_rows_with_a_null_athlete():
    team = {f"a{i}": [(0.5, 30, "positive"), (0.1, 29, "cannot_tell")] for i in range(6)}
    table = pooled.team_table(_athlete_rows(team))
    assert table.columns == list(pooled.SCHEMA)
    assert table["athlete_id"].to_list()[:12] == [f"a{i}" for i in range(6) for _ in range(2)]
    rows = table.filter(pl.col("athlete_id").is_null()).to_dicts()
    assert [r["lag_weeks"] for r in rows] == [0, 1]
    assert [r["n_athletes"] for r in rows] == [6, 6] and [r["n_weeks"] for r in rows] == [180, 174]
    assert rows[0]["verdict"] == "positive" and rows[0]["r"] == pytest.approx(0.5)
    # The verdict reads the interval widened for 2 lags compared: at 97.5 %, not 95 %.
    z, se = math.atanh(0.5), 1 / math.sqrt(6 * 27)
    assert rows[0]["ci_low_simultaneous"] == pytest.approx(math.tanh(z - 2.241403 * se), abs=1e-6)
    assert rows[0]["ci_low"] == pytest.approx(math.tanh(z - 1.959964 * se), abs=1e-6)


def test_fewer_than_five_qualifying_athletes_cannot_tell():
    # Four strong athletes and two with too few weeks: nothing to read, whatever the numbers.
    team = {**{f"a{i}": [(0.8, 40, "positive")] for i in range(4)},
            **{f"b{i}": [(0.9, 8, "too_few_weeks")] for i in range(2)}}
    row = pooled.team_table(_athlete_rows(team)).filter(pl.col("athlete_id").is_null()).row(0, named=True)
    assert row["n_athletes"] == 4 and row["verdict"] == "too_few_athletes"
    assert "cannot tell yet" in pooled.reading(pooled.team_table(_athlete_rows(team)))


def test_an_interval_across_zero_cannot_tell_and_the_reading_names_no_direction():
    team = {f"a{i}": [(r, 20, "cannot_tell")] for i, r in enumerate([0.3, -0.2, 0.1, -0.1, 0.2, 0.0])}
    table = pooled.team_table(_athlete_rows(team))
    row = table.filter(pl.col("athlete_id").is_null()).row(0, named=True)
    assert row["ci_low"] < 0 < row["ci_high"] and row["verdict"] == "cannot_tell"
    text = pooled.reading(table)
    assert "cannot tell yet" in text and "higher" not in text and "lower ride" not in text


def test_the_reading_warns_when_athletes_differ_a_lot():
    # Half the team strongly positive, half strongly negative: I^2 is high.
    team = {f"a{i}": [(0.7 if i % 2 else -0.6, 40, "positive" if i % 2 else "negative")] for i in range(8)}
    table = pooled.team_table(_athlete_rows(team))
    row = table.filter(pl.col("athlete_id").is_null()).row(0, named=True)
    assert row["i2_pct"] > pooled.HIGH_HETEROGENEITY_PCT
    assert "Athletes differ a lot" in pooled.reading(table)


def test_a_finding_is_an_association_and_says_how_many_lags_were_compared():
    team = {f"a{i}": [(0.05, 30, "cannot_tell")] + [(0.6, 30, "positive")] * 4 for i in range(7)}
    text = pooled.reading(pooled.team_table(_athlete_rows(team)))
    assert "higher ride efficiency factor 1 week later" in text
    assert "5 lags were compared" in text and "not proof" in text
