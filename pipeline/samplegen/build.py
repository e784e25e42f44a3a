"""Orchestration: plan -> simulate -> write files -> README."""

from __future__ import annotations

import gzip
import io
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .activities import simulate_activity
from .fitwriter import encode_fit
from .gpxwriter import encode_gpx
from .model import SimulatedActivity
from .plan import build_plan
from .readme import ActivityRow, render_readme
from .summary import summarize
from .tcxwriter import encode_tcx

SEED = 20261115

#: Everything the generator owns inside the output folder; only these are
#: removed before writing, so nothing else in the folder is ever touched.
GARMIN_DIR = "garmin"
STRAVA_DIR = "strava"
GARMIN_CONNECT_DIR = "garmin-connect"
THREE_FORMATS_DIR = "same-ride-three-formats"
README = "README.md"
MANAGED = (GARMIN_DIR, STRAVA_DIR, GARMIN_CONNECT_DIR, THREE_FORMATS_DIR, README)

FILE_SPORT_NAME = {
    "ride": "ride",
    "run": "run",
    "pool_swim": "swim",
    "open_water_swim": "open-water-swim",
    "multisport": "multisport",
}


@dataclass
class GeneratedFile:
    path: Path
    format: str  # file suffix: fit, fit.gz, gpx, tcx


def _clean(out_dir: Path) -> None:
    for name in MANAGED:
        target = out_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _unique_stem(folder: Path, stem: str, taken: set[Path]) -> str:
    """date-sport, or date-sport-2 when the athlete did the same sport twice that day."""
    candidate, n = stem, 2
    while folder / candidate in taken:
        candidate, n = f"{stem}-{n}", n + 1
    taken.add(folder / candidate)
    return candidate


def _track_name(activity: SimulatedActivity) -> str:
    hour = activity.plan.local_start.hour
    part = "Morning" if hour < 12 else "Afternoon" if hour < 17 else "Evening"
    return f"{part} {'Ride' if activity.plan.sport == 'ride' else 'Run'}"


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)


def _gzip(data: bytes) -> bytes:
    """Deterministic gzip: fixed mtime, and no original file name stored."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as handle:
        handle.write(data)
    return buffer.getvalue()


def write_activity(activity: SimulatedActivity, out_dir: Path, taken: set[Path]) -> list[GeneratedFile]:
    plan = activity.plan
    stem = f"{plan.day.isoformat()}-{FILE_SPORT_NAME[plan.sport]}"
    files: list[GeneratedFile] = []

    def emit(folder: str, suffix: str, data: bytes | str, same_stem_as_previous: bool = False) -> None:
        # The three-format ride shares one stem across its three files.
        name = files[-1].path.name.split(".")[0] if same_stem_as_previous else _unique_stem(out_dir / folder, stem, taken)
        path = out_dir / folder / f"{name}.{suffix}"
        _write(path, data)
        files.append(GeneratedFile(path, suffix))

    if plan.recorder in ("edge", "watch"):
        emit(GARMIN_DIR, "fit", encode_fit(activity))
    elif plan.recorder == "gz_upload":
        emit(STRAVA_DIR, "fit.gz", _gzip(encode_fit(activity)))
    elif plan.recorder == "phone_gpx":
        emit(STRAVA_DIR, "gpx", encode_gpx(activity, "StravaGPX Android", _track_name(activity)))
    elif plan.recorder == "tcx_export":
        emit(GARMIN_CONNECT_DIR, "tcx", encode_tcx(activity))
    elif plan.recorder == "three_formats":
        emit(THREE_FORMATS_DIR, "fit", encode_fit(activity))
        emit(THREE_FORMATS_DIR, "gpx", encode_gpx(activity, "Garmin Connect", _track_name(activity)),
             same_stem_as_previous=True)
        emit(THREE_FORMATS_DIR, "tcx", encode_tcx(activity), same_stem_as_previous=True)
    else:
        raise ValueError(f"unknown recorder {plan.recorder!r}")
    return files


def _row(activity: SimulatedActivity, files: list[GeneratedFile], out_dir: Path) -> ActivityRow:
    whole = summarize(activity, 0, activity.last_index)
    return ActivityRow(
        files=[f.path.relative_to(out_dir).as_posix() for f in files],
        plan=activity.plan,
        summary=whole,
        record_count=len(activity.record_indices),
        has_power=activity.stream.power_w is not None,
    )


def generate(out_dir: Path | str, seed: int = SEED) -> list[GeneratedFile]:
    """(Re)write the sample folder.  Returns the data files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clean(out_dir)

    plan = build_plan(seed)
    taken: set[Path] = set()
    written: list[GeneratedFile] = []
    rows: list[ActivityRow] = []
    for planned in plan:
        activity = simulate_activity(planned, seed)
        files = write_activity(activity, out_dir, taken)
        written.extend(files)
        rows.append(_row(activity, files, out_dir))

    _write(out_dir / README, render_readme(plan, rows, seed))
    return written


def describe(files: list[GeneratedFile]) -> str:
    """One line per format with count and bytes, plus the total."""
    counts = Counter(f.format for f in files)
    sizes = Counter()
    for f in files:
        sizes[f.format] += f.path.stat().st_size
    lines = [f"{fmt:7s} {counts[fmt]:3d} files {sizes[fmt] / 1e6:7.2f} MB" for fmt in sorted(counts)]
    lines.append(f"total   {len(files):3d} files {sum(sizes.values()) / 1e6:7.2f} MB")
    return "\n".join(lines)
