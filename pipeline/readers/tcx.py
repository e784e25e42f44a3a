"""TCX reader: Garmin TrainingCenterDatabase v2, matched by local element names."""

from __future__ import annotations

from datetime import datetime, timezone
from xml.etree.ElementTree import Element

import polars as pl

from .base import (
    RECORD_COLUMNS,
    SESSION_COLUMNS,
    SUMMARY_COLUMNS,
    ParsedFile,
    frame,
    in_time_order,
    not_activity,
    timestamp_status,
)
from .fit_profile import enum_name
from .xmlsafe import local_name, parse_xml, require_root

# Trackpoint child paths (by local name) -> our column.
TRACKPOINT_PATHS = {
    ("Position", "LatitudeDegrees"): "lat_deg",
    ("Position", "LongitudeDegrees"): "lon_deg",
    ("AltitudeMeters",): "altitude_m",
    ("DistanceMeters",): "distance_m",
    ("HeartRateBpm", "Value"): "heart_rate_bpm",
    ("Cadence",): "cadence_rpm",
    ("Extensions", "TPX", "Speed"): "speed_mps",
    ("Extensions", "TPX", "Watts"): "power_w",
    ("Extensions", "TPX", "RunCadence"): "cadence_rpm",
}


def read_tcx(data: bytes, name: str) -> ParsedFile:
    root = parse_xml(data, "TCX")
    require_root(root.tag, "TrainingCenterDatabase", "TCX")
    activities = _children(_child(root, "Activities"), "Activity")
    if not activities:
        return not_activity("tcx", "TCX file holds no <Activity> (a course or workout file)")
    laps = [lap for activity in activities for lap in _children(activity, "Lap")]
    trackpoints = [point for lap in laps for point in lap.iter() if local_name(point.tag) == "Trackpoint"]
    records = _records_frame(trackpoints)
    if records.is_empty():
        return not_activity("tcx", "TCX activity has no timed trackpoints")
    status, detail = timestamp_status(records.height, len(trackpoints), "trackpoints")
    return parsed_tcx(activities[0], laps, records, status, detail)


def parsed_tcx(activity, laps: list, records: pl.DataFrame, status: str, detail: str | None) -> ParsedFile:
    """The ParsedFile of a TCX activity, from its first <Activity>, its laps and records."""
    sport = activity.get("Sport")
    creator = _child(activity, "Creator")
    return ParsedFile(
        format="tcx",
        is_activity=True,
        records=records,
        laps=_laps_frame(laps),
        sessions=_sessions_frame(laps, sport),
        parse_status=status,
        parse_detail=detail,
        sport_hint=sport,
        manufacturer=_manufacturer(creator),
        product=_text(creator, ("Name",)) if creator is not None else None,
    )


# Makers whose devices write their own name first in a TCX <Creator><Name> ("Polar V800").
KNOWN_MAKERS = ("garmin", "polar", "suunto", "wahoo", "coros", "bryton", "hammerhead", "sigma", "lezyne",
                "apple", "samsung", "fitbit", "amazfit", "huawei", "xiaomi", "stages", "magene", "igpsport")


def _manufacturer(creator: Element | None) -> str | None:
    """The device maker: named at the start of the creator's name, else Garmin when the
    ProductID is a Garmin product (Garmin's own devices write only the model, "Forerunner 935")."""
    if creator is None:
        return None
    name = (_text(creator, ("Name",)) or "").strip().lower()
    maker = next((m for m in KNOWN_MAKERS if name == m or name.startswith(m + " ")), None)
    if maker:
        return maker
    product = _text(creator, ("ProductID",))
    if product and product.strip().isdigit() and enum_name("garmin_product", product.strip()) != product.strip():
        return "garmin"
    return None


def _child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    return next((c for c in element if local_name(c.tag) == name), None)


def _children(element: Element | None, name: str) -> list[Element]:
    return [] if element is None else [c for c in element if local_name(c.tag) == name]


def _text(element: Element, path: tuple[str, ...]) -> str | None:
    for name in path:
        element = _child(element, name)
        if element is None:
            return None
    return element.text.strip() if element.text else None


def _float(element: Element, path: tuple[str, ...]) -> float | None:
    text = _text(element, path)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)


def _records_frame(trackpoints: list[Element]) -> pl.DataFrame:
    columns: dict[str, list] = {name: [] for name in RECORD_COLUMNS}
    for point in trackpoints:
        stamp = _time(_text(point, ("Time",)))
        if stamp is None:
            continue
        row = {"timestamp_utc": stamp}
        for path, column in TRACKPOINT_PATHS.items():
            value = _float(point, path)
            if value is not None and row.get(column) is None:
                row[column] = value
        for column in RECORD_COLUMNS:
            columns[column].append(row.get(column))
    return in_time_order(frame(columns, RECORD_COLUMNS))


def _lap_columns(laps: list[Element]) -> dict[str, list]:
    return {
        "start_time_utc": [_time(lap.get("StartTime")) for lap in laps],
        "timer_s": [_float(lap, ("TotalTimeSeconds",)) for lap in laps],
        "distance_m": [_float(lap, ("DistanceMeters",)) for lap in laps],
        "avg_hr_bpm": [_float(lap, ("AverageHeartRateBpm", "Value")) for lap in laps],
        "max_hr_bpm": [_float(lap, ("MaximumHeartRateBpm", "Value")) for lap in laps],
    }


def _laps_frame(laps: list[Element]) -> pl.DataFrame:
    return frame(_lap_columns(laps), SUMMARY_COLUMNS)


def _sessions_frame(laps: list[Element], sport: str | None) -> pl.DataFrame:
    """TCX has no session summary: the device's totals are the sums over its laps."""
    lap_frame = _laps_frame(laps)
    if lap_frame.is_empty():
        return frame({}, SESSION_COLUMNS)
    hr_seconds = pl.col("timer_s").filter(pl.col("avg_hr_bpm").is_not_null()).sum()
    weighted_hr = pl.when(hr_seconds > 0).then((pl.col("avg_hr_bpm") * pl.col("timer_s")).sum() / hr_seconds)
    summary = lap_frame.select(
        pl.col("start_time_utc").min(),
        _sum_or_null("timer_s"),
        _sum_or_null("distance_m"),
        weighted_hr.alias("avg_hr_bpm"),
        pl.col("max_hr_bpm").max(),
    )
    columns = {name: summary[name].to_list() for name in summary.columns}
    columns["sport"] = [sport]
    return frame(columns, SESSION_COLUMNS)


def _sum_or_null(column: str) -> pl.Expr:
    """Sum over laps, but null (not 0) when no lap carries the value."""
    return pl.when(pl.col(column).is_not_null().any()).then(pl.col(column).sum()).alias(column)
