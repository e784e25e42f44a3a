"""The docs tell the truth: every written column is documented, and README commands exist."""

from __future__ import annotations

import re

import polars as pl
import pytest

from conftest import ROOT, run_cli
from fitbuild import encode, steady_ride

DOCS = ROOT / "docs"
HEADINGS = {
    "activities": "## activities.parquet",
    "laps": "## laps.parquet",
    "samples": "## samples/",
    "weekly": "## weekly.parquet",
    "daily_load": "## daily_load.parquet",
    "manifest": "## manifest.parquet",
    "crosstrain": "## crosstrain.parquet",
    "athletes": "## athletes.parquet",
    "curves": "## curves.parquet",
    "best_efforts": "## best_efforts.parquet",
    "bests": "## bests.parquet",
    "time_at_hr": "## time_at_hr.parquet",
    "thresholds": "## thresholds.parquet",
}


def documented_columns(heading: str) -> set[str]:
    text = (DOCS / "tables.md").read_text()
    assert heading in text, f"docs/tables.md has no section {heading!r}"
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\|\s*`([^`]+)`\s*\|", section, flags=re.MULTILINE))


@pytest.fixture(scope="module")
def written_tables(tmp_path_factory) -> dict[str, list[str]]:
    folder = tmp_path_factory.mktemp("docs-in")
    (folder / "ride.fit").write_bytes(encode(steady_ride(120), local_offset_s=3600))
    out = tmp_path_factory.mktemp("docs-out")
    run_cli("run", folder, "--out", out, "--quiet", check_code=0)
    run_cli("report", "--out", out, "--quiet", check_code=0)  # writes crosstrain.parquet
    columns = {name: pl.read_parquet(out / f"{name}.parquet").columns for name in HEADINGS if name != "samples"}
    columns["samples"] = pl.read_parquet(out / "samples" / "**" / "*.parquet", hive_partitioning=True).columns
    return columns


@pytest.mark.parametrize("table", sorted(HEADINGS))
def test_every_written_column_is_documented(written_tables, table):
    missing = set(written_tables[table]) - documented_columns(HEADINGS[table])
    assert not missing, f"undocumented {table} columns: {sorted(missing)}"


@pytest.mark.parametrize("table", sorted(HEADINGS))
def test_docs_list_no_column_that_is_not_written(written_tables, table):
    stale = documented_columns(HEADINGS[table]) - set(written_tables[table])
    assert not stale, f"docs/tables.md lists {table} columns that are never written: {sorted(stale)}"


def test_every_fitpipe_command_in_the_readme_and_docs_exists():
    help_text = run_cli("--help", check_code=0).stdout
    texts = [ROOT / "README.md", *DOCS.glob("*.md")]
    # Only code counts: fenced blocks and inline spans, not prose like "fitpipe from cron".
    code = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
    snippets = [c for path in texts for c in code.findall(path.read_text())]
    commands = {m for snippet in snippets for m in re.findall(r"\bfitpipe ([a-z]+)\b", snippet)}
    assert commands, "no fitpipe commands found in the docs"
    for command in commands:
        assert re.search(rf"│ {command}\s", help_text), f"`fitpipe {command}` is documented but does not exist"


def test_exit_codes_in_docs_match_the_cli():
    help_text = " ".join(run_cli("--help", check_code=0).stdout.split())
    cron = " ".join((DOCS / "cron.md").read_text().split())
    for code in ("0", "1", "2", "3"):
        assert re.search(rf"\b{code}\b", cron)
    assert "1 the run completed but some files were rejected" in help_text
    assert "3 another run holds the lock" in help_text


def test_every_toml_example_in_the_docs_loads(tmp_path):
    from pipeline.config import load_settings

    texts = [ROOT / "README.md", *DOCS.glob("*.md")]
    blocks = [b for path in texts for b in re.findall(r"```toml\n(.*?)```", path.read_text(), re.DOTALL)]
    assert blocks, "no TOML examples found"
    for number, block in enumerate(blocks):
        path = tmp_path / f"example{number}.toml"
        path.write_text(block)
        settings = load_settings(path)
        if "[cluster]" in block:  # docs/cluster.md: where the batches run, nothing else
            assert settings.cluster == re.search(r'scheduler = "(.*)"', block).group(1)
        else:
            assert settings.athlete.thresholds, f"example {number} sets no thresholds"
