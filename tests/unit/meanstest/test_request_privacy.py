from __future__ import annotations

from gateway.meanstest.request import parse_verification_request


def test_a_printed_request_shows_no_identity_number_or_name() -> None:
    request = parse_verification_request(
        {
            "case_id": "c-1",
            "purpose": "dibao.application",
            "region": "110101",
            "operator": "staff-1",
            "household": [{"id_number": "11010519491231002X", "name": "张三", "relation": "self"}],
        }
    )
    for text in (repr(request), str(request), repr(request.household[0])):
        assert "11010519491231002X" not in text
        assert "张三" not in text
