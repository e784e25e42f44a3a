"""XML parsing that refuses entity expansion, external entities and external DTDs.

Two parsers share one policy and one set of refusal messages:
- `parse_xml`: defusedxml (expat) into an ElementTree, for the reference engines;
- `iter_elements` and `pull_events`: lxml streaming, for the fast engines. Whenever the
  bytes may hold a DOCTYPE they first run `parse_xml`, so both give the same reason for the
  same file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_etree
from defusedxml import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden
from lxml import etree

from .base import ReadError

# "<!DOCTYPE" as it appears in the encodings lxml reads without a declaration; a file
# without it cannot declare an entity or name an external DTD.
_DOCTYPE_MARKERS = tuple("<!DOCTYPE".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be"))
# What lxml is fed at a time: a few hundred track points, few enough to keep memory flat.
CHUNK_BYTES = 1 << 16


class _SafeParser(safe_etree.DefusedXMLParser):
    """defusedxml's parser, which also refuses a DOCTYPE naming an external DTD.

    The DTD itself would not be fetched, but a file that points at one (often a local
    path) is crafted, not written by a device: refuse it rather than guess.
    """

    def __init__(self) -> None:
        super().__init__(forbid_dtd=False, forbid_entities=True, forbid_external=True)
        self.parser.StartDoctypeDeclHandler = self._refuse_external_dtd

    def _refuse_external_dtd(self, name, sysid, pubid, has_internal_subset) -> None:
        if sysid or pubid:
            raise ExternalReferenceForbidden(None, None, sysid, pubid)


def parse_xml(data: bytes, what: str) -> Element:
    """Parse untrusted XML; billion-laughs and XXE files are rejected, not expanded."""
    parser = _SafeParser()
    try:
        parser.feed(data)
        return parser.close()
    except DefusedXmlException as exc:
        raise ReadError(_refusal(what, type(exc).__name__)) from exc
    except safe_etree.ParseError as exc:
        raise ReadError(f"not well-formed {what} XML: {exc}") from exc


def iter_elements(data: bytes, what: str, tags: Sequence[str]) -> Iterator[etree._Element]:
    """Stream the elements named in `tags` (lxml `{*}name` wildcards allowed) as each ends.

    The caller may clear an element once it is done with it, so memory stays flat however
    long the file. Hostile files raise ReadError with the same reason as `parse_xml`.
    """
    for events in pull_events(data, what, tags, ("end",)):
        for _, element in events:
            yield element


def pull_events(data: bytes, what: str, tags: Sequence[str], kinds: Sequence[str],
                chunk_bytes: int = CHUNK_BYTES) -> Iterator[list[tuple[str, etree._Element]]]:
    """Feed the bytes to lxml a chunk at a time; after each chunk, the `kinds` events ("start",
    "end") of the elements named in `tags` that it completed.

    Between chunks the tree holds everything read so far: an element that has started but not
    ended has all its children complete but maybe the last, so a caller can read and free them
    in bulk before the next chunk. Hostile files raise ReadError with the same reason as
    `parse_xml`.
    """
    if any(marker in data for marker in _DOCTYPE_MARKERS):
        parse_xml(data, what)  # entity or external-DTD tricks: defusedxml's verdict and wording
    parser = etree.XMLPullParser(
        events=kinds, tag=list(tags),
        # No entity expansion, no DTD loading, no network, libxml2's size limits kept.
        resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False,
        # ElementTree drops comments and processing instructions; so do we, so that
        # text split by a comment reads as one string in both engines.
        remove_comments=True, remove_pis=True,
    )
    checked = False
    try:
        for start in range(0, len(data), chunk_bytes):
            parser.feed(data[start:start + chunk_bytes])
            events = list(parser.read_events())
            if events and not checked:
                _refuse_doctype(events[0][1].getroottree(), what)
                checked = True
            yield events
        root = parser.close()
        events = list(parser.read_events())
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(data, what, exc) from exc
    if not checked:
        _refuse_doctype(root.getroottree(), what)
    yield events


def _refuse_doctype(tree: etree._ElementTree, what: str) -> None:
    """Second line of defence, for encodings the byte scan in `pull_events` cannot see."""
    info = tree.docinfo
    if info.system_url or info.public_id:
        raise ReadError(_refusal(what, ExternalReferenceForbidden.__name__))
    dtd = info.internalDTD
    if dtd is not None and next(iter(dtd.iterentities()), None) is not None:
        raise ReadError(_refusal(what, EntitiesForbidden.__name__))


def _syntax_error(data: bytes, what: str, exc: etree.XMLSyntaxError) -> ReadError:
    """The reference engines' message (expat's wording) when expat agrees the file is broken."""
    try:
        parse_xml(data, what)
    except ReadError as reference:
        return reference
    # Only lxml objects: e.g. libxml2's depth or text-size limits (huge_tree=False).
    return ReadError(f"not well-formed {what} XML: {exc}")


def _refusal(what: str, reason: str) -> str:
    return f"refused unsafe {what} XML ({reason})"


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def require_root(root_tag: str, expected: str, what: str) -> None:
    """An XML file of another kind (an HTML login page saved as .tcx) is not a broken one of
    ours: refuse it by its root element."""
    name = local_name(root_tag)
    if name != expected:
        raise ReadError(f"not a {what} file (root element <{name}>)")


def namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def release(element: etree._Element) -> None:
    """Free a streamed element that has been read, and the read siblings before it with the
    same tag, so memory stays flat however long the file."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    previous = element.getprevious()
    while previous is not None and previous.tag == element.tag:
        parent.remove(previous)
        previous = element.getprevious()
