"""Garmin Connect and Strava bulk exports, imported in place through the real `fitpipe` CLI."""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from conftest import run_cli
from fitbuild import START, encode, steady_ride

NESTED = "DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip"
STRAVA_CSV = (
    "Activity ID,Activity Date,Activity Name,Activity Type,Elapsed Time,Distance,Filename,Distance\n"
    '901,"Jul 6, 2026",Commute,Ride,600,4.8,activities/901.fit.gz,4800\n'
    '902,"Jul 7, 2026","Hills, then home",Virtual Ride,600,4.8,activities/902.gpx,4800\n'
)


def ride(day: int, seconds: int = 300) -> bytes:
    return encode(steady_ride(seconds, start=START + timedelta(days=day)))


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            # A fixed member time, as in a real export: rewriting the zip must not touch it.
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 7, 6, 12, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def garmin_export(rides: dict[str, bytes]) -> bytes:
    return zip_bytes({NESTED: zip_bytes(rides), "DI_CONNECT/DI-Connect-User/user-profile.json": b"{}"})


def gpx(day: int) -> bytes:
    points = "".join(
        f'<trkpt lat="{46.05 + i * 0.0001:.5f}" lon="14.5"><time>{(START + timedelta(days=day, seconds=i)).isoformat()}'
        "</time></trkpt>" for i in range(0, 300, 5))
    return (f'<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"><trk><type>cycling</type>'
            f"<trkseg>{points}</trkseg></trk></gpx>").encode()


def run(inputs: Path, out: Path, *extra: str, code: int = 0) -> dict:
    return json.loads(run_cli("run", inputs, "--out", out, "--json", *extra, check_code=code).stdout)


def manifest(out: Path) -> dict[str, dict]:
    return {row["path"]: row for row in pl.read_parquet(out / "manifest.parquet").iter_rows(named=True)}


def test_garmin_export_members_are_imported_in_place_and_named_archive_bang_path(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    export = inputs / "garmin.zip"
    export.write_bytes(garmin_export({"a.fit": ride(0), "b.fit": ride(1)}))
    report = run(inputs, tmp_path / "out")
    assert report["imported"] == 2 and report["files"] == 2
    rows = manifest(tmp_path / "out")
    member = f"{export}!/{NESTED}!/a.fit"
    assert rows[member]["status"] == "imported" and rows[str(export)]["status"] == "archive"
    activities = pl.read_parquet(tmp_path / "out" / "activities.parquet")
    assert member in set(activities["source_path"])
    assert sorted(p.name for p in inputs.iterdir()) == ["garmin.zip"], "nothing may be extracted to disk"


def test_strava_export_takes_name_type_and_id_from_activities_csv(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "strava.zip").write_bytes(zip_bytes({
        "activities.csv": STRAVA_CSV.encode("utf-8-sig"),
        "activities/901.fit.gz": gzip.compress(ride(0)),
        "activities/902.gpx": gpx(1),
    }))
    run(inputs, tmp_path / "out")
    activities = pl.read_parquet(tmp_path / "out" / "activities.parquet").sort("start_time_utc")
    assert activities.select("source_activity_id", "source_name", "source_activity_type").rows() == [
        ("901", "Commute", "Ride"), ("902", "Hills, then home", "Virtual Ride")]


def test_an_unpacked_strava_export_is_catalogued_too(tmp_path):
    export = tmp_path / "export_123"
    (export / "activities").mkdir(parents=True)
    (export / "activities.csv").write_text(STRAVA_CSV)
    (export / "activities" / "901.fit.gz").write_bytes(gzip.compress(ride(0)))
    run(export, tmp_path / "out")
    activities = pl.read_parquet(tmp_path / "out" / "activities.parquet")
    assert activities.select("source_activity_id", "source_name").rows() == [("901", "Commute")]


def test_an_unchanged_archive_is_skipped_unopened_and_a_changed_one_reads_only_new_members(tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    export = inputs / "garmin.zip"
    export.write_bytes(garmin_export({"a.fit": ride(0)}))
    run(inputs, out)
    # Same size and mtime but garbage inside: had the run opened it, it would reject it.
    stat = export.stat()
    export.write_bytes(bytes(stat.st_size))
    os.utime(export, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = run(inputs, out)
    assert second["skipped"] == 1 and second["imported"] == 0 and second["rejected"] == 0
    # The same archive, a member added: only that member is read.
    export.write_bytes(garmin_export({"a.fit": ride(0), "b.fit": ride(1)}))
    os.utime(export, ns=(1, 2_000_000_000_000_000_000))
    third = run(inputs, out)
    assert (third["imported"], third["skipped"], third["activities"]) == (1, 1, 2)


def test_importing_one_export_twice_under_two_names_adds_nothing(tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    data = garmin_export({"a.fit": ride(0), "b.fit": ride(1)})
    (inputs / "export.zip").write_bytes(data)
    run(inputs, out)
    (inputs / "export (1).zip").write_bytes(data)
    report = run(inputs, out)
    assert (report["imported"], report["duplicates"], report["activities"]) == (0, 2, 2)


def test_hostile_and_broken_archives_are_rejected_with_reasons_and_the_run_goes_on(tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    (inputs / "hostile.zip").write_bytes(zip_bytes({
        "../../escape.fit": ride(0), "/etc/absolute.fit": ride(0), "ok.fit": ride(2),
    }))
    (inputs / "not-really.zip").write_bytes(b"this is not a zip archive")
    result = run_cli("run", inputs, "--out", out, "--json", check_code=1)
    report = json.loads(result.stdout)
    assert report["imported"] == 1 and report["rejected"] == 3
    rows = manifest(out)
    assert "escapes the archive" in rows[f"{inputs / 'hostile.zip'}!/../../escape.fit"]["reason"]
    assert rows[f"{inputs / 'hostile.zip'}!//etc/absolute.fit"]["status"] == "rejected"
    assert "not a zip" in rows[str(inputs / "not-really.zip")]["reason"]
    assert not (tmp_path / "escape.fit").exists() and not (inputs.parent.parent / "escape.fit").exists()
    assert "not-really.zip: rejected: not a zip" in result.stderr


def test_a_zip_bomb_member_is_rejected_by_the_ratio_cap(tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    # 20 MiB of zeros deflates about 1000:1, far past the default 200:1 cap.
    (inputs / "bomb.zip").write_bytes(zip_bytes({"bomb.fit": bytes(20 * 2**20), "ok.fit": ride(0)}))
    report = run(inputs, out, code=1)
    assert report["imported"] == 1 and report["rejected"] == 1
    reason = manifest(out)[f"{inputs / 'bomb.zip'}!/bomb.fit"]["reason"]
    assert "ratio" in reason


@pytest.mark.parametrize("workers", ["1", "2"])
def test_members_come_out_the_same_with_one_or_two_workers(tmp_path, workers):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "garmin.zip").write_bytes(garmin_export({f"{n}.fit": ride(n, 120) for n in range(5)}))
    report = run(inputs, tmp_path / "out", "--workers", workers)
    assert report["imported"] == 5
