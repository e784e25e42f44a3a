"""GPX and TCX: extensions by namespace URI, sports, and refusal of hostile XML."""

from __future__ import annotations

import pytest

import pipeline

GPX_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


def gpx(points: str, prefix: str = "gpxtpx", version: str = "v2", track_type: str = "running") -> bytes:
    uri = f"http://www.garmin.com/xmlschemas/TrackPointExtension/{version}"
    return (
        f'{GPX_HEAD}<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1" '
        f'xmlns:{prefix}="{uri}"><trk><type>{track_type}</type><trkseg>{points}</trkseg></trk></gpx>'
    ).encode()


def point(i: int, prefix: str = "gpxtpx", hr: int = 150, cad: int = 85) -> str:
    return (
        f'<trkpt lat="{46.05 + i * 1e-4:.6f}" lon="14.5"><ele>{300 + i}</ele>'
        f"<time>2026-07-06T06:00:{i:02d}Z</time><extensions><{prefix}:TrackPointExtension>"
        f"<{prefix}:hr>{hr}</{prefix}:hr><{prefix}:cad>{cad}</{prefix}:cad>"
        f"</{prefix}:TrackPointExtension><power>{200 + i}</power></extensions></trkpt>"
    )


@pytest.mark.parametrize("prefix,version", [("gpxtpx", "v1"), ("ns3", "v2"), ("x", "v1")])
def test_gpx_extensions_are_matched_by_uri_not_prefix(tmp_path, prefix, version):
    path = tmp_path / "run.gpx"
    path.write_bytes(gpx("".join(point(i, prefix) for i in range(10)), prefix, version))
    content = pipeline.read_file(path)
    assert content.status == "imported"
    samples = content.samples
    assert samples["heart_rate_bpm"].to_list() == [150.0] * 10
    assert samples["cadence_rpm"].to_list() == [85.0] * 10
    assert samples["power_w"].to_list() == [200.0 + i for i in range(10)]
    assert content.activities["sport"][0] == "run"


def test_gpx_distance_comes_from_positions(tmp_path):
    path = tmp_path / "run.gpx"
    path.write_bytes(gpx("".join(point(i) for i in range(11))))
    content = pipeline.read_file(path)
    # Ten steps of 1e-4 degrees of latitude: 10 * 1e-4 * pi/180 * 6,371,008.8 m = 111.195 m.
    assert content.activities["distance_m"][0] == pytest.approx(111.195, rel=1e-4)


def test_gpx_with_only_a_route_is_not_an_activity(tmp_path):
    path = tmp_path / "route.gpx"
    path.write_bytes((GPX_HEAD + '<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">'
                      '<rte><rtept lat="46" lon="14"/><rtept lat="46.1" lon="14"/></rte></gpx>').encode())
    content = pipeline.read_file(path)
    assert content.status == "not_activity"
    assert "route" in content.reason


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE gpx [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>&lol4;</name></trk></gpx>
"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE TrainingCenterDatabase [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">
<Activities><Activity Sport="Running"><Id>&secret;</Id></Activity></Activities></TrainingCenterDatabase>
"""


@pytest.mark.parametrize("name,text", [("laughs.gpx", BILLION_LAUGHS), ("xxe.tcx", XXE), ("laughs.tcx", BILLION_LAUGHS)])
def test_entity_tricks_are_refused(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    content = pipeline.read_file(path)
    assert content.status == "rejected"
    assert "refused unsafe" in content.reason


TCX = """<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
  xmlns:ns3="http://www.garmin.com/xmlschemas/ActivityExtension/v2">
 <Activities><Activity Sport="Biking"><Id>2026-07-06T06:00:00Z</Id>
  <Lap StartTime="2026-07-06T06:00:00Z"><TotalTimeSeconds>120</TotalTimeSeconds><DistanceMeters>960</DistanceMeters>
   <AverageHeartRateBpm><Value>140</Value></AverageHeartRateBpm><MaximumHeartRateBpm><Value>150</Value></MaximumHeartRateBpm>
   <Track>{points}</Track></Lap>
 </Activity></Activities></TrainingCenterDatabase>
"""


def test_tcx_trackpoints_laps_and_device_summary(tmp_path):
    points = "".join(
        f"<Trackpoint><Time>2026-07-06T06:{i // 60:02d}:{i % 60:02d}Z</Time>"
        f"<Position><LatitudeDegrees>46.05</LatitudeDegrees><LongitudeDegrees>14.5</LongitudeDegrees></Position>"
        f"<DistanceMeters>{8.0 * i}</DistanceMeters><HeartRateBpm><Value>140</Value></HeartRateBpm>"
        f"<Extensions><ns3:TPX><ns3:Watts>210</ns3:Watts></ns3:TPX></Extensions></Trackpoint>"
        for i in range(121)
    )
    path = tmp_path / "ride.tcx"
    path.write_text(TCX.format(points=points))
    content = pipeline.read_file(path)
    row = content.activities.row(0, named=True)
    assert row["sport"] == "ride"
    assert row["distance_m"] == pytest.approx(960.0)
    assert (row["device_distance_m"], row["device_timer_s"], row["device_max_hr_bpm"]) == (960.0, 120.0, 150.0)
    assert row["avg_power_w"] == pytest.approx(210.0)
    assert content.laps.height == 1


def test_gpx_heart_rate_of_zero_is_missing(tmp_path):
    path = tmp_path / "run.gpx"
    path.write_bytes(gpx("".join(point(i, hr=0) for i in range(5))))
    content = pipeline.read_file(path)
    assert content.samples["heart_rate_bpm"].null_count() == 5
    assert content.activities["max_hr_bpm"][0] is None


def test_tcx_device_totals_are_null_when_no_lap_has_them(tmp_path):
    points = "".join(f"<Trackpoint><Time>2026-07-06T06:00:{i:02d}Z</Time></Trackpoint>" for i in range(10))
    text = TCX.format(points=points)
    for tag in ("TotalTimeSeconds", "DistanceMeters"):
        text = text.replace(f"<{tag}>", f"<Not{tag}>").replace(f"</{tag}>", f"</Not{tag}>")
    path = tmp_path / "bare.tcx"
    path.write_text(text)
    row = pipeline.read_file(path).activities.row(0, named=True)
    assert row["device_distance_m"] is None and row["device_timer_s"] is None
    assert row["device_max_hr_bpm"] == 150.0


def test_tcx_trackpoints_without_time_are_flagged(tmp_path):
    points = "<Trackpoint><HeartRateBpm><Value>120</Value></HeartRateBpm></Trackpoint>" + "".join(
        f"<Trackpoint><Time>2026-07-06T06:00:{i:02d}Z</Time></Trackpoint>" for i in range(10)
    )
    path = tmp_path / "partial.tcx"
    path.write_text(TCX.format(points=points))
    content = pipeline.read_file(path)
    assert content.parse_status == "partial_timestamps"
    assert content.activities["n_samples"][0] == 10
