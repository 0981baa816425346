"""Roles and the scopes they may hold (docs/architecture.md §5). Deny by default: a scope not listed is never
granted."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.errors import InvalidScope

ROLE_SCOPES: Mapping[str, frozenset[str]] = {
    "local_mis": frozenset({"verify", "consent:write", "registry:write"}),
    "agency": frozenset({"edge"}),
    "auditor": frozenset({"audit:read"}),
    "operator": frozenset({"admin"}),
}


def granted_scopes(role: str, requested: str | None) -> frozenset[str]:
    """The scopes to grant for a token request (RFC 6749 §3.3): all of the role's when none are named;
    otherwise exactly those named, each of which the role must hold."""
    allowed = ROLE_SCOPES.get(role, frozenset())
    if requested is None or not requested.strip():
        return allowed
    asked = frozenset(requested.split())
    if not asked <= allowed:
        raise InvalidScope("a requested scope is not allowed for this member's role")
    return asked
