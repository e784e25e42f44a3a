"""Cross-source duplicates: the same workout recorded in several files (the device's FIT,
Strava's GPX, a TCX export). Every copy stays in the tables; all but the richest get
`duplicate_of` and `duplicate_rule`, and the weekly and daily tables count only the kept one.

Two recordings are one workout when one of these rules says so (`duplicate_rule`):

- `same_summary`: they start within `start_within_s`, and elapsed time and distance agree
  within `tolerance_pct`. Cheap, from the activity rows alone.
- `same_track`: their time spans overlap for most of both, and at the instants both recorded,
  their positions agree within TRACK_TOLERANCE_M. A GPX that bridges a pause with a straight
  line, or a phone that measured another distance, still matches.
- `same_heart_rate`, `same_power`: the same overlap, without positions in both (indoor), and
  the heart-rate or power streams agree at the shared instants.

Two recordings that merely start together (a 10 km and a 5 km race from one gun) overlap for
only part of the longer one, and are not duplicates.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Callable

import numpy as np
import polars as pl

from .activity import aggregate
from ..normalize.sports import NOT_TRAINING, SPORTS

# Sports that one workout can be labelled with by different apps. `other` (no sport given,
# as in many phone GPX files) may match any family.
FOOT = ("run", "walk", "hike")
SPORT_FAMILIES = {sport: "foot" if sport in FOOT else sport for sport in SPORTS if sport != "other"}
FORMAT_RANK = {"fit": 0, "tcx": 1, "gpx": 2}
# Recorded sample channels; position counts once for lat and lon.
CHANNELS = ("lat_deg", "altitude_m", "heart_rate_bpm", "cadence_rpm", "power_w", "temperature_c")
# The sample columns the stream rules compare.
STREAM_COLUMNS = ("timestamp_utc", "lat_deg", "lon_deg", "heart_rate_bpm", "power_w")
# The overlap of two recordings' time spans, as a share of the longer span, for the stream
# rules; a 5 km race inside a 10 km one from the same start shares 0.5.
MIN_OVERLAP_SHARE = 0.6
# Shared instants (whole seconds both recorded) the stream rules need, and the share of them
# that must agree.
MIN_SHARED_INSTANTS = 20
MIN_AGREEING_SHARE = 0.8
TRACK_TOLERANCE_M = 50.0  # two GPS receivers on one athlete: some tens of metres apart
HEART_RATE_TOLERANCE_BPM = 3.0
POWER_TOLERANCE = (5.0, 0.05)  # watts, or this share of the larger value
EARTH_RADIUS_M = 6_371_008.8
RULES = ("same_summary", "same_track", "same_heart_rate", "same_power")

Streams = Callable[[str], "pl.DataFrame | None"]


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


def counted(activities: pl.DataFrame) -> pl.Expr:
    """Which activities weekly and daily totals count: not another recording of a workout kept
    elsewhere, and training (not a triathlon transition)."""
    return pl.col("duplicate_of").is_null() & ~pl.col("sport").is_in(NOT_TRAINING)


def mark(activities: pl.DataFrame, rule: DuplicateRule, streams: Streams | None = None) -> pl.DataFrame:
    """Set `duplicate_of`, `duplicate_rule` and `counts_in_totals` on every activity, recomputed
    from scratch so they never go stale. Only an athlete's own activities can be duplicates
    of each other.

    `streams(activity_id)` gives an activity's STREAM_COLUMNS samples for the stream rules
    (None: only the summary rule). A pair this table already marks with a stream rule keeps it
    without reading samples again: the samples of an activity id never change."""
    if not rule.enabled or activities.is_empty():
        marked = activities.with_columns(duplicate_of=pl.lit(None, dtype=pl.String),
                                         duplicate_rule=pl.lit(None, dtype=pl.String))
        return marked.with_columns(counts_in_totals=counted(marked))
    ranked = activities.sort(
        pl.col("format").replace_strict(FORMAT_RANK, default=len(FORMAT_RANK)),
        pl.col("sample_channels").fill_null(0), pl.col("n_samples").fill_null(0), "activity_id",
        descending=[False, True, True, False],
    )
    matcher = _Matcher(rule, streams, activities)
    keeper: dict[str, tuple[str, str]] = {}
    # Within one athlete only: two athletes who ride together recorded two workouts.
    for athletes_own in ranked.partition_by("athlete_id", maintain_order=True):
        keeper.update(_keepers(athletes_own.to_dicts(), matcher))
    ids = activities["activity_id"].to_list()
    marked = activities.with_columns(
        duplicate_of=pl.Series([keeper[a][0] if a in keeper else None for a in ids], dtype=pl.String),
        duplicate_rule=pl.Series([keeper[a][1] if a in keeper else None for a in ids], dtype=pl.String),
    )
    return marked.with_columns(counts_in_totals=counted(marked))


def _keepers(ranked: list[dict], matcher: "_Matcher") -> dict[str, tuple[str, str]]:
    """Richest first: each activity not yet claimed keeps every later one that matches it.
    Returns the claimed ones: id -> (keeper's id, rule)."""
    claimed: dict[str, tuple[str, str]] = {}
    spans = sorted((_span(r) for r in ranked if _span(r) is not None), key=lambda s: s[0])
    starts = [s[0] for s in spans]
    longest = max((end - start for start, end, _ in spans), default=0.0)
    rank = {r["activity_id"]: i for i, r in enumerate(ranked)}
    for kept in ranked:
        span = _span(kept)
        if kept["activity_id"] in claimed or span is None:
            continue
        # Every span that can overlap this one starts before it ends, and at most `longest` before it starts.
        near = spans[bisect_left(starts, span[0] - longest - matcher.rule.start_within_s):
                     bisect_right(starts, span[1] + matcher.rule.start_within_s)]
        for _, _, other in near:
            poorer = rank[other["activity_id"]] > rank[kept["activity_id"]]
            if poorer and other["activity_id"] not in claimed:
                found = matcher.match(kept, other)
                if found:
                    claimed[other["activity_id"]] = (kept["activity_id"], found)
    return claimed


def _span(row: dict) -> tuple[float, float, dict] | None:
    """(start, end) in seconds since the epoch, and the row; None without a start time."""
    if row["start_time_utc"] is None:
        return None
    start = row["start_time_utc"].timestamp()
    return start, start + (row["elapsed_s"] or 0.0), row


class _Matcher:
    """Decides whether two recordings are one workout, and by which rule."""

    def __init__(self, rule: DuplicateRule, streams: Streams | None, activities: pl.DataFrame):
        self.rule, self.streams = rule, streams
        self._loaded: dict[str, pl.DataFrame | None] = {}
        # Stream-rule pairs the table already holds: (kept, other) -> rule.
        self.known: dict[tuple[str, str], str] = {}
        if "duplicate_rule" in activities.columns:
            previous = activities.filter(pl.col("duplicate_rule").is_in(RULES[1:]))
            self.known = {(k, o): r for o, k, r in previous.select("activity_id", "duplicate_of", "duplicate_rule").rows()}

    def match(self, a: dict, b: dict) -> str | None:
        families = {SPORT_FAMILIES.get(a["sport"]), SPORT_FAMILIES.get(b["sport"])} - {None}
        if len(families) > 1 or a["source_sha256"] == b["source_sha256"]:
            return None
        if self._same_summary(a, b):
            return "same_summary"
        if (a["activity_id"], b["activity_id"]) in self.known:
            return self.known[(a["activity_id"], b["activity_id"])]
        if self.streams is None or _overlap_share(a, b) < MIN_OVERLAP_SHARE:
            return None
        return _same_streams(self._samples(a["activity_id"]), self._samples(b["activity_id"]))

    def _same_summary(self, a: dict, b: dict) -> bool:
        apart = abs((a["start_time_utc"] - b["start_time_utc"]).total_seconds())
        return (apart <= self.rule.start_within_s
                and _close(a["elapsed_s"], b["elapsed_s"], self.rule.tolerance_pct)
                and _close(a["distance_m"], b["distance_m"], self.rule.tolerance_pct))

    def _samples(self, activity_id: str) -> pl.DataFrame | None:
        if activity_id not in self._loaded:
            self._loaded[activity_id] = _by_second(self.streams(activity_id))
        return self._loaded[activity_id]


def _overlap_share(a: dict, b: dict) -> float:
    (a_start, a_end, _), (b_start, b_end, _) = _span(a), _span(b)
    longest = max(a_end - a_start, b_end - b_start)
    overlap = min(a_end, b_end) - max(a_start, b_start)
    return overlap / longest if longest > 0 else 0.0


def _by_second(samples: pl.DataFrame | None) -> pl.DataFrame | None:
    """One row per whole second recorded (the first sample of each)."""
    if samples is None or samples.is_empty():
        return None
    return (samples.select(STREAM_COLUMNS)
            .with_columns(second=pl.col("timestamp_utc").dt.epoch("s"))
            .unique("second", keep="first", maintain_order=True).drop("timestamp_utc"))


def _same_streams(a: pl.DataFrame | None, b: pl.DataFrame | None) -> str | None:
    """The stream rule two recordings satisfy at their shared instants: positions where both
    have them (and then only positions decide), else heart rate, else power."""
    if a is None or b is None:
        return None
    shared = a.join(b, on="second", how="inner", suffix="_b")
    positioned = shared.filter(pl.all_horizontal(pl.col("lat_deg", "lon_deg", "lat_deg_b", "lon_deg_b").is_not_null()))
    if positioned.height >= MIN_SHARED_INSTANTS:
        apart = _haversine_m(*(positioned[c].to_numpy() for c in ("lat_deg", "lon_deg", "lat_deg_b", "lon_deg_b")))
        return "same_track" if _mostly(apart <= TRACK_TOLERANCE_M) else None
    for column, rule, agree in (
        ("heart_rate_bpm", "same_heart_rate", lambda x, y: np.abs(x - y) <= HEART_RATE_TOLERANCE_BPM),
        ("power_w", "same_power", lambda x, y: np.abs(x - y) <= np.maximum(POWER_TOLERANCE[0],
                                                                          POWER_TOLERANCE[1] * np.maximum(x, y))),
    ):
        both = shared.filter(pl.col(column).is_not_null() & pl.col(f"{column}_b").is_not_null())
        if both.height >= MIN_SHARED_INSTANTS:
            return rule if _mostly(agree(both[column].to_numpy(), both[f"{column}_b"].to_numpy())) else None
    return None


def _mostly(agreeing: np.ndarray) -> bool:
    return agreeing.mean() >= MIN_AGREEING_SHARE


def _haversine_m(lat1, lon1, lat2, lon2) -> np.ndarray:
    lat1, lon1, lat2, lon2 = (np.radians(v) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _close(a: float | None, b: float | None, tolerance_pct: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tolerance_pct / 100 * max(abs(a), abs(b))


def carry_catalogue(activities: pl.DataFrame, overwrite: pl.Series | None = None) -> pl.DataFrame:
    """Give each kept activity the export catalogue's name, type and id from its duplicates
    (Strava names the GPX copy; the device FIT is the one kept). A kept activity keeps its own
    values unless `overwrite` (one boolean per row) says they are only inherited ones."""
    columns = ["source_activity_id", "source_name", "source_activity_type"]
    named = (activities.filter(pl.col("duplicate_of").is_not_null() & pl.col("source_name").is_not_null())
             .sort("activity_id").group_by("duplicate_of", maintain_order=True).first()
             .select(pl.col("duplicate_of").alias("activity_id"), *[pl.col(c).alias(f"{c}__dup") for c in columns]))
    if named.is_empty():
        return activities
    replace = pl.col("source_name").is_null()
    if overwrite is not None:
        replace = replace | pl.Series("__overwrite", overwrite)
    joined = activities.join(named, on="activity_id", how="left")
    has = pl.col("source_name__dup").is_not_null()
    return joined.with_columns(
        [pl.when(replace & has).then(pl.col(f"{c}__dup")).otherwise(pl.col(c)).alias(c) for c in columns]
    ).drop([f"{c}__dup" for c in columns])


DUPLICATE_NOTE = re.compile(r"(; )?another recording of the workout kept in .*$")


def annotate_manifest(manifest: pl.DataFrame, activities: pl.DataFrame) -> pl.DataFrame:
    """An imported file whose every activity is a duplicate names the file that holds the kept
    one, in `duplicate_of`, and the rule that matched, in `reason`."""
    kept_path = activities.join(
        activities.select(duplicate_of="activity_id", kept_path="source_path"), on="duplicate_of", how="left"
    ).select("activity_id", "kept_path", "duplicate_rule")
    per_file = (
        manifest.filter(pl.col("status") == "imported")
        .select("athlete_id", "path", activity_id="activity_ids").explode("activity_id")
        .join(kept_path, on="activity_id", how="left")
        .group_by("athlete_id", "path").agg(all_duplicates=pl.col("kept_path").is_not_null().all(), kept=pl.col("kept_path").first(),
                              rule=pl.col("duplicate_rule").first())
        .filter(pl.col("all_duplicates")).select("athlete_id", "path", "kept", "rule")
    )
    imported = pl.col("status") == "imported"
    note = pl.format("another recording of the workout kept in {} (rule: {})", "kept", "rule")
    own_reason = pl.col("reason").str.replace(DUPLICATE_NOTE.pattern, "")
    own_reason = pl.when(own_reason == "").then(None).otherwise(own_reason)
    return manifest.join(per_file, on=["athlete_id", "path"], how="left", maintain_order="left").with_columns(
        duplicate_of=pl.when(imported).then(pl.col("kept")).otherwise(pl.col("duplicate_of")),
        reason=pl.when(~imported).then(pl.col("reason"))
        .when(pl.col("kept").is_null()).then(own_reason)
        .otherwise(pl.concat_str([own_reason, note], separator="; ", ignore_nulls=True)),
    ).drop("kept", "rule")

