"""Inputs and Delta output on object storage, through the real `fitpipe` entry point, against a
real S3-compatible server on 127.0.0.1 (moto's server mode; tests/conftest.py starts it).

What moto's server does not do as real S3 does, and what these tests therefore cannot show:
it checks no credentials unless told to (the credential tests turn that on), and it keeps its
data in memory only, so "the server goes away" is a network cut (a proxy killed, tests/tcp_proxy.py),
not a server restart. It does honour conditional writes (If-None-Match, If-Match), which the
lock and delta-rs's commits rely on."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from benchmarks.faults import group_members, split_inputs
from conftest import ROOT, SAMPLE_FILES, S3Server, fitpipe_executable, free_port, port_open, run_cli, s3_env, wait_until

pytest.importorskip("deltalake")
from deltalake import DeltaTable  # noqa: E402

TABLES = ("activities", "laps", "weekly", "daily_load", "athletes", "manifest", "samples")


@pytest.fixture
def prefix(request) -> str:
    """A prefix of each test's own, in both buckets."""
    return request.node.name.replace("[", "-").replace("]", "")


def delta_tables(out: str, env: dict[str, str], local_prefix: str, remote_prefix: str) -> dict[str, pl.DataFrame]:
    """Every table as deltalake reads it (sorted, the write ids of samples dropped), with the
    inputs' location written one way (a local folder or a bucket prefix, whichever the run read)
    and the manifest's file times left out: an object's last-modified is not a file's mtime."""
    options = {"conditional_put": "etag"} if out.startswith("s3://") else None
    with _environment(env):
        tables = {name: pl.from_arrow(DeltaTable(f"{out}/{name}", storage_options=options).to_pyarrow_table())
                  for name in TABLES}
    tables["samples"] = tables["samples"].drop("write_id")
    tables["manifest"] = tables["manifest"].drop("mtime_ns", "etag")
    found = {}
    for name, table in tables.items():
        if remote_prefix:
            texts = [c for c, t in table.schema.items() if t == pl.String]
            table = table.with_columns(pl.col(texts).str.replace(remote_prefix, local_prefix, literal=True))
        found[name] = table.sort([c for c in table.columns if not table[c].dtype.is_nested()])
    return found


class _environment:
    def __init__(self, env: dict[str, str]):
        self.env, self.saved = env, {}

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_an_import_from_and_to_object_storage_equals_one_on_local_disk(s3, prefix, tmp_path):
    s3.upload(SAMPLE_FILES, "uploads", prefix)
    out = f"s3://lake/{prefix}/fitness"
    run_cli("run", f"s3://uploads/{prefix}", "--out", out, "--format", "delta", "--quiet", env=s3.env, check_code=0)
    local = tmp_path / "local"
    run_cli("run", SAMPLE_FILES, "--out", local, "--format", "delta", "--quiet", check_code=0)

    got = delta_tables(out, s3.env, str(SAMPLE_FILES), f"s3://uploads/{prefix}")
    want = delta_tables(str(local), {}, str(SAMPLE_FILES), "")
    assert want["activities"].height > 50 and want["samples"].height > 10_000
    for name in TABLES:
        assert got[name].equals(want[name]), name
    with _environment(s3.env):
        manifest = pl.read_delta(f"{out}/manifest", storage_options={"conditional_put": "etag"})
    # Every object's ETag is recorded, as S3 lists it (quoted hex), for the next run's planning.
    etags = s3.client().list_objects_v2(Bucket="uploads", Prefix=prefix)["Contents"]
    listed = {f"s3://uploads/{o['Key']}": o["ETag"] for o in etags}
    assert dict(zip(manifest["path"], manifest["etag"])) == {p: listed[p] for p in manifest["path"]}


def test_a_rerun_reads_only_changed_objects_and_commits_nothing_when_none_changed(s3, prefix):
    s3.upload(SAMPLE_FILES / "strava", "uploads", prefix)
    out = f"s3://lake/{prefix}/fitness"
    args = ("run", f"s3://uploads/{prefix}", "--out", out, "--json")
    first = json.loads(run_cli(*args, env=s3.env, check_code=0).stdout)
    assert first["imported"] == first["files"] == len(list((SAMPLE_FILES / "strava").iterdir()))

    def versions() -> dict[str, int]:
        with _environment(s3.env):
            return {t: DeltaTable(f"{out}/{t}", storage_options={"conditional_put": "etag"}).version()
                    for t in ("activities", "laps", "manifest", "samples", "runs")}

    before = versions()
    again = json.loads(run_cli(*args, env=s3.env, check_code=0).stdout)
    assert (again["imported"], again["skipped"]) == (0, first["files"])
    assert versions() == before, "a run with nothing new committed something"

    # One object replaced by other content (another ride's bytes under the same name).
    changed = sorted((SAMPLE_FILES / "strava").glob("*.gpx"))
    s3.client().put_object(Bucket="uploads", Key=f"{prefix}/{changed[0].name}", Body=changed[1].read_bytes())
    third = json.loads(run_cli(*args, env=s3.env).stdout)
    assert (third["imported"] + third["duplicates"], third["skipped"]) == (1, first["files"] - 1)


def _zip_of(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"export/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()


def test_a_zip_export_on_object_storage_is_read_like_a_local_one(s3, prefix, tmp_path):
    data = _zip_of(SAMPLE_FILES / "strava")
    s3.client().put_object(Bucket="uploads", Key=f"{prefix}/export.zip", Body=data)
    (tmp_path / "export.zip").write_bytes(data)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    out = f"s3://lake/{prefix}/fitness"
    run_cli("run", f"s3://uploads/{prefix}", "--out", out, "--quiet", env={**s3.env, "TMPDIR": str(temporary)},
            check_code=0)
    local = tmp_path / "local"
    run_cli("run", tmp_path / "export.zip", "--out", local, "--format", "delta", "--quiet", check_code=0)
    got = delta_tables(out, s3.env, str(tmp_path), f"s3://uploads/{prefix}")
    want = delta_tables(str(local), {}, str(tmp_path), "")
    assert want["activities"].height == len(list((SAMPLE_FILES / "strava").glob("*.gpx"))) + 1
    for name in TABLES:
        assert got[name].equals(want[name]), name
    assert list(temporary.iterdir()) == [], "the zip's temporary copy outlived the run"


def test_query_reads_delta_tables_on_object_storage_in_its_three_forms(s3, prefix, tmp_path):
    s3.upload(SAMPLE_FILES / "strava", "uploads", prefix)
    out = f"s3://lake/{prefix}/fitness"
    run_cli("run", f"s3://uploads/{prefix}", "--out", out, "--quiet", env=s3.env, check_code=0)
    sql = "SELECT sport, count(*) AS n FROM activities GROUP BY 1 ORDER BY 1"
    # Independently: the files by the sport their names say (2026-08-09-run.gpx, …-ride.fit.gz).
    by_name: dict[str, int] = {}
    for path in (SAMPLE_FILES / "strava").iterdir():
        if path.name.endswith((".gpx", ".fit.gz")):
            sport = path.name.split("-")[3].split(".")[0]
            by_name[sport] = by_name.get(sport, 0) + 1
    piped = run_cli("query", "--out", out, sql, env=s3.env, check_code=0).stdout.splitlines()
    assert piped[0].replace(" ", "") == "|sport|n|" and len(piped) == 2 + len(by_name)
    csv = run_cli("query", "--out", out, "--csv", sql, env=s3.env, check_code=0).stdout
    assert pl.read_csv(io.StringIO(csv)).rows() == sorted(by_name.items())
    lines = run_cli("query", "--out", out, "--json", sql, env=s3.env, check_code=0).stdout.splitlines()
    assert [tuple(json.loads(line).values()) for line in lines] == sorted(by_name.items())


def test_a_second_run_on_the_same_object_store_output_exits_3(s3, prefix):
    s3.upload(SAMPLE_FILES / "strava", "uploads", prefix)
    out = f"s3://lake/{prefix}/fitness"
    code = (f"from pipeline.sinks.object_store import ObjectStoreDeltaTables\n"
            f"with ObjectStoreDeltaTables({out!r}).lock():\n"
            f"    print('held', flush=True)\n"
            f"    import time; time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                              env={**os.environ, **s3.env}, start_new_session=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        refused = run_cli("run", f"s3://uploads/{prefix}", "--out", out, env=s3.env)
        assert refused.returncode == 3, refused.stderr
        assert refused.stderr.startswith(f"error: {out}: another fitpipe run is writing here (")
        assert len(refused.stderr.strip().splitlines()) == 1
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    # Its holder killed, on this machine: the next run takes the lock over at once.
    run_cli("run", f"s3://uploads/{prefix}", "--out", out, "--quiet", env=s3.env, check_code=0)


# --- faults: runs killed, and the server going away, mid-run -------------------------------------


@pytest.fixture(scope="module")
def nine_rides(s3, tmp_path_factory):
    """Nine sample rides in the uploads bucket, and the tables of an uninterrupted run on them."""
    work = tmp_path_factory.mktemp("s3-faults")
    base, new = split_inputs(work, files=9)
    for folder in (base, new):
        s3.upload(folder, "uploads", "nine-rides")
    out = "s3://lake/nine-rides-reference"
    started = time.monotonic()
    run_cli("run", "s3://uploads/nine-rides", "--out", out, "--workers", "2", "--quiet", env=s3.env, check_code=0)
    return delta_tables(out, s3.env, "", ""), time.monotonic() - started


def _start_run(out: str, env: dict[str, str]) -> subprocess.Popen:
    # A session of its own, so one killpg reaches the worker processes too, as in faults.py.
    return subprocess.Popen([fitpipe_executable(), "run", "s3://uploads/nine-rides", "--out", out, "--workers", "2",
                             "--quiet"], start_new_session=True, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _readable(out: str, env: dict[str, str]) -> bool:
    with _environment(env):
        for name in TABLES:
            uri = f"{out}/{name}"
            if DeltaTable.is_deltatable(uri, storage_options={"conditional_put": "etag"}):
                DeltaTable(uri, storage_options={"conditional_put": "etag"}).to_pyarrow_table()
    return True


@pytest.mark.parametrize("seed,whom", [(31, "group"), (32, "group"), (33, "main process")])
def test_a_killed_run_on_object_storage_is_repaired_by_the_next(s3, nine_rides, seed, whom):
    want, duration = nine_rides
    out = f"s3://lake/killed-{seed}"
    process = _start_run(out, s3.env)
    time.sleep(random.Random(seed).uniform(0.3, duration * 0.8))
    assert process.poll() is None, "the run ended before the kill: the trial interrupted nothing"
    group = process.pid  # the leader of its session and process group
    os.killpg(group, signal.SIGKILL) if whom == "group" else os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert wait_until(lambda: group_members(group) == [], 30), "processes of the killed run live on"
    assert _readable(out, s3.env)
    run_cli("run", "s3://uploads/nine-rides", "--out", out, "--workers", "2", "--quiet", env=s3.env, check_code=0)
    got = delta_tables(out, s3.env, "", "")
    for name in TABLES:
        assert got[name].equals(want[name]), name


def test_a_store_that_goes_away_mid_run_stops_it_with_one_line_and_the_next_run_completes(s3, nine_rides, tmp_path):
    want, duration = nine_rides
    port = free_port()
    env = s3_env(f"http://127.0.0.1:{port}")
    target = s3.url.rsplit(":", 1)[1]

    def proxy() -> subprocess.Popen:
        started = subprocess.Popen([sys.executable, ROOT / "tests" / "tcp_proxy.py", str(port), target],
                                   stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert started.stdout.readline().strip() == "ready"
        return started

    cut = proxy()
    out = "s3://lake/server-gone"
    process = _start_run(out, env)
    time.sleep(duration / 2)
    os.killpg(cut.pid, signal.SIGKILL)  # the network between fitpipe and the store is cut
    cut.wait()
    assert not port_open(port)
    _, errors = process.communicate(timeout=600)
    lines = errors.strip().splitlines()
    assert process.returncode == 1, errors
    assert len(lines) == 1 and lines[0].startswith("error: s3://") and "cannot reach the object store" in lines[0]
    assert wait_until(lambda: group_members(process.pid) == [], 30), "processes of the stopped run live on"

    back = proxy()  # the store is back
    try:
        run_cli("run", "s3://uploads/nine-rides", "--out", out, "--workers", "2", "--quiet", env=env, check_code=0)
        got = delta_tables(out, env, "", "")
    finally:
        os.killpg(back.pid, signal.SIGKILL)
        back.wait()
    for name in TABLES:
        assert got[name].equals(want[name]), name


# --- credentials -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checking_server():
    """A server that checks credentials: moto enforces them after its first 4 requests, which
    make a user with a key allowed everything, and a bucket."""
    server = S3Server.start({"INITIAL_NO_AUTH_ACTION_COUNT": "4"})
    import boto3

    iam = boto3.client("iam", endpoint_url=server.url, region_name="us-east-1",
                       aws_access_key_id="setup", aws_secret_access_key="setup")
    iam.create_user(UserName="coach")
    key = iam.create_access_key(UserName="coach")["AccessKey"]
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="coach", PolicyName="everything", PolicyDocument=json.dumps(allow))
    client = server.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    client.create_bucket(Bucket="club")
    ride = sorted((SAMPLE_FILES / "strava").glob("*.gpx"))[0]
    client.upload_file(str(ride), "club", f"inputs/{ride.name}")
    yield server, key["AccessKeyId"], key["SecretAccessKey"]
    server.stop()


def _without_keys(env: dict[str, str]) -> dict[str, str]:
    assert "AWS_ACCESS_KEY_ID" not in os.environ, "the test process must not hold credentials of its own"
    return {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}


@pytest.mark.parametrize("case", ["wrong key", "wrong secret", "none at all"])
def test_a_missing_or_wrong_credential_is_one_line_naming_the_bucket_and_exit_2(checking_server, tmp_path, case):
    server, key, secret = checking_server
    env = {"wrong key": s3_env(server.url, "AKIAWRONGWRONGWRONG0", secret),
           "wrong secret": s3_env(server.url, key, "not-the-secret"),
           "none at all": {**_without_keys(s3_env(server.url)), "HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "none"),
                           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}}[case]
    for args in (["s3://club/inputs", "--out", tmp_path / "out"], [SAMPLE_FILES / "strava", "--out", "s3://club/lake"]):
        result = run_cli("run", *args, env=env)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: s3://club: "), lines
        said = {"wrong key": "AWS_ACCESS_KEY_ID", "wrong secret": "AWS_SECRET_ACCESS_KEY", "none at all": "no credentials"}
        assert said[case] in lines[0]


def test_a_run_that_lost_its_lease_commits_nothing_more(s3, prefix):
    # A run that stalled past its lease may have been taken over: each commit checks first.
    from pipeline.sinks import object_store
    from pipeline.sinks.object_lock import LockLost

    out = f"s3://lake/{prefix}/fitness"
    sink = object_store.ObjectStoreDeltaTables(out)
    table = pl.DataFrame({"athlete_id": ["ana"], "week": [1]})
    with _environment(s3.env), sink.lock():
        sink.write_table("weekly", table)  # held: committed
        object_store._leases[out].lost = True  # as the renewer finds when another run took over
        for commit in (lambda: sink.write_table("weekly", table.with_columns(week=pl.lit(2))),
                       lambda: sink.delete_samples({"a1"}), lambda: sink.write_settings("{}"),
                       lambda: sink.record_run(datetime.now(timezone.utc))):
            with pytest.raises(LockLost):
                commit()
        assert sink.read_table("weekly")["week"].to_list() == [1]
        assert sink.read_settings() is None


def test_a_parquet_folder_on_object_storage_is_refused_in_one_line(tmp_path):
    # Nothing is asked of any server: the settings alone are wrong.
    result = run_cli("run", SAMPLE_FILES / "strava", "--out", "s3://lake/fitness", "--format", "parquet")
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: s3://lake/fitness: a parquet folder must be on local disk; "
                                     "on object storage use --format delta")


S3_OPTIONS = {"conditional_put": "etag"}


def test_the_change_feed_on_object_storage_gives_exactly_what_changed(s3, prefix):
    from test_delta_tables import assert_feed_is_the_diff

    rides = sorted((SAMPLE_FILES / "garmin").glob("*ride.fit"))
    same = SAMPLE_FILES / "same-ride-three-formats"
    client = s3.client()
    out = f"s3://lake/{prefix}/fitness"

    def upload(paths) -> None:
        for path in paths:
            client.upload_file(str(path), "uploads", f"{prefix}/{path.name}")

    upload([*rides[:3], same / "2026-10-05-ride.fit"])
    run_cli("run", f"s3://uploads/{prefix}", "--out", out, "--quiet", env=s3.env, check_code=0)
    with _environment(s3.env):
        loaded = DeltaTable(f"{out}/activities", storage_options=S3_OPTIONS).version()
    upload([*rides[3:5], same / "2026-10-05-ride.gpx", same / "2026-10-05-ride.tcx"])
    run_cli("run", f"s3://uploads/{prefix}", "--out", out, "--quiet", env=s3.env, check_code=0)
    with _environment(s3.env):
        assert_feed_is_the_diff(f"{out}/activities", loaded, at_least=4, options=S3_OPTIONS)


def test_compact_on_object_storage_merges_sample_files_and_keeps_every_row(s3, prefix):
    rides = sorted((SAMPLE_FILES / "garmin").glob("*ride.fit"))
    client = s3.client()
    out = f"s3://lake/{prefix}/fitness"
    for part in (rides[:4], rides[4:8]):  # two runs: partitions held in several files
        for path in part:
            client.upload_file(str(path), "uploads", f"{prefix}/{path.name}")
        run_cli("run", f"s3://uploads/{prefix}", "--out", out, "--quiet", env=s3.env, check_code=0)

    def samples() -> tuple[pl.DataFrame, list[str]]:
        with _environment(s3.env):
            table = DeltaTable(f"{out}/samples", storage_options=S3_OPTIONS)
            rows = pl.from_arrow(table.to_pyarrow_table()).drop("write_id")
            return rows.sort(rows.columns), table.file_uris()

    before, files_before = samples()
    result = json.loads(run_cli("compact", "--out", out, "--retention-days", "0", "--json",
                                env=s3.env, check_code=0).stdout)
    after, files_after = samples()
    assert after.equals(before), "compaction changed the rows"
    assert len(files_after) < len(files_before)
    with _environment(s3.env):
        partitions = {tuple(sorted(p.items())) for p in
                      DeltaTable(f"{out}/samples", storage_options=S3_OPTIONS).partitions()}
    assert len(files_after) == len(partitions), "one file per partition after compaction"
    stored = [o["Key"] for o in client.list_objects_v2(Bucket="lake", Prefix=f"{prefix}/fitness/samples/")["Contents"]
              if o["Key"].endswith(".parquet")]
    assert len(stored) == len(files_after), "retention 0: the replaced files are vacuumed from the bucket"
    assert result["files_after"] < result["files_before"]


def test_credentials_from_an_aws_profile_file_are_used(checking_server, tmp_path):
    # No keys in the environment: the shared credentials file of the AWS SDKs, profile "club".
    server, key, secret = checking_server
    (tmp_path / "credentials").write_text(f"[club]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")
    env = {**_without_keys(s3_env(server.url)), "HOME": str(tmp_path), "AWS_PROFILE": "club",
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"), "AWS_CONFIG_FILE": str(tmp_path / "none")}
    result = run_cli("run", "s3://club/inputs", "--out", "s3://club/lake", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["imported"] == 1


@pytest.mark.parametrize("command", [["summary"], ["query", "SELECT 1"], ["report"], ["metrics"], ["compact"],
                                     ["run", str(SAMPLE_FILES / "strava")]])
def test_every_command_on_an_unreachable_store_is_one_line_and_exit_1(command):
    # Nothing listens at the endpoint: as when the store is down, or the network to it.
    env = s3_env(f"http://127.0.0.1:{free_port()}")
    result = run_cli(command[0], "--out", "s3://lake/fitness", *command[1:], env=env)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == "error: s3://lake/fitness: cannot reach the object store (connection refused)"
