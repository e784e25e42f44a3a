"""GPX and TCX parse speed: the streaming lxml engines vs the reference engines.

Measures, side by side in one run and in turns, the median parse time of each engine (full
ParsedFile, extensions included) on the largest corpus GPX and TCX files and on a generated big
GPX (100,000 trackpoints with Garmin TrackPointExtension hr/cad and time, written into a temp
dir), and the peak Python memory (tracemalloc) of reading the big file with the fast engine.

The reference GPX engine is gpxpy, which switches to lxml as its XML backend once lxml is
installed (and gets slower for it); each GPX file is also timed with gpxpy forced back to
ElementTree, the faster of its two backends, so the ratio is not flattered.

Target: >= 6x faster than gpxpy, extensions included.

    python benchmarks/parse_xml.py [corpus_dir]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import tracemalloc
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import gpxpy.parser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.readers.gpx import read_gpx  # noqa: E402
from pipeline.readers.gpx_fast import read_gpx_fast  # noqa: E402
from pipeline.readers.tcx import read_tcx  # noqa: E402
from pipeline.readers.tcx_fast import read_tcx_fast  # noqa: E402

REPEATS = 3
SMALL_FILE_REPEATS = 21  # for files under SMALL_BYTES
SMALL_BYTES = 1_000_000
LARGEST_PER_FORMAT = 2
BIG_POINTS = 100_000
ENGINES = {".gpx": (read_gpx_fast, read_gpx), ".tcx": (read_tcx_fast, read_tcx)}
HEADER = ("file", "MB", "points", "fast s", "reference s", "ratio")


def big_gpx(directory: Path, n_points: int = BIG_POINTS) -> Path:
    """A 1 Hz run with heart rate and cadence in a Garmin TrackPointExtension."""
    start = datetime(2026, 7, 6, 6, tzinfo=timezone.utc)
    point = ('<trkpt lat="{lat:.7f}" lon="{lon:.7f}"><ele>{ele:.1f}</ele><time>{time}</time><extensions>'
             "<gpxtpx:TrackPointExtension><gpxtpx:hr>{hr}</gpxtpx:hr><gpxtpx:cad>{cad}</gpxtpx:cad>"
             "</gpxtpx:TrackPointExtension></extensions></trkpt>\n")
    points = "".join(
        point.format(lat=46.05 + i * 1e-5, lon=14.5 + i * 1e-5, ele=300 + i % 100 * 0.1, hr=120 + i % 50,
                     cad=80 + i % 10, time=(start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        for i in range(n_points)
    )
    path = directory / "big.gpx"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="benchmark" '
        'xmlns="http://www.topografix.com/GPX/1/1" '
        'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">'
        f"<trk><type>running</type><trkseg>\n{points}</trkseg></trk></gpx>\n"
    )
    return path


@contextmanager
def gpxpy_on_elementtree():
    """gpxpy picks lxml when it is importable; this puts it back on ElementTree."""
    backend = gpxpy.parser.mod_etree
    gpxpy.parser.mod_etree = ElementTree
    try:
        yield
    finally:
        gpxpy.parser.mod_etree = backend


def seconds(reader: Callable, data: bytes) -> float:
    started = time.perf_counter()
    reader(data, "benchmark")
    return time.perf_counter() - started


def row(label: str, data: bytes, fast: Callable, reference: Callable) -> tuple:
    """Medians of both engines timed in turns, so that both sample the same stretch of this
    noisy machine's time; small files get more turns, as each takes milliseconds."""
    parsed = fast(data, label)
    reference(data, label)  # both warm
    turns = REPEATS if len(data) > SMALL_BYTES else SMALL_FILE_REPEATS
    fast_times, reference_times = [], []
    for _ in range(turns):
        fast_times.append(seconds(fast, data))
        reference_times.append(seconds(reference, data))
    fast_s, reference_s = statistics.median(fast_times), statistics.median(reference_times)
    return (label, len(data) / 1e6, parsed.records.height, fast_s, reference_s, reference_s / fast_s)


def largest_corpus_files(corpus: Path) -> list[Path]:
    files = []
    for suffix in ENGINES:
        found = sorted(corpus.rglob(f"*{suffix}"), key=lambda p: p.stat().st_size, reverse=True)
        files += found[:LARGEST_PER_FORMAT]
    return files


def file_rows(name: str, data: bytes, suffix: str) -> list[tuple]:
    """One file's row against the reference engine as installed; a GPX file gets a second,
    against gpxpy on ElementTree."""
    rows = [row(name, data, *ENGINES[suffix])]
    if suffix == ".gpx":
        with gpxpy_on_elementtree():
            rows.append(row(f"{name} (gpxpy on ElementTree)", data, *ENGINES[suffix]))
    return rows


def xml_rows(corpus: Path | None = None) -> tuple[list[tuple], int]:
    """Table rows (HEADER order) and the fast engine's peak memory in bytes on the big file."""
    corpus = corpus or ROOT.parent / "shared" / "corpus"
    rows = []
    for path in largest_corpus_files(corpus):
        rows += file_rows(path.name, path.read_bytes(), path.suffix)
    with tempfile.TemporaryDirectory() as folder:
        data = big_gpx(Path(folder)).read_bytes()
    rows += file_rows("big.gpx", data, ".gpx")
    tracemalloc.start()
    read_gpx_fast(data, "big.gpx")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return rows, peak


def print_table(rows: list[tuple], peak: int) -> None:
    """The rows of xml_rows as a table, then the peak memory; benchmarks/parse.py prints it too."""
    print(f"{'GPX / TCX file':<45} {HEADER[1]:>6} {HEADER[2]:>8} {HEADER[3]:>8} {HEADER[4]:>12} {HEADER[5]:>7}")
    for name, mb, points, fast_s, reference_s, ratio in rows:
        print(f"{name:<45} {mb:>6.2f} {points:>8,} {fast_s:>8.3f} {reference_s:>12.3f} {ratio:>6.1f}x")
    print(f"peak Python memory (tracemalloc) reading big.gpx with lxml: {peak / 1e6:.1f} MB")


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    print_table(*xml_rows(corpus))


if __name__ == "__main__":
    main()
