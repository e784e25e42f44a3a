"""Record values that need care: developer fields standing in for native ones, and values
outside physical bounds (issue 18, items 4 and 5). Each file is built in the test with the
Garmin FIT SDK's encoder."""

from __future__ import annotations

from datetime import timedelta

import pytest

import pipeline
from fitbuild import MESG, START, encode, record, session

DEVELOPER = {"mesg_num": MESG["DEVELOPER_DATA_ID"], "developer_data_index": 0, "application_id": [7] * 16}


def _description(number: int, name: str, units: str, native: int | None = None, base: int = 0x86,
                 scale: float | None = None) -> dict:
    """A developer field: base type 0x86 is uint32; `native` is native_field_num."""
    description = {"mesg_num": MESG["FIELD_DESCRIPTION"], "developer_data_index": 0, "field_definition_number": number,
                   "fit_base_type_id": base, "field_name": name, "units": units}
    if native is not None:
        description["native_field_num"] = native
    if scale is not None:
        description.update(scale=scale, offset=0)
    return description


def _with_developer_fields(descriptions: list[dict], rows: list[tuple[dict, dict]], sport: str = "rowing") -> bytes:
    """rows: (native record fields, developer values by field number), one a second from START."""
    keyed = {d["field_definition_number"]: {"developer_data_id_mesg": DEVELOPER, "field_description_mesg": d}
             for d in descriptions}
    messages = [DEVELOPER, *descriptions]
    for i, (native, developer) in enumerate(rows):
        messages.append({**record(START + timedelta(seconds=i), **native), "developer_fields": developer})
    messages.append(session(START, len(rows) - 1, sport, total_distance=0.0))
    return encode(messages, field_descriptions=keyed)


def _read(tmp_path, data: bytes, name: str = "file.fit"):
    path = tmp_path / name
    path.write_bytes(data)
    return pipeline.read_file(path)


def test_developer_distance_replaces_a_native_distance_of_zeros(tmp_path):
    # An indoor rower: native distance 0 in every record, the erg's distance (4 m a second, from
    # 0 to 400 m over 101 records) in a developer field that declares it is the record's
    # distance (native_field_num 5).
    data = _with_developer_fields(
        [_description(0, "Distance", "m", native=5)],
        [({"distance": 0.0, "heart_rate": 120}, {0: 4 * i}) for i in range(101)],
    )
    row = _read(tmp_path, data).activities.row(0, named=True)
    assert row["distance_m"] == pytest.approx(400.0)
    assert row["device_distance_m"] == 0.0  # the file's own summary stays as it is
    assert "distance_m from developer field 'Distance'" in row["parse_detail"]


def test_developer_fields_found_by_name_in_other_units(tmp_path):
    # No native distance or speed; developer fields named "distance" (km, scale 200: raw 1 is
    # 5 m) and "speed" (km/h, scale 10). 100 s at 18 km/h = 5 m/s = 500 m, raw distance 0..100.
    data = _with_developer_fields(
        [_description(0, "distance", "km", scale=200), _description(1, "speed", "km/h", scale=10)],
        [({"heart_rate": 130}, {0: i, 1: 180}) for i in range(101)],
    )
    content = _read(tmp_path, data)
    row = content.activities.row(0, named=True)
    assert row["distance_m"] == pytest.approx(500.0)
    assert content.samples["speed_mps"].to_list() == pytest.approx([5.0] * 101)
    assert "distance_m from developer field 'distance'" in row["parse_detail"]
    assert "speed_mps from developer field 'speed'" in row["parse_detail"]


def test_a_native_field_that_moves_wins_over_a_developer_one(tmp_path):
    data = _with_developer_fields(
        [_description(0, "Cadence", "spm", native=4, base=0x02)],  # uint8
        [({"cadence": 30, "distance": 3.0 * i}, {0: 99}) for i in range(61)],
    )
    content = _read(tmp_path, data)
    assert set(content.samples["cadence_rpm"].to_list()) == {30.0}
    assert content.activities["parse_detail"][0] is None


def test_developer_distance_in_unknown_units_is_not_used(tmp_path):
    data = _with_developer_fields(
        [_description(0, "Distance", "furlongs", native=5)],
        [({"distance": 0.0}, {0: i}) for i in range(61)],
    )
    assert _read(tmp_path, data).activities["distance_m"][0] == 0.0


def _ride(altitudes: list[float], **per_record) -> bytes:
    messages = [record(START + timedelta(seconds=i), distance=5.0 * i, enhanced_altitude=a,
                       **{k: v[i] for k, v in per_record.items()}) for i, a in enumerate(altitudes)]
    messages.append(session(START, len(altitudes) - 1, "cycling", total_distance=5.0 * (len(altitudes) - 1),
                            total_ascent=20))
    return encode(messages)


def test_altitudes_outside_physical_bounds_become_null(tmp_path):
    # A 600 s ride climbing 20 m (300 m to 320 m, 1/30 m a second) whose barometer writes 12,600 m
    # every tenth record: those are higher than Everest. Without them the ascent is the 20 m
    # climb; with them it would be some 370,000 m.
    altitudes = [12_600.0 if i % 10 == 5 else 300 + i / 30 for i in range(601)]
    content = _read(tmp_path, _ride(altitudes))
    row = content.activities.row(0, named=True)
    assert content.samples["altitude_m"].null_count() == 60
    assert row["ascent_m"] == pytest.approx(20.0, abs=1.0)
    assert "values outside physical bounds set to null: altitude_m 60" in row["parse_detail"]
    assert row["device_ascent_m"] == 20  # the file's own summary is kept


def test_single_sample_altitude_spikes_become_null(tmp_path):
    # A flat ride at 300 m; every 50th record reads -400 m (possible on the Dead Sea shore, but
    # not 700 m below its neighbours a second before and after).
    altitudes = [-400.0 if i % 50 == 25 else 300.0 for i in range(601)]
    content = _read(tmp_path, _ride(altitudes))
    assert content.samples["altitude_m"].null_count() == 12
    assert content.activities["ascent_m"][0] == 0.0


def test_heart_rate_power_cadence_and_positions_outside_bounds_become_null(tmp_path):
    n = 61
    heart_rate = [254 if i == 10 else 140 for i in range(n)]  # 254 bpm: no adult heart
    power = [4000 if i == 20 else 200 for i in range(n)]       # 4 kW: beyond any sprinter
    messages = [record(START + timedelta(seconds=i), distance=5.0 * i, heart_rate=heart_rate[i], power=power[i],
                       lat=46.0, lon=14.5) for i in range(n)]
    messages.append(session(START, n - 1, "cycling", total_distance=300.0))
    content = _read(tmp_path, encode(messages))
    samples, row = content.samples, content.activities.row(0, named=True)
    assert samples["heart_rate_bpm"].null_count() == 1 and samples["power_w"].null_count() == 1
    assert row["max_hr_bpm"] == 140 and row["max_power_w"] == 200
    assert "heart_rate_bpm 1" in row["parse_detail"] and "power_w 1" in row["parse_detail"]


def test_zero_heart_rate_is_missing_not_out_of_bounds(tmp_path):
    messages = [record(START + timedelta(seconds=i), distance=5.0 * i, heart_rate=0) for i in range(61)]
    messages.append(session(START, 60, "cycling", total_distance=300.0))
    content = _read(tmp_path, encode(messages))
    assert content.samples["heart_rate_bpm"].null_count() == 61
    assert content.activities["parse_detail"][0] is None
