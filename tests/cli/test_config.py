"""fitpipe.toml: thresholds with effective dates, and one-line errors that name the file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipeline.config import ConfigError, Settings, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fitpipe.toml"
    path.write_text(text)
    return path


def test_dated_thresholds_are_read(tmp_path):
    path = write(tmp_path, """
timezone = "Europe/Berlin"
out = "tables"
[[athlete.thresholds]]
from = 2024-01-01
max_hr = 188
resting_hr = 48
ftp = 250
[[athlete.thresholds]]
from = "2025-03-01"
max_hr = 186
ftp = 265
""")
    settings = load_settings(path)
    assert settings.out == tmp_path / "tables"
    # Which entry applies on which day is load.attach_thresholds' job (tests/test_load.py).
    assert [(t.effective_from, t.max_hr, t.resting_hr, t.ftp) for t in settings.athlete.thresholds] == [
        (date(2024, 1, 1), 188, 48, 250), (date(2025, 3, 1), 186, None, 265)]


def test_threshold_paces_are_read_as_minutes_and_seconds(tmp_path):
    path = write(tmp_path, '[[athlete.thresholds]]\nfrom = 2024-01-01\nthreshold_pace = "4:25"\ncss = "1:40"\n')
    entry, = load_settings(path).athlete.thresholds
    # 4 min 25 s per km = 265 s; 1 min 40 s per 100 m = 100 s
    assert (entry.threshold_pace, entry.css) == (265.0, 100.0)


def test_flags_override_the_file(tmp_path):
    path = write(tmp_path, 'timezone = "Europe/Berlin"\nworkers = 3\n')
    settings = load_settings(path, timezone="Asia/Tokyo", workers=None)
    assert (settings.timezone, settings.workers) == ("Asia/Tokyo", 3)


THRESHOLDS = '[[athlete.thresholds]]\nfrom = "2024-01-01"\n'


@pytest.mark.parametrize("text,fragment", [
    ('timezone = "Mars/Olympus"', "unknown time zone"),
    ("colour = 1", "unknown setting(s) colour"),
    ("[[athlete.thresholds]]\nmax_hr = 180", "'from'"),
    (THRESHOLDS + "max_hr = -3", "max_hr must be a positive number"),
    (THRESHOLDS + 'threshold_pace = "fast"', 'threshold_pace must be a pace like "4:25" (minutes:seconds per km)'),
    (THRESHOLDS + 'css = "1:75"', 'css must be a pace like "1:40" (minutes:seconds per 100 m)'),
    (THRESHOLDS + "css = 100", 'css must be a pace like "1:40"'),
    ("timezone = ", "not valid TOML"),
    ('workers = "4"', "workers must be a whole number"),
    ("workers = 0", "workers must be a whole number"),
    ('[engines]\nfit = "nope"', "unknown fit engine 'nope'; choose from numpy, fitparse"),
    ('[engines]\nkml = "x"', "unknown format 'kml'"),
    ("out = 3", "out must be a path"),
    ('[athlete]\nsex = "x"', "athlete.sex must be one of male, female"),
    ('[athlete]\nhr_zones = "ftp"', "athlete.hr_zones must be one of lthr, max_hr"),
    ("[athlete]\nweight = 70", "unknown athlete setting(s) weight"),
    (THRESHOLDS + "max_hr = 180\nresting_hr = 180", "resting_hr (180) must be below max_hr (180)"),
    (THRESHOLDS + "max_hr = 180\nlthr = 185", "lthr (185) must not be above max_hr (180)"),
    (THRESHOLDS + "resting_hr = 60\nlthr = 55", "lthr (55) must be above resting_hr (60)"),
    ("[metrics]\nascent_hysteresis_m = 0", "metrics.ascent_hysteresis_m must be a number of metres above 0"),
    ('[metrics]\nascent_hysteresis_m = "3"', "metrics.ascent_hysteresis_m must be a number"),
    ("[metrics]\nsmoothing = 5", "unknown metrics setting(s) smoothing"),
    ("[metrics]\nthreshold_window_days = 3", "metrics.threshold_window_days must be a whole number of days from 7 to 730"),
    ("[metrics]\nthreshold_window_days = 60.5", "metrics.threshold_window_days must be a whole number"),
    ("metrics = 3", "metrics must be a table"),
    ("[duplicates]\nenabled = 1", "duplicates.enabled must be true or false"),
    ("[duplicates]\ntolerance_pct = -1", "duplicates.tolerance_pct must be a number from 0 to 50"),
    ("[duplicates]\nstart_within_s = 7200", "duplicates.start_within_s must be a number from 0 to 3600"),
    ("[duplicates]\nwindow = 5", "unknown duplicates setting(s) window"),
    ("duplicates = false", "duplicates must be a table"),
    ("[archives]\nmax_member_mb = 0", "archives.max_member_mb must be a whole number from 1 to 65536"),
    ("[archives]\nmax_ratio = 5.5", "archives.max_ratio must be a whole number from 10 to 10000"),
    ("[archives]\nmax_size = 5", "unknown archives setting(s) max_size"),
])
def test_bad_settings_give_a_one_line_error_naming_the_file_and_problem(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, text))
    assert fragment in str(error.value)
    assert str(tmp_path / "fitpipe.toml") in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_engine_flag_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown gpx engine 'fast'"):
        load_settings(None, engines={"gpx": "fast"})


def test_athlete_sex_and_zone_basis(tmp_path):
    settings = load_settings(write(tmp_path, '[athlete]\nsex = "female"\nhr_zones = "max_hr"\n'))
    assert (settings.athlete.sex, settings.athlete.hr_zones) == ("female", "max_hr")
    assert (Settings().athlete.sex, Settings().athlete.hr_zones) == ("male", "lthr")


def test_ascent_hysteresis_is_configurable(tmp_path):
    settings = load_settings(write(tmp_path, "[metrics]\nascent_hysteresis_m = 5\n"))
    assert settings.athlete.ascent_hysteresis_m == 5.0
    assert Settings().athlete.ascent_hysteresis_m == 3.0  # the documented default


def test_the_thresholds_window_is_configurable_for_every_athlete(tmp_path):
    settings = load_settings(write(tmp_path, '[metrics]\nthreshold_window_days = 42\n'
                                             '[[athletes]]\nid = "ana"\ninputs = ["a"]\n'
                                             '[[athletes]]\nid = "ben"\ninputs = ["b"]\n'))
    assert [a.threshold_window_days for a in settings.athletes] == [42, 42]
    assert Settings().athlete.threshold_window_days == 90  # the documented default


def test_duplicate_rule_is_configurable(tmp_path):
    rule = load_settings(write(tmp_path, "[duplicates]\nenabled = false\nstart_within_s = 60\ntolerance_pct = 5\n")).duplicates
    assert (rule.enabled, rule.start_within_s, rule.tolerance_pct) == (False, 60.0, 5.0)
    default = Settings().duplicates
    assert (default.enabled, default.start_within_s, default.tolerance_pct) == (True, 120.0, 3.0)


def test_archive_limits_are_configurable(tmp_path):
    text = "[archives]\nmax_member_mb = 2048\nmax_total_gb = 200\nmax_ratio = 500\nmax_depth = 4\n"
    limits = load_settings(write(tmp_path, text)).archive_limits
    assert (limits.max_member_bytes, limits.max_archive_bytes, limits.max_ratio, limits.max_depth) == (
        2048 * 2**20, 200 * 2**30, 500, 4)
    default = Settings().archive_limits
    assert (default.max_member_bytes, default.max_ratio, default.max_depth) == (512 * 2**20, 200, 3)
