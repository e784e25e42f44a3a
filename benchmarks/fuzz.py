"""Fuzz the FIT reader with mutated corpus files (seeded, reproducible).

Mutations: bit flips, truncations, spliced headers, random definition field sizes and counts,
random byte runs. Each case goes through the columnar decoder (`fit_columns.decode`, which must
never raise and must return a documented status) and the whole FIT reader (`readers.fit.read_fit`,
which must return a ParsedFile or raise ReadError, the project's documented error). Both stay
within bounded time and memory. Prints a summary: cases, decoder statuses, reader outcomes, max
time, max peak memory / input. Exits 1 if any case broke a rule.

    python benchmarks/fuzz.py [--cases 10000] [--seed 0] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.readers.base import PARSE_STATUSES, ReadError  # noqa: E402
from pipeline.readers.fit import read_fit  # noqa: E402
from pipeline.readers.fit_columns import decode  # noqa: E402

MAX_SOURCE_BYTES = 300_000  # keeps 10,000 cases within minutes
MEMORY_FLOOR_BYTES = 65536


def bit_flips(rng, data: bytearray) -> bytearray:
    for _ in range(int(rng.integers(1, 20))):
        index = int(rng.integers(0, len(data)))
        data[index] ^= 1 << int(rng.integers(0, 8))
    return data


def truncate(rng, data: bytearray) -> bytearray:
    return data[:int(rng.integers(0, len(data)))]


def splice_header(rng, data: bytearray) -> bytearray:
    """A copy of the file header (or garbage shaped like one) dropped somewhere inside."""
    index = int(rng.integers(0, len(data)))
    header = data[:14] if rng.random() < 0.5 else bytearray(rng.integers(0, 256, 14, dtype=np.uint8))
    header[8:12] = b".FIT"
    return data[:index] + header + data[index:]


def definition_fields(rng, data: bytearray) -> bytearray:
    """Rewrite a definition message: random field count, sizes and base types."""
    starts = [i for i in range(14, min(len(data), 20000)) if data[i] & 0xF0 == 0x40 and i + 6 < len(data)]
    if not starts:
        return bit_flips(rng, data)
    start = starts[int(rng.integers(0, len(starts)))]
    if rng.random() < 0.5:
        data[start + 5] = int(rng.integers(0, 256))  # field count
    for field in range(int(rng.integers(1, 6))):
        position = start + 6 + 3 * int(rng.integers(0, max(1, data[start + 5])))
        if position + 2 < len(data):
            data[position + 1] = int(rng.integers(0, 256))  # size
            if rng.random() < 0.5:
                data[position + 2] = int(rng.choice([0x00, 0x02, 0x84, 0x86, 0x88, 0x89, 0x07, 0x0D, 0x8E, 0x45]))
    return data


def random_bytes(rng, data: bytearray) -> bytearray:
    index = int(rng.integers(0, len(data)))
    length = int(rng.integers(1, 200))
    return data[:index] + bytearray(rng.integers(0, 256, length, dtype=np.uint8)) + data[index + length:]


def data_size(rng, data: bytearray) -> bytearray:
    data[4:8] = int(rng.integers(0, 2**32)).to_bytes(4, "little") if rng.random() < 0.3 else \
        (int.from_bytes(data[4:8], "little") + int(rng.integers(-50, 50)) & 0xFFFFFFFF).to_bytes(4, "little")
    return data


MUTATIONS = (bit_flips, truncate, splice_header, definition_fields, random_bytes, data_size)


def sources(corpus: Path) -> list[bytes]:
    files = sorted((corpus / "fit").glob("*.fit")) + sorted((corpus / "fit").glob("*.FIT"))
    return [p.read_bytes() for p in files if p.stat().st_size <= MAX_SOURCE_BYTES]


def make_case(rng, originals: list[bytes]) -> bytes:
    data = bytearray(originals[int(rng.integers(0, len(originals)))])
    for _ in range(int(rng.integers(1, 4))):
        if not data:
            break
        data = MUTATIONS[int(rng.integers(0, len(MUTATIONS)))](rng, data)
    return bytes(data)


def run_case(data: bytes, measure_memory: bool) -> tuple[str, str, float, float]:
    """(decoder status, reader outcome, seconds, peak memory / input); raises on a finding."""
    if measure_memory:
        tracemalloc.start()
    start = time.perf_counter()
    result = decode(data)
    outcome = read_outcome(data)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if measure_memory else 0
    if measure_memory:
        tracemalloc.stop()
    if result.status not in PARSE_STATUSES:
        raise AssertionError(f"unknown status {result.status!r}")
    if result.detail and result.detail.startswith("internal decoder error"):
        # decode() turns its own bugs into decode_error to protect callers; here they are findings.
        raise AssertionError(result.detail)
    # Relative to at least 64 KiB: tiny inputs still pay a fixed few tens of KB (dtypes, tables).
    return result.status, outcome, elapsed, peak / max(len(data), MEMORY_FLOOR_BYTES)


def read_outcome(data: bytes) -> str:
    """What the reader made of the bytes; anything but a ParsedFile or ReadError propagates."""
    try:
        parsed = read_fit(data, "fuzz.fit")
    except ReadError:
        return "ReadError"
    return "activity" if parsed.is_activity else "not_activity"


def fuzz(cases: int, seed: int, corpus: Path, memory_every: int = 10) -> dict:
    rng = np.random.default_rng(seed)
    originals = sources(corpus)
    statuses, outcomes, failures = Counter(), Counter(), []
    max_time = max_memory = 0.0
    for case in range(cases):
        data = make_case(rng, originals)
        try:
            status, outcome, elapsed, memory = run_case(data, case % memory_every == 0)
        except Exception as exc:  # the finding this script exists for
            failures.append((case, f"{type(exc).__name__}: {exc}"))
            continue
        statuses[status] += 1
        outcomes[outcome] += 1
        max_time, max_memory = max(max_time, elapsed), max(max_memory, memory)
    return {"cases": cases, "statuses": statuses, "outcomes": outcomes, "failures": failures,
            "max_time": max_time, "max_memory": max_memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000, help="mutated files to try (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same cases")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus",
                        help="corpus folder holding fit/ (default ../shared/corpus)")
    parser.add_argument("--memory-every", type=int, default=10, help="measure peak memory every Nth case")
    args = parser.parse_args()
    summary = fuzz(args.cases, args.seed, args.corpus, args.memory_every)
    print(f"{'cases':28} {summary['cases']}")
    print("decoder status")
    for status, count in summary["statuses"].most_common():
        print(f"  {status:26} {count}")
    print("reader outcome")
    for outcome, count in summary["outcomes"].most_common():
        print(f"  {outcome:26} {count}")
    print(f"{'failures':28} {len(summary['failures'])}")
    for case, error in summary["failures"][:10]:
        print(f"  case {case}: {error}")
    print(f"{'max time per case':28} {summary['max_time'] * 1e3:.1f} ms (decode and read)")
    print(f"{'max peak memory / input':28} {summary['max_memory']:.1f}x (every {args.memory_every}th case; "
          f"input counted as >= 64 KiB)")
    sys.exit(1 if summary["failures"] else 0)


if __name__ == "__main__":
    main()
