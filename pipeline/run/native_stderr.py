"""Keep native libraries' panic reports off the user's terminal.

delta-rs and obstore run their I/O on tokio threads of their own. When a store goes away
mid-request, a task of theirs may panic after the error has already reached Python (a known
object_store bug, apache/arrow-rs-object-store#578 and #414). Rust's panic hook prints that
from the thread, straight to file descriptor 2, around fitpipe's one-line error, and
RUST_BACKTRACE (set on many machines) makes it a backtrace. Nothing in Python can silence the
hook, so the console script sends descriptor 2 through a pipe and drops panic reports there;
they go to the debug log (-vv) instead. Python's own writes bypass the pipe, so a terminal stays
a terminal (progress bars, colours); worker processes inherit the pipe, so theirs are caught too.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import select
import sys
import threading
from typing import Iterator

log = logging.getLogger("pipeline.native")

# "thread 'tokio-rt-worker' (23644) panicked at …/object_store-0.13.2/src/….rs:86:32:"
PANIC_START = re.compile(rb"^thread '[^']*'(?: \(\d+\))? panicked at ")
# A report ends with one of the hook's notes: "note: run with `RUST_BACKTRACE=1` …" or, after a
# backtrace, "note: Some details are omitted, run with `RUST_BACKTRACE=full` …".
PANIC_END = re.compile(rb"^note: .*RUST_BACKTRACE")
# A report without its note (a hook that changed) never swallows more than this.
MOST_LINES_IN_A_REPORT = 200
# At exit the pipe is read until it has been quiet this long (worker processes' last lines pass
# through it), and for no longer than MOST_DRAIN_SECONDS (a process that never stops writing).
IDLE_SECONDS = 0.05
MOST_DRAIN_SECONDS = 2.0


def without_panic_reports(lines: Iterator[bytes]) -> Iterator[bytes]:
    """The lines, less each Rust panic report (logged at debug level instead)."""
    report: list[bytes] = []
    for line in lines:
        if not report and not PANIC_START.match(line):
            yield line
            continue
        report.append(line)
        if PANIC_END.match(line) or len(report) >= MOST_LINES_IN_A_REPORT:
            log.debug("a native library reported: %s", b"".join(report).decode(errors="replace").strip())
            report = []
    if report:
        log.debug("a native library reported: %s", b"".join(report).decode(errors="replace").strip())


def filter_panic_reports() -> None:
    """Route file descriptor 2 through a thread that drops panic reports; Python's sys.stderr
    keeps the original descriptor."""
    try:
        original = os.dup(2)
    except OSError:  # no descriptor 2 at all (a cron line ending in 2>&-): nothing to filter
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stderr.flush()
    sys.stderr = open(original, "w", encoding=sys.stderr.encoding, errors="backslashreplace",
                      buffering=1, closefd=False)
    closing = threading.Event()
    forwarder = threading.Thread(target=_forward, args=(read_end, original, closing), name="fitpipe-stderr",
                                 daemon=True)
    forwarder.start()
    atexit.register(_drain, forwarder, original, closing)


def _forward(read_end: int, original: int, closing: threading.Event) -> None:
    with open(original, "wb", closefd=False) as out:
        for line in without_panic_reports(_lines(read_end, closing)):
            out.write(line)
            out.flush()


def _lines(read_end: int, closing: threading.Event) -> Iterator[bytes]:
    """The pipe's lines until every writer has closed it, or until exit (`closing`) and nothing
    more came for IDLE_SECONDS: a forkserver keeps the pipe open until after this process ends,
    and its end of the pipe must not hold the exit up."""
    pending = b""
    while True:
        if not select.select([read_end], [], [], IDLE_SECONDS)[0]:
            if closing.is_set():
                break
            continue
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        yield from (line + b"\n" for line in lines)
    if pending:
        yield pending


def _drain(forwarder: threading.Thread, original: int, closing: threading.Event) -> None:
    """Stop writing into the pipe, and let what is in it through before this process ends."""
    sys.stderr.flush()
    os.dup2(original, 2)
    closing.set()
    forwarder.join(MOST_DRAIN_SECONDS)
