"""Synthetic people, registrations and members for the consent tests (identity numbers built per GB 11643).

Shared by the unit and the integration tests of gateway.consent; each directory's conftest.py provides it as
the ``kit`` fixture.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from gateway.consent import ConsentRegistration
from gateway.ids import id_number_check_char
from gateway.members import MemberRecord


class ConsentKit:
    mis = "CN/GOV/11110101MB12345677/dibao-mis"
    # The sandbox MIS of Dongcheng (110101), a second system of the same district, one of Luzhou (510502).
    mis_member = MemberRecord(mis, "local_mis", "110101", "mis", {"keys": []})
    neighbour = MemberRecord("CN/GOV/11110101MB2222222J/street-mis", "local_mis", "110101", "street", {"keys": []})
    stranger = MemberRecord("CN/GOV/11510502MB76543212/dibao-mis", "local_mis", "510502", "luzhou", {"keys": []})
    all_categories = ("hukou", "civil_affairs", "tax", "housing", "banking")

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def id_number(self, age_years: int, sequence: int = 123, division: str = "110101") -> str:
        """A valid identity number of someone who turned ``age_years`` 1 to 31 days ago."""
        today = self.now.date()
        birth = date(today.year - age_years, today.month, 1) - timedelta(days=1)
        first17 = f"{division}{birth:%Y%m%d}{sequence:03d}"
        return first17 + id_number_check_char(first17)

    def body(self, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id_number": self.id_number(40),
            "grantee": self.mis,
            "purposes": ["dibao.application"],
            "categories": list(self.all_categories),
            "collection_method": "signed_form",
            "evidence": {"sha256": "ab" * 32, "ref": "MIS-110101/2026/000123"},
            "signed_at": self.now - timedelta(days=1),
        }
        body.update(changes)
        return body

    def registration(self, **changes: Any) -> ConsentRegistration:
        return ConsentRegistration.model_validate(self.body(**changes))
