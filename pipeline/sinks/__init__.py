"""Where the tables land, and where every command reads them back from (the Sink seam,
sinks/base.py). Today's one sink is the parquet folder."""

from __future__ import annotations

from pathlib import Path

from .base import LockHeld, Sink
from .parquet_folder import ParquetFolder


def for_output(out: Path | Sink) -> Sink:
    """The sink for an output location (a sink is returned as it is)."""
    return ParquetFolder(Path(out)) if isinstance(out, (str, Path)) else out


__all__ = ["LockHeld", "ParquetFolder", "Sink", "for_output"]
