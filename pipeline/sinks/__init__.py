"""Where the tables land, and where every command reads them back from (the Sink seam,
sinks/base.py): a folder of parquet files (the default), or of Delta tables (`--format delta`)."""

from __future__ import annotations

from pathlib import Path

from .base import LockHeld, Sink, SinkError
from .parquet_folder import ParquetFolder, table_path

DELTA_HINT = "--format delta needs Delta Lake: pip install 'fitpipe[delta]'"


def held_format(out: Path) -> str | None:
    """Which kind of tables an output folder holds, if any."""
    if (out / "activities" / "_delta_log").is_dir():
        return "delta"
    return "parquet" if table_path(out, "activities").exists() else None


def for_output(out: Path | Sink, format: str | None = None) -> Sink:
    """The sink for an output location (a sink is returned as it is): of `format`, or of the
    kind the folder already holds, else the parquet folder."""
    if not isinstance(out, (str, Path)):
        return out
    out = Path(out)
    held = held_format(out)
    if format is not None and held is not None and format != held:
        raise SinkError(f"{out}: holds {held} tables, not {format}; choose another --out, or --format {held}")
    if (format or held) != "delta":
        return ParquetFolder(out)
    try:
        from .delta_tables import DeltaTables  # an optional extra
    except ImportError:
        raise SinkError(DELTA_HINT) from None
    return DeltaTables(out)


__all__ = ["LockHeld", "ParquetFolder", "Sink", "SinkError", "for_output", "held_format"]
