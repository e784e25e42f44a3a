"""The fitpipe command line: flags become Settings, then library calls.

Exit codes: 0 all inputs imported or knowingly skipped; 1 the run completed but
some files were rejected; 2 usage or configuration error; 3 another run holds the
output folder's lock.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from . import __version__
from .config import ConfigError, Settings, load_settings
from .discover import require_inputs
from .ingest import FileContent, RunReport, ingest, read_file
from .plan import plan
from .store import LockHeld, exclusive
from .summaries import NoActivities, read_weekly, recent_weeks, run_metrics, sports_by_time

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3
EXIT_CODES_HELP = (
    "Exit codes: 0 all inputs imported or knowingly skipped; 1 the run completed but some "
    "files were rejected; 2 usage or configuration error; 3 another run holds the lock."
)

app = typer.Typer(
    help=f"Import FIT, GPX and TCX activity files into parquet tables.\n\n{EXIT_CODES_HELP}",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
stderr = Console(stderr=True)

Inputs = Annotated[Optional[list[Path]], typer.Argument(help="Files or folders to read (default: sample_files/).", show_default=False)]
Out = Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder (default: ./fitpipe-data).", show_default=False)]
ConfigPath = Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML config (default: ./fitpipe.toml if present).", show_default=False)]
Zone = Annotated[Optional[str], typer.Option("--timezone", help="Zone for activities with no device offset or GPS, e.g. Europe/Berlin (default: UTC).", show_default=False)]
Workers = Annotated[Optional[int], typer.Option("--workers", "-w", help="Parser processes (default: one per core).", show_default=False)]
FitEngine = Annotated[Optional[str], typer.Option("--fit-engine", help="FIT parser: numpy (default, fast) or fitparse.", show_default=False)]
GpxEngine = Annotated[Optional[str], typer.Option("--gpx-engine", help="GPX parser: lxml (default, fast) or gpxpy.", show_default=False)]
Full = Annotated[bool, typer.Option("--full", help="Re-read every file, even unchanged ones.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary; warnings (such as rejected files) still go to stderr.")]
Wait = Annotated[bool, typer.Option("--wait", help="If another run is writing to --out, wait for it instead of exiting with code 3.")]
Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More detail on stderr (-vv for debug).")]
Weeks = Annotated[int, typer.Option("--weeks", min=1, help="How many of the most recent weeks to show.")]
JsonRows = Annotated[bool, typer.Option("--json", help="Print the weekly rows (every sport and `all`) as a JSON list on stdout.")]


def _settings(inputs, out, config, timezone=None, workers=None, fit_engine=None, gpx_engine=None) -> Settings:
    engines = {k: v for k, v in {"fit": fit_engine, "gpx": gpx_engine}.items() if v}
    try:
        return load_settings(
            config, inputs=tuple(inputs) if inputs else None, out=out,
            timezone=timezone, workers=workers, engines=engines or None,
        )
    except ConfigError as exc:
        _fail(str(exc))


def _fail(message: str) -> None:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


def _logging(verbose: int) -> None:
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    # Under cron every log record must stay one line, so rich formatting is for terminals only.
    handler = (RichHandler(console=stderr, show_path=False, show_time=False) if stderr.is_terminal
               else logging.StreamHandler(sys.stderr))
    fmt = "%(message)s" if stderr.is_terminal else "fitpipe: %(levelname)s: %(message)s"
    logging.basicConfig(level=level, format=fmt, force=True, handlers=[handler])


class _Throughput(ProgressColumn):
    """Megabytes read per second so far (a task field `bytes` counts them)."""

    def render(self, task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.fields["bytes"] / 1e6 / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:.1f} MB/s", style="progress.data.speed")


def _progress(quiet: bool) -> Progress | None:
    if quiet or not stderr.is_terminal:
        return None
    return Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
        _Throughput(), TextColumn("{task.fields[rejected]} rejected"), TimeRemainingColumn(),
        console=stderr, transient=True,
    )


def _ingest(settings: Settings, full: bool, quiet: bool) -> RunReport:
    progress = _progress(quiet)
    task = None

    def started(total: int) -> None:
        nonlocal task
        if progress is not None:
            task = progress.add_task("Reading files", total=total, rejected=0, bytes=0)

    def advanced(content: FileContent) -> None:
        if progress is not None and task is not None:
            fields = progress.tasks[0].fields
            progress.update(task, advance=1, rejected=fields["rejected"] + (content.status == "rejected"),
                            bytes=fields["bytes"] + content.size_bytes)

    try:
        if progress is None:
            return ingest(settings, full=full, on_file=advanced, on_start=started)
        with progress:
            return ingest(settings, full=full, on_file=advanced, on_start=started)
    except FileNotFoundError as exc:
        _fail(str(exc))


@contextmanager
def _locked(settings: Settings, wait: bool) -> Iterator[None]:
    """Hold the output folder's lock; a missing input fails first, before --out is created."""
    try:
        require_inputs(settings.inputs)
    except FileNotFoundError as exc:
        _fail(str(exc))
    with _exclusive(settings.out, wait):
        yield


@contextmanager
def _exclusive(out: Path, wait: bool) -> Iterator[None]:
    """Hold the output folder's lock, or exit with code 3 when another run holds it."""
    try:
        with exclusive(out, wait):
            yield
    except LockHeld as exc:
        stderr.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_LOCKED) from None


def _finish(report: RunReport, settings: Settings, as_json: bool, quiet: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.as_json()))
    elif not quiet:
        stderr.print(
            f"{report.files} files: {report.imported} imported, {report.skipped} unchanged, "
            f"{report.duplicates} duplicates, {report.not_activity} not activities, "
            f"{report.rejected} rejected; {report.activities} activities in {settings.out}/ "
            f"({report.seconds:.1f} s)", highlight=False,
        )
    raise typer.Exit(EXIT_REJECTED if report.rejected else EXIT_OK)


@app.command()
def run(inputs: Inputs = None, out: Out = None, config: ConfigPath = None, timezone: Zone = None,
        workers: Workers = None, fit_engine: FitEngine = None, gpx_engine: GpxEngine = None,
        full: Full = False, as_json: Json = False, quiet: Quiet = False, wait: Wait = False,
        verbose: Verbose = 0) -> None:
    """Ingest new files, then rebuild the weekly and daily tables (discover, parse, normalize, metrics, write)."""
    _logging(verbose)
    settings = _settings(inputs, out, config, timezone, workers, fit_engine, gpx_engine)
    with _locked(settings, wait):
        report = _ingest(settings, full, quiet)
        run_metrics(settings.out, settings.athlete, recompute=False)
    _finish(report, settings, as_json, quiet)


@app.command("ingest")
def ingest_command(inputs: Inputs = None, out: Out = None, config: ConfigPath = None, timezone: Zone = None,
                   workers: Workers = None, fit_engine: FitEngine = None, gpx_engine: GpxEngine = None,
                   full: Full = False, as_json: Json = False, quiet: Quiet = False, wait: Wait = False,
                   verbose: Verbose = 0) -> None:
    """Parse and normalize new or changed files; write samples, laps, activities and the manifest."""
    _logging(verbose)
    settings = _settings(inputs, out, config, timezone, workers, fit_engine, gpx_engine)
    with _locked(settings, wait):
        report = _ingest(settings, full, quiet)
    _finish(report, settings, as_json, quiet)


@app.command()
def metrics(out: Out = None, config: ConfigPath = None, as_json: Json = False,
            quiet: Quiet = False, wait: Wait = False, verbose: Verbose = 0) -> None:
    """Recompute activity and lap metrics, weekly.parquet and daily_load.parquet from stored samples, parsing nothing."""
    _logging(verbose)
    settings = _settings(None, out, config)
    if not (settings.out / "activities.parquet").exists():
        _fail(f"{settings.out}: no activities.parquet here; run `fitpipe ingest` first")
    if not settings.athlete.thresholds:
        logging.getLogger(__name__).warning(
            "no [[athlete.thresholds]] configured: zones, TRIMP, TSS and IF will be null; pass --config")
    with _exclusive(settings.out, wait):  # reads no inputs, so none need exist
        result = run_metrics(settings.out, settings.athlete, recompute=True, rule=settings.duplicates)
    if as_json:
        typer.echo(json.dumps(result))
    elif not quiet:
        stderr.print(f"Recomputed {result['activities']} activities, {result['weekly_rows']} weekly and "
                     f"{result['daily_load_rows']} daily rows "
                     f"in {settings.out}/ ({result['seconds']:.1f} s)", highlight=False)


@app.command()
def report(out: Out = None, config: ConfigPath = None, quiet: Quiet = False, wait: Wait = False,
           verbose: Verbose = 0) -> None:
    """Write an offline HTML report (report/index.html) and crosstrain.parquet from the tables in --out."""
    _logging(verbose)
    settings = _settings(None, out, config)
    # Imported here, not at the top: matplotlib would slow every other command's start-up.
    from .report import build_report

    if not (settings.out / "activities.parquet").exists():
        _fail(f"{settings.out}: no activities.parquet here; run `fitpipe run` first")
    with _exclusive(settings.out, wait):
        try:
            page = build_report(settings.out, settings.athlete)
        except NoActivities as exc:
            _fail(str(exc))
    typer.echo(str(page))
    if not quiet:
        stderr.print(f"Open {page} in a browser; the numbers behind section 6 are in "
                     f"{settings.out / 'crosstrain.parquet'}", highlight=False, soft_wrap=True)


@app.command()
def summary(out: Out = None, config: ConfigPath = None, weeks: Weeks = 8, as_json: JsonRows = False) -> None:
    """Print the last weeks' sport split (moving time, share, distance) from weekly.parquet."""
    settings = _settings(None, out, config)
    try:
        recent = recent_weeks(read_weekly(settings.out), weeks)
    except NoActivities as exc:
        _fail(str(exc))
    columns = ["week_start", "sport", "activities", "moving_s", "distance_m", "share_of_moving_time"]
    if as_json:
        typer.echo(json.dumps(recent.select(columns).to_dicts(), default=str))
        return
    Console().print(_split_table(recent))


def _split_table(recent) -> Table:
    """One row per week; per sport its hours, share of the week's moving time and distance."""
    sports = sports_by_time(recent)
    table = Table("week", "activities", "total", *sports, title="Sport split (moving time, share, distance)")
    for week in recent.partition_by("week_start", maintain_order=True):
        cells = {row["sport"]: row for row in week.to_dicts()}
        every = cells["all"]
        table.add_row(str(every["week_start"]), str(every["activities"]), f"{every['moving_s'] / 3600:.1f} h",
                      *[_split_cell(cells.get(sport)) for sport in sports])
    return table


def _split_cell(row: dict | None) -> str:
    if not row or not row["moving_s"]:
        return "–"
    km = row["distance_m"] / 1000
    return f"{row['moving_s'] / 3600:.1f} h  {row['share_of_moving_time']:.0%}  {km:.{1 if km < 10 else 0}f} km"


@app.command("discover")
def discover_command(inputs: Inputs = None, out: Out = None, config: ConfigPath = None, full: Full = False,
                     as_json: Annotated[bool, typer.Option("--json", help="Print the files as a JSON list on stdout.")] = False) -> None:
    """List the files a run would read, zip members included: format, compression, size, and whether each is new."""
    settings = _settings(inputs, out, config)
    try:
        work = plan(settings, full)
    except FileNotFoundError as exc:
        _fail(str(exc))
    known = set(work.manifest["path"].to_list())
    unchanged = {f.key for f in work.unchanged}
    rows = [
        {"path": f.key, "format": f.format, "compression": f.compression, "size_bytes": f.size_bytes,
         "state": _state(f, unchanged, known)}
        for f in sorted([*work.to_read, *work.unchanged], key=lambda f: f.key)
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("path", "format", "gz", "KB", "state")
    for row in rows:
        table.add_row(row["path"], row["format"], "gz" if row["compression"] else "",
                      f"{row['size_bytes'] / 1024:.0f}", row["state"])
    Console().print(table)
    stderr.print(f"{len(work.to_read)} to read, {len(work.unchanged)} unchanged", highlight=False)


def _state(source, unchanged: set[str], known: set[str]) -> str:
    if source.refused:
        return f"refused: {source.refused}"
    return "unchanged" if source.key in unchanged else ("changed" if source.key in known else "new")


@app.command()
def inspect(path: Annotated[Path, typer.Argument(help="One .fit, .gpx or .tcx file (optionally .gz).")],
            config: ConfigPath = None, timezone: Zone = None, fit_engine: FitEngine = None,
            gpx_engine: GpxEngine = None, as_json: Json = False) -> None:
    """Show what one file holds and what would be imported from it. Writes nothing."""
    settings = _settings(None, None, config, timezone, None, fit_engine, gpx_engine)
    try:
        content = read_file(path, settings.timezone, settings.engines, settings.athlete)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    summary = _inspection(content)
    if as_json:
        typer.echo(json.dumps(summary, default=str))
    else:
        _print_inspection(summary)
    raise typer.Exit(EXIT_REJECTED if content.status == "rejected" else EXIT_OK)


def _inspection(content: FileContent) -> dict:
    columns = {
        name: round(1 - content.samples[name].null_count() / max(content.samples.height, 1), 3)
        for name in content.samples.columns if name not in ("activity_id", "sport", "year")
    }
    shown = ["activity_id", "parent_id", "sport", "sub_sport", "start_time_utc", "start_time_local",
             "utc_offset_source", "elapsed_s", "moving_s", "distance_m", "avg_hr_bpm", "n_samples"]
    return {
        "path": content.path, "format": content.format, "sha256": content.sha256,
        "status": content.status, "reason": content.reason, "parse_status": content.parse_status,
        "activities": content.activities.select(shown).to_dicts(),
        "laps": content.laps.height,
        "sample_columns_filled": columns,
    }


def _print_inspection(summary: dict) -> None:
    console = Console()
    console.print(f"[bold]{summary['path']}[/]  {summary['format']}  sha256 {summary['sha256']}", highlight=False)
    console.print(f"status: {summary['status']}  parse: {summary['parse_status']}", highlight=False)
    if summary["reason"]:
        console.print(f"reason: {summary['reason']}", highlight=False)
    if summary["activities"]:
        # One column per activity keeps the table readable in a narrow terminal.
        activities = summary["activities"]
        table = Table("", *[f"activity {i + 1}" for i in range(len(activities))])
        for field in activities[0]:
            table.add_row(field, *[_cell(a[field]) for a in activities])
        console.print(table)
        console.print(f"{summary['laps']} laps; share of samples with a value:")
        console.print(", ".join(f"{k} {v:.0%}" for k, v in summary["sample_columns_filled"].items()))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return "" if value is None else str(value)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fitpipe {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                 help="Show the version and exit.")] = False) -> None:
    pass


def main() -> None:
    app(prog_name="fitpipe")
