"""Member ids (X-Road style, docs/architecture.md §3) and GB/T 2260 region codes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.errors import InvalidCreditCode, InvalidMemberId, InvalidRegion
from gateway.ids.gb32100 import validate_credit_code

MEMBER_CLASSES = ("GOV", "BANK", "COM")
_MAX_CHARS = 3 + 5 + 18 + 1 + 63
# ASCII classes with fullmatch: `\\d` takes any Unicode digit and `$` a trailing newline.
_SUBSYSTEM = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_REGION = re.compile(r"[1-9][0-9]{5}")


@dataclass(frozen=True, slots=True)
class MemberId:
    """``CN/<class>/<unified social credit code>/<subsystem>``."""

    member_class: str
    code: str
    subsystem: str

    @classmethod
    def parse(cls, raw: str) -> MemberId:
        if len(raw) > _MAX_CHARS or not raw.isascii():
            raise InvalidMemberId("a member id has the form CN/<class>/<credit code>/<subsystem>")
        parts = raw.split("/")
        if len(parts) != 4 or parts[0] != "CN":
            raise InvalidMemberId("a member id has the form CN/<class>/<credit code>/<subsystem>")
        _, member_class, code, subsystem = parts
        if member_class not in MEMBER_CLASSES:
            raise InvalidMemberId(f"member class must be one of {', '.join(MEMBER_CLASSES)}")
        try:
            validate_credit_code(code)
        except InvalidCreditCode as exc:
            raise InvalidMemberId(f"member code: {exc.detail}") from exc
        if not _SUBSYSTEM.fullmatch(subsystem):
            raise InvalidMemberId("subsystem must be lowercase letters, digits, '-' or '_'")
        return cls(member_class, code, subsystem)

    def __str__(self) -> str:
        return f"CN/{self.member_class}/{self.code}/{self.subsystem}"


def validate_region(raw: str) -> str:
    """A 6-digit GB/T 2260 administrative division code."""
    if not _REGION.fullmatch(raw):
        raise InvalidRegion("a region is a 6-digit GB/T 2260 division code")
    return raw
