"""Physical bounds on sample values: what no athlete, device or planet can produce becomes null.

A value outside these bounds is a sensor or encoding fault (an invalid value read as a number,
a barometer that wraps around), and one such value can ruin a whole activity's ascent or
maximum. Each bound and its source is in docs/metrics.md ("Physical bounds"); the counts of
values set to null go into the activity's parse_detail. The device's own summary values
(device_* columns) are never touched.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ..readers.base import epoch_us

# column: (lowest, highest) value that can be real, inclusive.
BOUNDS: dict[str, tuple[float, float]] = {
    # Lowest dry land: the Dead Sea shore, about -430 m; highest: Everest, 8,849 m.
    "altitude_m": (-500.0, 9_000.0),
    # Fastest human-powered speed: 89.6 m/s (296 km/h, paced bicycle, 2018); speed skiing 70 m/s.
    "speed_mps": (0.0, 100.0),
    # Lowest resting heart rate recorded in a healthy adult about 26 bpm; adult maxima stay
    # under about 230 bpm. 0 (no strap) is nulled as "missing" before this check.
    "heart_rate_bpm": (20.0, 250.0),
    # Elite track sprinters peak at about 2,500-2,700 W.
    "power_w": (0.0, 3_000.0),
    # Sprint cycling cadences reach about 250 rpm; running stride rates stay far below.
    "cadence_rpm": (0.0, 300.0),
    # Air temperatures on Earth: -89 to 57 degrees C; a device in the sun reads higher than air.
    "temperature_c": (-90.0, 70.0),
    "lat_deg": (-90.0, 90.0),
    "lon_deg": (-180.0, 180.0),
}
# Faster climbs or drops than this (free fall is about 55 m/s) between a sample and both its
# neighbours make that altitude a spike, not a real place: nulled too.
MAX_VERTICAL_SPEED_MPS = 100.0


def within_bounds(records: pl.DataFrame) -> tuple[pl.DataFrame, str | None]:
    """`records` with impossible values set to null, and a note counting them (None: none)."""
    changed: dict[str, pl.Series] = {}
    counts: dict[str, int] = {}
    heart_rate = records["heart_rate_bpm"]
    if heart_rate.min() is not None and heart_rate.min() <= 0:  # 0 is "no strap": missing, not impossible
        changed["heart_rate_bpm"] = heart_rate.set(heart_rate <= 0, None)
    for column, (low, high) in BOUNDS.items():
        series = changed.get(column, records[column])
        lowest, highest = series.min(), series.max()  # None when every value is null
        if lowest is None:
            continue
        spikes_possible = column == "altitude_m" and highest - lowest > MAX_VERTICAL_SPEED_MPS
        if lowest >= low and highest <= high and not spikes_possible:
            continue  # the usual case, decided from two numbers
        values = series.to_numpy()
        bad = (values < low) | (values > high)  # NaN (null) compares false: kept as it is
        if spikes_possible:
            bad |= _altitude_spikes(np.where(bad, np.nan, values), records["timestamp_utc"])
        if bad.any():
            counts[column] = int(bad.sum())
            changed[column] = pl.Series(column, np.where(bad, np.nan, values), nan_to_null=True)
    lat, lon = changed.get("lat_deg", records["lat_deg"]), changed.get("lon_deg", records["lon_deg"])
    nulls = (lat.null_count(), lon.null_count())
    if nulls not in ((0, 0), (lat.len(), lon.len())):  # else every position is whole, or none is there
        half_a_position = lat.is_null() != lon.is_null()  # a position is a pair: one coordinate is nothing
        if half_a_position.any():
            changed["lat_deg"], changed["lon_deg"] = (s.set(half_a_position, None) for s in (lat, lon))
    if not changed:
        return records, None
    note = ", ".join(f"{column} {count}" for column, count in counts.items())
    return records.with_columns(**changed), f"values outside physical bounds set to null: {note}" if note else None


def _altitude_spikes(altitude: np.ndarray, times: pl.Series) -> np.ndarray:
    """Altitudes that jump away from both neighbouring altitudes faster than any athlete moves
    vertically, in the same direction (up and back down, or down and back up)."""
    present = np.flatnonzero(~np.isnan(altitude))
    spikes = np.zeros(len(altitude), dtype=bool)
    values = altitude[present]
    # Samples are at least 1 s apart for this rule, so only a step of over 100 m can be a spike:
    # most files have none, and need no more than this.
    if len(present) < 3 or not (np.abs(np.diff(values)) > MAX_VERTICAL_SPEED_MPS).any():
        return spikes
    times = (epoch_us(times) / 1e6)[present]
    rise_before = values[1:-1] - values[:-2]
    rise_after = values[1:-1] - values[2:]
    limit_before = MAX_VERTICAL_SPEED_MPS * np.maximum(times[1:-1] - times[:-2], 1.0)
    limit_after = MAX_VERTICAL_SPEED_MPS * np.maximum(times[2:] - times[1:-1], 1.0)
    spike = ((np.abs(rise_before) > limit_before) & (np.abs(rise_after) > limit_after)
             & (np.sign(rise_before) == np.sign(rise_after)))
    spikes[present[1:-1][spike]] = True
    return spikes
