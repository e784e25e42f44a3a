"""Rust panic reports that native libraries print from their own threads stay off stderr.

CI once saw `fitpipe run` against a store that went away print, before its one-line error, a
report of a panic inside delta-rs's object_store (a tokio thread whose request had been dropped).
The reports below have the shape Rust's panic hook gives them, with and without RUST_BACKTRACE.
"""

from __future__ import annotations

import logging
import os
import pty
import subprocess
import sys
import textwrap
import time

from pipeline.run.native_stderr import without_panic_reports

WITH_BACKTRACE = (
    "thread 'tokio-rt-worker' (23644) panicked at /home/runner/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/object_store-0.13.2/src/client/http/spawn.rs:86:32:\n"
    "called `Result::unwrap()` on an `Err` value: SendError { .. }\n"
    "stack backtrace:\n"
    "   0:     0x7f3a2c1b5e6d - <unknown>\n"
    "   1:     0x7f3a2c1d2b1b - <unknown>\n"
    "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n"
)
WITHOUT_BACKTRACE = (
    "thread 'tokio-runtime-worker' panicked at src/buffered.rs:406:\n"
    "`async fn` resumed after completion\n"
    "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n"
)

# The console script's set-up, a tokio-like thread and a worker process that write reports to
# descriptor 2 as the Rust hook does, between lines that must all come through.
PROGRAM = textwrap.dedent("""
    import multiprocessing, os, sys, threading
    from pipeline.run.native_stderr import filter_panic_reports

    def worker(report):
        os.write(2, b"worker: a warning\\n" + report.encode())
        print("worker: done", file=sys.stderr)

    if __name__ == "__main__":
        filter_panic_reports()
        native = threading.Thread(target=os.write, args=(2, sys.argv[1].encode()))
        native.start(); native.join()
        child = multiprocessing.get_context("spawn").Process(target=worker, args=(sys.argv[2],))
        child.start(); child.join()
        print("error: s3://lake/out: cannot reach the object store", file=sys.stderr)
        sys.exit(1)
""")


def test_panic_reports_of_threads_and_worker_processes_are_dropped_and_the_rest_comes_through(tmp_path):
    script = tmp_path / "program.py"  # a file: spawned workers import their target from it
    script.write_text(PROGRAM)
    done = subprocess.run([sys.executable, script, WITH_BACKTRACE, WITHOUT_BACKTRACE],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert sorted(done.stderr.splitlines()) == [
        "error: s3://lake/out: cannot reach the object store", "worker: a warning", "worker: done"]


def test_a_report_goes_to_the_debug_log_and_an_unended_one_never_swallows_the_rest(caplog):
    endless = ["thread 'main' panicked at x.rs:1:1:\n"] + ["no note follows\n"] * 250 + ["last\n"]
    with caplog.at_level(logging.DEBUG, logger="pipeline.native"):
        kept = list(without_panic_reports(iter(line.encode() for line in
                                                ["before\n", *WITH_BACKTRACE.splitlines(True), "after\n"])))
        assert kept == [b"before\n", b"after\n"]
        assert "spawn.rs:86:32" in caplog.text and "SendError" in caplog.text
        rest = list(without_panic_reports(iter(line.encode() for line in endless)))
    # 200 lines make the most a report may swallow: the 52 after it and the last come through
    assert len(rest) == len(endless) - 200 and rest[-1] == b"last\n"


def test_a_terminal_stays_a_terminal_for_python_output():
    """Rich draws progress bars only on a terminal: Python's stderr must keep the original one."""
    program = ("import sys; from pipeline.run.native_stderr import filter_panic_reports; "
               "filter_panic_reports(); print('tty' if sys.stderr.isatty() else 'pipe', file=sys.stderr)")
    leader, follower = pty.openpty()
    done = subprocess.run([sys.executable, "-c", program], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=follower, timeout=60)
    os.close(follower)
    assert done.returncode == 0
    assert os.read(leader, 100).decode().strip() == "tty"
    os.close(leader)


LINGERING = textwrap.dedent("""
    import subprocess, sys, time
    from pipeline.run.native_stderr import filter_panic_reports

    filter_panic_reports()
    # A process that outlives this one and keeps descriptor 2, as a pool's forkserver does.
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdout=subprocess.DEVNULL,
                     start_new_session=True)
    print("error: one line", file=sys.stderr)
    print(time.monotonic(), flush=True)
""")


def test_exit_does_not_wait_for_a_process_that_keeps_the_pipe():
    # The console script once waited up to 2 s at every exit of a run with workers, for an end of
    # the pipe that a forkserver holds until after it. Reading what is there must be enough.
    done = subprocess.run([sys.executable, "-c", LINGERING], capture_output=True, text=True, timeout=60)
    exited = time.monotonic()
    assert done.returncode == 0 and done.stderr == "error: one line\n"
    assert exited - float(done.stdout) < 1.0
