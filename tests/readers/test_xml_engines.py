"""The fast lxml engines against the reference engines (gpxpy, ElementTree) and by hand.

Expectations come from the reference engines, from gpxpy itself, or are written here by
hand; never from the fast engines' own output.
"""

from __future__ import annotations

import dataclasses
import gc
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from gpxpy.gpxfield import parse_time as gpxpy_parse_time
from polars.testing import assert_frame_equal

from conftest import ROOT, corpus_dir
from pipeline.readers import ENGINES, ReadError
from pipeline.readers.base import SESSION_COLUMNS, SUMMARY_COLUMNS
from pipeline.readers.gpx import read_gpx
from pipeline.readers.gpx_fast import VECTORIZED_TIMES, _utc_series, _utc_time, read_gpx_fast
from pipeline.readers.tcx import read_tcx
from pipeline.readers.tcx_fast import read_tcx_fast

CORPUS = corpus_dir() or ROOT.parent / "shared" / "corpus"
PAIRS = {"gpx": (read_gpx_fast, read_gpx), "tcx": (read_tcx_fast, read_tcx)}
FRAMES = ("records", "laps", "sessions", "timer_events", "lengths")


def outcome(reader, data: bytes):
    try:
        return reader(data, "test")
    except ReadError as exc:
        return f"ReadError: {exc}"


def assert_same_outcome(fast, reference) -> None:
    if isinstance(reference, str) or isinstance(fast, str):
        assert fast == reference
        return
    for field in dataclasses.fields(reference):
        mine, theirs = getattr(fast, field.name), getattr(reference, field.name)
        if field.name in FRAMES and theirs is not None:
            assert_frame_equal(mine, theirs, rel_tol=1e-9, abs_tol=0.0)
        else:
            assert mine == theirs, field.name


def both(fmt: str, data: bytes):
    fast, reference = PAIRS[fmt]
    expected = outcome(reference, data)
    got = outcome(fast, data)
    assert_same_outcome(got, expected)
    return got


def corpus_files() -> list[Path]:
    return sorted([*CORPUS.glob("gpx/*.gpx"), *CORPUS.glob("tcx/*.tcx")])


def test_fast_engines_are_the_defaults():
    assert list(ENGINES["gpx"]) == ["lxml", "gpxpy"]
    assert list(ENGINES["tcx"]) == ["lxml", "etree"]


def test_the_engines_are_compared_on_the_corpus(corpus):
    # The parametrization below is made before fixtures run: it must have found the corpus.
    assert corpus_files() and corpus_files()[0].is_relative_to(corpus)


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_engines_agree_on_every_corpus_file(corpus, path):
    both(path.suffix[1:], path.read_bytes())


# -- hostile files ---------------------------------------------------------------------------

SECRET = "s3cr3t-token-from-a-local-file"


def hostile_files(tmp_path: Path) -> dict[str, str]:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    url = secret.as_uri()
    body = '<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>{}</name></trk></gpx>'
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 9))
    return {
        "billion_laughs": f'<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY l0 "lol">{laughs}]>' + body.format("&l8;"),
        "xxe_local_file": f'<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY s SYSTEM "{url}">]>' + body.format("&s;"),
        "external_dtd": f'<?xml version="1.0"?><!DOCTYPE gpx SYSTEM "{url}">' + body.format("x"),
        "parameter_entity": f'<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY % p SYSTEM "{url}"> %p;]>' + body.format("x"),
    }


@pytest.mark.parametrize("kind", ["billion_laughs", "xxe_local_file", "external_dtd", "parameter_entity"])
@pytest.mark.parametrize("fmt", ["gpx", "tcx"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_hostile_files_are_refused(tmp_path, kind, fmt, encoding):
    text = hostile_files(tmp_path)[kind]
    if encoding != "utf-8":
        text = text.replace('<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{encoding}"?>')
    fast, reference = PAIRS[fmt]
    with pytest.raises(ReadError) as refused:
        fast(text.encode(encoding), "hostile")
    reason = str(refused.value)
    assert reason.startswith(f"refused unsafe {fmt.upper()} XML (")
    assert "\n" not in reason and SECRET not in reason
    assert outcome(reference, text.encode(encoding)) == f"ReadError: {reason}"


def test_broken_xml_gets_the_reference_message():
    data = b'<gpx version="1.1"><trk><trkseg></trk></gpx>'
    assert both("gpx", data) == "ReadError: not well-formed GPX XML: mismatched tag: line 1, column 34"


# -- GPX by hand -----------------------------------------------------------------------------

TPX1 = "http://www.garmin.com/xmlschemas/TrackPointExtension/v1"
TPX2 = "http://www.garmin.com/xmlschemas/TrackPointExtension/v2"
GPXDATA = "http://www.cluetrust.com/XML/GPXDATA/1/0"


def gpx(body: str, version: str = "1.1", namespaces: str = "") -> bytes:
    uri = "http://www.topografix.com/GPX/1/1" if version == "1.1" else "http://www.topografix.com/GPX/1/0"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="{version}" creator="hand" '
            f'xmlns="{uri}" {namespaces}>{body}</gpx>').encode()


def trkpt(time: str | None, lat: float = 46.0, inner: str = "") -> str:
    stamp = f"<time>{time}</time>" if time else ""
    return f'<trkpt lat="{lat}" lon="14.5"><ele>300.5</ele>{stamp}{inner}</trkpt>'


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def test_partial_timestamps():
    points = trkpt("2026-07-06T06:00:00Z") + trkpt(None) + trkpt("2026-07-06T06:00:02Z")
    parsed = both("gpx", gpx(f"<trk><trkseg>{points}</trkseg></trk>"))
    assert parsed.parse_status == "partial_timestamps"
    assert parsed.parse_detail == "1 of 3 track points have no time and were left out"
    assert parsed.records["timestamp_utc"].to_list() == [utc(2026, 7, 6, 6, 0, 0), utc(2026, 7, 6, 6, 0, 2)]


def test_time_offsets_fractions_and_naive_times_become_utc():
    times = ["2026-07-06T08:00:00+02:00", "2026-07-06T00:31:00-05:30", "2026-07-06T06:02:00.5Z",
             "2026-07-06T06:03:00", "2026-07-06T06:04:00.1234567Z", "2026-07-06T07:05:00+0100"]
    points = "".join(trkpt(t) for t in times)
    parsed = both("gpx", gpx(f"<trk><trkseg>{points}</trkseg></trk>"))
    assert parsed.records["timestamp_utc"].to_list() == [
        utc(2026, 7, 6, 6, 0, 0), utc(2026, 7, 6, 6, 1, 0), utc(2026, 7, 6, 6, 2, 0, 500000),
        utc(2026, 7, 6, 6, 3, 0), utc(2026, 7, 6, 6, 4, 0, 123456), utc(2026, 7, 6, 6, 5, 0),
    ]


@pytest.mark.parametrize("text", [
    "2026-07-06T06:00:00Z", "2026-07-06T06:00:00.123Z", "2026-07-06 06:00:00", "2026-7-6T6:0:0Z",
    "2026-07-06T24:00:00Z", "2026-02-30T06:00:00Z", "2026-07-06T06:00:60Z", "0000-01-01T00:00:00Z",
    "2026-07-06T06:00:00+02", "2026-07-06T06:00:00−03:00", "2026-07-06T06:00:00Z\n", " 2026-07-06T06:00:00Z",
    "2026-07-06T06:00:00.Z", "2026-07-06", "garbage", "2026-07-06T06:00:00+0A:00",
])
def test_times_are_read_exactly_as_gpxpy_reads_them(text):
    try:
        expected = gpxpy_parse_time(text)
    except Exception:
        expected = None
    if expected is not None:
        expected = expected.replace(tzinfo=timezone.utc) if expected.tzinfo is None else expected.astimezone(timezone.utc)
    assert _utc_time(text) == expected
    # A track's times convert together: one by one in a short track, in one pass in a long one
    # (with a usual time around, as in a real track).
    assert _utc_series([text]).to_list() == [expected]
    long_track = _utc_series([text, "2026-07-06T06:00:00Z"] * VECTORIZED_TIMES).to_list()
    assert long_track[::2] == [expected] * VECTORIZED_TIMES


def test_several_tracks_and_segments_are_one_record_frame_in_time_order():
    segment = "<trkseg>{}</trkseg>"
    first = segment.format(trkpt("2026-07-06T06:00:02Z", 1)) + segment.format(trkpt("2026-07-06T06:00:00Z", 2))
    second = "<trkseg/>" + segment.format(trkpt("2026-07-06T06:00:01Z", 3) + trkpt("2026-07-06T06:00:03Z", 4))
    parsed = both("gpx", gpx(f"<trk><type>cycling</type>{first}</trk><trk>{second}</trk>"))
    assert parsed.records["lat_deg"].to_list() == [2.0, 3.0, 1.0, 4.0]
    assert parsed.records["altitude_m"].to_list() == [300.5] * 4
    assert parsed.sport_hint == "cycling"


@pytest.mark.parametrize("inner", [
    "<ele/><time>2026-07-06T06:00:00Z</time>",
    "<ele>301.5</ele><ele>999</ele><time>2026-07-06T06:00:00Z</time><time>2026-07-06T07:00:00Z</time>",
    "<time>2026-07-06T06:00:00Z</time><ele> 12 </ele><hdop>1.5</hdop>",
    "<time>2026-07-06T06:00:00Z</time><ele>high</ele>",
])
def test_points_of_unusual_shape_read_as_gpxpy_reads_them(inner):
    point = f'<trkpt lat="46" lon="14">{inner}</trkpt>'
    both("gpx", gpx(f"<trk><trkseg>{point}{point}</trkseg></trk>"))


def test_gpx10_speed_is_kept_and_ignored_in_11():
    point = '<trkpt lat="46" lon="14"><time>2026-07-06T06:00:00Z</time><speed>3.5</speed></trkpt>'
    body = f"<trk><trkseg>{point}</trkseg></trk>"
    assert both("gpx", gpx(body, version="1.0")).records["speed_mps"].to_list() == [3.5]
    assert both("gpx", gpx(body, version="1.1")).records["speed_mps"].to_list() == [None]


@pytest.mark.parametrize("hr,expected", [("<g:hr/>", None), ("<g:hr>  151 \n</g:hr>", 151.0), ("<g:hr>n/a</g:hr>", None)])
def test_extension_values_empty_padded_or_unreadable(hr, expected):
    """An empty extension element has no text at all (None), which must not break the quick path."""
    point = trkpt("2026-07-06T06:00:00Z", inner=f"<extensions><g:TrackPointExtension>{hr}<g:cad>90</g:cad>"
                                                "</g:TrackPointExtension></extensions>")
    records = both("gpx", gpx(f"<trk><trkseg>{point}</trkseg></trk>", namespaces=f'xmlns:g="{TPX1}"')).records
    assert records["heart_rate_bpm"].to_list() == [expected] and records["cadence_rpm"].to_list() == [90.0]


def test_gpx10_points_read_fast_except_for_their_extensions():
    """GPX 1.0 points take the fast engine's quick path too, which must still drop what
    gpxpy reads only in 1.1: extensions. By hand: 1.0 keeps ele, time and position only."""
    extension = '<extensions><g:TrackPointExtension><g:hr>151</g:hr></g:TrackPointExtension></extensions>'
    points = trkpt("2026-07-06T06:00:00Z", inner=extension) + trkpt("2026-07-06T06:00:01Z", lat=46.1)
    body = f"<trk><trkseg>{points}</trkseg></trk>"
    namespaces = f'xmlns:g="{TPX1}"'
    records = both("gpx", gpx(body, version="1.0", namespaces=namespaces)).records
    assert records["heart_rate_bpm"].to_list() == [None, None]
    assert records["lat_deg"].to_list() == [46.0, 46.1] and records["altitude_m"].to_list() == [300.5, 300.5]
    assert both("gpx", gpx(body, version="1.1", namespaces=namespaces)).records["heart_rate_bpm"].to_list() == [151.0, None]


@pytest.mark.parametrize("extension,namespaces,column,value", [
    ("<power>250</power>", "", "power_w", 250.0),
    ("<zz:TrackPointExtension><zz:hr>151</zz:hr><zz:cad>88</zz:cad></zz:TrackPointExtension>",
     f'xmlns:zz="{TPX2}"', "heart_rate_bpm", 151.0),
    ("<g:TrackPointExtension><g:atemp>21.5</g:atemp></g:TrackPointExtension>", f'xmlns:g="{TPX1}"', "temperature_c", 21.5),
    ("<gpxdata:hr>140</gpxdata:hr><gpxdata:cadence>90</gpxdata:cadence>", f'xmlns:gpxdata="{GPXDATA}"', "cadence_rpm", 90.0),
    ('<TrackPointExtension xmlns="http://example.com/not-garmin"><hr>151</hr></TrackPointExtension>', "",
     "heart_rate_bpm", None),
    ("<gpxtpx:TrackPointExtension><gpxtpx:hr>151</gpxtpx:hr></gpxtpx:TrackPointExtension>",
     'xmlns:gpxtpx="http://example.com/usual-prefix-other-uri"', "heart_rate_bpm", None),
    ("<power>n/a</power><power>260</power>", "", "power_w", 260.0),
    # The last readable value wins, however the unreadable ones are placed.
    ("<power>260</power><power>n/a</power>", "", "power_w", 260.0),
    ("<power>250</power><power/>", "", "power_w", 250.0),
    ("<power> 270 </power>", "", "power_w", 270.0),
])
def test_extensions_are_matched_by_namespace_uri(extension, namespaces, column, value):
    point = trkpt("2026-07-06T06:00:00Z", inner=f"<extensions>{extension}</extensions>")
    parsed = both("gpx", gpx(f"<trk><trkseg>{point}</trkseg></trk>", namespaces=namespaces))
    assert parsed.records[column].to_list() == [value]


@pytest.mark.parametrize("body,reason", [
    ('<rte><rtept lat="46" lon="14"/></rte>', "GPX file has no track points: only routes"),
    ('<wpt lat="46" lon="14"><time>2026-07-06T06:00:00Z</time></wpt>', "GPX file has no track points: only waypoints"),
    ("<trk><trkseg/></trk>", "GPX file has no track points: it is empty"),
    (f"<trk><trkseg>{trkpt(None)}</trkseg></trk>", "GPX track has no timestamps: a planned route, not a recording"),
])
def test_files_without_a_recording_are_not_activities(body, reason):
    parsed = both("gpx", gpx(body))
    assert (parsed.is_activity, parsed.not_activity_reason) == (False, reason)


@pytest.mark.parametrize("body", [
    f'<trk><trkseg>{trkpt("2026-07-06T06:00:00Z").replace("300.5", "high")}</trkseg></trk>',
    '<trk><trkseg><trkpt lon="14"><time>2026-07-06T06:00:00Z</time></trkpt></trkseg></trk>',
    '<wpt lat="46" lon="14"><sat>many</sat></wpt><trk><number>x</number><trkseg/></trk>',
    f'<trk><number>x</number><trkseg>{trkpt("2026-07-06T06:00:00Z", inner="<fix>4d</fix>")}</trkseg></trk>',
    '<metadata><bounds minlat="south"/></metadata><wpt lat="north" lon="14"/>',
])
def test_values_gpxpy_refuses_reject_the_file_with_its_message(body):
    assert both("gpx", gpx(body)).startswith("ReadError: not a valid GPX file: ")


HR = "<extensions><g:TrackPointExtension><g:hr>{}</g:hr></g:TrackPointExtension></extensions>"
POINT_SHAPES = {
    "plain": "<ele>{ele}</ele><time>{time}</time>",
    "heart rate": "<ele>{ele}</ele><time>{time}</time>" + HR.format("{hr}"),
    "heart rate and cadence": "<ele>{ele}</ele><time>{time}</time><extensions><g:TrackPointExtension>"
                              "<g:hr>{hr}</g:hr><g:cad>88</g:cad></g:TrackPointExtension></extensions>",
    "bare power first": "<time>{time}</time><ele>{ele}</ele><extensions><power>{hr}</power></extensions>",
    "no time": "<ele>{ele}</ele>",
    "no elevation": "<time>{time}</time>",
    "empty elevation": "<ele/><time>{time}</time>",
    "unreadable heart rate": "<ele>{ele}</ele><time>{time}</time>" + HR.format("n/a"),
    "hdop": "<ele>{ele}</ele><time>{time}</time><hdop>1.5</hdop>",
    "padded": "<ele> {ele} </ele><time>{time}</time>",
}


def test_long_tracks_of_mixed_point_shapes_read_as_gpxpy_reads_them():
    """Thousands of points, in runs of one shape or mixed, over several segments and tracks:
    the fast engine reads them a chunk of bytes at a time, with points cut across chunks, and
    the quick and the general path take turns; gpxpy must agree point for point."""
    chooser = random.Random(20261204)
    start = datetime(2026, 7, 6, 6, tzinfo=timezone.utc)
    shapes, points = list(POINT_SHAPES.values()), []
    while len(points) < 6_000:
        run = [chooser.choice(shapes)] * chooser.randint(1, 800) if chooser.random() < 0.6 else \
            [chooser.choice(shapes) for _ in range(chooser.randint(1, 30))]
        for shape in run:
            i = len(points)
            inner = shape.format(ele=300 + i % 70 * 0.1, hr=100 + i % 80,
                                 time=(start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"))
            points.append(f'<trkpt lat="{46 + i * 1e-5:.7f}" lon="{14.5 - i * 1e-5:.7f}">{inner}</trkpt>\n')
    segments = [f"<trkseg>{''.join(points[i:i + 2_000])}</trkseg>" for i in range(0, len(points), 2_000)]
    body = f"<trk>{segments[0]}{segments[1]}</trk><trk>{segments[2]}</trk>"
    parsed = both("gpx", gpx(body, namespaces=f'xmlns:g="{TPX1}"'))
    assert parsed.records["heart_rate_bpm"].null_count() < parsed.records.height  # it held extensions


def test_comments_inside_values_and_a_byte_order_mark():
    point = '<trkpt lat="46" lon="14"><ele>30<!-- x -->0.5</ele><time>2026-07-06T06:00:00Z</time></trkpt>'
    data = "\ufeff".encode() + gpx(f"<trk><trkseg>{point}</trkseg></trk>")
    assert both("gpx", data).records["altitude_m"].to_list() == [300.5]


# -- TCX by hand -----------------------------------------------------------------------------

TCX = """<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
  xmlns:q="http://www.garmin.com/xmlschemas/ActivityExtension/v2">
 <Activities><Activity Sport="Running"><Id>2026-07-06T06:00:00Z</Id>{laps}
  <Creator><Name>Forerunner</Name></Creator></Activity></Activities></TrainingCenterDatabase>"""
LAP = """<Lap StartTime="{start}"><TotalTimeSeconds>60</TotalTimeSeconds><DistanceMeters>200</DistanceMeters>
 <AverageHeartRateBpm><Value>{hr}</Value></AverageHeartRateBpm><Track>{points}</Track></Lap>"""


def tcx_point(time: str | None, extra: str = "") -> str:
    stamp = f"<Time>{time}</Time>" if time else ""
    return f"<Trackpoint>{stamp}<HeartRateBpm><Value>150</Value></HeartRateBpm>{extra}</Trackpoint>"


def test_tcx_laps_offsets_run_cadence_and_partial_times():
    first = "".join([tcx_point("2026-07-06T08:00:00+02:00"), tcx_point(None),
                     tcx_point("2026-07-06T06:00:01Z", "<Extensions><q:TPX><q:RunCadence>88</q:RunCadence>"
                               "<q:Speed>3.2</q:Speed></q:TPX></Extensions>")])
    second = tcx_point("2026-07-06T06:01:00.250Z", "<Cadence>90</Cadence>")
    laps = (LAP.format(start="2026-07-06T06:00:00Z", hr=140, points=first)
            + LAP.format(start="2026-07-06T06:01:00Z", hr=160, points=second))
    parsed = both("tcx", TCX.format(laps=laps).encode())
    assert parsed.parse_detail == "1 of 4 trackpoints have no time and were left out"
    assert parsed.records["timestamp_utc"].to_list() == [
        utc(2026, 7, 6, 6, 0, 0), utc(2026, 7, 6, 6, 0, 1), utc(2026, 7, 6, 6, 1, 0, 250000)]
    assert parsed.records["cadence_rpm"].to_list() == [None, 88.0, 90.0]
    assert parsed.records["speed_mps"].to_list() == [None, 3.2, None]
    assert parsed.laps["avg_hr_bpm"].to_list() == [140.0, 160.0]
    assert parsed.sessions["avg_hr_bpm"].to_list() == [150.0]
    assert (parsed.sport_hint, parsed.product) == ("Running", "Forerunner")


def test_tcx_course_is_not_an_activity():
    data = (b'<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">'
            b"<Courses><Course><Track><Trackpoint><Time>2026-07-06T06:00:00Z</Time></Trackpoint></Track>"
            b"</Course></Courses></TrainingCenterDatabase>")
    assert both("tcx", data).not_activity_reason == "TCX file holds no <Activity> (a course or workout file)"


def test_big_gpx_streams_in_flat_memory(tmp_path):
    import tracemalloc

    point = ('<trkpt lat="46.{i:06d}" lon="14.5"><ele>300</ele><time>{t}</time><extensions>'
             f'<g:TrackPointExtension xmlns:g="{TPX1}"><g:hr>150</g:hr></g:TrackPointExtension></extensions></trkpt>')
    start = datetime(2026, 7, 6, tzinfo=timezone.utc)
    points = "".join(point.format(i=i, t=(start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"))
                     for i in range(20_000))
    data = gpx(f"<trk><trkseg>{points}</trkseg></trk>")
    tracemalloc.start()
    parsed = read_gpx_fast(data, "big")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert parsed.records.height == 20_000 and parsed.records["heart_rate_bpm"].min() == 150.0
    # tracemalloc sees Python objects only (the output columns), not libxml2's tree; the
    # tree is freed as points stream by, which benchmarks/parse_xml.py shows in RSS.
    assert peak < 1_000 * 20_000


def test_reading_gpx_leaves_none_of_its_objects_in_a_reference_cycle():
    # A cycle would keep the file's rows alive until the collector's next pass. (lxml's own
    # parser keeps a small cycle of its own objects; that one is not ours to break.)
    data = gpx(f"<trk><trkseg>{trkpt('2026-07-06T06:00:00Z')}</trkseg></trk>")
    enabled = gc.isenabled()
    gc.disable()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        parsed = read_gpx_fast(data, "cycle")
        gc.collect()
        ours = [o for o in gc.garbage if type(o).__module__.startswith("pipeline.")]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()
    assert parsed.records.height == 1
    assert ours == []


def test_each_parsed_file_gets_its_own_empty_laps_and_sessions():
    # GPX has no laps or sessions: the frames are copies of shared empty ones, so changing one
    # file's frame in place must not show in the next file's.
    data = gpx(f"<trk><trkseg>{trkpt('2026-07-06T06:00:00Z')}</trkseg></trk>")
    first = read_gpx_fast(data, "first")
    assert first.laps.is_empty() and dict(first.laps.schema) == SUMMARY_COLUMNS
    assert first.sessions.is_empty() and dict(first.sessions.schema) == SESSION_COLUMNS
    first.laps.insert_column(0, pl.Series("changed", [], dtype=pl.Int64))
    first.sessions.insert_column(0, pl.Series("changed", [], dtype=pl.Int64))
    second = read_gpx_fast(data, "second")
    assert "changed" not in second.laps.columns and "changed" not in second.sessions.columns
