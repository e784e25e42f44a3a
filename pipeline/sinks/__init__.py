"""Where the tables land, and where every command reads them back from (the Sink seam,
sinks/base.py): a folder of parquet files (the default), or of Delta tables (`--format delta`)."""

from __future__ import annotations

from pathlib import Path

from ..discover.remote import is_url
from .base import LockHeld, Sink, SinkError
from .parquet_folder import ParquetFolder, table_path

DELTA_HINT = "--format delta needs Delta Lake: pip install 'fitpipe[delta]'"


def held_format(out: Path) -> str | None:
    """Which kind of tables an output folder holds, if any."""
    if (out / "activities" / "_delta_log").is_dir():
        return "delta"
    return "parquet" if table_path(out, "activities").exists() else None


def for_output(out: Path | str | Sink, format: str | None = None) -> Sink:
    """The sink for an output location (a sink is returned as it is): of `format`, or of the
    kind the folder already holds, else the parquet folder. An object-store URL holds Delta
    tables (a parquet folder needs a file system's renames)."""
    if not isinstance(out, (str, Path)):
        return out
    if is_url(out):
        return _object_store(out.rstrip("/"), format)
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


def _object_store(url: str, format: str | None) -> Sink:
    if format == "parquet":
        raise SinkError(f"{url}: a parquet folder must be on local disk; on object storage use --format delta")
    try:
        from .object_store import ObjectStoreDeltaTables  # the delta extra
    except ImportError:
        raise SinkError(DELTA_HINT.replace("--format delta", "object storage")) from None
    return ObjectStoreDeltaTables(url)


__all__ = ["LockHeld", "ParquetFolder", "Sink", "SinkError", "for_output", "held_format"]
