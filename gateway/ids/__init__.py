"""Identifiers of docs/architecture.md §3: resident identity numbers, unified social credit codes, member ids,
regions."""

from gateway.ids.gb11643 import IdNumber, id_number_check_char, parse_id_number, validate_id_number
from gateway.ids.gb32100 import credit_code_check_char, validate_credit_code
from gateway.ids.member import MemberId, validate_region
from gateway.ids.subject import subject_ref

__all__ = [
    "IdNumber",
    "MemberId",
    "credit_code_check_char",
    "id_number_check_char",
    "parse_id_number",
    "subject_ref",
    "validate_credit_code",
    "validate_id_number",
    "validate_region",
]
