"""`fitpipe report` and `fitpipe summary` on the sample history, through the installed CLI, and the
page in headless Chromium. Expectations come from the sample generator's plan and the docs."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from conftest import SAMPLE_FILES, image_check, run_cli
from pipeline.normalize import schema
from pipeline.report import crosstrain, pooled
from pipeline.config import load_settings
from pipeline.report import build_report, sections
from pipeline.sinks import ParquetFolder
from pipeline.samplegen.plan import FIRST_MONDAY, NUMBER_OF_WEEKS, RIDE_HR_COST_AFTER_RUN_FOCUS

LTHR = 168
CONFIG = f"""
[athlete]
hr_zones = "lthr"

[[athlete.thresholds]]
from = "2026-01-01"
max_hr = 190
resting_hr = 50
lthr = {LTHR}
ftp = 260
"""
SECTION_IDS = ["time", "distance", "load", "zones", "efficiency", "crosstrain", "recent", "power", "efforts",
               "thresholds"]
LAST_WEEK = FIRST_MONDAY + timedelta(weeks=NUMBER_OF_WEEKS - 1)


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    """`fitpipe run` then `fitpipe report` on sample_files/, with thresholds so every section has data."""
    folder = tmp_path_factory.mktemp("report")
    config, out = folder / "fitpipe.toml", folder / "out"
    config.write_text(CONFIG)
    run_cli("run", SAMPLE_FILES, "--out", out, "--config", config, "--quiet", check_code=0)
    result = run_cli("report", "--out", out, "--config", config, check_code=0)
    return out, result, config


@pytest.fixture(scope="module")
def page(report_run) -> str:
    out, _, _ = report_run
    return (out / "report" / "index.html").read_text()


def _section(page: str, anchor: str) -> str:
    return page.split(f'<section id="{anchor}">', 1)[1].split("</section>", 1)[0]


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', html)]


# --- the page ---------------------------------------------------------------------------


def test_report_is_one_self_contained_file(report_run, page):
    out, result, _ = report_run
    assert result.stdout.strip() == str(out / "report" / "index.html")
    assert [p.name for p in (out / "report").iterdir()] == ["index.html"]
    assert re.findall(r'<section id="([^"]+)">', page) == SECTION_IDS
    assert page.count("<img ") == len(_images(page)) >= 6  # every image is an embedded PNG
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page, re.IGNORECASE), "the page links out"
    assert "default-src 'none'" in page  # the browser may fetch nothing
    for png in _images(page):
        image = Image.open(io.BytesIO(png))
        image.verify()
        assert image.format == "PNG" and image.size[0] >= 800


def test_weekly_sections_cover_the_sample_history(page):
    time_section = _section(page, "time")
    assert f"{NUMBER_OF_WEEKS} weeks, from the week of {FIRST_MONDAY} to the week of {LAST_WEEK}" in time_section
    assert re.search(r"ride \d+%, run \d+%, swim \d+%", time_section)
    assert len(_images(time_section)) == 1
    assert f"week of {LAST_WEEK} (km)" in _section(page, "distance")


def test_load_and_zone_sections_draw_charts_when_thresholds_are_configured(page):
    for anchor in ("load", "zones"):
        assert 'class="empty"' not in _section(page, anchor)
        assert len(_images(_section(page, anchor))) == 1


def test_run_pace_uses_zone_2_of_the_configured_lthr(page):
    # docs/metrics.md: zone 2 runs from 85 % to 90 % of LTHR.
    assert f"heart rate {0.85 * LTHR:.0f}–{0.90 * LTHR:.0f} bpm (zone 2" in _section(page, "efficiency")


def test_last_activities_table_starts_with_the_last_planned_day(page):
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td>", _section(page, "recent"))
    assert len(rows) == 10
    assert rows[0][0].startswith(str(FIRST_MONDAY + timedelta(weeks=NUMBER_OF_WEEKS, days=-1)))


def test_the_same_tables_give_the_same_page(report_run, page):
    out, _, config = report_run
    crosstrain_before = pl.read_parquet(out / "crosstrain.parquet")
    assert build_report(out, load_settings(config).athlete).read_text() == page
    assert pl.read_parquet(out / "crosstrain.parquet").equals(crosstrain_before)


# --- cross-training --------------------------------------------------------------------------


def test_crosstrain_finds_the_sign_the_generator_built_in(report_run, page):
    out, _, _ = report_run
    everything = pl.read_parquet(out / "crosstrain.parquet")
    assert everything.columns == list(pooled.SCHEMA)
    # One athlete's rows, then the pooled rows, which one athlete cannot fill.
    pooled_rows = everything.filter(pl.col("athlete_id").is_null())
    assert pooled_rows["verdict"].to_list() == ["too_few_athletes"] * 5
    table = everything.filter(pl.col("athlete_id") == "default")
    assert table["lag_weeks"].to_list() == [0, 1, 2, 3, 4]
    lag1 = table.row(1, named=True)
    # The generator makes riding cheaper in heart rate the week after a run-focus week (factor < 1):
    # more running, then more watts per beat.
    assert RIDE_HR_COST_AFTER_RUN_FOCUS[1] < 1
    assert lag1["n_weeks"] >= crosstrain.MIN_WEEKS
    assert lag1["verdict"] == "positive" and lag1["r"] > 0 and lag1["ci_low"] > 0
    assert "followed 1 week later by rides with a higher efficiency factor" in _section(page, "crosstrain")


def test_crosstrain_r_matches_an_independent_recomputation(report_run):
    """docs/report.md's method, written out again with plain Python from activities.parquet."""
    out, _, _ = report_run
    activities = pl.read_parquet(out / "activities.parquet").filter(pl.col("duplicate_of").is_null()).to_dicts()
    monday = lambda a: a["start_time_local"].date() - timedelta(days=a["start_time_local"].weekday())  # noqa: E731
    running, ef_sum, ef_time = defaultdict(float), defaultdict(float), defaultdict(float)
    for a in activities:
        if a["sport"] == "run":
            running[monday(a)] += a["moving_s"]
        steady = a["variability_index"] is not None and a["variability_index"] <= 1.05
        if a["sport"] == "ride" and a["ef_power_w_per_bpm"] is not None and steady and a["moving_s"] > 0:
            ef_sum[monday(a)] += a["ef_power_w_per_bpm"] * a["moving_s"]
            ef_time[monday(a)] += a["moving_s"]
    first, last = min(running), max(monday(a) for a in activities)
    weeks = [first + timedelta(weeks=k) for k in range((last - first).days // 7 + 1)]
    pairs = [(running[w], ef_sum[w + timedelta(weeks=1)] / ef_time[w + timedelta(weeks=1)])
             for w in weeks if ef_time.get(w + timedelta(weeks=1))]
    table = pl.read_parquet(out / "crosstrain.parquet")
    assert table["ride_ef_metric"][1] == "ef_power_w_per_bpm"
    assert table["n_weeks"][1] == len(pairs)
    assert table["r"][1] == pytest.approx(np.corrcoef(np.array(pairs).T)[0, 1], abs=1e-9)


# --- errors and missing tables ----------------------------------------------------------------


def test_report_without_activities_is_a_one_line_error_naming_the_folder(tmp_path):
    missing = tmp_path / "nothing-here"
    result = run_cli("report", "--out", missing, check_code=2)
    assert str(missing) in result.stderr and "no activities table" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not missing.exists()


def test_report_on_an_empty_activities_table_exits_2(tmp_path):
    ParquetFolder(tmp_path).write_table("activities", pl.DataFrame(schema=schema.ACTIVITIES))
    result = run_cli("report", "--out", tmp_path, check_code=2)
    assert "no dated activities" in result.stderr
    assert not (tmp_path / "report").exists()


def test_report_builds_weekly_and_daily_tables_when_only_ingest_ran(report_run, tmp_path):
    out, _, _ = report_run
    copy = tmp_path / "ingested"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("weekly.parquet", "daily_load.parquet", "report"))
    html = build_report(copy).read_text()
    assert f"{NUMBER_OF_WEEKS} weeks, from the week of {FIRST_MONDAY}" in html
    assert not (copy / "weekly.parquet").exists()  # read-only use of the tables it lacks


def test_sections_explain_what_is_missing():
    daily = pl.DataFrame({"date": [FIRST_MONDAY], "sport": ["all"], "tss": [0.0], "ctl": [0.0], "atl": [0.0],
                          "tsb": [0.0]})
    assert "[[athlete.thresholds]]" in sections.training_load(daily).empty
    unzoned = schema.conform(pl.DataFrame({"sport": ["ride"]}), schema.ACTIVITIES)
    assert "lthr" in sections.heart_rate_zones(unzoned).empty


def test_the_page_is_written_atomically(tmp_path):
    sink = ParquetFolder(tmp_path)
    sink.write_report("old")
    path = Path(sink.write_report("new ✓"))
    assert path == tmp_path / "report" / "index.html"
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert [p.name for p in path.parent.iterdir()] == ["index.html"]  # no temporary file left


# --- summary -------------------------------------------------------------------------------------


def test_summary_json_is_the_last_8_weeks_sport_split(report_run):
    out, _, _ = report_run
    rows = json.loads(run_cli("summary", "--out", out, "--json", check_code=0).stdout)
    weeks = sorted({row["week_start"] for row in rows})
    assert len(weeks) == 8 and weeks[-1] == str(LAST_WEEK)
    activities = pl.read_parquet(out / "activities.parquet").filter(pl.col("duplicate_of").is_null())
    for week in weeks:
        cells = {row["sport"]: row for row in rows if row["week_start"] == week}
        monday = date.fromisoformat(week)
        in_week = activities.filter(pl.col("start_time_local").dt.date().is_between(
            monday, monday + timedelta(days=6)))
        assert cells["all"]["moving_s"] == pytest.approx(in_week["moving_s"].sum())
        assert sum(c["share_of_moving_time"] for s, c in cells.items() if s != "all") == pytest.approx(1.0)


def test_summary_table_shows_each_week_and_sport(report_run):
    out, _, _ = report_run
    text = run_cli("summary", "--out", out, "--weeks", "3", check_code=0).stdout
    dated = re.findall(r"\d{4}-\d{2}-\d{2}", text)
    assert dated == [str(LAST_WEEK - timedelta(weeks=k)) for k in (2, 1, 0)]
    for sport in ("ride", "run", "swim"):
        assert sport in text


def test_summary_without_tables_exits_2(tmp_path):
    result = run_cli("summary", "--out", tmp_path, check_code=2)
    assert str(tmp_path) in result.stderr


# --- headless Chromium ---------------------------------------------------------------------------

def test_chromium_renders_the_report_and_every_chart_loads(report_run, page, chromium, tmp_path):
    out, _, _ = report_run
    url = (out / "report" / "index.html").as_uri()
    shot = tmp_path / "shot.png"
    browser = chromium(f"--screenshot={shot}", "--window-size=1200,2400", url)
    assert shot.exists(), f"no screenshot; chromium said: {browser.stderr[-2000:]}"
    pixels = Image.open(shot).convert("RGB")
    colours = pixels.getcolors(maxcolors=1 << 24)
    assert len(colours) > 500, "the screenshot is (nearly) blank"
    background = max(count for count, _ in colours)
    assert background < 0.9 * pixels.width * pixels.height

    check = image_check(chromium("--dump-dom", "--virtual-time-budget=10000", url))
    assert check == {"state": "ok", "loaded": str(len(_images(page))), "total": str(len(_images(page)))}


def test_the_image_check_reports_a_broken_chart(report_run, page, chromium, tmp_path):
    """The check above can fail: one corrupted chart is counted as not loaded."""
    broken = tmp_path / "broken.html"
    broken.write_text(re.sub(r"base64,[^\"]+", "base64,AAAA", page, count=1))
    check = image_check(chromium("--dump-dom", "--virtual-time-budget=10000", broken.as_uri()))
    total = len(_images(page))
    assert check == {"state": "broken", "loaded": str(total - 1), "total": str(total)}


# --- the default report: no configuration at all (issue 24) ---------------------------------------


@pytest.fixture(scope="module")
def default_report(tmp_path_factory):
    """`fitpipe run && fitpipe report` on sample_files/, from a folder without fitpipe.toml."""
    folder = tmp_path_factory.mktemp("default-report")
    run_cli("run", SAMPLE_FILES, "--out", folder / "out", "--quiet", cwd=folder, check_code=0)
    run_cli("report", "--out", folder / "out", "--quiet", cwd=folder, check_code=0)
    return folder / "out" / "report" / "index.html"


def test_the_default_report_fills_every_section_with_thresholds_it_estimated(default_report):
    page = default_report.read_text()
    assert re.findall(r'<section id="([^"]+)">', page) == SECTION_IDS
    for anchor in SECTION_IDS:
        section = _section(page, anchor)
        assert 'class="empty"' not in section, anchor
        assert _images(section) or "<table>" in section, anchor
    # thresholds.parquet's estimates, each with its source, in the table of section 10
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>", _section(page, "thresholds"))
    assert {name for name, _, _ in rows} >= {"FTP", "max HR", "LTHR, rides", "LTHR, runs", "CSS",
                                             "threshold run pace", "resting HR"}
    assert {source for name, _, source in rows if name != "resting HR"} == {"estimated"}
    assert re.search(r"CP \d+ W, W′ \d+\.\d kJ", _section(page, "power"))


def test_chromium_renders_the_default_report_with_every_chart(default_report, chromium, tmp_path):
    shot = tmp_path / "default.png"
    browser = chromium(f"--screenshot={shot}", "--window-size=1200,8000", default_report.as_uri())
    assert shot.exists(), f"no screenshot; chromium said: {browser.stderr[-2000:]}"
    pixels = Image.open(shot).convert("RGB")
    # the lower part of the page, where sections 8-10 are, is drawn: not one colour
    lower = pixels.crop((0, pixels.height // 2, pixels.width, pixels.height))
    assert len(lower.getcolors(maxcolors=1 << 24)) > 500
    total = len(_images(default_report.read_text()))
    check = image_check(chromium("--dump-dom", "--virtual-time-budget=10000", default_report.as_uri()))
    assert check == {"state": "ok", "loaded": str(total), "total": str(total)} and total >= 9


# --- a long history: twelve years, gaps of a year and more, a sport in one month (issue 19) ---------

from benchmarks.report import LONG_FIRST_MONDAY, LONG_GAPS, LONG_YEARS, ROWING_DAYS, write_long_history  # noqa: E402

TODAY = date(2026, 12, 4)


@pytest.fixture(scope="module")
def long_history(tmp_path_factory):
    out = tmp_path_factory.mktemp("long-history")
    table = write_long_history(out)
    return out, table


def _days(table: pl.DataFrame) -> list[date]:
    return sorted(table["start_time_local"].dt.date().to_list())


def test_default_report_shows_the_last_52_weeks_and_says_how_old_the_history_is(long_history):
    out, table = long_history
    html = build_report(out, today=TODAY).read_text()
    last = _days(table)[-1]
    # Worked out from the generator: the last activity is day 365 * 12 - 1 after the first Monday.
    assert last == LONG_FIRST_MONDAY.date() + timedelta(days=365 * LONG_YEARS - 1)
    first_week = last - timedelta(days=last.weekday()) - timedelta(weeks=51)
    assert f"show the 52 weeks from {first_week} to {last}" in html
    assert "The last activity was 2 years ago" in html
    zones = _section(html, "zones")
    months = (last.year - first_week.year) * 12 + last.month - first_week.month + 1
    assert f"the {months} months from {first_week:%B %Y} to {last:%B %Y}" in zones
    assert "last 12 months" not in zones


def test_since_shows_every_year_and_the_sport_of_one_month(long_history, tmp_path):
    out, table = long_history
    result = run_cli("report", "--out", out, "--since", "2013-01-01", check_code=0)
    html = (out / "report" / "index.html").read_text()
    assert result.stdout.strip() == str(out / "report" / "index.html")
    assert "from 2012-12-31 to" in html  # the Monday of the week of 2013-01-01
    rowing_h = table.filter(pl.col("sport") == "row")["moving_s"].sum() / 3600
    assert len(ROWING_DAYS) == 31
    assert f"<td>row</td><td>{rowing_h:.1f}</td>" in _section(html, "time")
    weeks = run_cli("report", "--out", out, "--weeks", "4", check_code=0)
    assert weeks.returncode == 0
    assert "show the 4 weeks from" in (out / "report" / "index.html").read_text()


def test_trend_lines_break_at_gaps_longer_than_their_window(long_history):
    _, table = long_history
    rides = table.filter(pl.col("sport") == "ride").select("start_time_local", value=pl.col("ef_speed_m_per_min_per_bpm"))
    trend = sections._trend(rides)
    times = sorted(rides["start_time_local"].to_list())
    gaps = sum(1 for a, b in zip(times, times[1:]) if (b - a) > timedelta(days=42))
    assert gaps == len(LONG_GAPS) and trend["gap_before"].sum() == gaps
    from pipeline.report.charts import _broken_at_gaps

    line_times, line_values = _broken_at_gaps(trend)
    assert len(line_times) == trend.height + gaps and int(np.isnan(line_values).sum()) == gaps


def test_the_ef_column_says_its_unit_on_every_row_and_names_are_shown():
    activities = schema.conform(pl.DataFrame([
        {"start_time_local": datetime(2026, 7, 6, 7), "sport": "ride", "source_name": "Col du Vršič",
         "ef_power_w_per_bpm": 1.5, "ef_speed_m_per_min_per_bpm": 3.0},
        {"start_time_local": datetime(2026, 7, 7, 7), "sport": "run", "source_name": None,
         "ef_speed_m_per_min_per_bpm": 1.4},
    ]), schema.ACTIVITIES)
    table = sections.recent_activities(activities).tables[0]
    column = {h: i for i, h in enumerate(table.headers)}
    cells = [(row[column["name"]], row[column["EF"]]) for row in table.rows]
    assert cells == [("–", "1.40 (m/min)/bpm"), ("Col du Vršič", "1.50 W/bpm")]


def test_chromium_renders_the_long_history_report(long_history, chromium, tmp_path):
    out, _ = long_history
    page = build_report(out, today=TODAY, since=date(2013, 1, 1))
    shot = tmp_path / "long.png"
    browser = chromium(f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri())
    assert shot.exists(), f"no screenshot; chromium said: {browser.stderr[-2000:]}"
    assert len(Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 24)) > 500
    html = page.read_text()
    check = image_check(chromium("--dump-dom", "--virtual-time-budget=10000", page.as_uri()))
    assert check == {"state": "ok", "loaded": str(len(_images(html))), "total": str(len(_images(html)))}
    for anchor in SECTION_IDS:  # every section draws or says why not
        section = _section(html, anchor)
        assert _images(section) or "<table>" in section or 'class="empty"' in section, anchor
