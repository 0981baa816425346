"""Pseudonymous subject references (docs/architecture.md §3): how a person is found without storing their number."""

from __future__ import annotations

import hashlib
import hmac


def subject_ref(pepper: bytes, id_number: str) -> str:
    """HMAC-SHA256 (RFC 2104) of a validated, normalised identity number under the hub's subject pepper, hex.

    The pepper never leaves the hub, so the 18-digit space (small enough to enumerate) cannot be searched
    offline from a leaked table or receipt.
    """
    return hmac.new(pepper, id_number.encode("ascii"), hashlib.sha256).hexdigest()
