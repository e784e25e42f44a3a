"""Cross-source duplicates: the same workout recorded in several files (the device's FIT,
Strava's GPX, a TCX export). Every copy stays in the tables; all but the richest get
`duplicate_of`, and the weekly and daily tables count only the kept one."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .metrics import aggregate

# Sports that one workout can be labelled with by different apps. `other` (no sport given,
# as in many phone GPX files) may match any family.
SPORT_FAMILIES = {"run": "foot", "walk": "foot", "hike": "foot", "ride": "ride", "swim": "swim"}
FORMAT_RANK = {"fit": 0, "tcx": 1, "gpx": 2}
# Recorded sample channels; position counts once for lat and lon.
CHANNELS = ("lat_deg", "altitude_m", "heart_rate_bpm", "cadence_rpm", "power_w", "temperature_c")


@dataclass(frozen=True)
class DuplicateRule:
    enabled: bool = True
    start_within_s: float = 120.0
    tolerance_pct: float = 3.0  # for both elapsed time and distance


def sample_channels(samples: pl.DataFrame) -> pl.DataFrame:
    """(activity_id, sample_channels): how many of CHANNELS each activity recorded at all."""
    return aggregate(
        samples, ["activity_id"],
        sample_channels=pl.sum_horizontal([pl.col(c).is_not_null().any() for c in CHANNELS]).cast(pl.Int32)
    )


def mark(activities: pl.DataFrame, rule: DuplicateRule) -> pl.DataFrame:
    """Set `duplicate_of` on every activity (recomputed from scratch, so it never goes stale)."""
    if not rule.enabled or activities.is_empty():
        return activities.with_columns(duplicate_of=pl.lit(None, dtype=pl.String))
    ranked = activities.sort(
        pl.col("format").replace_strict(FORMAT_RANK, default=len(FORMAT_RANK)),
        pl.col("sample_channels").fill_null(0), pl.col("n_samples").fill_null(0), "activity_id",
        descending=[False, True, True, False],
    )
    keeper = _keepers(ranked.to_dicts(), rule)
    duplicate_of = [keeper.get(a) for a in activities["activity_id"]]
    return activities.with_columns(duplicate_of=pl.Series(duplicate_of, dtype=pl.String))


def _keepers(ranked: list[dict], rule: DuplicateRule) -> dict[str, str]:
    """Richest first: each activity not yet claimed keeps every later one that matches it."""
    claimed: dict[str, str] = {}
    by_start = sorted((r for r in ranked if r["start_time_utc"] is not None), key=lambda r: r["start_time_utc"])
    position = {r["activity_id"]: i for i, r in enumerate(by_start)}
    rank = {r["activity_id"]: i for i, r in enumerate(ranked)}
    for kept in ranked:
        if kept["activity_id"] in claimed or kept["activity_id"] not in position:
            continue
        for other in _near(by_start, position[kept["activity_id"]], rule.start_within_s):
            poorer = rank[other["activity_id"]] > rank[kept["activity_id"]]
            if poorer and other["activity_id"] not in claimed and _same_workout(kept, other, rule):
                claimed[other["activity_id"]] = kept["activity_id"]
    return claimed


def _near(by_start: list[dict], index: int, seconds: float):
    """Activities other than by_start[index] that start within `seconds` of it."""
    start = by_start[index]["start_time_utc"]
    for step in (-1, 1):
        i = index + step
        while 0 <= i < len(by_start) and abs((by_start[i]["start_time_utc"] - start).total_seconds()) <= seconds:
            yield by_start[i]
            i += step


def _same_workout(a: dict, b: dict, rule: DuplicateRule) -> bool:
    families = {SPORT_FAMILIES.get(a["sport"]), SPORT_FAMILIES.get(b["sport"])} - {None}
    return (
        len(families) <= 1
        and a["source_sha256"] != b["source_sha256"]
        and _close(a["elapsed_s"], b["elapsed_s"], rule.tolerance_pct)
        and _close(a["distance_m"], b["distance_m"], rule.tolerance_pct)
    )


def _close(a: float | None, b: float | None, tolerance_pct: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tolerance_pct / 100 * max(abs(a), abs(b))


def annotate_manifest(manifest: pl.DataFrame, activities: pl.DataFrame) -> pl.DataFrame:
    """An imported file whose every activity is a duplicate names the file that holds the kept one."""
    kept_path = activities.join(
        activities.select(duplicate_of="activity_id", kept_path="source_path"), on="duplicate_of", how="left"
    ).select("activity_id", "kept_path")
    per_file = (
        manifest.filter(pl.col("status") == "imported")
        .select("path", activity_id="activity_ids").explode("activity_id")
        .join(kept_path, on="activity_id", how="left")
        .group_by("path").agg(all_duplicates=pl.col("kept_path").is_not_null().all(), kept=pl.col("kept_path").first())
        .filter(pl.col("all_duplicates")).select("path", "kept")
    )
    imported = pl.col("status") == "imported"
    return manifest.join(per_file, on="path", how="left").with_columns(
        duplicate_of=pl.when(imported).then(pl.col("kept")).otherwise(pl.col("duplicate_of")),
    ).drop("kept")
