"""Format readers behind one small interface (see `base.Reader`)."""

from __future__ import annotations

from .base import ParsedFile, Reader, ReadError
from .fit import read_fit
from .gpx import read_gpx
from .tcx import read_tcx

FORMATS = ("fit", "gpx", "tcx")

# format -> engine name -> reader; the first engine of each format is the default.
ENGINES: dict[str, dict[str, Reader]] = {
    "fit": {"fitparse": read_fit},
    "gpx": {"gpxpy": read_gpx},
    "tcx": {"etree": read_tcx},
}


def read_bytes(data: bytes, fmt: str, name: str, engines: dict[str, str] | None = None) -> ParsedFile:
    """Parse `data` (already decompressed) as `fmt`; raises ReadError with a one-line reason."""
    choice = (engines or {}).get(fmt)
    available = ENGINES[fmt]
    if choice is None:
        reader = next(iter(available.values()))
    elif choice in available:
        reader = available[choice]
    else:
        raise ValueError(f"unknown {fmt} engine {choice!r}; choose from {', '.join(available)}")
    return reader(data, name)


__all__ = ["ENGINES", "FORMATS", "ParsedFile", "ReadError", "Reader", "read_bytes"]
