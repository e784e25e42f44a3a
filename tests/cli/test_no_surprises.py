"""Issue 19: clear errors, settings that never fail silently, output that survives pipes and
cron. Everything runs through the installed `fitpipe` entry point, as a user or cron would."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import zipfile
from datetime import timedelta

import polars as pl
import pytest

from conftest import fitpipe_executable, run_cli
from fitbuild import START, encode, steady_ride

THRESHOLDS = """
[[athlete.thresholds]]
from = "{day}"
max_hr = 190
resting_hr = 50
lthr = 168
ftp = 260
"""


def _folder(tmp_path, files: dict[str, bytes | str], name: str = "in"):
    folder = tmp_path / name
    folder.mkdir()
    for file, data in files.items():
        (folder / file).write_bytes(data if isinstance(data, bytes) else data.encode())
    return folder


def _ride(day: int = 0, seconds: int = 300) -> bytes:
    return encode(steady_ride(seconds, start=START + timedelta(days=day)))


def _one_line_error(result, *words: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


# --- 1. output-folder problems -------------------------------------------------------------

@pytest.mark.parametrize("command", ["run", "ingest", "metrics", "report"])
def test_out_naming_a_regular_file_is_one_line_and_exit_2(tmp_path, command):
    inputs = _folder(tmp_path, {"ride.fit": _ride()})
    out = tmp_path / "out.txt"
    out.write_text("not a folder")
    args = [command, inputs] if command in ("run", "ingest") else [command]
    result = run_cli(*args, "--out", out, check_code=2)
    _one_line_error(result, str(out))


def _without_root_powers(args: list) -> list:
    """Root ignores file permissions; dropping CAP_DAC_OVERRIDE makes it obey them, as a user."""
    if os.geteuid() != 0:
        return args
    assert shutil.which("setpriv"), "setpriv (util-linux) is needed to test permissions as root"
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *args]


def _run_as_user(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(_without_root_powers([fitpipe_executable(), *map(str, args)]), capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("command", ["run", "ingest", "metrics", "report"])
def test_a_read_only_out_folder_is_one_line_naming_it_and_exit_2(tmp_path, command):
    inputs = _folder(tmp_path, {"ride.fit": _ride()})
    out = tmp_path / "out"
    run_cli("run", inputs, "--out", out, "--quiet", check_code=0)
    (inputs / "second.fit").write_bytes(_ride(day=1))  # something new to write
    for path in (out, *out.rglob("*")):
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        args = [command, inputs] if command in ("run", "ingest") else [command]
        result = _run_as_user(*args, "--out", out, "--quiet")
    finally:
        for path in (out, *out.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert result.returncode == 2, result.stderr
    _one_line_error(result, str(out), "ermission denied")


def test_a_run_with_nothing_new_needs_no_write_access_beyond_the_lock(tmp_path):
    inputs = _folder(tmp_path, {"ride.fit": _ride()})
    out = tmp_path / "out"
    run_cli("run", inputs, "--out", out, "--quiet", check_code=0)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    for path in (out, *out.rglob("*")):
        if path.name != ".fitpipe.lock":
            path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        result = _run_as_user("run", inputs, "--out", out, "--json")
    finally:
        for path in (out, *out.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["skipped"] == 1
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


# --- 2. bad input that used to be accepted --------------------------------------------------------

HTML_PAGE = "<?xml version='1.0'?>\n<html><head><title>Sign in</title></head><body><p>Log in</p></body></html>"


def test_empty_files_and_other_xml_are_rejected_with_the_reason(tmp_path):
    inputs = _folder(tmp_path, {"empty.fit": b"", "empty.gpx": b"", "empty.tcx": b"",
                                "login.tcx": HTML_PAGE, "login.gpx": HTML_PAGE, "ride.fit": _ride()})
    result = run_cli("run", inputs, "--out", tmp_path / "out", "--json", check_code=1)
    assert json.loads(result.stdout)["rejected"] == 5
    manifest = pl.read_parquet(tmp_path / "out" / "manifest.parquet")
    reasons = {p.rsplit("/", 1)[1]: (s, r) for p, s, r in manifest.select("path", "status", "reason").rows()}
    for name in ("empty.fit", "empty.gpx", "empty.tcx"):
        assert reasons[name] == ("rejected", "empty file")
    assert reasons["login.tcx"] == ("rejected", "not a TCX file (root element <html>)")
    assert reasons["login.gpx"] == ("rejected", "not a GPX file (root element <html>)")
    assert reasons["ride.fit"][0] == "imported"


# --- 3. nothing to do, said clearly -------------------------------------------------------------

def test_an_empty_input_folder_is_warned_about(tmp_path):
    empty = tmp_path / "emptydir"
    empty.mkdir()
    result = run_cli("run", empty, "--out", tmp_path / "out", check_code=0)
    assert f"no activity files found under {empty}" in result.stderr


def test_a_bare_run_outside_the_repository_says_how_to_give_inputs(tmp_path):
    result = run_cli("run", cwd=tmp_path, check_code=2)
    _one_line_error(result, "no inputs given", "fitpipe.toml")
    assert "sample_files" not in result.stderr


# --- 4. gzip ------------------------------------------------------------------------------------

def test_a_truncated_fit_gz_is_salvaged_and_bad_gzip_is_said_plainly(tmp_path):
    whole = gzip.compress(_ride(seconds=1200))
    inputs = _folder(tmp_path, {"cut.fit.gz": whole[: len(whole) * 2 // 3], "plain.fit.gz": b"plain text, no gzip"})
    result = run_cli("run", inputs, "--out", tmp_path / "out", "--json", check_code=1)
    manifest = pl.read_parquet(tmp_path / "out" / "manifest.parquet")
    rows = {p.rsplit("/", 1)[1]: r for p, *r in manifest.select("path", "status", "parse_status", "reason").rows()}
    assert rows["cut.fit.gz"][:2] == ["imported", "truncated"]
    assert "gzip data ends early" in rows["cut.fit.gz"][2]
    assert rows["plain.fit.gz"] == ["rejected", None, "not gzip-compressed data, although the name ends in .gz"]
    assert "plain.fit.gz: rejected: not gzip-compressed data" in result.stderr
    samples = pl.read_parquet(tmp_path / "out" / "samples" / "**" / "*.parquet")
    assert 0 < samples.height < 1201


# --- 5. exit codes while a first run is writing ---------------------------------------------------

@pytest.mark.parametrize("command", ["metrics", "report"])
def test_metrics_and_report_during_a_first_run_exit_3_or_wait(tmp_path, command):
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".fitpipe.lock", "w") as lock:  # a first run holds it, with no tables yet
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = run_cli(command, "--out", out, check_code=3)
        assert "another fitpipe run is writing here" in result.stderr
        waiting = subprocess.Popen([fitpipe_executable(), command, "--out", str(out), "--wait"],
                                   stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=2)  # it waits for the lock
    _, errors = waiting.communicate(timeout=60)
    assert waiting.returncode == 2 and "no activities table here yet; run `fitpipe run` first" in errors
    assert "ingest" not in errors


# --- 6. config messages -------------------------------------------------------------------------------

def test_single_bracket_thresholds_say_they_are_a_list(tmp_path):
    config = tmp_path / "fitpipe.toml"
    config.write_text('[athlete.thresholds]\nfrom = "2024-01-01"\nmax_hr = 190\n')
    result = run_cli("run", tmp_path, "--config", config, "--out", tmp_path / "out", check_code=2)
    _one_line_error(result, str(config), "[[athlete.thresholds]]")


def test_two_threshold_entries_with_one_date_are_an_error(tmp_path):
    config = tmp_path / "fitpipe.toml"
    config.write_text(THRESHOLDS.format(day="2024-01-01") * 2)
    result = run_cli("run", tmp_path, "--config", config, "--out", tmp_path / "out", check_code=2)
    _one_line_error(result, str(config), "2024-01-01", "entry 2")


# --- 7. thresholds that apply to less than meant ---------------------------------------------------------------

def test_thresholds_newer_than_every_activity_are_warned_about_with_counts(tmp_path):
    inputs = _folder(tmp_path, {f"ride{d}.fit": _ride(day=d) for d in range(3)})
    config = tmp_path / "fitpipe.toml"
    config.write_text(THRESHOLDS.format(day="2030-01-01"))
    result = run_cli("run", inputs, "--config", config, "--out", tmp_path / "out", check_code=0)
    assert "thresholds start 2030-01-01; 3 of 3 activities are older and use estimated thresholds" in result.stderr
    result = run_cli("metrics", "--config", config, "--out", tmp_path / "out", check_code=0)
    assert "3 of 3 activities are older" in result.stderr


# --- 8. the output folder remembers its settings -------------------------------------------------------

def test_metrics_from_elsewhere_keeps_the_thresholds_the_folder_was_built_with(tmp_path):
    inputs = _folder(tmp_path, {"ride.fit": _ride()})
    config = tmp_path / "athlete.toml"
    config.write_text(THRESHOLDS.format(day="2026-01-01"))
    out = tmp_path / "out"
    run_cli("run", inputs, "--config", config, "--out", out, "--quiet", check_code=0)
    tss = pl.read_parquet(out / "activities.parquet")["tss"][0]
    assert tss is not None and tss > 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli("metrics", "--out", out, cwd=elsewhere, check_code=0)
    assert "no [[athlete.thresholds]]" not in result.stderr
    assert pl.read_parquet(out / "activities.parquet")["tss"][0] == pytest.approx(tss)
    changed = tmp_path / "changed.toml"
    changed.write_text(THRESHOLDS.format(day="2026-01-01").replace("lthr = 168", "lthr = 175"))
    result = run_cli("metrics", "--out", out, "--config", changed, cwd=elsewhere, check_code=0)
    assert "settings differ from those this folder was built with" in result.stderr
    assert "lthr=168" in result.stderr and "lthr=175" in result.stderr
    assert pl.read_parquet(out / "activities.parquet")["tss"][0] < tss  # a higher LTHR, less stress


# --- 9. -v adds detail ------------------------------------------------------------------------------------

def test_verbose_adds_a_line_per_file_and_very_verbose_stage_times(tmp_path):
    inputs = _folder(tmp_path, {"a.fit": _ride(0), "b.fit": _ride(1), "bad.fit": b"junk"})
    quiet = run_cli("run", inputs, "--out", tmp_path / "q", check_code=1).stderr
    verbose = run_cli("run", inputs, "--out", tmp_path / "v", "-v", check_code=1).stderr
    very = run_cli("run", inputs, "--out", tmp_path / "vv", "-vv", check_code=1).stderr
    assert "a.fit: imported, 1 activity" not in quiet
    assert "a.fit: imported, 1 activity" in verbose and "b.fit: imported, 1 activity" in verbose
    assert "plan (discover" not in verbose
    assert "plan (discover" in very and "weekly, daily and athletes tables:" in very
    assert "--verbose" in run_cli("run", "--help", check_code=0).stdout
    assert "<int>" not in run_cli("run", "--help", check_code=0).stdout.split("--verbose")[1].splitlines()[0]


# --- 11. output that survives pipes and cron ---------------------------------------------------------------

def _zip_with_long_paths(tmp_path):
    members = {f"DI_CONNECT/DI-Connect-Uploaded-Files/UploadedFiles_0-_Part1/activity_{n:012d}.fit": _ride(n)
               for n in range(2)}
    path = tmp_path / "in" / "garmin_connect_export_2026-12-01.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path, list(members)


@pytest.mark.parametrize("environment", ["pipe", "env -i"])
def test_output_to_a_pipe_or_under_env_i_is_never_cut(tmp_path, environment):
    archive, members = _zip_with_long_paths(tmp_path)
    env = {"PATH": "/usr/bin:/bin"} if environment == "env -i" else {**os.environ, "COLUMNS": "80"}
    for key in ("COLUMNS", "LINES"):
        if environment == "env -i":
            env.pop(key, None)

    def fitpipe(*args):
        return subprocess.run([fitpipe_executable(), *map(str, args)], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=300)

    listed = fitpipe("discover", archive.parent, "--out", tmp_path / "out").stdout
    for member in members:
        assert f"{archive}!/{member}" in listed
    run = fitpipe("run", archive.parent, "--out", tmp_path / "out")
    summary = [line for line in run.stderr.splitlines() if line.strip()]
    assert summary[0].startswith("2 files: 2 imported") and summary[0].endswith(" s)")
    # then at most the note on the default resting heart rate, whole on its line too
    assert all(line.startswith("note: ") and line.endswith("for your own") for line in summary[1:]), summary
    inspected = fitpipe("inspect", f"{archive}!/{members[0]}").stdout
    sha = pl.read_parquet(tmp_path / "out" / "manifest.parquet").filter(
        pl.col("path").str.ends_with(members[0]))["sha256"][0]
    assert sha in inspected  # one unbroken line
    assert max(len(line) for line in inspected.splitlines()) > 80


# --- 12. inspect -------------------------------------------------------------------------------------------

def test_inspect_opens_archive_members_and_missing_files_are_one_plain_line(tmp_path):
    archive, members = _zip_with_long_paths(tmp_path)
    shown = json.loads(run_cli("inspect", f"{archive}!/{members[1]}", "--json", check_code=0).stdout)
    assert shown["status"] == "imported" and shown["path"] == f"{archive.resolve()}!/{members[1]}"
    missing = run_cli("inspect", tmp_path / "nowhere.fit", check_code=2)
    _one_line_error(missing, "nowhere.fit: no such file")
    assert "Errno" not in missing.stderr
    no_member = run_cli("inspect", f"{archive}!/DI_CONNECT/nothing.fit", check_code=2)
    _one_line_error(no_member, "holds no such activity file")


def test_inspect_of_a_rejected_file_prints_no_parse_none(tmp_path):
    bad = tmp_path / "bad.fit"
    bad.write_bytes(b"junk that is not a FIT file")
    text = run_cli("inspect", bad, check_code=1).stdout
    assert "None" not in text and "status: rejected" in text


# --- 13. the run summary -------------------------------------------------------------------------------------

def test_the_summary_counts_duplicate_files_and_duplicate_recordings(tmp_path):
    from recordings import device_ride, phone_gpx

    inputs = _folder(tmp_path, {"ride.fit": device_ride(seconds=1200), "copy.fit": device_ride(seconds=1200),
                                "ride.gpx": phone_gpx(seconds=1200)})
    result = run_cli("run", inputs, "--out", tmp_path / "out", check_code=0)
    assert "1 duplicate files" in result.stderr
    assert "2 activities in" in result.stderr and "1 of them other recordings of a workout kept once" in result.stderr


# --- 19. summary shows only the sports done ---------------------------------------------------------------

def test_summary_json_leaves_out_sports_not_done_that_week(tmp_path):
    from recordings import phone_gpx

    inputs = _folder(tmp_path, {"ride.fit": _ride(0), "run.gpx": phone_gpx(seconds=600, speed=3.0, track_type="9",
                                                                        start=START + timedelta(days=8))})
    run_cli("run", inputs, "--out", tmp_path / "out", "--quiet", check_code=0)
    rows = json.loads(run_cli("summary", "--out", tmp_path / "out", "--json", check_code=0).stdout)
    by_week = {}
    for row in rows:
        by_week.setdefault(row["week_start"], set()).add(row["sport"])
    assert list(by_week.values()) == [{"ride", "all"}, {"run", "all"}]
    assert all(row["activities"] > 0 for row in rows)


# --- 21. small ones --------------------------------------------------------------------------------------------

POLAR_TCX = """<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">
 <Activities><Activity Sport="Running"><Id>2026-07-06T06:00:00Z</Id>
  <Lap StartTime="2026-07-06T06:00:00Z"><TotalTimeSeconds>60</TotalTimeSeconds><DistanceMeters>200</DistanceMeters>
   <AverageHeartRateBpm><Value>0</Value></AverageHeartRateBpm>
   <Track>{points}</Track></Lap>
  <Creator xsi:type="Device_t" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Name>Polar V800</Name>
   <UnitId>0</UnitId><ProductID>0</ProductID></Creator>
 </Activity></Activities>
</TrainingCenterDatabase>"""


def test_polar_tcx_is_polar_and_a_zero_device_heart_rate_is_null(tmp_path):
    points = "".join(f"<Trackpoint><Time>2026-07-06T06:00:{s:02d}Z</Time><DistanceMeters>{3.3 * s:.1f}</DistanceMeters>"
                     "</Trackpoint>" for s in range(60))
    path = tmp_path / "polar.tcx"
    path.write_text(POLAR_TCX.format(points=points))
    row = json.loads(run_cli("inspect", path, "--json", check_code=0).stdout)["activities"][0]
    import pipeline

    activity = pipeline.read_file(path).activities.row(0, named=True)
    assert activity["manufacturer"] == "polar" and activity["product"] == "Polar V800"
    assert activity["device_avg_hr_bpm"] is None
    assert row["sport"] == "run"


def test_newer_garmin_products_are_named_from_the_sdk_profile(tmp_path):
    from fitbuild import MESG
    from garmin_fit_sdk import Encoder

    encoder = Encoder()
    # 3121 is not in fitparse's profile; the Garmin SDK's names it.
    encoder.write_mesg({"mesg_num": MESG["FILE_ID"], "type": "activity", "manufacturer": "garmin",
                        "product": 3121, "time_created": START})
    for message in steady_ride(120):
        encoder.write_mesg(message)
    path = tmp_path / "new.fit"
    path.write_bytes(encoder.close())
    import pipeline
    from garmin_fit_sdk import Profile

    assert pipeline.read_file(path).activities["product"][0] == Profile["types"]["garmin_product"][3121]
