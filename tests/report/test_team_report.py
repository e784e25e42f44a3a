"""The team's cross-training answer and the coach's pages, on generated teams (issue 21).

The generator (pipeline/samplegen/team.py) builds in, for chosen athletes, cheaper riding in
heart rate the week after more running. A team of 12 with the effect must show its sign at
lag 1; teams without it must mostly say "cannot tell"."""

from __future__ import annotations

import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import polars as pl
import pytest
from PIL import Image

from conftest import image_check, run_cli
from pipeline.report import write_crosstrain
from pipeline.report.pooled import MIN_ATHLETES
from pipeline.sinks import ParquetFolder

NULL_TEAMS = range(1, 11)


def imported_team(work: Path, athletes: int, weeks: int, effect: str, seed: int = 20261115) -> Path:
    inputs, out = work / "files", work / "team-data"
    subprocess.run([sys.executable, "-m", "pipeline.samplegen", str(inputs), "--athletes", str(athletes),
                    "--weeks", str(weeks), "--effect", effect, "--seed", str(seed)], check=True, capture_output=True)
    run_cli("run", "--config", inputs / "fitpipe.toml", "--out", out, "--quiet", check_code=0)
    return out


@pytest.fixture(scope="module")
def effect_team(tmp_path_factory):
    """Twelve athletes, all with the effect, 20 weeks; the report written by the real CLI."""
    out = imported_team(tmp_path_factory.mktemp("effect-team"), 12, 20, "all")
    page = Path(run_cli("report", "--out", out, "--quiet", check_code=0).stdout.strip())
    return out, page


def _pooled(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "crosstrain.parquet").filter(pl.col("athlete_id").is_null()).sort("lag_weeks")


def test_a_team_with_the_effect_shows_its_sign(effect_team):
    out, page = effect_team
    lag1 = _pooled(out).row(1, named=True)
    assert lag1["n_athletes"] >= MIN_ATHLETES
    # More running, then cheaper riding in heart rate: more watts per beat the week after.
    assert lag1["verdict"] == "positive" and lag1["ci_low_simultaneous"] > 0
    text = unescape(page.read_text())
    assert "higher ride efficiency factor 1 week later" in text


def test_teams_without_the_effect_mostly_cannot_tell(tmp_path):
    said_cannot_tell, pooled_any = 0, 0
    for seed in NULL_TEAMS:
        out = imported_team(tmp_path / f"team{seed}", 8, 16, "none", seed)
        pooled = write_crosstrain(ParquetFolder(out)).table.filter(pl.col("athlete_id").is_null())
        pooled_any += pooled["n_athletes"].max() >= MIN_ATHLETES  # else "cannot tell" says nothing
        said_cannot_tell += not pooled["verdict"].is_in(["positive", "negative"]).any()
    assert pooled_any == len(NULL_TEAMS), "every null team must have enough athletes to pool"
    assert said_cannot_tell >= 9, f"only {said_cannot_tell} of {len(NULL_TEAMS)} teams without an effect said cannot tell"


def test_the_team_index_has_a_row_per_athlete_linking_to_their_page(effect_team):
    out, page = effect_team
    assert page == out / "report" / "index.html"
    html = page.read_text()
    athletes = pl.read_parquet(out / "athletes.parquet")["athlete_id"].to_list()
    links = re.findall(r'<td><a href="athletes/([a-z0-9_-]+)\.html">', html)
    assert links == athletes and len(links) == 12
    for athlete in athletes:
        own = (out / "report" / "athletes" / f"{athlete}.html").read_text()
        assert 'href="../index.html"' in own and f"Training report: {athlete.capitalize()}" in unescape(own)
    # The summary prints the same athletes, one line each.
    summary = run_cli("summary", "--out", out, "--json", check_code=0)
    assert [row["athlete_id"] for row in __import__("json").loads(summary.stdout)] == athletes


def test_the_team_index_renders_offline_in_chromium(effect_team, chromium, tmp_path):
    out, page = effect_team
    shot = tmp_path / "team.png"
    browser = chromium(f"--screenshot={shot}", "--window-size=1300,1400", page.as_uri())
    assert shot.exists(), f"no screenshot; chromium said: {browser.stderr[-2000:]}"
    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 24)
    assert len(colours) > 50, "the screenshot is (nearly) blank"
    assert image_check(chromium("--dump-dom", "--virtual-time-budget=5000", page.as_uri()))["state"] == "ok"
    athlete_page = out / "report" / "athletes" / "ana.html"
    check = image_check(chromium("--dump-dom", "--virtual-time-budget=10000", athlete_page.as_uri()))
    assert check["state"] == "ok" and int(check["total"]) > 5
