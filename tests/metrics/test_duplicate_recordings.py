"""One workout in several recordings, matched by overlap (issue 18, items 6 and 7).

The pairs are built in each test: a device FIT (Garmin SDK encoder) and a phone or Strava GPX
(gpxpy's writer) or TCX-like copy, with what differs between them written down.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta

import polars as pl

from conftest import run_cli
from fitbuild import START
from recordings import _position, device_ride, phone_gpx
from pipeline.normalize import schema
from pipeline.metrics.duplicates import STREAM_COLUMNS, DuplicateRule, mark

def _run(inputs, out, *extra) -> dict:
    return json.loads(run_cli("run", inputs, "--out", out, "--json", *extra, check_code=0).stdout)


def test_a_gpx_whose_distance_differs_by_a_third_is_still_the_same_ride(tmp_path):
    # The device's wheel sensor reads 35 % long (distance 38,880 m against the GPS's 28,800 m),
    # and the phone bridges a 32 s pause with one straight step. The summary rule (3 %) cannot
    # match them; the tracks agree within a metre at every shared second.
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "ride.fit").write_bytes(device_ride(pause=(1800, 32), wheel_factor=1.35))
    (inputs / "ride.gpx").write_text(phone_gpx(skip=(1800, 32)))
    _run(inputs, tmp_path / "out")
    activities = pl.read_parquet(tmp_path / "out" / "activities.parquet").sort("format")
    fit, gpx = activities.row(0, named=True), activities.row(1, named=True)
    assert abs(fit["distance_m"] - gpx["distance_m"]) / gpx["distance_m"] > 0.3
    assert gpx["duplicate_of"] == fit["activity_id"] and gpx["duplicate_rule"] == "same_track"
    assert fit["duplicate_of"] is None and fit["counts_in_totals"] and not gpx["counts_in_totals"]
    manifest = pl.read_parquet(tmp_path / "out" / "manifest.parquet")
    gpx_row = manifest.filter(pl.col("path").str.ends_with("ride.gpx")).row(0, named=True)
    assert gpx_row["duplicate_of"].endswith("ride.fit")
    assert gpx_row["reason"].endswith("(rule: same_track)")
    weekly = pl.read_parquet(tmp_path / "out" / "weekly.parquet").filter(sport="all")
    assert weekly["activities"].sum() == 1


def _table(*rows: dict) -> pl.DataFrame:
    return schema.conform(pl.DataFrame(list(rows)), schema.ACTIVITIES)


def _row(name: str, fmt: str, seconds: float, distance: float | None, start_s: float = 0, sport: str = "ride") -> dict:
    return {"activity_id": name, "source_sha256": f"sha-{name}", "source_path": f"/in/{name}.{fmt}", "format": fmt,
            "sport": sport, "start_time_utc": START + timedelta(seconds=start_s), "elapsed_s": seconds,
            "distance_m": distance, "sample_channels": 3, "n_samples": int(seconds)}


def _samples(seconds: int, every: int = 1, north: bool = True, hr=lambda i: 130.0 + (i // 60) % 20,
             power=None, offset_s: int = 0, speed: float = 3.0) -> pl.DataFrame:
    rows = []
    for i in range(0, seconds + 1, every):
        lat, lon = _position(speed * i) if north else (None, None)
        rows.append({"timestamp_utc": START + timedelta(seconds=i + offset_s), "lat_deg": lat, "lon_deg": lon,
                     "heart_rate_bpm": hr(i), "power_w": None if power is None else power(i)})
    return pl.DataFrame(rows, schema={c: schema.SAMPLES[c] for c in STREAM_COLUMNS})


def _marked(table: pl.DataFrame, samples: dict[str, pl.DataFrame]) -> dict[str, tuple]:
    marked = mark(table, DuplicateRule(), samples.get)
    return {r["activity_id"]: (r["duplicate_of"], r["duplicate_rule"]) for r in marked.iter_rows(named=True)}


def test_an_indoor_ride_matches_by_heart_rate_and_by_power():
    # A trainer ride: no positions. The FIT has speed-based distance; the export has none.
    power = lambda i: 200.0 + (i // 30) % 50  # noqa: E731
    table = _table(_row("fit", "fit", 3600, 36_000), _row("tcx", "tcx", 3600, None), _row("gpx", "gpx", 3598, None))
    samples = {"fit": _samples(3600, north=False, power=power), "tcx": _samples(3600, every=3, north=False),
               "gpx": _samples(3598, every=2, north=False, hr=lambda i: None, power=power)}
    assert _marked(table, samples) == {"fit": (None, None), "tcx": ("fit", "same_heart_rate"),
                                       "gpx": ("fit", "same_power")}


def test_two_races_from_one_gun_are_not_duplicates():
    # A 10 km race (50 min) and a 5 km race (25 min) start at the same second on one course:
    # positions agree while both run, but the 5 km covers only half the 10 km's time.
    table = _table(_row("ten", "fit", 3000, 10_000, sport="run"), _row("five", "gpx", 1500, 5000, sport="run"))
    samples = {"ten": _samples(3000), "five": _samples(1500, every=2)}
    assert _marked(table, samples) == {"ten": (None, None), "five": (None, None)}


def test_overlapping_recordings_whose_tracks_part_are_not_duplicates():
    # Same start and duration, but the second heads east, not north: after the first minute
    # the positions are hundreds of metres apart.
    east = _samples(3600).with_columns(lat_deg=pl.lit(46.05), lon_deg=14.5 + pl.int_range(pl.len()) * 3.0 / 77_000)
    table = _table(_row("a", "fit", 3600, 10_000), _row("b", "gpx", 3600, 12_000))
    assert _marked(table, {"a": _samples(3600), "b": east}) == {"a": (None, None), "b": (None, None)}


def test_a_pair_already_marked_by_a_stream_rule_is_not_read_again():
    table = _table(_row("fit", "fit", 3600, 36_000), _row("gpx", "gpx", 3600, 30_000))
    first = mark(table, DuplicateRule(), {"fit": _samples(3600), "gpx": _samples(3600, every=2)}.get)
    assert first.filter(pl.col("activity_id") == "gpx")["duplicate_rule"][0] == "same_track"

    def no_samples(activity_id):
        raise AssertionError(f"samples of {activity_id} were read again")

    again = mark(first, DuplicateRule(), no_samples)
    assert again["duplicate_of"].to_list() == first["duplicate_of"].to_list()


STRAVA_HEADER = "Activity ID,Activity Date,Activity Name,Activity Type,Elapsed Time,Filename\n"


def test_the_kept_device_file_takes_the_strava_name_and_follows_a_rename(tmp_path):
    # The device FIT sits in a device folder; Strava's unpacked export holds the same ride as
    # GPX, named in activities.csv. The FIT is kept, and carries the name; renaming the activity
    # in activities.csv renames it on the next run, though no activity file changed.
    inputs, out = tmp_path / "in", tmp_path / "out"
    (inputs / "device").mkdir(parents=True)
    (inputs / "strava" / "activities").mkdir(parents=True)
    (inputs / "device" / "ride.fit").write_bytes(device_ride(seconds=1800))
    (inputs / "strava" / "activities" / "777.gpx").write_text(phone_gpx(seconds=1800))
    csv = inputs / "strava" / "activities.csv"
    csv.write_text(STRAVA_HEADER + '777,"Jul 6, 2026",Morning Ride,Ride,1800,activities/777.gpx\n')
    _run(inputs, out)

    def names() -> dict:
        rows = pl.read_parquet(out / "activities.parquet").select("format", "source_name", "source_activity_id",
                                                                   "duplicate_of")
        return {r["format"]: (r["source_name"], r["source_activity_id"], r["duplicate_of"] is None) for r in rows.to_dicts()}

    assert names() == {"fit": ("Morning Ride", "777", True), "gpx": ("Morning Ride", "777", False)}
    csv.write_text(STRAVA_HEADER + '777,"Jul 6, 2026",Col du Vršič,Ride,1800,activities/777.gpx\n')
    os.utime(csv, ns=(csv.stat().st_atime_ns, csv.stat().st_mtime_ns + 10**9))
    report = _run(inputs, out)
    assert report["imported"] == 0 and report["skipped"] == 2  # no activity file was read again
    assert names() == {"fit": ("Col du Vršič", "777", True), "gpx": ("Col du Vršič", "777", False)}
    manifest = pl.read_parquet(out / "manifest.parquet")
    assert manifest.filter(pl.col("status") == "catalogue")["path"].to_list() == [str(csv.resolve())]
