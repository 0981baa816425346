"""Hardened XML parsing for agency answers and for the simulated agencies' own request parsing.

No entity resolution, no DTD loading, no network access, no huge trees, and a size limit checked before
parsing. A document that declares a DTD at all (where entity bombs and external entities live) is refused.
Schema-validation messages name the rule and the element path, never the offending value, because values
in agency documents are identity numbers, names and amounts.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from gateway.errors import ConfigurationError, SourceProtocolError

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
# "<!DOCTYPE" as it appears in UTF-8 (and every ASCII-compatible encoding) and in UTF-16 either way round.
_DOCTYPE_MARKERS = tuple("<!DOCTYPE".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be"))
_DOCTYPE_REFUSED = "XML with a document type declaration is refused"


def hardened_parser() -> etree.XMLParser:
    """A parser that never expands entities, reads a DTD, or opens a file or URL named in the document.

    ``huge_tree=False`` keeps libxml2's default limits (nesting depth, text node size) and its cap on
    entity amplification, which it applies even without substitution, when it checks an entity's content.
    """
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
    """Parse untrusted XML and return its root element, or raise :class:`SourceProtocolError`.

    Refused: more than ``max_bytes`` bytes, malformed XML, too deep a tree, and any document type
    declaration (internal subset or external DTD), whatever it contains. The declaration is looked for
    before parsing, so libxml2 never reads a hostile DTD in the usual encodings, and again after parsing,
    for encodings the byte scan does not cover (UTF-32, for one). A document that merely mentions
    ``<!DOCTYPE`` in a comment or CDATA section is refused too; agency contracts have no use for either.
    """
    if len(data) > max_bytes:
        raise SourceProtocolError(f"XML document larger than {max_bytes} bytes")
    if any(marker in data for marker in _DOCTYPE_MARKERS):
        raise SourceProtocolError(_DOCTYPE_REFUSED)
    try:
        root = etree.fromstring(data, parser=hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise SourceProtocolError("malformed XML") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise SourceProtocolError(_DOCTYPE_REFUSED)
    return root


def load_schema(path: Path) -> etree.XMLSchema:
    """Load an XSD from contracts/ (trusted, local files; includes resolve relative to ``path``).

    A missing or broken schema is a deployment fault, raised as :class:`ConfigurationError`.
    """
    try:
        return etree.XMLSchema(etree.parse(str(path), parser=etree.XMLParser(no_network=True)))
    except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise ConfigurationError(f"cannot load XML schema {path.name}") from exc


def validate(schema: etree.XMLSchema, element: etree._Element, what: str) -> None:
    """Raise :class:`SourceProtocolError` unless ``element`` is valid against ``schema``.

    The message carries the first error's libxml2 type and element path (e.g. ``SCHEMAV_CVC_PATTERN_VALID
    at /*/*[4]/*/*``); libxml2's own message would quote the offending value.
    """
    if schema.validate(element):
        return
    errors = schema.error_log.filter_from_errors()
    if not errors:
        raise SourceProtocolError(f"{what} does not match its XSD")
    first = errors[0]
    raise SourceProtocolError(f"{what} does not match its XSD: {first.type_name} at {first.path}")
