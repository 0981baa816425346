"""adapters.xmlsafe: hostile documents are refused before anything in them is expanded, loaded or echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from adapters import xmlsafe
from adapters.xmlsafe import DEFAULT_MAX_BYTES, hardened_parser, load_schema, parse_xml, validate
from gateway.errors import ConfigurationError, SourceProtocolError

DOCTYPE_REFUSED = "XML with a document type declaration is refused"

_SCHEMA = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:test" xmlns:t="urn:test"
           elementFormDefault="qualified">
  <xs:include schemaLocation="types.xsd"/>
  <xs:element name="person">
    <xs:complexType><xs:sequence><xs:element name="idNumber" type="t:IdNumber"/></xs:sequence></xs:complexType>
  </xs:element>
</xs:schema>
"""
_TYPES = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:test">
  <xs:simpleType name="IdNumber">
    <xs:restriction base="xs:string"><xs:pattern value="\\d{17}[\\dX]"/></xs:restriction>
  </xs:simpleType>
</xs:schema>
"""


@pytest.fixture
def schema(tmp_path: Path) -> etree.XMLSchema:
    (tmp_path / "types.xsd").write_text(_TYPES)
    (tmp_path / "person.xsd").write_text(_SCHEMA)
    return load_schema(tmp_path / "person.xsd")


@pytest.fixture
def passwd_first_line() -> str:
    line = Path("/etc/passwd").read_text().splitlines()[0]
    assert line.startswith("root:")
    return line


def _error_text(error: BaseException) -> str:
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        parts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# -- well-formed documents ------------------------------------------------------------------------------


def test_parses_a_plain_document_and_drops_comments_and_processing_instructions() -> None:
    root = parse_xml(b'<?xml version="1.0"?><r a="1"><!-- note --><?app x?><c>text</c></r>')

    assert root.tag == "r"
    assert root.get("a") == "1"
    assert [child.tag for child in root] == ["c"]
    assert root.findtext("c") == "text"


def test_honours_the_declared_encoding() -> None:
    document = '<?xml version="1.0" encoding="UTF-16"?><r>工资薪金</r>'.encode("utf-16")

    assert parse_xml(document).text == "工资薪金"


def test_character_references_are_kept_as_text() -> None:
    assert parse_xml(b"<r>&#x5DE5;&lt;&amp;</r>").text == "工<&"


# -- malformed and oversized ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [b"", b"<r>", b"<r></s>", b"<r>&undeclared;</r>", b"<r>\xff</r>", b"plain text"],
    ids=["empty", "unclosed", "mismatched", "undeclared-entity", "bad-utf8", "not-xml"],
)
def test_malformed_documents_are_refused(document: bytes) -> None:
    with pytest.raises(SourceProtocolError, match=r"^malformed XML$") as caught:
        parse_xml(document)

    assert isinstance(caught.value.__cause__, etree.XMLSyntaxError)


def test_size_limit_is_checked_before_parsing() -> None:
    document = b"<r>" + b"x" * 100 + b"</r>"

    assert parse_xml(document, max_bytes=len(document)).text == "x" * 100
    with pytest.raises(SourceProtocolError, match=f"larger than {len(document) - 1} bytes") as caught:
        parse_xml(document, max_bytes=len(document) - 1)
    assert caught.value.__cause__ is None


def test_default_size_limit_is_two_mebibytes() -> None:
    with pytest.raises(SourceProtocolError, match="larger than"):
        parse_xml(b"<r>" + b"x" * DEFAULT_MAX_BYTES + b"</r>")


def test_deep_nesting_is_refused() -> None:
    depth = 10_000
    with pytest.raises(SourceProtocolError, match="malformed XML"):
        parse_xml(b"<a>" * depth + b"</a>" * depth)


# -- document type declarations -------------------------------------------------------------------------

_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE r [\n <!ENTITY lol0 "lol">\n'
    + "".join(f' <!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">\n' for level in range(1, 10))
    + "]>\n<r>&lol9;</r>"
)
_QUADRATIC = '<!DOCTYPE r [<!ENTITY big "' + "x" * 50_000 + '">]><r>' + "&big;" * 1_000 + "</r>"


_DECLARATIONS = {
    "bare-doctype": "<!DOCTYPE r><r>a</r>",
    "external-dtd": '<!DOCTYPE r SYSTEM "file:///etc/passwd"><r>a</r>',
    "public-dtd": '<!DOCTYPE r PUBLIC "-//X//DTD X//EN" "http://127.0.0.1:9/x.dtd"><r/>',
    "internal-entity": '<!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>',
    "billion-laughs": _LAUGHS,
    "quadratic-blowup": _QUADRATIC,
    "xxe-file": '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    "xxe-parameter": '<!DOCTYPE r [<!ENTITY % x SYSTEM "file:///etc/passwd"> %x;]><r/>',
    "xxe-network": '<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/">]><r>&x;</r>',
}


@pytest.mark.parametrize("name", list(_DECLARATIONS))
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_any_document_type_declaration_is_refused(
    name: str, encoding: str, passwd_first_line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsers_built: list[etree.XMLParser] = []
    build_parser = xmlsafe.hardened_parser

    def spy() -> etree.XMLParser:
        parsers_built.append(build_parser())
        return parsers_built[-1]

    monkeypatch.setattr(xmlsafe, "hardened_parser", spy)
    with pytest.raises(SourceProtocolError) as caught:
        parse_xml(_DECLARATIONS[name].encode(encoding))

    # UTF-8 and UTF-16 are refused by the byte scan before parsing: libxml2 never sees the declaration (no
    # wall-clock bound needed to show a bomb did not go off). UTF-32 passes the scan: libxml2's own
    # amplification guard stops the two bombs while parsing ("malformed XML", where an expanded bomb would
    # have parsed), and the check after parsing refuses the rest.
    assert len(parsers_built) == (1 if encoding == "utf-32" else 0)
    bomb_in_utf32 = encoding == "utf-32" and name in ("billion-laughs", "quadratic-blowup")
    assert caught.value.detail == ("malformed XML" if bomb_in_utf32 else DOCTYPE_REFUSED)
    assert passwd_first_line not in _error_text(caught.value)


def test_hardened_parser_leaves_entities_unexpanded_and_unloaded(passwd_first_line: str) -> None:
    document = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd"><!ENTITY y "inner">]><r>&x;&y;</r>'

    root = etree.fromstring(document, parser=hardened_parser())

    assert passwd_first_line not in etree.tostring(root, encoding="unicode")
    assert "inner" not in "".join(root.itertext())


# -- schemas --------------------------------------------------------------------------------------------


def test_validate_accepts_a_valid_element(schema: etree.XMLSchema) -> None:
    validate(schema, parse_xml(b'<person xmlns="urn:test"><idNumber>11010119900307123X</idNumber></person>'), "x")


def test_validate_names_rule_and_path_but_never_the_value(schema: etree.XMLSchema) -> None:
    secret = "11010119900307123Y"
    element = parse_xml(f'<person xmlns="urn:test"><idNumber>{secret}</idNumber></person>'.encode())

    with pytest.raises(SourceProtocolError) as caught:
        validate(schema, element, "person record")

    assert caught.value.detail == "person record does not match its XSD: SCHEMAV_CVC_PATTERN_VALID at /*/*"
    assert secret not in _error_text(caught.value)


def test_validate_reports_unexpected_elements(schema: etree.XMLSchema) -> None:
    element = parse_xml(b'<person xmlns="urn:test"><name>Zhang</name></person>')

    with pytest.raises(SourceProtocolError, match=r"SCHEMAV_ELEMENT_CONTENT at /\*/\*$"):
        validate(schema, element, "person record")


def test_load_schema_translates_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"missing\.xsd") as caught:
        load_schema(tmp_path / "missing.xsd")

    assert isinstance(caught.value.__cause__, OSError | etree.LxmlError)


@pytest.mark.parametrize(
    "text",
    ["<xs:schema", '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:bogus/></xs:schema>'],
    ids=["malformed", "not-a-schema"],
)
def test_load_schema_translates_a_broken_schema(tmp_path: Path, text: str) -> None:
    (tmp_path / "broken.xsd").write_text(text)

    with pytest.raises(ConfigurationError, match=r"broken\.xsd"):
        load_schema(tmp_path / "broken.xsd")
