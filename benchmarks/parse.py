"""FIT decode speed: the columnar NumPy decoder (`fit_columns.decode`, CRC included) vs fitparse.

Measures, side by side in one run and in turns (see `interleaved`), the median decode time of each
engine on the large corpus files and on a generated big_activity.fit (100,000 records at 1 Hz,
written with the Garmin SDK Encoder into a temp dir), and the peak memory (tracemalloc) of
decoding the big file against the size of the decoded record columns. The decoder keeps
definitions it has worked out between calls (a bulk import meets the same layouts file after
file), so the median is a warm decode; "cold" is one decode after emptying those caches, as for a
file from a device never seen before.

Where fitparse gives up before the end of a file, its time is scaled to all the file's records at
the pace it had (time x records / records it decoded), and the run says so: its time to fail is no
measure of its decode speed.

It also times `pipeline.read_file` (decode, normalize and metrics: the canonical samples
DataFrame) on each file against fitparse's plain record decode, and ends with the GPX/TCX table
of benchmarks/parse_xml.py.

Targets: decode >= 300x faster than fitparse; >= 80 MB/s on the largest file; read_file >= 100x
fitparse's record decode; peak memory < 3x the decoded columns; GPX >= 6x gpxpy.

    python benchmarks/parse.py [corpus_dir]
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

import fitparse
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fitbuild import START, record  # noqa: E402
from garmin_fit_sdk import Encoder  # noqa: E402

from parse_xml import print_table, xml_rows  # noqa: E402

from pipeline import read_file  # noqa: E402
from pipeline.readers.fit_columns import decode, forget_definitions  # noqa: E402

LARGE_BYTES = 100_000  # corpus files at least this big are benchmarked
BIG_RECORDS = 100_000


def big_activity(directory: Path) -> Path:
    encoder = Encoder()
    encoder.write_mesg({"mesg_num": 0, "type": "activity", "manufacturer": "development", "product": 1,
                        "serial_number": 1, "time_created": START})
    for i in range(BIG_RECORDS):
        encoder.write_mesg(record(
            START + timedelta(seconds=i), lat=46.0 + i * 1e-5, lon=14.5, heart_rate=120 + i % 40,
            cadence=85 + i % 10, power=200 + i % 50, enhanced_speed=8.0 + (i % 7) * 0.1,
            distance=8.0 * i, enhanced_altitude=300.0 + (i % 100) * 0.2))
    path = directory / "big_activity.fit"
    path.write_bytes(encoder.close())
    return path


def median_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(theirs, repeats: int, *ours) -> tuple[float, ...]:
    """Median times of fitparse and of each of ours, taken in turns: ours before and after
    each of fitparse's runs.

    Ours take milliseconds and fitparse seconds, so timing ours all at once would sample the
    machine's speed at one moment and fitparse's over a much longer spell. In turns, all the
    medians come from the same stretch of time."""
    theirs_times, ours_times = [], [[] for _ in ours]
    for turn in range(repeats + 1):
        for times, function in zip(ours_times, ours):
            times.append(median_time(function, 3))
        if turn < repeats:
            theirs_times.append(median_time(theirs, 1))
    return statistics.median(theirs_times), *(statistics.median(times) for times in ours_times)


def fitparse_decode(data: bytes) -> int:
    """Record messages fitparse decodes before the end or before it gives up."""
    records = 0
    try:
        for message in fitparse.FitFile(io.BytesIO(data)).get_messages():
            records += message.name == "record"
    except fitparse.utils.FitParseError:
        pass  # damaged corpus files: fitparse's time is up to where it gives up
    return records


def cold_time(data: bytes) -> float:
    """One decode with the definition caches emptied first: a file from a device never seen."""
    forget_definitions()
    start = time.perf_counter()
    decode(data)
    return time.perf_counter() - start


def row(path: Path) -> tuple:
    data = path.read_bytes()
    cold = cold_time(data)
    result = decode(data)
    records = len(next(iter(result.messages.get("record", {"": []}).values())))
    counts = []  # records fitparse decoded, each run
    theirs, ours, full = interleaved(lambda: counts.append(fitparse_decode(data)),
                                     1 if len(data) > 500_000 else 3, lambda: decode(data), lambda: read_file(path))
    theirs_records = counts[-1]
    if theirs_records < records:
        # fitparse gave up early (the COROS file): its time for the whole file, at its pace.
        print(f"{path.name}: fitparse stops after {theirs_records} of {records} records; its time "
              f"{theirs:.2f} s is scaled to {theirs * records / max(theirs_records, 1):.2f} s for all of them")
        theirs *= records / max(theirs_records, 1)
    return path.name, len(data) / 1e6, records, ours, theirs, full, cold


def memory(path: Path) -> tuple[float, float]:
    data = path.read_bytes()
    tracemalloc.start()
    result = decode(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    columns = sum(c.nbytes for c in result.messages["record"].values())
    return peak / 1e6, columns / 1e6


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "corpus"
    files = sorted((p for p in (corpus / "fit").glob("*.fit") if p.stat().st_size >= LARGE_BYTES),
                   key=lambda p: p.stat().st_size)
    with tempfile.TemporaryDirectory() as temp:
        big = big_activity(Path(temp))
        rows = [row(path) for path in [*files, big]]
        peak, columns = memory(big)
    print(f"{'file':45} {'MB':>6} {'records':>8} {'ours ms':>8} {'MB/s':>7} {'fitparse s':>10} {'ratio':>7}"
          f" {'cold ms':>8} {'ratio':>6} {'read_file ms':>12} {'ratio':>6}")
    for name, mb, records, ours, theirs, full, cold in rows:
        print(f"{name:45} {mb:6.2f} {records:8d} {ours * 1e3:8.2f} {mb / ours:7.1f} {theirs:10.2f} "
              f"{theirs / ours:7.0f}x {cold * 1e3:8.2f} {theirs / cold:5.0f}x {full * 1e3:12.1f} {theirs / full:5.0f}x")
    print(f"\nbig_activity.fit peak memory while decoding: {peak:.1f} MB; decoded record columns: "
          f"{columns:.1f} MB; ratio {peak / columns:.2f} (target < 3)")
    ratios = np.array([theirs / ours for _, _, _, ours, theirs, _, _ in rows])
    print(f"min speed-up {ratios.min():.0f}x (target 300x); largest file "
          f"{rows[-1][1] / rows[-1][3]:.0f} MB/s (target 80); read_file on the big file "
          f"{rows[-1][4] / rows[-1][5]:.0f}x fitparse (target 100x)")
    print()
    print_table(*xml_rows(corpus))


if __name__ == "__main__":
    main()
