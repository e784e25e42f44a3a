"""Delta tables on local disk against the same on an S3-compatible server, side by side.

    .venv/bin/python benchmarks/object_store.py [--rounds 3] [--files 200]

Starts moto's S3 server on 127.0.0.1 (as the tests do), uploads --files synthetic one-hour rides
at 1 Hz (benchmarks/fitsynth.py, as bulk.py's export) and times, alternating the two for --rounds
rounds, each a new `fitpipe` process with 2 workers:

- the import: local folder -> local Delta tables, against bucket -> Delta tables in a bucket;
- a re-run with nothing new (listing and planning only);
- `fitpipe query` of weekly totals.

moto keeps everything in memory on this machine: the figures show what fitpipe itself adds on
object storage (requests, conditional commits, the lock), not a network's latency.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bulk import FIRST  # noqa: E402
from benchmarks.fitsynth import rides  # noqa: E402

FITPIPE = Path(sys.executable).with_name("fitpipe")
MOTO = Path(sys.executable).with_name("moto_server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, dict[str, str]]:
    port = free_port()
    server = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        if time.monotonic() > deadline:
            raise SystemExit("moto_server did not start")
        time.sleep(0.1)
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ALLOW_HTTP": "true"}
    return server, env


def timed(*args: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([FITPIPE, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, **env})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    server, env = start_server()
    work = Path(tempfile.mkdtemp(prefix="fitpipe-s3-bench-"))
    try:
        import boto3

        client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                              aws_access_key_id="bench", aws_secret_access_key="bench")
        client.create_bucket(Bucket="uploads")
        client.create_bucket(Bucket="lake")
        inputs = work / "in"
        inputs.mkdir()
        for name, data in rides(args.files, FIRST):
            (inputs / name).write_bytes(data)
            client.put_object(Bucket="uploads", Key=f"in/{name}", Body=data)
        rows = []
        weekly = "SELECT athlete_id, sport, sum(moving_s) FROM weekly GROUP BY ALL"
        for round_ in range(1, args.rounds + 1):
            local, remote = str(work / f"local-{round_}"), f"s3://lake/round-{round_}"
            for where, source, out in (("local", str(inputs), local), ("s3", "s3://uploads/in", remote)):
                imported = timed("run", source, "--out", out, "--format", "delta", "--quiet", "--workers", "2", env=env)
                again = timed("run", source, "--out", out, "--quiet", "--workers", "2", env=env)
                query = timed("query", "--out", out, "--csv", weekly, env=env)
                rows.append((round_, where, imported, again, query))
        print(f"{args.files} one-hour rides, Delta tables, 2 workers; "
              f"moto on 127.0.0.1\n")
        print("| round | where | import s | re-run, nothing new s | query weekly s |")
        print("|---|---|---|---|---|")
        for row in rows:
            print(f"| {row[0]} | {row[1]} | {row[2]:.2f} | {row[3]:.2f} | {row[4]:.2f} |")
        for where in ("local", "s3"):
            mine = [r for r in rows if r[1] == where]
            print(f"| median | {where} | {statistics.median(r[2] for r in mine):.2f} | "
                  f"{statistics.median(r[3] for r in mine):.2f} | {statistics.median(r[4] for r in mine):.2f} |")
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
