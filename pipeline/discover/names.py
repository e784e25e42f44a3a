"""What a file's name says it is: the formats fitpipe reads, optionally gzipped."""

from __future__ import annotations

from ..readers import FORMATS


def detect_format(name: str) -> tuple[str, str | None] | None:
    """(format, compression) from a file name, ignoring case; None if not ours."""
    lower = name.lower()
    compression = None
    if lower.endswith(".gz"):
        compression, lower = "gzip", lower[:-3]
    suffix = lower.rsplit(".", 1)[-1] if "." in lower else ""
    return (suffix, compression) if suffix in FORMATS else None
