"""Checking a report's attestations offline (``hedui report verify FILE``): which sources did the agency
itself vouch for, and do their statements verify against the federation metadata (docs/federation.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.edge.attestation import attestation_issuer, verify_attestation
from gateway.edge.trust import member_jwks
from gateway.errors import HeduiError


@dataclass(frozen=True, slots=True)
class SourceCheck:
    """One source of a report: ``attested_by`` is the agency member whose signature verified, or None."""

    adapter: str
    status: str
    attested_by: str | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_report(report: Mapping[str, Any], federation: Mapping[str, Any]) -> list[SourceCheck]:
    """Check every ``sources[i].attestation`` of an opened report against verified federation metadata.

    An attestation must be signed by an agency member of the metadata and name this report's verification,
    the source's adapter and its as-of date. A source without one was fetched by the hub itself.
    """
    checks: list[SourceCheck] = []
    verification_id = str(report.get("verification_id", ""))
    for source in report.get("sources", []):
        adapter, status = str(source.get("adapter", "")), str(source.get("status", ""))
        token = source.get("attestation")
        if token is None:
            checks.append(SourceCheck(adapter, status, None))
            continue
        try:
            if not isinstance(token, str):
                raise TypeError("the attestation is not a string")
            issuer = attestation_issuer(token)
            expect = {"iss": issuer, "verification_id": verification_id, "adapter": adapter}
            as_of = source.get("provenance", {}).get("as_of")
            if isinstance(as_of, str):
                expect["as_of"] = as_of
            verify_attestation(token, member_jwks(federation, issuer, role="agency"), expect=expect)
        except (HeduiError, TypeError) as exc:
            problem = exc.detail if isinstance(exc, HeduiError) else str(exc)
            checks.append(SourceCheck(adapter, status, None, problem=problem))
            continue
        checks.append(SourceCheck(adapter, status, issuer))
    return checks
