"""Zip exports read in place: Garmin and Strava layouts, and archives built to hurt.

Every archive is crafted here with zipfile/gzip, so each test shows what it is about.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import warnings
import zipfile
import zlib
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeline.discover import archives
from pipeline.discover.archives import (
    ArchiveError, ArchiveLimits, Member, Refused, StravaActivity, member_key,
    parse_strava_csv, read_members, scan, strava_activities,
)
from pipeline.readers.base import ReadError

PART1 = "DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1.zip"
PART2 = "DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part2.zip"
FIT = b".FIT" + bytes(range(256)) * 8
GPX = b"<?xml version='1.0'?><gpx><trk><name>a, b</name></trk></gpx>"
TCX = b"<?xml version='1.0'?><TrainingCenterDatabase/>"


# --- building archives -----------------------------------------------------------


def make_zip(entries, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of (name or ZipInfo, bytes) pairs."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are deliberate in some tests
        with zipfile.ZipFile(buffer, "w", compression) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def central_offset(data: bytes, name: str) -> int:
    """Offset of `name`'s central directory record."""
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        name_length = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46:pos + 46 + name_length] == name.encode():
            return pos
        pos = data.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(f"{name} not in the central directory")


def patch_central(data: bytes, name: str, *, flags=None, crc=None, compress_size=None, file_size=None) -> bytes:
    """Make the central directory say something else about `name` (headers can lie)."""
    out = bytearray(data)
    pos = central_offset(data, name)
    for offset, fmt, value in ((8, "<H", flags), (16, "<L", crc), (20, "<L", compress_size), (24, "<L", file_size)):
        if value is not None:
            struct.pack_into(fmt, out, pos + offset, value)
    return bytes(out)


def garmin_export(tmp_path: Path, inner_compression=zipfile.ZIP_DEFLATED) -> Path:
    part1 = make_zip([("a.fit", FIT), ("b.gpx", GPX), ("c.tcx.gz", gzip.compress(TCX)),
                      ("summary.json", b"{}"), ("photo.png", b"\x89PNG")])
    return write(tmp_path / "export.zip", make_zip(
        [("DI_CONNECT/DI-Connect-User/user.json", b"{}"), (PART1, part1)], inner_compression))


def read_all(archive: Path, chains, limits=ArchiveLimits()) -> dict:
    return dict(read_members(archive, chains, limits))


def reasons(refused: list[Refused]) -> dict[tuple[str, ...], str]:
    return {r.chain: r.reason for r in refused}


# --- Garmin --------------------------------------------------------------------------


def test_garmin_export_lists_the_three_activity_files_of_the_nested_zip(tmp_path):
    members, refused = scan(garmin_export(tmp_path))
    assert refused == []
    assert [(m.chain, m.format, m.compression) for m in members] == [
        ((PART1, "a.fit"), "fit", None),
        ((PART1, "b.gpx"), "gpx", None),
        ((PART1, "c.tcx.gz"), "tcx", "gzip"),
    ]
    assert members[0].size_bytes == len(FIT)


def test_read_members_returns_the_bytes_written_gz_still_compressed(tmp_path):
    archive = garmin_export(tmp_path)
    members, _ = scan(archive)
    got = read_all(archive, [m.chain for m in members])
    assert got[(PART1, "a.fit")] == FIT
    assert got[(PART1, "b.gpx")] == GPX
    assert gzip.decompress(got[(PART1, "c.tcx.gz")]) == TCX


def test_member_mtime_is_the_zip_date_read_as_utc(tmp_path):
    stamped = zipfile.ZipInfo("ride.fit", date_time=(2024, 5, 6, 7, 8, 10))
    odd = zipfile.ZipInfo("odd.fit", date_time=(2024, 0, 1, 0, 0, 0))  # DOS dates allow month 0
    archive = write(tmp_path / "x.zip", make_zip([(stamped, FIT), (odd, FIT)]))
    members = {m.chain: m for m in scan(archive)[0]}
    expected = datetime(2024, 5, 6, 7, 8, 10, tzinfo=timezone.utc)
    assert members[("ride.fit",)].mtime_ns == int(expected.timestamp()) * 10**9
    assert members[("odd.fit",)].mtime_ns == int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()) * 10**9


def test_a_zip_behind_a_self_extractor_stub_with_a_comment_is_read(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.comment = b"made by a self-extractor"
        zf.writestr("ride.fit", FIT)
    archive = write(tmp_path / "x.zip", b"MZ" + bytes(5000) + buffer.getvalue())
    [member] = scan(archive, ArchiveLimits(max_members=1))[0]
    assert read_all(archive, [member.chain])[("ride.fit",)] == FIT


def test_member_key_names_each_level_of_the_chain():
    assert member_key(Path("/x/export.zip"), ("DI_CONNECT/a.zip", "1.fit")) == "/x/export.zip!/DI_CONNECT/a.zip!/1.fit"
    assert member_key(Path("/x/export.zip"), ("1.fit",)) == "/x/export.zip!/1.fit"


def test_macos_resource_forks_are_not_activities(tmp_path):
    archive = write(tmp_path / "x.zip", make_zip(
        [("ride.fit", FIT), ("__MACOSX/._ride.fit", b"\0\5\x16\7"), ("._other.gpx", b"\0")]))
    assert [m.chain for m in scan(archive)[0]] == [("ride.fit",)]


# --- Strava ----------------------------------------------------------------------------

STRAVA_CSV = (
    "\ufeffActivity ID,Activity Date,Activity Name,Activity Type,Distance,Elapsed Time,Filename,"
    "Distance,Elapsed Time,Extra\r\n"
    '1,"Jan 1, 2024",Morning Ride,Ride,20.1,3600,activities/1.fit.gz,20100,3600,x\r\n'
    '2,"Jan 2, 2024","Lunch, with ""friends""\nand a newline",Run,5.0,1800,activities/2.gpx.gz,5000,1800\r\n'
    "3,\"Jan 3, 2024\",,Virtual Ride,30,3600,activities/3.gpx,30000,3600,y\r\n"
    "4,\"Jan 4, 2024\",Manual entry,Swim,1,600,,1000,600,z\r\n"
).encode("utf-8")


def strava_export(tmp_path: Path, folder: str = "") -> Path:
    return write(tmp_path / "strava.zip", make_zip([
        (f"{folder}activities.csv", STRAVA_CSV),
        (f"{folder}activities/1.fit.gz", gzip.compress(FIT)),
        (f"{folder}activities/2.gpx.gz", gzip.compress(GPX)),
        (f"{folder}activities/3.gpx", GPX),
        (f"{folder}media/photo.jpg", b"\xff\xd8"),
    ]))


def test_strava_csv_maps_filename_to_id_name_and_type(tmp_path):
    activities = strava_activities(strava_export(tmp_path))
    assert activities == {
        "activities/1.fit.gz": StravaActivity("1", "Morning Ride", "Ride"),
        "activities/2.gpx.gz": StravaActivity("2", 'Lunch, with "friends"\nand a newline', "Run"),
        "activities/3.gpx": StravaActivity("3", None, "Virtual Ride"),
    }


def test_strava_keys_are_the_members_chain0_also_one_folder_down(tmp_path):
    archive = strava_export(tmp_path, folder="export_123/")
    members, _ = scan(archive)
    activities = strava_activities(archive)
    assert [m.chain[0] for m in members] == sorted(activities)
    assert activities["export_123/activities/1.fit.gz"].strava_id == "1"
    assert [(m.format, m.compression) for m in members] == [("fit", "gzip"), ("gpx", "gzip"), ("gpx", None)]


def test_no_activities_csv_means_no_strava_metadata(tmp_path):
    assert strava_activities(garmin_export(tmp_path)) == {}


def test_strava_csv_tolerates_missing_columns_and_short_rows():
    data = b"Filename,Activity ID\nactivities/9.fit,9\nactivities/10.fit\n"
    assert parse_strava_csv(data) == {"activities/9.fit": StravaActivity("9", None, None)}
    assert parse_strava_csv(b"Activity ID,Activity Name\n1,x\n") == {}
    assert parse_strava_csv(b"") == {}


# --- hostile names ------------------------------------------------------------------

HOSTILE = ["../evil.fit", "/abs.fit", "C:\\win.fit", "a/../../b.fit", "\\\\server\\share.fit", "ok/..\\up.gpx"]


def test_hostile_paths_are_refused_and_never_opened(tmp_path, monkeypatch):
    archive = write(tmp_path / "x.zip", make_zip([(name, FIT) for name in HOSTILE] + [("fine.fit", FIT)]))
    opened = []
    real_member_data = archives._member_data
    monkeypatch.setattr(archives, "_member_data", lambda container, info: (
        opened.append(info.filename), real_member_data(container, info))[1])
    members, refused = scan(archive)
    assert [m.chain for m in members] == [("fine.fit",)]
    assert sorted(r.chain[0] for r in refused) == sorted(HOSTILE)
    assert reasons(refused)[("../evil.fit",)] == "member path escapes the archive (..)"
    assert reasons(refused)[("C:\\win.fit",)] == "absolute member path"
    results = read_all(archive, [(name,) for name in HOSTILE])
    assert all(isinstance(r, ArchiveError) for r in results.values())
    assert opened == []
    assert read_all(archive, [("fine.fit",)])[("fine.fit",)] == FIT and opened == ["fine.fit"]


def test_nul_in_a_member_name_is_refused(tmp_path):
    data = make_zip([("evilX.fit.png", FIT)]).replace(b"evilX", b"evil\0")
    members, refused = scan(write(tmp_path / "x.zip", data))
    assert members == []
    assert refused == [Refused(("evil\\x00.fit.png",), "member name contains a NUL byte")]


# --- bombs and lying headers ------------------------------------------------------------

TEN_MB_OF_ZEROS = bytes(10 * 2**20)


def test_zip_bomb_by_ratio_is_refused_with_the_ratio(tmp_path):
    archive = write(tmp_path / "x.zip", make_zip([("bomb.fit", TEN_MB_OF_ZEROS), ("fine.fit", FIT)]))
    limits = ArchiveLimits(max_ratio=50)
    members, refused = scan(archive, limits)
    assert [m.chain for m in members] == [("fine.fit",)]
    [bomb] = refused
    assert bomb.chain == ("bomb.fit",)
    assert "exceeds the 50:1 cap (zip bomb?)" in bomb.reason
    result = read_all(archive, [("bomb.fit",)], limits)[("bomb.fit",)]
    assert isinstance(result, ArchiveError) and "zip bomb" in str(result)


def test_member_over_the_size_cap_is_refused(tmp_path):
    archive = write(tmp_path / "x.zip", make_zip([("big.gpx", b"x" * 200_000)], zipfile.ZIP_STORED))
    _, refused = scan(archive, ArchiveLimits(max_member_bytes=100_000))
    assert refused == [Refused(("big.gpx",), "195 KiB uncompressed exceeds the 97.7 KiB cap")]


def test_understated_size_stops_reading_that_member_only(tmp_path):
    payload = bytes(range(256)) * 400
    data = make_zip([("liar.fit", payload), ("next.fit", FIT)])
    archive = write(tmp_path / "x.zip", patch_central(data, "liar.fit", file_size=1000))
    [liar, nxt] = scan(archive)[0]
    assert liar.size_bytes == 1000  # scan believes the header...
    got = read_all(archive, [liar.chain, nxt.chain])
    assert isinstance(got[("liar.fit",)], ArchiveError)  # ...reading does not, and stops at once
    assert str(got[("liar.fit",)]) == f"{archive}!/liar.fit: inflates past the 1000 bytes its header says (lying header?)"
    assert got[("next.fit",)] == FIT


def test_overstated_compressed_size_is_stopped_while_reading(tmp_path):
    data = make_zip([("bomb.fit", TEN_MB_OF_ZEROS)])
    # Declares 40:1, under the 50:1 cap; the deflate stream really is ~1000:1.
    archive = write(tmp_path / "x.zip", patch_central(data, "bomb.fit", compress_size=len(TEN_MB_OF_ZEROS) // 40))
    limits = ArchiveLimits(max_ratio=50)
    assert [m.chain for m in scan(archive, limits)[0]] == [("bomb.fit",)]
    result = read_all(archive, [("bomb.fit",)], limits)[("bomb.fit",)]
    assert isinstance(result, ArchiveError)
    assert result.reason == "inflates beyond 50:1 while reading (zip bomb?)"


class EndlessZeros:
    """Raw member data that never ends, whatever the header said."""

    def __init__(self):
        self.calls = 0

    def read(self, n):
        self.calls += 1
        assert self.calls < 20, "kept reading past every cap"
        return bytes(n)


def test_the_size_cap_holds_against_data_that_never_ends():
    raw = EndlessZeros()
    limits = ArchiveLimits(max_member_bytes=3 * 2**20)
    with pytest.raises(archives._Refusal, match="inflates beyond the 3 MiB cap"):
        archives._inflate_capped(raw, False, 10**12, limits, None)
    assert raw.calls == 4


def test_the_ratio_cap_counts_the_compressed_bytes_really_consumed():
    deflater = zlib.compressobj(wbits=-15)
    raw = io.BytesIO(deflater.compress(TEN_MB_OF_ZEROS) + deflater.flush())
    limits = ArchiveLimits(max_ratio=100, ratio_floor_bytes=2 * 2**20)
    with pytest.raises(archives._Refusal, match="while reading"):
        archives._inflate_capped(raw, True, 10**12, limits, None)
    # Under the floor the same stream inflates fine, and its CRC is the data's.
    raw.seek(0)
    data, crc = archives._inflate_capped(raw, True, len(TEN_MB_OF_ZEROS), ArchiveLimits(ratio_floor_bytes=2**30), None)
    assert data == TEN_MB_OF_ZEROS and crc == zlib.crc32(TEN_MB_OF_ZEROS)


def test_overlapping_entries_are_stopped_by_the_archive_total(tmp_path):
    # Fifty directory entries all pointing at one member's data, each claiming 1 MiB.
    data = make_zip([("a00.fit", bytes(2**20))])
    pos = central_offset(data, "a00.fit")
    record = data[pos:len(data) - 22]
    copies = b"".join(record.replace(b"a00.fit", f"a{i:02}.fit".encode()) for i in range(50))
    end = bytearray(data[-22:])
    struct.pack_into("<HHLL", end, 8, 50, 50, len(copies), pos)
    archive = write(tmp_path / "x.zip", data[:pos] + copies + bytes(end))
    members, refused = scan(archive, ArchiveLimits(max_archive_bytes=10 * 2**20, ratio_floor_bytes=2**30))
    assert len(members) == 10
    assert len(refused) == 40
    assert {r.reason for r in refused} == {"archive total would pass the 10 MiB cap"}


def test_the_archive_total_holds_while_reading(tmp_path):
    names = [f"{i}.gpx" for i in range(5)]
    archive = write(tmp_path / "x.zip", make_zip([(n, bytes(range(256)) * 400) for n in names]))
    got = read_all(archive, [(n,) for n in names], ArchiveLimits(max_archive_bytes=250_000))
    assert [isinstance(got[(n,)], bytes) for n in names] == [True, True, False, False, False]
    assert "archive total would pass" in str(got[("2.gpx",)])


def test_duplicated_member_names_are_refused(tmp_path):
    archive = write(tmp_path / "x.zip", make_zip([("a.fit", FIT), ("a.fit", b"other"), ("b.fit", FIT)]))
    members, refused = scan(archive)
    assert [m.chain for m in members] == [("b.fit",)]
    assert reasons(refused) == {("a.fit",): "member name appears more than once in the archive"}
    assert isinstance(read_all(archive, [("a.fit",)])[("a.fit",)], ArchiveError)


def test_too_many_entries_is_refused(tmp_path):
    noise = make_zip([(f"{i}.json", b"{}") for i in range(20)])
    archive = write(tmp_path / "x.zip", make_zip([("inner.zip", noise), ("a.fit", FIT)]))
    members, refused = scan(archive, ArchiveLimits(max_members=10))
    assert [m.chain for m in members] == [("a.fit",)]
    assert refused == [Refused(("inner.zip",), "more than 10 entries in the archive")]


def test_entries_are_counted_before_zipfile_parses_the_directory(tmp_path, monkeypatch):
    archive = write(tmp_path / "x.zip", make_zip([(f"{i}.fit", FIT) for i in range(3)]))
    parsed = []
    real_parse = zipfile.ZipFile._RealGetContents
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", lambda self: (parsed.append(1), real_parse(self))[1])
    with pytest.raises(ArchiveError, match=f"^{archive}: more than 2 entries in the archive$"):
        scan(archive, ArchiveLimits(max_members=2))
    assert parsed == []
    assert len(scan(archive, ArchiveLimits(max_members=3))[0]) == 3


# --- nesting ----------------------------------------------------------------------------


def test_nesting_deeper_than_max_depth_is_refused(tmp_path):
    level4 = make_zip([("d4.fit", FIT)])
    level3 = make_zip([("d3.fit", FIT), ("l4.zip", level4)])
    level2 = make_zip([("d2.fit", FIT), ("l3.zip", level3)])
    archive = write(tmp_path / "x.zip", make_zip([("d1.fit", FIT), ("l2.zip", level2)]))
    members, refused = scan(archive, ArchiveLimits(max_depth=3))
    assert [m.chain for m in members] == [("d1.fit",), ("l2.zip", "d2.fit"), ("l2.zip", "l3.zip", "d3.fit")]
    assert refused == [Refused(("l2.zip", "l3.zip", "l4.zip"), "nested deeper than 3 archives")]
    deep = ("l2.zip", "l3.zip", "l4.zip", "d4.fit")
    got = read_all(archive, [deep, members[2].chain], ArchiveLimits(max_depth=3))
    assert got[deep].reason == "nested deeper than 3 archives"
    assert got[members[2].chain] == FIT


def test_corrupt_nested_zips_are_refused_with_the_reason(tmp_path):
    truncated = make_zip([("x.fit", FIT)])[:40]
    archive = write(tmp_path / "x.zip", make_zip(
        [("bad.zip", b"PK\x03\x04 not really"), ("cut.zip", truncated), ("good.fit", FIT)]))
    members, refused = scan(archive)
    assert [m.chain for m in members] == [("good.fit",)]
    assert [r.chain for r in refused] == [("bad.zip",), ("cut.zip",)]
    assert all(r.reason.startswith("not a zip file: ") for r in refused)
    got = read_all(archive, [("bad.zip", "x.fit"), ("good.fit",)])
    assert str(got[("bad.zip", "x.fit")]).startswith(f"{archive}!/bad.zip: not a zip file")
    assert got[("good.fit",)] == FIT


def test_a_stored_nested_zip_is_read_in_place_not_copied(tmp_path, monkeypatch):
    archive = garmin_export(tmp_path, inner_compression=zipfile.ZIP_STORED)
    copied = []
    real = archives._read_capped
    monkeypatch.setattr(archives, "_read_capped", lambda c, info, *a: (copied.append(info.filename), real(c, info, *a))[1])
    members, _ = scan(archive)
    got = read_all(archive, [m.chain for m in members])
    assert got[(PART1, "a.fit")] == FIT and got[(PART1, "b.gpx")] == GPX
    assert PART1 not in copied
    assert copied == ["a.fit", "b.gpx", "c.tcx.gz"]


def inflations_of(monkeypatch, name: str) -> list[str]:
    """Records `name` each time a member of that name is inflated."""
    inflated = []
    real = archives._read_capped
    monkeypatch.setattr(archives, "_read_capped", lambda c, info, *a: (
        inflated.extend([name] if info.filename == name else []), real(c, info, *a))[1])
    return inflated


def test_a_deflated_nested_zip_is_inflated_once_for_the_scan_and_the_read(tmp_path, monkeypatch):
    archive = garmin_export(tmp_path)
    inflated = inflations_of(monkeypatch, PART1)
    members, _ = scan(archive)
    assert read_all(archive, [m.chain for m in members])[(PART1, "a.fit")] == FIT
    assert inflated == [PART1]
    read_all(archive, [(PART1, "a.fit")])  # the read took what the scan kept: nothing is left
    assert inflated == [PART1, PART1]


def test_a_nested_zip_over_the_cache_cap_is_inflated_again(tmp_path, monkeypatch):
    archive = garmin_export(tmp_path)
    monkeypatch.setattr(archives, "INFLATED_CACHE_BYTES", 100)
    inflated = inflations_of(monkeypatch, PART1)
    members, _ = scan(archive)
    assert read_all(archive, [m.chain for m in members])[(PART1, "a.fit")] == FIT
    assert inflated == [PART1, PART1]


def test_an_archive_changed_after_its_scan_is_read_as_it_is_now(tmp_path):
    archive = garmin_export(tmp_path)
    members, _ = scan(archive)
    changed = b".FIT" + bytes(range(255, -1, -1)) * 8  # same size and name, other bytes
    write(archive, make_zip([(PART1, make_zip([("a.fit", changed)]))]))
    stat = archive.stat()
    os.utime(archive, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert read_all(archive, [(PART1, "a.fit")])[(PART1, "a.fit")] == changed
    archives.forget_inflated()


def test_read_members_opens_each_container_once_per_run(tmp_path, monkeypatch):
    part1 = make_zip([("a.fit", FIT), ("b.fit", FIT)])
    part2 = make_zip([("c.fit", FIT), ("d.fit", FIT)])
    archive = write(tmp_path / "x.zip", make_zip([(PART1, part1), (PART2, part2), ("top.gpx", GPX)]))
    opened, live = [], {"now": 0, "most": 0}
    real_open_nested, real_open_top = archives._open_nested, archives._open_top

    def counting_open_nested(parent, info, chain, limits, budget, **options):
        container = real_open_nested(parent, info, chain, limits, budget, **options)
        opened.append(chain[-1])
        live["now"] += 1
        live["most"] = max(live["most"], live["now"])
        real_close = container.close
        container.close = lambda: (live.__setitem__("now", live["now"] - 1), real_close())
        return container

    tops = []
    monkeypatch.setattr(archives, "_open_nested", counting_open_nested)
    monkeypatch.setattr(archives, "_open_top", lambda *a: (tops.append(1), real_open_top(*a))[1])
    members, _ = scan(archive)
    opened.clear()
    tops.clear()
    got = read_all(archive, [m.chain for m in members])
    assert all(data in (FIT, GPX) for data in got.values()) and len(got) == 5
    assert opened == [PART1, PART2]
    assert tops == [1]
    assert live == {"now": 0, "most": 1}  # one nested container in memory at a time, all closed
    opened.clear()
    read_all(archive, [(PART1, "a.fit"), (PART2, "c.fit"), (PART1, "b.fit")])
    assert opened == [PART1, PART2, PART1]  # a run is consecutive chains; order is the caller's


# --- other refusals and errors ------------------------------------------------------------


def test_encrypted_member_is_refused(tmp_path):
    data = make_zip([("secret.fit", FIT), ("plain.fit", FIT)])
    archive = write(tmp_path / "x.zip", patch_central(data, "secret.fit", flags=0x1))
    members, refused = scan(archive)
    assert [m.chain for m in members] == [("plain.fit",)]
    assert refused == [Refused(("secret.fit",), "encrypted member")]
    assert read_all(archive, [("secret.fit",)])[("secret.fit",)].reason == "encrypted member"


def test_compression_methods_zipfile_inflates_unbounded_are_refused(tmp_path):
    archive = write(tmp_path / "x.zip", make_zip([("a.fit", FIT)], zipfile.ZIP_BZIP2))
    _, refused = scan(archive)
    assert refused == [Refused(("a.fit",), "unsupported compression method 12 (only stored and deflate are read)")]


def test_a_file_named_zip_that_is_not_a_zip_raises_naming_it(tmp_path):
    archive = write(tmp_path / "export.zip", b"this is a text file")
    with pytest.raises(ArchiveError, match=f"^{archive}: not a zip file: ") as raised:
        scan(archive)
    assert isinstance(raised.value, ReadError)
    with pytest.raises(ArchiveError, match="not a zip file"):
        strava_activities(archive)
    got = read_all(archive, [("a.fit",), ("b.fit",)])
    assert [str(e) for e in got.values()] == [str(raised.value)] * 2


def test_bad_crc_fails_that_member_only(tmp_path):
    data = make_zip([("a.fit", FIT), ("b.fit", FIT + b"b"), ("c.fit", FIT + b"c")])
    archive = write(tmp_path / "x.zip", patch_central(data, "b.fit", crc=0xDEADBEEF))
    got = read_all(archive, [("a.fit",), ("b.fit",), ("c.fit",)])
    assert got[("a.fit",)] == FIT and got[("c.fit",)] == FIT + b"c"
    assert isinstance(got[("b.fit",)], ArchiveError)
    assert "bad CRC-32" in str(got[("b.fit",)]) and str(got[("b.fit",)]).startswith(f"{archive}!/b.fit: ")


def test_a_local_header_naming_another_file_is_refused_on_read(tmp_path):
    data = make_zip([("aaa.fit", FIT), ("ok.fit", FIT)]).replace(b"aaa.fit", b"bbb.fit", 1)
    archive = write(tmp_path / "x.zip", data)
    got = read_all(archive, [("aaa.fit",), ("ok.fit",)])
    assert got[("aaa.fit",)].reason == "local header names another file (crafted zip?)"
    assert got[("ok.fit",)] == FIT


def test_compressed_data_cut_short_is_truncated(tmp_path):
    payload = bytes(range(256)) * 400
    data = make_zip([("cut.gpx", payload)])
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("cut.gpx")
    archive = write(tmp_path / "x.zip", patch_central(data, "cut.gpx", compress_size=info.compress_size // 2))
    assert read_all(archive, [("cut.gpx",)])[("cut.gpx",)].reason == "member data is truncated"


def test_missing_member_is_an_error_for_that_chain_only(tmp_path):
    archive = garmin_export(tmp_path)
    got = read_all(archive, [(PART1, "nope.fit"), (PART1, "a.fit"), ("nope.zip", "x.fit")])
    assert got[(PART1, "nope.fit")].reason == "no such member"
    assert got[(PART1, "a.fit")] == FIT
    assert str(got[("nope.zip", "x.fit")]) == f"{archive}!/nope.zip: no such member"


def test_members_are_sorted_by_chain(tmp_path):
    archive = write(tmp_path / "x.zip", make_zip([("z.fit", FIT), ("a/b.gpx", GPX), ("m.zip", make_zip([("0.fit", FIT)]))]))
    assert [m.chain for m in scan(archive)[0]] == [("a/b.gpx",), ("m.zip", "0.fit"), ("z.fit",)]
    assert isinstance(scan(archive)[0][0], Member)
