"""Training load from thresholds (issue 24, part 6): TRIMP, heart-rate zones, hrTSS, power IF and
TSS, rTSS, sTSS, and which TSS each activity counts, for activities and laps.

Everything here needs the thresholds in force on the activity's day (metrics/thresholds.py), which
depend on the activities before it, so it runs where all of them are known: on the whole output
in the metrics stage. A worker's batch gets the same with configured thresholds only. Heart rate
enters through time_at_hr (the moving seconds at each heart rate), so changing a threshold
recomputes TRIMP and zones without reading a sample. Definitions: docs/metrics.md.
"""

from __future__ import annotations

from typing import Callable

import polars as pl

from ..config import Athlete
from ..normalize import schema
from .activity import total

# Banister TRIMP weighting y = a * exp(b * HRr), by sex (Banister 1991).
TRIMP_WEIGHTS = {"male": (0.64, 1.92), "female": (0.86, 1.67)}
# Lower bounds of zones 2..5 (zone 1 is everything below the first).
ZONE_BOUNDS = {
    "lthr": (0.85, 0.90, 0.95, 1.00),  # percent of lactate threshold HR (Friel)
    "max_hr": (0.60, 0.70, 0.80, 0.90),  # percent of max HR
}
HR_ZONES = 5
# The thresholds an activity uses, as columns of the activities table.
IN_FORCE = {"threshold_ftp_w": pl.Float64, "threshold_lthr_bpm": pl.Float64, "threshold_max_hr_bpm": pl.Float64,
            "threshold_resting_hr_bpm": pl.Float64, "threshold_speed_mps": pl.Float64, "thresholds_source": pl.String}
# The load columns computed here.
THRESHOLD_LOAD = ["trimp", *[f"hr_zone{k}_s" for k in range(1, HR_ZONES + 1)], "hr_tss", "intensity_factor",
                  "power_tss", "run_tss", "swim_tss", "tss", "tss_source"]
LTHR_OF = {"run": "lthr_run_bpm", "ride": "lthr_ride_bpm"}
SPEED_OF = {"run": "threshold_run_speed_mps", "swim": "css_mps"}
NAMES = ("ftp_w", "max_hr_bpm", "lthr_run_bpm", "lthr_ride_bpm", "resting_hr_bpm", "threshold_run_speed_mps", "css_mps")


def time_at_hr(weighted: pl.DataFrame) -> pl.DataFrame:
    """schema.TIME_AT_HR: per activity, lap and heart rate, the moving seconds at it (samples
    prepared by activity.with_sample_weights)."""
    keys = ["athlete_id", "activity_id", "lap_index", "heart_rate_bpm"]
    # The five columns first: a filter copies every column it is given.
    moving = weighted.select(*keys, "dt_s", "moving").filter(pl.col("moving") & pl.col("heart_rate_bpm").is_not_null())
    return schema.conform(moving.group_by(keys).agg(moving_s=total(pl.col("dt_s"))).sort(keys[1:]),
                          schema.TIME_AT_HR)


def with_load(activities: pl.DataFrame, laps: pl.DataFrame, at_hr: pl.DataFrame, thresholds: pl.DataFrame,
              athlete_by_id: Callable[[str], Athlete]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Activities and laps with every load column from the thresholds (schema.THRESHOLDS) in
    force on each activity's local day."""
    used = _in_force(activities, thresholds)
    athletes = _athlete_parameters(activities["athlete_id"].unique().sort().to_list(), athlete_by_id)
    heart = at_hr.join(used, on="activity_id").join(athletes, on="athlete_id")
    facts = used.join(activities.select("activity_id", "athlete_id", "sport"), on="activity_id").join(athletes, on="athlete_id")
    activities = _load(activities.drop(_load_columns(activities)).join(used, on="activity_id", how="left"),
                       _heart_load(heart, ["activity_id"]), ["activity_id"], facts)
    laps = _load(laps.drop(_load_columns(laps)), _heart_load(heart, ["activity_id", "lap_index"]),
                 ["activity_id", "lap_index"], facts)
    return schema.conform(activities, schema.ACTIVITIES), schema.conform(laps, schema.LAPS)


def _load_columns(table: pl.DataFrame) -> list[str]:
    return [c for c in (*THRESHOLD_LOAD, *IN_FORCE) if c in table.columns]


def _in_force(activities: pl.DataFrame, thresholds: pl.DataFrame) -> pl.DataFrame:
    """Per activity, the thresholds it uses (IN_FORCE): LTHR of its sport (rides the ride's, any
    other sport the run's; either the other's while it has none), the threshold speed of runs and
    CSS of swims."""
    values = _wide(thresholds, "value", pl.Float64)
    sources = _wide(thresholds, "source", pl.String)
    day = pl.col("start_time_local").dt.date().alias("date")
    found = (activities.select("athlete_id", "activity_id", "sport", day)
             .join(values, on=["athlete_id", "date"], how="left")
             .join(sources, on=["athlete_id", "date"], how="left", suffix="__source"))

    def by_sport(names: dict[str, str], suffix: str = "", otherwise: pl.Expr = pl.lit(None)) -> pl.Expr:
        chosen = otherwise
        for sport, name in reversed(names.items()):
            chosen = pl.when(pl.col("sport") == sport).then(pl.col(name + suffix)).otherwise(chosen)
        return chosen

    def lthr(suffix: str = "") -> pl.Expr:
        """The sport's own LTHR, else the other's (a first run after months of rides)."""
        run, ride = (LTHR_OF[sport] + suffix for sport in ("run", "ride"))
        return pl.when(pl.col("sport") == "ride").then(pl.coalesce(ride, run)).otherwise(pl.coalesce(run, ride))

    ride = pl.col("sport") == "ride"
    used = found.select(
        "activity_id",
        threshold_ftp_w=pl.when(ride).then(pl.col("ftp_w")),
        threshold_lthr_bpm=lthr(), threshold_max_hr_bpm=pl.col("max_hr_bpm"),
        threshold_resting_hr_bpm=pl.col("resting_hr_bpm"), threshold_speed_mps=by_sport(SPEED_OF),
        _sources=pl.concat_list(
            pl.when(ride).then(pl.col("ftp_w__source")), lthr("__source"), pl.col("max_hr_bpm__source"),
            pl.col("resting_hr_bpm__source"), by_sport(SPEED_OF, "__source")),
    )
    return used.with_columns(
        thresholds_source=pl.col("_sources").list.drop_nulls().list.unique().list.sort().list.join("+")
    ).drop("_sources").with_columns(pl.col("thresholds_source").replace("", None))


def _wide(thresholds: pl.DataFrame, field: str, dtype: pl.DataType) -> pl.DataFrame:
    """Per athlete and day, one column per threshold name (NAMES) with its `field`."""
    wide = thresholds.pivot(on="threshold", index=["athlete_id", "date"], values=field) if thresholds.height else (
        thresholds.select("athlete_id", "date"))
    wide = wide.with_columns([pl.lit(None, dtype).alias(n) for n in NAMES if n not in wide.columns])
    return wide.select("athlete_id", "date", *[pl.col(n).cast(dtype) for n in NAMES])


def _athlete_parameters(ids: list[str], athlete_by_id: Callable[[str], Athlete]) -> pl.DataFrame:
    """Per athlete, the TRIMP weighting of their sex and what their zones are a percentage of."""
    rows = []
    for athlete_id in ids:
        athlete = athlete_by_id(athlete_id)
        a, b = TRIMP_WEIGHTS[athlete.sex]
        rows.append({"athlete_id": athlete_id, "trimp_a": a, "trimp_b": b, "zones_of_max": athlete.hr_zones == "max_hr"})
    return pl.DataFrame(rows, schema={"athlete_id": pl.String, "trimp_a": pl.Float64, "trimp_b": pl.Float64,
                                      "zones_of_max": pl.Boolean})


def _heart_load(heart: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """TRIMP and the time in each zone per group of `keys`, from the time at each heart rate."""
    rest, peak = pl.col("threshold_resting_hr_bpm"), pl.col("threshold_max_hr_bpm")
    reserve = ((pl.col("heart_rate_bpm") - rest) / (peak - rest)).clip(0.0, 1.0)
    trimp = pl.col("moving_s") / 60 * reserve * pl.col("trimp_a") * (pl.col("trimp_b") * reserve).exp()
    basis = pl.when(pl.col("zones_of_max")).then(peak).otherwise(pl.col("threshold_lthr_bpm"))
    zone = pl.lit(1, pl.Int8)
    for of_lthr, of_max in zip(ZONE_BOUNDS["lthr"], ZONE_BOUNDS["max_hr"]):
        fraction = pl.when(pl.col("zones_of_max")).then(of_max).otherwise(of_lthr)
        zone = zone + (pl.col("heart_rate_bpm") >= basis * fraction).cast(pl.Int8)
    # One order for the sums whatever order the rows came in (a lap's heart rates recur in the next).
    ordered = heart.with_columns(trimp=trimp, zone=zone).sort("activity_id", "heart_rate_bpm", "lap_index")
    zoned = pl.col("zone").is_not_null()
    return ordered.group_by(keys).agg(
        trimp=pl.when(pl.col("trimp").is_not_null().any()).then(total(pl.col("trimp"))),
        **{f"hr_zone{k}_s": pl.when(zoned.any()).then(total(pl.col("moving_s").filter(pl.col("zone") == k)))
           for k in range(1, HR_ZONES + 1)},
    )


def _load(table: pl.DataFrame, heart: pl.DataFrame, keys: list[str], facts: pl.DataFrame) -> pl.DataFrame:
    """hrTSS, IF, power TSS, rTSS, sTSS and the TSS counted, on activities or laps."""
    table = table.join(heart, on=keys, how="left").join(
        facts.select("activity_id", *[c for c in facts.columns if c not in table.columns]), on="activity_id", how="left")
    rest, peak, lthr = (pl.col(f"threshold_{n}_bpm") for n in ("resting_hr", "max_hr", "lthr"))
    a, b = pl.col("trimp_a"), pl.col("trimp_b")
    lthr_reserve = (lthr - rest) / (peak - rest)
    hours = pl.col("timer_s") / 3600
    intensity = pl.col("np_w") / pl.col("threshold_ftp_w")
    speed = pl.col("threshold_speed_mps")
    table = table.with_columns(
        hr_tss=pl.when(lthr_reserve > 0).then(pl.col("trimp") / (60 * lthr_reserve * a * (b * lthr_reserve).exp()) * 100),
        intensity_factor=intensity,
        power_tss=hours * intensity ** 2 * 100,
        run_tss=pl.when(pl.col("sport") == "run").then(hours * (pl.col("ngp_mps") / speed) ** 2 * 100),
        swim_tss=pl.when(pl.col("sport") == "swim").then(hours * (pl.col("avg_speed_mps") / speed) ** 3 * 100),
    )
    source = (pl.when(pl.col("power_tss").is_not_null()).then(pl.lit("power"))
              .when(pl.coalesce("run_tss", "swim_tss").is_not_null()).then(pl.lit("pace"))
              .when(pl.col("hr_tss").is_not_null()).then(pl.lit("hr")))
    return table.with_columns(tss=pl.coalesce("power_tss", "run_tss", "swim_tss", "hr_tss"), tss_source=source)
