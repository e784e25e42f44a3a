"""Configuring athletes: [[athletes]] in fitpipe.toml, --athlete, --athletes-from-folders, and
one-line errors for everything that can be wrong with them (issue 21)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from conftest import SAMPLE_FILES, run_cli
from pipeline.config import ConfigError, load_settings

RIDE, RUN = SAMPLE_FILES / "garmin" / "2026-07-28-ride.fit", SAMPLE_FILES / "garmin" / "2026-08-02-run.fit"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fitpipe.toml"
    path.write_text(text)
    return path


def folders(tmp_path: Path, *names: str) -> list[Path]:
    made = []
    for name in names:
        (tmp_path / name).mkdir(parents=True)
        made.append(tmp_path / name)
    return made


def test_a_team_config_is_read(tmp_path):
    folders(tmp_path, "exports/ana", "exports/ben")
    settings = load_settings(write(tmp_path, """
out = "team-data"
[athlete]
sex = "female"

[[athletes]]
id = "ana"
name = "Ana Ruiz"
inputs = ["exports/ana"]
timezone = "Europe/Madrid"
hr_zones = "max_hr"

[[athletes.thresholds]]
from = "2024-01-01"
max_hr = 192
ftp = 235

[[athletes]]
id = "ben"
inputs = "exports/ben"
sex = "male"
"""))
    ana, ben = settings.athletes
    assert (ana.id, ana.name, ana.timezone, ana.sex, ana.hr_zones) == ("ana", "Ana Ruiz", "Europe/Madrid", "female", "max_hr")
    assert ana.inputs == (tmp_path / "exports/ana",) and ana.thresholds[0].ftp == 235
    assert (ben.id, ben.name, ben.timezone, ben.sex, ben.thresholds) == ("ben", None, None, "male", ())
    assert settings.is_team and settings.timezone_of(ben) == "UTC"


TEAM = '[[athletes]]\nid = "ana"\ninputs = ["a"]\n'


@pytest.mark.parametrize("text,fragment", [
    ('[[athletes]]\nid = "Ana"\ninputs = ["a"]', "athlete id 'Ana' must be 1 to 64 of a-z, 0-9, '_' and '-'"),
    ('[[athletes]]\ninputs = ["a"]', "athlete id None must be"),
    (TEAM + TEAM.replace('["a"]', '["b"]'), "athlete id 'ana' is given twice"),
    (TEAM + '[[athletes]]\nid = "ben"\ninputs = ["a"]', "/a is also given to athlete 'ana'"),
    (TEAM + '[[athletes]]\nid = "ben"\ninputs = ["a/inner"]', "(one holds the other)"),
    ('[[athletes]]\nid = "ana"', "athlete 'ana' needs inputs"),
    ('[[athlete.thresholds]]\nfrom = "2024-01-01"\n' + TEAM + '[[athletes.thresholds]]\nfrom = "2025-01-01"',
     "thresholds are given both for athlete 'ana' and at the top level"),
    ('inputs = ["x"]\n' + TEAM, "with [[athletes]], each athlete has its own inputs"),
    ('[athletes]\nid = "ana"', "write each one under [[athletes]]"),
    (TEAM + 'weight = 60', "unknown key(s) weight"),
    (TEAM + 'timezone = "Mars/Olympus"', "timezone: unknown time zone"),
    (TEAM + 'sex = "x"', "athletes entry 1.sex must be one of male, female"),
    (TEAM + '[[athletes.thresholds]]\nmax_hr = 180', "athletes entry 1.thresholds entry 1: 'from'"),
])
def test_bad_athletes_give_a_one_line_error_naming_the_file(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, text))
    assert fragment in str(error.value) and str(tmp_path / "fitpipe.toml") in str(error.value)
    assert "\n" not in str(error.value)


def test_athlete_flag_errors_are_one_line_usage_errors(tmp_path):
    config = write(tmp_path, TEAM)
    (tmp_path / "a").mkdir()
    unknown = run_cli("run", "--config", config, "--athlete", "zed", check_code=2)
    assert "unknown athlete 'zed'; the config names ana" in unknown.stderr and unknown.stderr.count("\n") == 1
    whose = run_cli("run", tmp_path / "a", "--config", config, check_code=2)
    assert "say whose files" in whose.stderr and "--athlete ID" in whose.stderr
    bad = run_cli("run", tmp_path / "a", "--athlete", "Not Valid", "--out", tmp_path / "o", check_code=2)
    assert "--athlete: athlete id 'Not Valid' must be" in bad.stderr
    both = run_cli("run", "--athlete", "ana", "--athletes-from-folders", tmp_path, check_code=2)
    assert "give one or the other" in both.stderr


def test_one_athlete_at_a_time_into_one_folder(tmp_path):
    ana, ben = folders(tmp_path, "ana-files", "ben-files")
    shutil.copy(RIDE, ana)
    shutil.copy(RUN, ben)
    out = tmp_path / "team-data"
    run_cli("run", ana, "--athlete", "ana", "--out", out, "--quiet", check_code=0)
    run_cli("run", ben, "--athlete", "ben", "--out", out, "--quiet", check_code=0)
    activities = pl.read_parquet(out / "activities.parquet")
    assert dict(activities.select("athlete_id", "sport").iter_rows()) == {"ana": "ride", "ben": "run"}
    assert sorted(pl.read_parquet(out / "athletes.parquet")["athlete_id"]) == ["ana", "ben"]
    # Files without an athlete would become a third athlete, `default`: refused, in one line.
    refused = run_cli("run", ben, "--out", out, check_code=2)
    assert "holds athletes ana, ben; say whose files these are with --athlete ID" in refused.stderr
    # Each athlete's own report and summary; an unknown one is a one-line error.
    page = run_cli("report", "--out", out, "--athlete", "ben", "--quiet", check_code=0).stdout.strip()
    assert page.endswith("report/athletes/ben.html") and not (out / "report" / "athletes" / "ana.html").exists()
    weeks = json.loads(run_cli("summary", "--out", out, "--athlete", "ana", "--json", check_code=0).stdout)
    assert {row["sport"] for row in weeks if row["activities"]} == {"ride", "all"}
    missing = run_cli("report", "--out", out, "--athlete", "zed", check_code=2)
    assert "no activities of athlete 'zed' here; athletes here: ana, ben" in missing.stderr


def test_athletes_from_folders_makes_an_athlete_of_each_subfolder(tmp_path):
    root = tmp_path / "library"
    ana, ben = folders(root, "Ana Ruiz", "ben")
    shutil.copy(RIDE, ana)
    shutil.copy(RUN, ben)
    out = tmp_path / "out"
    run_cli("run", "--athletes-from-folders", root, "--out", out, "--quiet", check_code=0)
    athletes = pl.read_parquet(out / "athletes.parquet").select("athlete_id", "name", "activities")
    assert athletes.rows() == [("ana-ruiz", "Ana Ruiz", 1), ("ben", "ben", 1)]
    listed = json.loads(run_cli("discover", "--athletes-from-folders", root, "--out", out, "--json",
                                check_code=0).stdout)
    assert [(f["athlete_id"], f["state"]) for f in listed] == [("ana-ruiz", "unchanged"), ("ben", "unchanged")]
    clash = folders(root, "BEN")[0]
    assert "same athlete id 'ben'" in run_cli("run", "--athletes-from-folders", root, "--out", out,
                                              check_code=2).stderr
    clash.rmdir()
    assert "no such folder" in run_cli("run", "--athletes-from-folders", tmp_path / "nope", check_code=2).stderr


def test_the_team_summary_is_a_line_per_athlete_and_pipes_cleanly(tmp_path):
    ana, ben = folders(tmp_path, "ana", "ben")
    shutil.copy(RIDE, ana)
    shutil.copy(RUN, ben)
    out = tmp_path / "out"
    run_cli("run", "--athletes-from-folders", tmp_path, "--out", out, "--quiet", check_code=0)
    lines = run_cli("summary", "--out", out, check_code=0).stdout.splitlines()
    rows = [line for line in lines if line.startswith(("│ ana", "│ ben", "ana", "ben"))]
    assert len(rows) == 2, lines
    assert "no activity for" in rows[0]  # the sample ride is months before today
