"""Acceptance over ../shared/corpus: every expectation comes from the corpus README
(or, where it is silent, from an independent reading noted beside the file)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline import ingest, load_settings

# corpus README: "not an activity: must be classified and skipped, not imported".
NOT_ACTIVITY_FIT = {
    "Settings.fit", "Settings2.fit", "MonitoringFile.fit",
    "WorkoutCustomTargetValues.fit", "WorkoutIndividualSteps.fit",
    "WorkoutRepeatGreaterThanStep.fit", "WorkoutRepeatSteps.fit",
    "WeightScaleMultiUser.fit", "WeightScaleSingleUser.fit",
    # Not in the README's table; its file_id says type=settings (Garmin FIT SDK decoder,
    # checked by hand) and it holds bike profiles, no records.
    "nametest.FIT",
}

# corpus README record counts: "the record messages a lenient decoder reads before the
# first unrecoverable error", with the damage each file carries.
SALVAGED = {
    "nick.fit": (14_391, {"truncated"}),
    "strava-android-app-201.10-b1218918.fit": (473, {"undefined_local_message"}),
    "activity-filecrc.fit": (14, {"crc_mismatch"}),
    "activity-activity-filecrc.fit": (28, {"crc_mismatch"}),
    "activity-unexpected-eof.fit": (14, {"truncated"}),
    "activity-settings-nodata.fit": (14, {"truncated", "trailing_bytes"}),
    "activity-settings-corruptheader.fit": (14, {"truncated", "trailing_bytes"}),
}
COMPLETE_RECORD_COUNTS = {
    "antfs-dump.63.fit": 686,
    "compressed-speed-distance.fit": 755,
    "activity-large-fenxi2-multisport.fit": 24_239,
}

# DeveloperData.fit's three records carry no timestamp at all (fitparse shows only
# heart_rate, cadence, distance, speed and a developer field), so nothing can be placed
# in time: it is rejected with that reason rather than imported as a timeless activity.
REJECTED = {"DeveloperData.fit": "timestamp"}


@pytest.fixture(scope="module")
def corpus_run(corpus: Path, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("corpus-out")
    settings = load_settings(None, inputs=(corpus,), out=out, workers=2)
    report = ingest(settings)
    from pipeline import run_metrics

    run_metrics(out, recompute=False)
    return corpus, out, report


def _manifest(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "manifest.parquet").with_columns(
        name=pl.col("path").str.split("/").list.last()
    )


def _corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() in (".fit", ".gpx", ".tcx"))


def test_every_file_gets_exactly_one_manifest_row(corpus_run):
    corpus, out, report = corpus_run
    manifest = _manifest(out)
    files = _corpus_files(corpus)
    assert sorted(manifest["path"].to_list()) == sorted(str(p.resolve()) for p in files)
    assert report.files == len(files)


def test_rejected_files_have_a_reason(corpus_run):
    _, out, _ = corpus_run
    manifest = _manifest(out)
    for row in manifest.filter(pl.col("status") != "imported").iter_rows(named=True):
        assert row["reason"], row["path"]
        assert "\n" not in row["reason"]
    rejected = manifest.filter(pl.col("status") == "rejected")
    assert dict(zip(rejected["name"], rejected["reason"])).keys() == REJECTED.keys()
    for name, word in REJECTED.items():
        assert word in rejected.filter(pl.col("name") == name)["reason"][0]


def test_non_activity_fit_files_are_classified(corpus_run):
    _, out, _ = corpus_run
    fit = _manifest(out).filter(pl.col("format") == "fit")
    not_activity = set(fit.filter(pl.col("status") == "not_activity")["name"])
    assert not_activity == NOT_ACTIVITY_FIT


def _gpx_has_timed_trackpoint(path: Path) -> bool:
    """Independent of our reader (which sits on gpxpy): plain ElementTree."""
    root = ET.parse(path).getroot()
    for element in root.iter():
        if element.tag.endswith("}trkpt") or element.tag == "trkpt":
            if any(child.tag.endswith("time") for child in element):
                return True
    return False


def test_gpx_files_are_activities_exactly_when_they_hold_a_timed_track(corpus_run):
    corpus, out, _ = corpus_run
    manifest = _manifest(out).filter(pl.col("format") == "gpx")
    for row in manifest.iter_rows(named=True):
        expected = "imported" if _gpx_has_timed_trackpoint(Path(row["path"])) else "not_activity"
        assert row["status"] == expected, (row["name"], row["reason"])
    # corpus README: route only, waypoints only, empty track.
    statuses = dict(zip(manifest["name"], manifest["status"]))
    for name in ("route.gpx", "unicode.gpx", "unicode2.gpx", "gpx_with_garmin_extension.gpx"):
        assert statuses[name] == "not_activity"


def test_every_fit_activity_with_records_is_imported(corpus_run):
    _, out, _ = corpus_run
    fit = _manifest(out).filter(pl.col("format") == "fit")
    expected = set(fit["name"]) - NOT_ACTIVITY_FIT - REJECTED.keys()
    assert set(fit.filter(pl.col("status") == "imported")["name"]) == expected


def _samples(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "samples" / "**" / "*.parquet", hive_partitioning=True)


def _sample_counts(out: Path) -> dict[str, int]:
    activities = pl.read_parquet(out / "activities.parquet").with_columns(
        name=pl.col("source_path").str.split("/").list.last()
    )
    return dict(activities.group_by("name").agg(pl.col("n_samples").sum()).iter_rows())


@pytest.mark.parametrize("name", sorted(SALVAGED))
def test_damaged_files_keep_what_came_before_the_damage(corpus_run, name):
    _, out, _ = corpus_run
    records, statuses = SALVAGED[name]
    row = _manifest(out).filter(pl.col("name") == name).row(0, named=True)
    assert row["status"] == "imported"
    assert row["parse_status"] in statuses
    assert _sample_counts(out)[name] == records


@pytest.mark.parametrize("name", sorted(COMPLETE_RECORD_COUNTS))
def test_record_counts_match_the_readme(corpus_run, name):
    _, out, _ = corpus_run
    assert _sample_counts(out)[name] == COMPLETE_RECORD_COUNTS[name]


def test_coros_file_is_salvaged_and_flagged(corpus_run):
    # README: 11,272 records; fitparse 1.2.0 gives up after 1,785. The default engine skips
    # only the misaligned field, keeps every record, and flags what it skipped.
    _, out, _ = corpus_run
    name = "coros-pace-2-cycling-misaligned-fields.fit"
    row = _manifest(out).filter(pl.col("name") == name).row(0, named=True)
    assert (row["status"], row["parse_status"]) == ("imported", "misaligned_field")
    assert "skipped fields" in row["reason"]
    assert _sample_counts(out)[name] == 11_272


def test_multisport_file_is_one_activity_per_session_sharing_a_parent(corpus_run):
    _, out, _ = corpus_run
    activities = pl.read_parquet(out / "activities.parquet").filter(
        pl.col("source_path").str.ends_with("activity-large-fenxi2-multisport.fit")
    )
    assert activities.height == 7  # README: 7 sessions
    assert activities["parent_id"].n_unique() == 1 and activities["parent_id"][0] is not None
    assert activities["activity_id"].n_unique() == 7


def test_hr_messages_are_merged_into_samples(corpus_run):
    # garmin-fr935-cr.fit is a swim whose heart rate lives only in chained `hr` messages
    # (README); its session says the device did record an average heart rate.
    _, out, _ = corpus_run
    activities = pl.read_parquet(out / "activities.parquet")
    swim = activities.filter(pl.col("source_path").str.ends_with("garmin-fr935-cr.fit")).row(0, named=True)
    assert swim["device_avg_hr_bpm"] is not None
    samples = _samples(out).filter(pl.col("activity_id") == swim["activity_id"])
    assert samples["heart_rate_bpm"].is_not_null().mean() > 0.9
    assert abs(swim["max_hr_bpm"] - swim["device_max_hr_bpm"]) <= 5


def test_zwift_zero_heart_rate_is_null_and_distance_never_goes_back(corpus_run):
    _, out, _ = corpus_run
    activities = pl.read_parquet(out / "activities.parquet")
    zwift = activities.filter(pl.col("source_path").str.ends_with("null_compressed_speed_dist.fit"))
    samples = _samples(out).filter(pl.col("activity_id") == zwift["activity_id"][0])
    assert samples["heart_rate_bpm"].null_count() == samples.height
    distance = samples["distance_m"].drop_nulls()
    assert (distance.diff().drop_nulls() >= 0).all()


def test_no_zero_or_sentinel_values_in_samples(corpus_run):
    _, out, _ = corpus_run
    samples = _samples(out)
    assert samples.filter(pl.col("heart_rate_bpm") <= 0).height == 0
    # FIT invalid markers (0xFF, 0xFFFF, 0x7FFFFFFF, ...) must be null, never values.
    assert samples["heart_rate_bpm"].max() < 255
    assert samples["lat_deg"].drop_nulls().abs().max() <= 90
    assert samples["lon_deg"].drop_nulls().abs().max() <= 180


def test_timestamps_are_utc_and_local_time_has_a_source(corpus_run):
    _, out, _ = corpus_run
    activities = pl.read_parquet(out / "activities.parquet")
    assert activities.schema["start_time_utc"] == pl.Datetime("us", "UTC")
    assert activities["utc_offset_s"].null_count() == 0
    assert set(activities["utc_offset_source"]) <= {"device", "gps", "default_zone"}
    # corpus README: local_timestamp is bogus (1989-12-31) in the Zwift file.
    zwift = activities.filter(pl.col("source_path").str.ends_with("null_compressed_speed_dist.fit"))
    assert zwift["utc_offset_source"][0] != "device"
    local = activities.select(
        pl.col("start_time_utc").dt.replace_time_zone(None) + pl.duration(seconds=pl.col("utc_offset_s"))
    ).to_series()
    assert (local == activities["start_time_local"]).all()


def test_duckdb_reads_every_output_table(corpus_run):
    _, out, _ = corpus_run
    db = duckdb.connect()
    samples = db.execute(
        f"select count(*), count(distinct activity_id), count(distinct sport) "
        f"from read_parquet('{out}/samples/**/*.parquet', hive_partitioning=true)"
    ).fetchone()
    activities = pl.read_parquet(out / "activities.parquet")
    assert samples[0] == activities["n_samples"].sum()
    assert samples[1] == activities.height
    for table in ("activities", "laps", "weekly", "manifest"):
        count = db.execute(f"select count(*) from read_parquet('{out}/{table}.parquet')").fetchone()[0]
        assert count == pl.read_parquet(out / f"{table}.parquet").height > 0


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Tokyo"])
def test_device_relative_clock_keeps_the_devices_local_time(corpus, zone):
    # antfs-dump.63.fit counts seconds since power-on. fitparse shows its activity message
    # at relative second 16,444,673 with local_timestamp 2012-02-13 12:21:03, and its first
    # record at relative second 16,441,242: 3,431 s earlier, so 11:23:52 local, whatever zone
    # we then use to find UTC.
    from datetime import datetime, timedelta

    from pipeline import read_file

    content = read_file(corpus / "fit" / "antfs-dump.63.fit", timezone=zone)
    row = content.activities.row(0, named=True)
    assert row["start_time_local"] == datetime(2012, 2, 13, 11, 23, 52)
    assert row["utc_offset_source"] == "default_zone"
    utc = row["start_time_utc"].replace(tzinfo=None)
    assert utc + timedelta(seconds=row["utc_offset_s"]) == row["start_time_local"]
