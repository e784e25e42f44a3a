"""Our activity metrics against the devices' own session summaries, over the corpus.

    .venv/bin/python benchmarks/accuracy.py [CORPUS_DIR] [--all]

Device values are read straight from each FIT file's session messages with fitparse,
independently of fitpipe's metrics. Prints one row per file, session and metric (only
those outside issue 4's tolerances unless --all), then a summary per metric.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import fitparse

from pipeline import read_file

ROOT = Path(__file__).resolve().parent.parent
# metric: (our column, device session field, tolerance check(ours, device) -> bool)
METRICS = {
    "distance": ("distance_m", "total_distance", lambda ours, dev: abs(ours - dev) <= 0.005 * dev),
    "timer": ("timer_s", "total_timer_time", lambda ours, dev: abs(ours - dev) <= 1.0),
    # Devices average over timer time, as avg_hr_bpm does.
    "avg_hr": ("avg_hr_bpm", "avg_heart_rate", lambda ours, dev: abs(ours - dev) <= 1.0),
    "max_hr": ("max_hr_bpm", "max_heart_rate", lambda ours, dev: ours == dev),
    "ascent": ("ascent_m", "total_ascent", lambda ours, dev: abs(ours - dev) <= max(10.0, 0.1 * dev)),
}


def device_sessions(path: Path) -> list[dict]:
    sessions = []
    try:
        for message in fitparse.FitFile(str(path)).get_messages("session"):
            sessions.append(message.get_values())
    except Exception:  # damaged files: keep the sessions read before the damage
        pass
    return sorted(sessions, key=lambda s: str(s.get("start_time")))


def comparisons(corpus: Path):
    """(file, session, metric, device value, our value, within tolerance) per comparison."""
    for path in sorted((corpus / "fit").glob("*")):
        content = read_file(path)
        if content.status != "imported":
            continue
        ours = content.activities.sort("session_index").to_dicts()
        sessions = device_sessions(path)
        for row in ours:
            if row["session_index"] >= len(sessions):
                continue
            session = sessions[row["session_index"]]
            for metric, (column, field, within) in METRICS.items():
                device = session.get(field)
                if isinstance(device, (int, float)) and row[column] is not None:
                    yield path.name, row["session_index"], metric, float(device), row[column], within(row[column], device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", nargs="?", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--all", action="store_true", help="print every comparison, not only misses")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    rows = list(comparisons(args.corpus))
    print(f"{'file':<44}{'s':>2} {'metric':<9}{'device':>11}{'ours':>11}{'diff':>10}  ok")
    for name, session, metric, device, ours, ok in rows:
        if args.all or not ok:
            print(f"{name[:44]:<44}{session:>2} {metric:<9}{device:>11.1f}{ours:>11.1f}{ours - device:>+10.1f}  {'yes' if ok else 'NO'}")
    print(f"\n{'metric':<10}{'compared':>9}{'within':>8}{'share':>8}")
    for metric in METRICS:
        oks = [ok for _, _, m, _, _, ok in rows if m == metric]
        print(f"{metric:<10}{len(oks):>9}{sum(oks):>8}{sum(oks) / max(len(oks), 1):>8.0%}")


if __name__ == "__main__":
    main()
