"""XML parsing that refuses entity expansion and external entities."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_etree
from defusedxml import DefusedXmlException

from .base import ReadError


def parse_xml(data: bytes, what: str) -> Element:
    """Parse untrusted XML; billion-laughs and XXE files are rejected, not expanded."""
    try:
        return safe_etree.fromstring(data)
    except DefusedXmlException as exc:
        raise ReadError(f"refused unsafe {what} XML ({type(exc).__name__})") from exc
    except safe_etree.ParseError as exc:
        raise ReadError(f"not well-formed {what} XML: {exc}") from exc


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
