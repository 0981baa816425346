"""Hardened XML parsing for agency answers and for the simulated agencies' own request parsing.

No entity resolution, no DTD loading, no network access, no huge trees, and a size limit checked before
parsing. A document that declares a DTD at all (where entity bombs and external entities live) is refused.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from gateway.errors import SourceProtocolError

DEFAULT_MAX_BYTES = 2 * 1024 * 1024


def hardened_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse untrusted XML or raise :class:`SourceProtocolError`."""
    if len(data) > max_bytes:
        raise SourceProtocolError(f"XML document larger than {max_bytes} bytes")
    try:
        tree = etree.fromstring(data, parser=hardened_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise SourceProtocolError("malformed XML") from exc
    if tree.docinfo.internal_DTD or tree.docinfo.doctype:
        raise SourceProtocolError("XML with a document type declaration is refused")
    root = tree.getroot()
    return root


def load_schema(path: Path) -> etree.XMLSchema:
    """Load an XSD from contracts/ (trusted, local files; imports resolve relative to ``path``)."""
    return etree.XMLSchema(etree.parse(str(path), parser=etree.XMLParser(no_network=True)))


def validate(schema: etree.XMLSchema, element: etree._Element, what: str) -> None:
    if not schema.validate(element):
        first = schema.error_log.filter_from_errors()
        reason = first[0].message if first else "schema validation failed"
        raise SourceProtocolError(f"{what} does not match its XSD: {reason}")
