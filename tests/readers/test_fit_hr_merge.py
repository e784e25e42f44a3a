"""Heart rate from FIT `hr` messages equals the Garmin FIT SDK's merge (issue 18, item 3).

The SDK (`Decoder.read`, merge_heart_rates on by default) is the reference: its records'
heart_rate after the merge is compared row for row with the records fitpipe's reader gives,
in file order, on every corpus file with `hr` messages and with both FIT engines.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from garmin_fit_sdk import Decoder, Stream

from fitbuild import MESG, START, encode, record
from pipeline.readers import read_bytes

# Corpus files with `hr` messages whose merge fitpipe does not reproduce, with the reason.
# None: the SDK decodes all three (sample_mulitple_header, event_timestamp, garmin-fr935-cr)
# without error, and fitpipe matches every record.
EXCEPTIONS: dict[str, str] = {}


def _sdk(data: bytes) -> tuple[dict, list]:
    return Decoder(Stream.from_byte_array(bytearray(data))).read()


@pytest.fixture(scope="module")
def sdk_merges(corpus) -> dict:
    """Per corpus file with `hr` messages: its bytes, and the SDK's (messages, errors)."""
    found = {}
    for path in sorted((corpus / "fit").iterdir()):
        data = path.read_bytes()
        decoded = _sdk(data)
        if decoded[0].get("hr_mesgs"):
            found[path.name] = (data, decoded)
    return found


def test_corpus_has_files_with_hr_messages(sdk_merges):
    # corpus README: "extra headers carrying only hr messages" in these three chained files.
    assert {"sample_mulitple_header.fit", "event_timestamp.fit", "garmin-fr935-cr.fit"} <= set(sdk_merges)


@pytest.mark.parametrize("engine", ["numpy", "fitparse"])
def test_merge_equals_the_sdk_row_for_row(sdk_merges, engine):
    for name, (data, (messages, errors)) in sdk_merges.items():
        if name in EXCEPTIONS:
            continue
        assert errors == [], name
        expected = [r.get("heart_rate") for r in messages["record_mesgs"]]
        ours = read_bytes(data, "fit", name, {"fit": engine}).records["heart_rate_bpm"].to_list()
        assert len(ours) == len(expected), name
        differing = [(i, e, o) for i, (e, o) in enumerate(zip(expected, ours)) if e != o]
        assert differing == [], f"{name}: {len(differing)} rows differ, first {differing[:5]}"


def _anchor(seconds: float, event: float, bpm: int) -> dict:
    return {"mesg_num": MESG["HR"], "timestamp": START + timedelta(seconds=seconds), "fractional_timestamp": 0.0,
            "event_timestamp": [event], "filtered_bpm": [bpm]}


def test_strap_beats_replace_the_wrist_value_and_carry_forward():
    # Records at 0..8 s from a wrist sensor, all 100 bpm. The strap's beats: 150 at 2 s,
    # 160 at 6 s, 170 at 9 s. The SDK carries each beat forward in 250 ms steps for up to 5 s:
    # 150 at 2.25 ... 5.75 (15 steps), 160 at 6.25 ... 8.75 (11 steps). Each record gets the
    # mean of the beats after the previous record up to itself, rounded half up, and only once
    # a later beat shows the interval is complete:
    #   0 s, 1 s: no beat in (-1, 0] or (0, 1]        -> the record's own 100
    #   2 s: 150;  3, 4, 5 s: four 150s each          -> 150
    #   6 s: 150, 150, 150 (5.25-5.75) and 160        -> 152.5 -> 153
    #   7 s, 8 s: four 160s each                      -> 160
    messages = [record(START + timedelta(seconds=i), heart_rate=100, distance=3.0 * i) for i in range(9)]
    messages += [_anchor(2, 1000.0, 150), _anchor(6, 1004.0, 160), _anchor(9, 1007.0, 170)]
    expected = [100, 100, 150, 150, 150, 150, 153, 160, 160]
    data = encode(messages)
    assert [r["heart_rate"] for r in _sdk(data)[0]["record_mesgs"]] == expected  # the SDK agrees
    for engine in ("numpy", "fitparse"):
        parsed = read_bytes(data, "fit", "strap.fit", {"fit": engine})
        assert parsed.records["heart_rate_bpm"].to_list() == expected, engine
