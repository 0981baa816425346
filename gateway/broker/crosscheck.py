"""What the hub can check itself about an agency's records: the identity number encodes the person's birth
date and sex (GB 11643-1999 §4.2: positions 7-14 the date of birth YYYYMMDD, §4.3: the sequence code in
positions 15-17 is odd for men and even for women). A source whose record says otherwise answered about
someone else, whatever number it echoed (issue 11 defect 7)."""

from __future__ import annotations

from adapters.base import SourceQuery, SourceResult
from gateway.errors import RecordMismatch


def _encoded(id_number: str) -> dict[str, str]:
    """Birth date (ISO) and sex (M/F) as the identity number states them; the number was validated already."""
    return {
        "person.birth_date": f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}",
        "person.sex": "M" if int(id_number[16]) % 2 else "F",
    }


def check_record_identity(query: SourceQuery, result: SourceResult) -> None:
    """Raise :class:`RecordMismatch` when a fact of ``result`` contradicts the number asked about its member.

    The error names the member's position and the fact, never a value (they are personal data).
    """
    encoded = {member.index: _encoded(member.id_number) for member in query.members}
    for fact in result.facts:
        expected = encoded.get(fact.member, {}).get(fact.code)
        if expected is not None and fact.value != expected:
            raise RecordMismatch(
                f"{result.adapter}: {fact.code} of member {fact.member} contradicts the identity number asked"
            )
