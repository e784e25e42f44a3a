"""Differential tests of the columnar FIT decoder against fitparse and the Garmin FIT SDK.

Expectations come from fitparse (`field.value`, converted to the decoder's documented
representation), from the Garmin SDK's decoder, from the corpus README, or from hand calculation.
"""

from __future__ import annotations

import gc
import io
import math
from datetime import datetime, time, timedelta
from functools import lru_cache

import fitparse
import garmin_fit_sdk
import numpy as np
import pytest
from fitparse.records import DevFieldDefinition
from garmin_fit_sdk import Encoder

from pipeline.readers.base import PARSE_STATUSES
from pipeline.readers.fit_columns import cells, decode, forget_definitions
from pipeline.readers.fit_crc import crc16
from fitbuild import MESG, START, record

FIT_EPOCH = datetime(1989, 12, 31)
COMPARED = ("record", "lap", "session", "event", "hr", "length", "file_id", "activity",
            "device_info", "sport")
# Files fitparse reads to the end (every file but those listed with damage in the corpus README).
FITPARSE_PARTIAL = {
    "activity-activity-filecrc.fit", "activity-filecrc.fit", "activity-settings-corruptheader.fit",
    "activity-settings-nodata.fit", "activity-unexpected-eof.fit", "nick.fit",
    "coros-pace-2-cycling-misaligned-fields.fit", "strava-android-app-201.10-b1218918.fit",
}
CORPUS_FILES = sorted([
    "2013-02-06-12-11-14.fit", "2015-10-13-08-43-15.fit", "20170518-191602-1740899583.fit",
    "2019-02-17-062644-ELEMNT-297E-195-0.fit", "Activity.fit", "DeveloperData.fit",
    "Edge810-Vector-2013-08-16-15-35-10.fit", "MonitoringFile.fit", "Settings.fit", "Settings2.fit",
    "WeightScaleMultiUser.fit", "WeightScaleSingleUser.fit", "WorkoutCustomTargetValues.fit",
    "WorkoutIndividualSteps.fit", "WorkoutRepeatGreaterThanStep.fit", "WorkoutRepeatSteps.fit",
    "activity-large-fenxi2-multisport.fit", "activity-settings.fit", "activity-small-fenix2-run.fit",
    "antfs-dump.63.fit", "compressed-speed-distance.fit", "developer-types-sample.fit",
    "elemnt-bolt-no-application-id-inside-developer-data-id.fit", "event_timestamp.fit",
    "garmin-edge-500-activity.fit", "garmin-edge-820-bike.fit", "garmin-fenix-5-bike.fit",
    "garmin-fenix-5-run.fit", "garmin-fenix-5-walk.fit", "garmin-fr935-cr.fit", "nametest.FIT",
    "null_compressed_speed_dist.fit", "sample-activity-indoor-trainer.fit", "sample-activity.fit",
    "sample_mulitple_header.fit", *FITPARSE_PARTIAL,
])


def _plain(value):
    """fitparse's value in the decoder's representation."""
    if isinstance(value, datetime):
        return (value - FIT_EPOCH).total_seconds()
    if isinstance(value, time):
        return value.hour * 3600 + value.minute * 60 + value.second
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, tuple):
        return None if all(v is None for v in value) else value
    return value


@lru_cache(maxsize=None)
def fitparse_messages(path: str) -> dict[str, list[dict]]:
    """Messages fitparse decodes before any error; real fields win over component-derived ones."""
    messages: dict[str, list[dict]] = {}
    try:
        for message in fitparse.FitFile(io.BytesIO(open(path, "rb").read())).get_messages(name=list(COMPARED)):
            real, derived = {}, {}
            for field in message.fields:
                if field.name.startswith("unknown_"):
                    continue
                if isinstance(field.field_def, DevFieldDefinition):
                    if not isinstance(field.value, tuple):  # developer arrays are not exposed
                        real[f"dev:{str(field.name).lower()}"] = _plain(field.value)
                elif field.field_def is None:
                    # hr.event_timestamp_12 is left packed (the consumer unpacks it).
                    if not (message.name == "hr" and field.name == "event_timestamp"):
                        derived[field.name] = _plain(field.value)
                else:
                    real[field.name] = _plain(field.value)
            merged = {**derived, **{k: v for k, v in real.items() if v is not None or k not in derived}}
            messages.setdefault(message.name, []).append(merged)
    except fitparse.utils.FitParseError:
        pass
    return messages


def same(expected, actual) -> bool:
    if isinstance(actual, float) and math.isnan(actual):
        actual = None
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, tuple):
        return isinstance(actual, tuple) and len(expected) == len(actual) and all(map(same, expected, actual))
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        return math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12)
    return expected == actual


def _unpadded(value):
    """An array without its trailing invalid elements; a plain number is an array of one."""
    if value is None:
        return None
    elements = list(value) if isinstance(value, tuple) else [value]
    while elements and same(None, elements[-1]):
        elements.pop()
    return tuple(elements) or None


def compare(expected_messages: list[dict], columns: dict[str, np.ndarray], name: str) -> None:
    fields = {key for message in expected_messages for key in message}
    for key in sorted(fields):
        wanted = [m.get(key) for m in expected_messages]
        if all(v is None for v in wanted):
            continue
        assert key in columns, f"{name}.{key} missing"
        got = cells(columns[key])[:len(wanted)]
        if columns[key].ndim == 2:  # arrays of any width share one column, padded with invalid elements
            wanted, got = [_unpadded(w) for w in wanted], [_unpadded(g) for g in got]
        bad = [(i, w, g) for i, (w, g) in enumerate(zip(wanted, got)) if not same(w, g)]
        assert not bad, f"{name}.{key}: {len(bad)} differences, first {bad[:3]}"


@pytest.mark.parametrize("filename", CORPUS_FILES)
def test_matches_fitparse(corpus, filename):
    path = corpus / "fit" / filename
    expected = fitparse_messages(str(path))
    result = decode(path.read_bytes())
    assert result.status in PARSE_STATUSES
    for name in COMPARED:
        wanted = expected.get(name, [])
        columns = result.messages.get(name, {})
        count = len(next(iter(columns.values()))) if columns else 0
        if filename in FITPARSE_PARTIAL:
            assert count >= len(wanted), name
        else:
            assert count == len(wanted), name
        assert all(len(column) == count for column in columns.values()), name
        if wanted:
            compare(wanted, columns, name)


@pytest.mark.parametrize("filename, records", [
    ("coros-pace-2-cycling-misaligned-fields.fit", 11272),
    ("activity-unexpected-eof.fit", 14),
    ("activity-settings-nodata.fit", 14),
    ("nick.fit", 14391),
])
def test_matches_garmin_sdk_where_fitparse_gives_up(corpus, filename, records):
    data = (corpus / "fit" / filename).read_bytes()
    decoder = garmin_fit_sdk.Decoder(garmin_fit_sdk.Stream.from_byte_array(bytearray(data)))
    sdk, _ = decoder.read(convert_datetimes_to_dates=False, merge_heart_rates=False, expand_components=False)
    sdk_records = sdk["record_mesgs"]
    columns = decode(data).messages["record"]
    assert len(sdk_records) == records
    assert len(columns["timestamp"]) == records
    for key in sorted({k for r in sdk_records for k in r if isinstance(k, str)}):
        wanted = [r.get(key) for r in sdk_records]
        if any(isinstance(v, (list, str)) for v in wanted) or all(v is None for v in wanted):
            continue
        assert key in columns, key
        bad = [i for i, (w, g) in enumerate(zip(wanted, columns[key].tolist())) if not same(w, g)]
        assert not bad, f"record.{key}: {len(bad)} differences, first at {bad[0]}"


@pytest.mark.parametrize("filename, status, records", [
    ("activity-filecrc.fit", "crc_mismatch", 14),
    ("activity-activity-filecrc.fit", "crc_mismatch", 28),
    ("activity-unexpected-eof.fit", "truncated", 14),
    ("activity-settings-nodata.fit", "truncated", 14),
    ("activity-settings-corruptheader.fit", "trailing_bytes", 14),
    ("nick.fit", "truncated", 14391),
    ("strava-android-app-201.10-b1218918.fit", "undefined_local_message", 473),
    ("coros-pace-2-cycling-misaligned-fields.fit", "ok", 11272),
    ("sample_mulitple_header.fit", "ok", 1773),
    ("2013-02-06-12-11-14.fit", "ok", 590),  # header CRC 0x0000 is allowed
    ("antfs-dump.63.fit", "ok", 686),
])
def test_damage_status(corpus, filename, status, records):
    data = (corpus / "fit" / filename).read_bytes()
    result = decode(data)
    assert result.status == status, result.detail
    assert len(result.messages["record"]["timestamp"]) == records
    if status == "ok":
        assert result.detail is None
    else:
        assert result.detail.endswith(f" of {len(data)})")


def test_strava_stops_at_byte_7471(corpus):
    assert "(at byte 7471 of" in decode((corpus / "fit" / "strava-android-app-201.10-b1218918.fit").read_bytes()).detail


def test_definitions_from_the_cache_still_report_their_skipped_fields(corpus):
    # corpus README: the COROS file's fields with sizes that are not a multiple of their base
    # type's. The second decode finds its definitions cached between calls.
    data = (corpus / "fit" / "coros-pace-2-cycling-misaligned-fields.fit").read_bytes()
    forget_definitions()
    first, second = decode(data), decode(data)
    assert first.skipped_fields and second.skipped_fields == first.skipped_fields


def test_keep_limits_messages(corpus):
    result = decode((corpus / "fit" / "activity-small-fenix2-run.fit").read_bytes(), keep={"session"})
    assert set(result.messages) == {"session"}


def test_crc_matches_fitparse():
    rng = np.random.default_rng(7)
    for size in (0, 1, 13, 255, 256, 1000, 70001):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        assert crc16(data) == fitparse.records.Crc.calculate(data)


def _build(messages: list[dict], field_descriptions=None) -> bytes:
    encoder = Encoder(field_descriptions)
    for message in messages:
        encoder.write_mesg(message)
    return encoder.close()


def _with_compressed_timestamps(data: bytes, offsets: list[int]) -> bytes:
    """Rewrite a tiny SDK-built file: records become compressed-header messages without timestamp.

    Built by hand: header, file_id copied, then a definition of record (local 1) with heart_rate
    only and one compressed-header record per offset; CRC recomputed.
    """
    body = bytearray()
    body += bytes([0x41, 0, 0]) + (20).to_bytes(2, "little") + bytes([1, 3, 1, 2])  # record: heart_rate uint8
    for index, offset in enumerate(offsets):
        body += bytes([0x80 | (1 << 5) | offset, 100 + index])
    header_size = data[0]
    first_data = data[header_size:-2]
    payload = first_data + bytes(body)
    header = bytearray(data[:header_size])
    header[4:8] = len(payload).to_bytes(4, "little")
    if header_size == 14:
        header[12:14] = crc16(bytes(header[:12])).to_bytes(2, "little")
    whole = bytes(header) + payload
    return whole + crc16(whole).to_bytes(2, "little")


def test_compressed_timestamp_rollover():
    base = _build([record(START, heart_rate=90)])
    full = round((START.replace(tzinfo=None) - datetime(1989, 12, 31, tzinfo=None)).total_seconds())
    offsets = [(full + 3) & 0x1F, (full + 20) & 0x1F, (full + 40) & 0x1F, (full + 41) & 0x1F]
    result = decode(_with_compressed_timestamps(base, offsets))
    assert result.status == "ok", result.detail
    stamps = result.messages["record"]["timestamp"].tolist()
    # Hand calculation: each offset moves forward by (offset - previous) mod 32 seconds.
    assert stamps == [full, full + 3, full + 20, full + 40, full + 41]
    assert result.messages["record"]["heart_rate"].tolist() == [90, 100, 101, 102, 103]


def test_compressed_headers_on_a_definition_with_its_own_timestamp_field():
    """One definition (timestamp, heart_rate) used with a normal header, then with compressed
    headers whose timestamp field is invalid: the header's offset gives those messages' time."""
    full = 1_000_000_000
    body = _raw_definition(0, 20, (253, 4, 0x86), (3, 1, 0x02))
    body += b"\x00" + full.to_bytes(4, "little") + bytes([90])
    for index, seconds in enumerate((2, 20)):  # offsets roll over the last time's low 5 bits
        body += bytes([0x80 | ((full + seconds) & 0x1F)]) + b"\xff" * 4 + bytes([91 + index])
    records = decode(_raw_fit(body)).messages["record"]
    assert records["timestamp"].tolist() == [full, full + 2, full + 20]
    assert records["heart_rate"].tolist() == [90, 91, 92]


def test_compressed_times_roll_over_messages_not_kept():
    """Only records are kept, but the full time the compressed headers roll over is an event's."""
    full = 1_000_000_000
    body = _raw_definition(0, 21, (253, 4, 0x86), (0, 1, 0x00))   # event: timestamp, event
    body += b"\x00" + full.to_bytes(4, "little") + b"\x00"
    body += _raw_definition(1, 20, (3, 1, 0x02))                 # record: heart_rate only
    body += bytes([0x80 | 1 << 5 | ((full + 5) & 0x1F), 100])
    records = decode(_raw_fit(body), keep={"record"}).messages
    assert set(records) == {"record"}
    assert records["record"]["timestamp"].tolist() == [full + 5]


def test_a_run_of_compressed_headers():
    """Twenty records in one second share one compressed header byte, so the walk files them as a
    run: each is 3 s after the event's full time (offset 3 rolled over, then 0 more each)."""
    full = 1_000_000_000
    body = _raw_definition(0, 21, (253, 4, 0x86), (0, 1, 0x00))
    body += b"\x00" + full.to_bytes(4, "little") + b"\x00"
    body += _raw_definition(1, 20, (3, 1, 0x02))
    body += b"".join(bytes([0x80 | 1 << 5 | ((full + 3) & 0x1F), 100 + i]) for i in range(20))
    records = decode(_raw_fit(body)).messages["record"]
    assert records["timestamp"].tolist() == [full + 3] * 20
    assert records["heart_rate"].tolist() == list(range(100, 120))


def test_invalid_sentinels_in_arrays():
    data = _build([
        {"mesg_num": MESG["FILE_ID"], "type": "activity", "manufacturer": "development", "product": 1},
        {"mesg_num": MESG["HR"], "timestamp": START, "filtered_bpm": [90, 255, 92], "event_timestamp": [1.0, 2.0]},
        {"mesg_num": MESG["HR"], "timestamp": START, "filtered_bpm": [255, 255, 255], "event_timestamp": [1.0, 2.0]},
    ])
    hr = decode(data).messages["hr"]
    # One row of elements per message; an invalid element is NaN, a message with none valid None.
    assert hr["filtered_bpm"].shape == (2, 3)
    assert [same(w, g) for w, g in zip([(90, None, 92), None], cells(hr["filtered_bpm"]))] == [True, True]
    assert cells(hr["event_timestamp"]) == [(1.0, 2.0), (1.0, 2.0)]


def test_array_field_of_several_widths_shares_one_padded_column():
    """fitparse gives (90, 91, 92), 80 and None: the narrower values are padded with invalid elements."""
    data = _build([
        {"mesg_num": MESG["FILE_ID"], "type": "activity", "manufacturer": "development", "product": 1},
        {"mesg_num": MESG["HR"], "timestamp": START, "filtered_bpm": [90, 91, 92]},
        {"mesg_num": MESG["HR"], "timestamp": START, "filtered_bpm": [80]},
        {"mesg_num": MESG["HR"], "timestamp": START, "filtered_bpm": [255, 255, 255]},
    ])
    column = decode(data).messages["hr"]["filtered_bpm"]
    assert column.shape == (3, 3)
    got = cells(column)
    assert got[0] == (90, 91, 92) and got[1][0] == 80 and all(math.isnan(v) for v in got[1][1:])
    assert got[2] is None


def test_byte_and_number_arrays_of_one_name_fall_back_to_tuples():
    """A damaged definition makes filtered_bpm bytes: each message keeps its own values."""
    stamp = (1_000_000_000).to_bytes(4, "little")
    body = _raw_definition(0, 132, (253, 4, 0x86), (6, 2, 0x02))    # hr: filtered_bpm, two uint8
    body += b"\x00" + stamp + bytes([90, 255])
    body += _raw_definition(0, 132, (253, 4, 0x86), (6, 2, 0x0D))    # the same field as two bytes
    body += b"\x00" + stamp + bytes([1, 2]) + b"\x00" + stamp + bytes([255, 255])
    column = decode(_raw_fit(body)).messages["hr"]["filtered_bpm"]
    assert column.dtype == object
    got = cells(column)
    assert got[0][0] == 90 and math.isnan(got[0][1])
    assert got[1:] == [(1, 2), None]


# One developer (index 0) and its "Power" field (number 0, base type 0x84: uint16), for the
# developer field tests.
DEVELOPER_DATA_ID = {"mesg_num": MESG["DEVELOPER_DATA_ID"], "developer_data_index": 0, "application_id": [1] * 16}
POWER_DESCRIPTION = {"mesg_num": MESG["FIELD_DESCRIPTION"], "developer_data_index": 0, "field_definition_number": 0,
                     "fit_base_type_id": 0x84, "field_name": "Power", "units": "W"}


def test_developer_fields_named_and_scaled():
    data_id, power = DEVELOPER_DATA_ID, POWER_DESCRIPTION
    speed = {"mesg_num": MESG["FIELD_DESCRIPTION"], "developer_data_index": 0, "field_definition_number": 1,
             "fit_base_type_id": 0x84, "field_name": "Speed", "scale": 10, "offset": 0, "units": "m/s"}
    descriptions = {0: {"developer_data_id_mesg": data_id, "field_description_mesg": power},
                    1: {"developer_data_id_mesg": data_id, "field_description_mesg": speed}}
    data = _build([
        {"mesg_num": MESG["FILE_ID"], "type": "activity", "manufacturer": "development", "product": 1},
        data_id, power, speed,
        {**record(START, heart_rate=120), "developer_fields": {0: 250, 1: 55}},
        {**record(START + timedelta(seconds=1), heart_rate=121), "developer_fields": {0: 0xFFFF, 1: 60}},
    ], descriptions)
    result = decode(data)
    assert result.status == "ok", result.detail
    columns = result.messages["record"]
    assert same(250.0, columns["dev:power"][0]) and same(None, columns["dev:power"][1])
    # Hand calculation: raw / scale - offset.
    assert columns["dev:speed"].tolist() == [5.5, 6.0]
    assert columns["heart_rate"].tolist() == [120.0, 121.0]


def test_decoding_a_file_with_developer_fields_leaves_no_reference_cycle():
    # Cycles outlive the call until the collector's next pass, holding the file's bytes, and
    # every pass over them costs time: decode should leave nothing for it to find.
    data_id, power = DEVELOPER_DATA_ID, POWER_DESCRIPTION
    data = _build([
        {"mesg_num": MESG["FILE_ID"], "type": "activity", "manufacturer": "development", "product": 1},
        data_id, power, {**record(START, heart_rate=120), "developer_fields": {0: 250}},
    ], {0: {"developer_data_id_mesg": data_id, "field_description_mesg": power}})
    enabled = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        result = decode(data)
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()
    assert result.messages["record"]["dev:power"].tolist() == [250.0]


def test_garmin_product_subfield(corpus):
    columns = decode((corpus / "fit" / "activity-small-fenix2-run.fit").read_bytes()).messages["file_id"]
    assert columns["manufacturer"][0] == "garmin"
    assert "garmin_product" in columns


def test_compressed_speed_distance_accumulates(corpus):
    # Hand check on raw bytes: distance is the running sum of the 12-bit steps, in 1/16 m.
    columns = decode((corpus / "fit" / "compressed-speed-distance.fit").read_bytes()).messages["record"]
    packed = [t for t in cells(columns["compressed_speed_distance"]) if t is not None]
    distances = [d for d in columns["distance"].tolist() if d == d]
    total, previous, expected = 0, 0, []
    for value in packed:
        raw = (value[1] >> 4) | (value[2] << 4)
        total += (raw - previous) & 0xFFF
        previous = raw
        expected.append(total / 16)
    assert distances == pytest.approx(expected)


def test_never_raises_on_garbage():
    rng = np.random.default_rng(1)
    for size in (0, 1, 11, 12, 14, 100, 5000):
        result = decode(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        assert result.status in PARSE_STATUSES


def _raw_fit(body: bytes) -> bytes:
    header = bytearray(b"\x0e\x10\x00\x00" + len(body).to_bytes(4, "little") + b".FIT\x00\x00")
    header[12:14] = crc16(bytes(header[:12])).to_bytes(2, "little")
    whole = bytes(header) + body
    return whole + crc16(whole).to_bytes(2, "little")


def _raw_definition(local: int, mesg_num: int, *fields: tuple[int, int, int]) -> bytes:
    return (bytes([0x40 | local, 0, 0]) + mesg_num.to_bytes(2, "little") + bytes([len(fields)])
            + b"".join(bytes(field) for field in fields))


def test_messages_taking_turns_and_redefined_types_match_fitparse(tmp_path):
    """Runs of one message, pairs taking turns, and a local type redefined mid-file, in one file."""
    stamp = lambda i: (1_000_000_000 + i).to_bytes(4, "little")  # noqa: E731
    body = _raw_definition(0, 20, (253, 4, 0x86), (3, 1, 0x02))             # record: heart_rate
    body += _raw_definition(1, 21, (253, 4, 0x86), (0, 1, 0x00), (1, 1, 0x00))  # event
    body += b"".join(b"\x00" + stamp(i) + bytes([100 + i]) for i in range(12))  # a run
    body += b"".join(b"\x00" + stamp(20 + i) + bytes([120 + i]) + b"\x01" + stamp(20 + i) + b"\x00\x03"
                     for i in range(15))                                         # taking turns
    body += _raw_definition(0, 20, (253, 4, 0x86), (4, 1, 0x02))             # record: cadence now
    body += b"".join(b"\x00" + stamp(40 + i) + bytes([80 + i]) + b"\x01" + stamp(40 + i) + b"\x00\x04"
                     for i in range(3))
    path = tmp_path / "turns.fit"
    path.write_bytes(_raw_fit(body))
    result = decode(path.read_bytes())
    assert result.status == "ok", result.detail
    expected = fitparse_messages(str(path))
    for name in ("record", "event"):
        assert len(result.messages[name]["timestamp"]) == len(expected[name])
        compare(expected[name], result.messages[name], name)
