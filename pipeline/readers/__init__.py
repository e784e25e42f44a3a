"""Format readers behind one small interface (see `base.Reader`)."""

from __future__ import annotations

from .base import ParsedFile, Reader, ReadError
from .fit import read_fit, read_fit_fitparse
from .gpx import read_gpx
from .gpx_fast import read_gpx_fast
from .tcx import read_tcx
from .tcx_fast import read_tcx_fast

FORMATS = ("fit", "gpx", "tcx")

# format -> engine name -> reader; the first engine of each format is the default.
ENGINES: dict[str, dict[str, Reader]] = {
    "fit": {"numpy": read_fit, "fitparse": read_fit_fitparse},
    # lxml: streaming and column-wise; gpxpy / etree: the reference engines it is tested against.
    "gpx": {"lxml": read_gpx_fast, "gpxpy": read_gpx},
    "tcx": {"lxml": read_tcx_fast, "etree": read_tcx},
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
