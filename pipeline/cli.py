"""The fitpipe command line: flags become Settings, then library calls.

Exit codes: 0 all inputs imported or knowingly skipped; 1 the run completed but
some files were rejected, or its cluster or object store failed mid-run; 2 usage or
configuration error (object-store credentials included); 3 another run holds the output's lock.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Iterator, Optional

import polars as pl
import typer
from rich import box
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from . import __version__
from .run import folder_settings
from .config import ConfigError, Settings, load_settings
from .run.native_stderr import filter_panic_reports
from .normalize.schema import DEFAULT_ATHLETE
from .discover.files import require_inputs
from .discover.remote import RemoteError, StoreUnusable, is_url, location
from .run.cluster import ClusterError, require_dask
from .run.ingest import FileContent, RunReport, ingest, read_file, timed
from .discover.plan import plan
from .metrics.team import overview
from .metrics.training_load import daily_load
from .sinks import LockHeld, Sink, SinkError, for_output
from .sinks import query as queries
from .metrics.stage import (NoActivities, athlete_ids, read_activities, read_weekly, recent_weeks, run_metrics,
                            sports_by_time, unused_thresholds, default_resting_hr_note)

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3
EXIT_CODES_HELP = (
    "Exit codes: 0 all inputs imported or knowingly skipped; 1 the run completed but some "
    "files were rejected, or its cluster or object store failed mid-run; 2 usage or configuration error; "
    "3 another run holds the lock."
)

app = typer.Typer(
    help=f"Import FIT, GPX and TCX activity files into parquet or Delta Lake tables.\n\n{EXIT_CODES_HELP}",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# When this command started: a Delta output records it with the run (Sink.record_run).
COMMAND_STARTED = datetime.now(timezone.utc)
# Wider than any line: output that goes to a pipe, a file or cron is never cut or wrapped.
UNLIMITED_WIDTH = 1_000_000


def _console(stderr: bool = False) -> Console:
    """A terminal gets rich's layout at its own width; anything else gets whole lines."""
    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(stderr=stderr, width=UNLIMITED_WIDTH, soft_wrap=True)


stderr = _console(stderr=True)
log = logging.getLogger("pipeline")

Inputs = Annotated[Optional[list[str]], typer.Argument(help="Files or folders to read, or object-store URLs (s3://bucket/prefix, gs://…, az://…) (default: `inputs` in fitpipe.toml, else sample_files/).", show_default=False)]
Out = Annotated[Optional[str], typer.Option("--out", "-o", help="Output folder (default: ./fitpipe-data), or an object-store URL for Delta tables (s3://bucket/prefix).", show_default=False)]
ConfigPath = Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML config (default: ./fitpipe.toml if present).", show_default=False)]
Zone = Annotated[Optional[str], typer.Option("--timezone", help="Zone for activities with no device offset or GPS, e.g. Europe/Berlin (default: UTC).", show_default=False)]
Workers = Annotated[Optional[int], typer.Option("--workers", "-w", help="Parser processes (default: one per core).", show_default=False)]
FitEngine = Annotated[Optional[str], typer.Option("--fit-engine", help="FIT parser: numpy (default, fast) or fitparse.", show_default=False)]
GpxEngine = Annotated[Optional[str], typer.Option("--gpx-engine", help="GPX parser: lxml (default, fast) or gpxpy.", show_default=False)]
Cluster = Annotated[Optional[str], typer.Option("--cluster", help="Run the batches on a Dask cluster: a scheduler's address (tcp://scheduler:8786), or local:N for N worker processes here. Needs fitpipe[dask]; see docs/cluster.md.", show_default=False)]
OutputFormat = Annotated[Optional[str], typer.Option("--format", help="Tables as a folder of parquet files (default) or of Delta Lake tables (delta; needs fitpipe[delta]). A folder keeps the kind it was first written as.", show_default=False)]
Full = Annotated[bool, typer.Option("--full", help="Re-read every file, even unchanged ones.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary; warnings (such as rejected files) still go to stderr.")]
Wait = Annotated[bool, typer.Option("--wait", help="If another run is writing to --out, wait for it instead of exiting with code 3.")]
Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, metavar="",
                                      help="More detail on stderr: -v a line per file, -vv also each stage's time.")]
Weeks = Annotated[int, typer.Option("--weeks", min=1, help="How many of the most recent weeks to show.")]
JsonRows = Annotated[bool, typer.Option("--json", help="Print the weekly rows (`all`, and each sport done that week) as a JSON list on stdout; for a team without --athlete, one object per athlete.")]
Through = Annotated[Optional[datetime], typer.Option("--as-of", formats=["%Y-%m-%d"], help="Continue daily fitness, fatigue and form to this day (YYYY-MM-DD) and end the 90- and 365-day bests there (default: today).", show_default=False)]
Since = Annotated[Optional[datetime], typer.Option("--since", formats=["%Y-%m-%d"], help="Report from this date (YYYY-MM-DD) to the last activity.", show_default=False)]
AthleteId = Annotated[Optional[str], typer.Option("--athlete", help="Whose files the inputs are (an id like `ana`), or which athlete of the config's [[athletes]] to import.", show_default=False)]
AthletesRoot = Annotated[Optional[Path], typer.Option("--athletes-from-folders", help="Each subfolder of this folder is one athlete's files, the athlete named after the folder.", show_default=False)]
OneAthlete = Annotated[Optional[str], typer.Option("--athlete", help="Only this athlete (default: every athlete of the output).", show_default=False)]
ReportWeeks = Annotated[Optional[int], typer.Option("--weeks", min=1, help="Report the last N weeks up to the last activity (default: 52).", show_default=False)]


def _settings(inputs, out, config, timezone=None, workers=None, fit_engine=None, gpx_engine=None,
              athlete=None, athletes_root=None, cluster=None, output_format=None) -> Settings:
    engines = {k: v for k, v in {"fit": fit_engine, "gpx": gpx_engine}.items() if v}
    try:
        return load_settings(
            config, athlete_id=athlete, athletes_root=athletes_root,
            inputs=tuple(map(location, inputs)) if inputs else None, out=location(out) if out else None,
            timezone=timezone, workers=workers, engines=engines or None, cluster=cluster, output_format=output_format,
        )
    except ConfigError as exc:
        _fail(str(exc))


def _importing_settings(inputs, out, config, timezone, workers, fit_engine, gpx_engine, athlete, athletes_root,
                        cluster, output_format) -> Settings:
    """_settings for the commands that read files: a cluster they are to use must be usable."""
    settings = _settings(inputs, out, config, timezone, workers, fit_engine, gpx_engine, athlete, athletes_root,
                         cluster, output_format)
    if settings.cluster:
        try:
            require_dask()
        except ClusterError as exc:
            _fail(str(exc), exc.exit_code)
    return settings


def _sink(settings: Settings) -> Sink:
    """The output's sink: of the configured format, or the kind the folder holds."""
    try:
        return for_output(settings.out, settings.output_format)
    except SinkError as exc:
        _fail(str(exc))


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _require_inputs(settings: Settings) -> None:
    """Every input exists; with none named and no sample_files/ here, say how to name them."""
    if not settings.inputs_given and not any(is_url(p) or p.exists() for p in settings.inputs):
        _fail("no inputs given: name files or folders (fitpipe run ~/exports), "
              "or set inputs = [...] in fitpipe.toml")
    try:
        require_inputs(_every_input(settings))
    except FileNotFoundError as exc:
        _fail(str(exc))
    except RemoteError as exc:
        _fail(str(exc), _store_exit(exc))


def _every_input(settings: Settings) -> list[Path | str]:
    return [p for a in settings.athletes for p in settings.inputs_of(a)]


def _check_out(out: Path | str) -> None:
    """--out must be a folder, or a path where one can be made (or an object-store URL)."""
    if is_url(out):
        return
    if out.exists() and not out.is_dir():
        _fail(f"{out}: not a folder; --out must name a folder (it is made if missing)")
    existing = next((p for p in out.parents if p.exists()), None)
    if not out.exists() and existing is not None and not existing.is_dir():
        _fail(f"{existing}: not a folder, so {out} cannot be made there")


@contextmanager
def _output_errors(out: Path | str) -> Iterator[None]:
    """An OS error on the output folder (no permission, a read-only or full disk) is one line
    naming the folder, and exit 2. A run with nothing new to write needs only the lock file.
    An object store's failure is one line naming it: exit 2 when it cannot be used as set up
    (credentials, bucket), 1 when it fails mid-run (the next run redoes what this one lacked)."""
    try:
        yield
    except RemoteError as exc:
        _fail(str(exc), _store_exit(exc))
    except Exception as exc:
        failure = _store_failure(out, exc)
        if failure is not None:
            _fail(str(failure), _store_exit(failure))
        if not isinstance(exc, OSError):
            raise
        detail = f" ({exc.filename})" if exc.filename and Path(exc.filename) != out else ""
        _fail(f"{out}: cannot write to the output folder: {exc.strerror or exc}{detail}")


def _store_failure(out: Path | str, exc: Exception) -> Exception | None:
    """An error of the object store at `out` (or the lock lost there), as one line; else None."""
    if not is_url(out):
        return None
    from .sinks.object_lock import LockLost
    from .sinks.object_store import store_failure

    return exc if isinstance(exc, LockLost) else store_failure(out, exc)


def _store_exit(exc: Exception) -> int:
    """2 when the store cannot be used as set up (credentials, bucket); 1 when it failed
    mid-run or the lock was lost: the next run completes what this one began."""
    return EXIT_USAGE if isinstance(exc, StoreUnusable) else EXIT_REJECTED


def _day(moment: datetime | None) -> date | None:
    return None if moment is None else moment.date()


def _logging(verbose: int) -> None:
    """Warnings always; -v adds a line per file, -vv each stage's time. Only fitpipe's own
    records get more detailed: the libraries' debug output is not for users."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    # Under cron every log record must stay one line, so rich formatting is for terminals only.
    handler = (RichHandler(console=stderr, show_path=False, show_time=False) if stderr.is_terminal
               else logging.StreamHandler(sys.stderr))
    fmt = "%(message)s" if stderr.is_terminal else "fitpipe: %(levelname)s: %(message)s"
    logging.basicConfig(level=logging.WARNING, format=fmt, force=True, handlers=[handler])
    log.setLevel(level)


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


def _ingest(settings: Settings, sink: Sink, full: bool, quiet: bool) -> RunReport:
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
            report = ingest(settings, full=full, on_file=advanced, on_start=started, sink=sink)
        else:
            with progress:
                report = ingest(settings, full=full, on_file=advanced, on_start=started, sink=sink)
    except FileNotFoundError as exc:
        _fail(str(exc))
    except ClusterError as exc:
        _fail(str(exc), exc.exit_code)
    if report.files == 0:
        log.warning("no activity files found under %s", ", ".join(str(p) for p in _every_input(settings)))
    return report


@contextmanager
def _locked(settings: Settings, sink: Sink, wait: bool) -> Iterator[None]:
    """Hold the output's lock; a missing input fails first, before --out is created."""
    _require_inputs(settings)
    with _exclusive(settings.out, sink, wait):
        yield


@contextmanager
def _exclusive(out: Path | str, sink: Sink, wait: bool) -> Iterator[None]:
    """Hold the output's lock, or exit with code 3 when another run holds it. Problems with the
    output folder itself are one line and exit 2."""
    _check_out(out)
    with _output_errors(out):
        try:
            with sink.lock(wait):
                yield
        except LockHeld as exc:
            _fail(str(exc), EXIT_LOCKED)


def _existing_tables(sink: Sink) -> None:
    """For commands that read the tables; call it holding the lock, so that a first run still
    writing them is waited for (--wait) or reported as holding the lock (exit 3)."""
    if not sink.has_table("activities"):
        _fail(f"{sink.describe()}: no activities table here yet; run `fitpipe run` first")


def _read_only(sink: Sink) -> None:
    if not sink.exists():
        _fail(f"{sink.describe()}: no fitpipe output here, so no activities table; run `fitpipe run` first")


def _finish(report: RunReport, settings: Settings, as_json: bool, quiet: bool, note: str | None = None) -> None:
    if as_json:
        typer.echo(json.dumps(report.as_json()))
    elif not quiet:
        stderr.print(
            f"{report.files} files: {report.imported} imported, {report.skipped} unchanged, "
            f"{report.duplicates} duplicate files, {report.not_activity} not activities, "
            f"{report.rejected} rejected; {report.activities} activities in {escape(str(settings.out))}/, "
            f"{report.duplicate_activities} of them other recordings of a workout kept once "
            f"({report.seconds:.1f} s)", highlight=False,
        )
        if note:
            stderr.print(f"note: {escape(note)}", highlight=False)
    raise typer.Exit(EXIT_REJECTED if report.rejected else EXIT_OK)


@app.command()
def run(inputs: Inputs = None, out: Out = None, config: ConfigPath = None, timezone: Zone = None,
        workers: Workers = None, fit_engine: FitEngine = None, gpx_engine: GpxEngine = None,
        athlete: AthleteId = None, athletes_root: AthletesRoot = None, cluster: Cluster = None,
        output_format: OutputFormat = None, full: Full = False, as_json: Json = False, quiet: Quiet = False,
        wait: Wait = False, as_of: Through = None,
        verbose: Verbose = 0) -> None:
    """Ingest new files, then apply the thresholds in force (configured, else estimated) to every activity's load and rebuild the weekly, daily, athletes, bests and thresholds tables (discover, parse, normalize, metrics, write)."""
    _logging(verbose)
    settings = _importing_settings(inputs, out, config, timezone, workers, fit_engine, gpx_engine, athlete,
                                   athletes_root, cluster, output_format)
    sink = _sink(settings)
    with _locked(settings, sink, wait):
        settings = _folder_settings(settings, sink, timezone, importing=True)
        report = _ingest(settings, sink, full, quiet)
        with timed("weekly, daily and athletes tables"):
            run_metrics(sink, settings, recompute=False, today=_day(as_of))
        _after_writing(settings, sink)
        note = default_resting_hr_note(sink)
    _finish(report, settings, as_json, quiet, note)


@app.command("ingest")
def ingest_command(inputs: Inputs = None, out: Out = None, config: ConfigPath = None, timezone: Zone = None,
                   workers: Workers = None, fit_engine: FitEngine = None, gpx_engine: GpxEngine = None,
                   athlete: AthleteId = None, athletes_root: AthletesRoot = None, cluster: Cluster = None,
                   output_format: OutputFormat = None, full: Full = False, as_json: Json = False,
                   quiet: Quiet = False, wait: Wait = False,
                   verbose: Verbose = 0) -> None:
    """Parse and normalize new or changed files; write samples, laps, activities and the manifest."""
    _logging(verbose)
    settings = _importing_settings(inputs, out, config, timezone, workers, fit_engine, gpx_engine, athlete,
                                   athletes_root, cluster, output_format)
    sink = _sink(settings)
    with _locked(settings, sink, wait):
        settings = _folder_settings(settings, sink, timezone, importing=True)
        report = _ingest(settings, sink, full, quiet)
        _after_writing(settings, sink)
    _finish(report, settings, as_json, quiet)


@app.command()
def metrics(out: Out = None, config: ConfigPath = None, as_json: Json = False,
            quiet: Quiet = False, wait: Wait = False, as_of: Through = None, verbose: Verbose = 0) -> None:
    """Recompute activity and lap metrics from stored samples, parsing nothing, then the thresholds, load and summary tables.

    Without --config (or ./fitpipe.toml) it uses the settings the output folder was built with."""
    _logging(verbose)
    settings = _settings(None, out, config)
    sink = _sink(settings)
    _read_only(sink)
    with _exclusive(settings.out, sink, wait):  # reads no inputs, so none need exist
        _existing_tables(sink)
        settings = _folder_settings(settings, sink, None)
        with timed("recompute metrics, weekly, daily and athletes tables"):
            result = run_metrics(sink, settings, recompute=True, today=_day(as_of))
        _after_writing(settings, sink)
    if as_json:
        typer.echo(json.dumps(result))
    elif not quiet:
        stderr.print(f"Recomputed {result['activities']} activities, {result['weekly_rows']} weekly and "
                     f"{result['daily_load_rows']} daily rows "
                     f"in {escape(str(settings.out))}/ ({result['seconds']:.1f} s)", highlight=False)


@app.command()
def report(out: Out = None, config: ConfigPath = None, athlete: OneAthlete = None, quiet: Quiet = False,
           wait: Wait = False, since: Since = None, weeks: ReportWeeks = None, verbose: Verbose = 0) -> None:
    """Write an offline HTML report (report/index.html) and crosstrain.parquet from the tables in --out.

    For a team: a page per athlete (report/athletes/ID.html) and an index page with a row per
    athlete and the cross-training answer pooled across them. Without --config (or
    ./fitpipe.toml) it uses the settings the output folder was built with."""
    _logging(verbose)
    settings = _settings(None, out, config)
    # Imported here, not at the top: matplotlib would slow every other command's start-up.
    from .report import build_reports

    sink = _sink(settings)
    _read_only(sink)
    with _exclusive(settings.out, sink, wait):
        _existing_tables(sink)
        settings = _folder_settings(settings, sink, None)
        try:
            page = _with_athlete_progress(quiet, athlete_ids(sink) if athlete is None else [athlete], lambda advance:
                                          build_reports(sink, settings, athlete, since=since, weeks=weeks,
                                                        on_athlete=advance))
        except NoActivities as exc:
            _fail(str(exc))
        sink.record_run(COMMAND_STARTED)  # crosstrain is a table too
    typer.echo(str(page))
    if not quiet:
        where = f"Download {page} to open it" if is_url(page) else f"Open {page} in a browser"
        stderr.print(escape(f"{where}; the cross-training numbers are in the crosstrain "
                            f"table of {sink.describe()}"), highlight=False, soft_wrap=True)


def _with_athlete_progress(quiet: bool, athletes: list[str], work):
    """work(advance) with a progress bar over the athletes, when there are several and a terminal."""
    progress = _progress(quiet) if len(athletes) > 1 else None
    if progress is None:
        return work(lambda athlete: None)
    with progress:
        task = progress.add_task("Athlete reports", total=len(athletes), rejected=0, bytes=0)
        return work(lambda athlete: progress.update(task, advance=1))


def _folder_settings(settings: Settings, sink: Sink, timezone_flag: str | None, importing: bool = False) -> Settings:
    """The settings to work with: the output's stored ones where no config file was given (a
    --timezone flag still wins), and a warning when a given config differs from them."""
    try:
        chosen, changes = folder_settings.with_stored(settings, sink, importing)
    except folder_settings.TeamFolder as exc:
        _fail(str(exc))
    if timezone_flag is not None:
        chosen = replace(chosen, timezone=settings.timezone)
    if changes:
        consequence = (" Activities already imported keep the old ones until `fitpipe metrics`."
                       if importing else "")
        log.warning("%s: settings differ from those this folder was built with: %s.%s",
                    settings.out, "; ".join(changes), consequence)
    return chosen


def _after_writing(settings: Settings, sink: Sink) -> None:
    """Remember the settings with the tables, record the run (a Delta output's versions), and
    warn about thresholds that apply to nothing."""
    folder_settings.store(sink, settings)
    sink.record_run(COMMAND_STARTED)
    for warning in unused_thresholds(sink, settings.every_athlete):
        log.warning("%s", warning)


@app.command()
def summary(out: Out = None, config: ConfigPath = None, athlete: OneAthlete = None, weeks: Weeks = 8,
            as_json: JsonRows = False) -> None:
    """Print the last weeks' sport split (moving time, share, distance) from weekly.parquet.

    For a team without --athlete: one line per athlete (last 4 weeks' hours by sport, fitness,
    fatigue and form today, weeks since the last run, ride and swim, flags)."""
    settings = _settings(None, out, config)
    sink = _sink(settings)
    ids = athlete_ids(sink)
    if athlete is None and ids and ids != [DEFAULT_ATHLETE]:
        _team_summary(sink, settings, ids, as_json)
        return
    try:
        recent = recent_weeks(read_weekly(sink, athlete or (ids[0] if ids else None)), weeks)
    except NoActivities as exc:
        _fail(str(exc))
    columns = ["week_start", "sport", "activities", "moving_s", "distance_m", "share_of_moving_time"]
    if as_json:
        done = recent.filter((pl.col("activities") > 0) | (pl.col("sport") == "all"))
        typer.echo(json.dumps(done.select(columns).to_dicts(), default=str))
        return
    _console().print(_split_table(recent))


def _team_summary(sink: Sink, settings: Settings, ids: list[str], as_json: bool) -> None:
    """One line per athlete of the team: the coach's view (metrics/team.py)."""
    try:
        activities = read_activities(sink)
    except NoActivities as exc:
        _fail(str(exc))
    daily = sink.read_table("daily_load") if sink.has_table("daily_load") else daily_load(activities)
    names = {a.id: a.name for a in folder_settings.with_stored(settings, sink)[0].every_athlete}
    rows = overview(activities, daily, {i: names.get(i) for i in ids}, date.today())
    if as_json:
        typer.echo(json.dumps([row.as_json() for row in rows]))
        return
    table = Table("athlete", "last activity", "last 4 weeks", "CTL", "ATL", "TSB", "weeks since run/ride/swim",
                  "flags", title=f"Team: {len(rows)} athletes (fitness, fatigue and form today)")
    for row in rows:
        hours = ", ".join(f"{sport} {h:.1f} h" for sport, h in row.hours_last_4_weeks.items() if h > 0) or "none"
        since = "/".join("–" if row.weeks_since[s] is None else str(row.weeks_since[s]) for s in ("run", "ride", "swim"))
        named = row.name and row.name.lower() != row.athlete_id
        table.add_row(escape(row.athlete_id + (f" ({row.name})" if named else "")), str(row.last_activity or "–"),
                      hours, *[_rounded(v) for v in (row.ctl, row.atl, row.tsb)], since,
                      escape("; ".join(row.flags)) or "–")
    _console().print(table)


def _rounded(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


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


Sql = Annotated[str, typer.Argument(help="DuckDB SQL over the views activities, workouts (each workout once), laps, samples, weekly, daily_load, manifest, athletes, curves, best_efforts, time_at_hr, bests, thresholds and crosstrain; runs for Delta output.", show_default=False)]
Csv = Annotated[bool, typer.Option("--csv", help="Every row as CSV with a header, on stdout.")]
JsonLines = Annotated[bool, typer.Option("--json", help="Every row as a JSON object, one per line, on stdout.")]
AsOf = Annotated[Optional[str], typer.Option("--as-of", help="Read every table as this completed run left it (a run_id of the runs table; Delta output only).", show_default=False)]


@app.command()
def query(sql: Sql, out: Out = None, config: ConfigPath = None, csv: Csv = False, as_json: JsonLines = False,
          as_of: AsOf = None) -> None:
    """Run SQL over the tables in --out with DuckDB, each table a view named after it.

    A terminal gets a table of the first rows; a pipe gets every row. --csv and --json print every
    row in that form. Times ending in _utc are shown in UTC. Example:
    fitpipe query "SELECT sport, sum(distance_m)/1000 AS km FROM workouts GROUP BY 1"
    """
    if csv and as_json:
        _fail("--csv and --json: give one or the other")
    settings = _settings(None, out, config)
    sink = _sink(settings)
    _read_only(sink)
    try:
        connection = queries.connect(sink, as_of)
    except SinkError as exc:
        _fail(str(exc))
    try:
        result = queries.run(connection, sql)
        if csv or as_json:
            queries.write(connection, sql, "csv" if csv else "json")
        else:
            _print_result(result)
    except queries.QueryError as exc:
        _fail(f"query: {exc}")


def _print_result(result) -> None:
    """A table; on a terminal only the first rows, with a note on stderr of how to get them all;
    elsewhere every row, as Markdown."""
    console = _console()
    limit = queries.TERMINAL_ROWS if console.is_terminal else None
    columns, rows, cut = queries.rows(result, limit)
    if not console.is_terminal:
        for line in queries.markdown(columns, rows):
            typer.echo(line)
        return
    table = Table(*(escape(c) for c in columns), box=box.SIMPLE_HEAD)
    for row in rows:
        table.add_row(*("" if value is None else escape(str(value)) for value in row))
    console.print(table)
    if cut:
        stderr.print(f"first {limit} rows shown: pipe the output, or use --csv or --json, for every row",
                     highlight=False)


RetentionDays = Annotated[int, typer.Option("--retention-days", min=0, help="Keep the files of table versions younger than this, for readers of older versions and time travel.")]


@app.command()
def compact(out: Out = None, config: ConfigPath = None, retention_days: RetentionDays = 7, as_json: Json = False,
            quiet: Quiet = False, wait: Wait = False) -> None:
    """Merge a Delta output's small sample files and vacuum files of old versions.

    Each samples partition held in several files becomes one, sorted by athlete, activity and
    time; then files that no table version younger than the retention uses are deleted. Readers of
    the latest version are never disturbed. A parquet folder has nothing to compact."""
    settings = _settings(None, out, config)
    sink = _sink(settings)
    _read_only(sink)
    with _exclusive(settings.out, sink, wait):
        _existing_tables(sink)
        result = sink.compact(retention_days * 24)
    if as_json:
        typer.echo(json.dumps(result))
    elif result is None:
        stderr.print(f"{escape(sink.describe())}: a parquet folder, one file per activity: nothing to compact",
                     highlight=False)
    elif not quiet:
        stderr.print(f"{escape(sink.describe())}: {result['files_before']} data files before, {result['files_after']} "
                     f"after; {result['partitions_rewritten']} sample partitions rewritten as one sorted file each; "
                     f"versions older than {retention_days} days vacuumed", highlight=False)


@app.command("discover")
def discover_command(inputs: Inputs = None, out: Out = None, config: ConfigPath = None, full: Full = False,
                     athlete: AthleteId = None, athletes_root: AthletesRoot = None,
                     as_json: Annotated[bool, typer.Option("--json", help="Print the files as a JSON list on stdout.")] = False) -> None:
    """List the files a run would read, zip members included: athlete, format, compression, size, and whether each is new."""
    settings = _settings(inputs, out, config, athlete=athlete, athletes_root=athletes_root)
    _require_inputs(settings)
    try:
        work = plan(settings, _sink(settings).read_table("manifest"), full)
    except FileNotFoundError as exc:
        _fail(str(exc))
    known = set(work.manifest.select("athlete_id", "path").iter_rows())
    unchanged = {(f.athlete_id, f.key) for f in work.unchanged}
    rows = [
        {"athlete_id": f.athlete_id, "path": f.key, "format": f.format, "compression": f.compression,
         "size_bytes": f.size_bytes, "state": _state(f, unchanged, known)}
        for f in sorted([*work.to_read, *work.unchanged], key=lambda f: (f.athlete_id, f.key))
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    team = settings.is_team
    table = Table(*(["athlete"] if team else []), "path", "format", "gz", "KB", "state")
    for row in rows:
        table.add_row(*([row["athlete_id"]] if team else []), escape(row["path"]), row["format"],
                      "gz" if row["compression"] else "", f"{row['size_bytes'] / 1024:.0f}", row["state"])
    _console().print(table)
    stderr.print(f"{len(work.to_read)} to read, {len(work.unchanged)} unchanged", highlight=False)


def _state(source, unchanged: set[tuple[str, str]], known: set[tuple[str, str]]) -> str:
    if source.refused:
        return f"refused: {source.refused}"
    key = (source.athlete_id, source.key)
    return "unchanged" if key in unchanged else ("changed" if key in known else "new")


@app.command()
def inspect(path: Annotated[Path, typer.Argument(help="One .fit, .gpx or .tcx file (optionally .gz), or a zip member as discover and the manifest name it (export.zip!/activities/1.fit).")],
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
    shown = ["activity_id", "parent_id", "sport", "sport_raw", "start_time_utc", "start_time_local",
             "utc_offset_source", "elapsed_s", "moving_s", "distance_m", "avg_hr_bpm", "n_samples"]
    return {
        "path": content.path, "format": content.format, "sha256": content.sha256,
        "status": content.status, "reason": content.reason, "parse_status": content.parse_status,
        "activities": content.activities.select(shown).to_dicts(),
        "laps": content.laps.height,
        "sample_columns_filled": columns,
    }


def _print_inspection(summary: dict) -> None:
    console = _console()
    console.print(f"[bold]{escape(summary['path'])}[/]  {summary['format']}  sha256 {summary['sha256'] or '–'}",
                  highlight=False)
    parsed = f"  parse: {summary['parse_status']}" if summary["parse_status"] else ""
    console.print(f"status: {summary['status']}{parsed}", highlight=False)
    if summary["reason"]:
        console.print(f"reason: {escape(summary['reason'])}", highlight=False)
    if summary["activities"]:
        # One column per activity keeps the table readable in a narrow terminal.
        activities = summary["activities"]
        table = Table("", *[f"activity {i + 1}" for i in range(len(activities))])
        for field in activities[0]:
            table.add_row(field, *[escape(_cell(a[field])) for a in activities])
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
    """The console script. An object store that fails where no write is under way (`query`,
    `summary`, the checks before `report` or `metrics` lock) is one line too, not a traceback."""
    filter_panic_reports()
    try:
        app(prog_name="fitpipe")
    except RemoteError as exc:
        stderr.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(_store_exit(exc))
