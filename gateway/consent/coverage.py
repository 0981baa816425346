"""The consent check (docs/architecture.md §6 step 4, §8), as a pure function over the stored grants of a household.

Every household member needs one consent that is active, already valid and not yet expired, names the
purpose and every requested category, and is granted to the requester (or its region; the caller selects
those grants). Fail closed: a member without such a consent stops the whole verification.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from gateway.errors import ConsentExpired, ConsentMissing, ConsentRevoked

Status = Literal["active", "revoked", "expired"]
_REFUSALS: dict[str, type[ConsentMissing]] = {
    ConsentMissing.code: ConsentMissing,
    ConsentRevoked.code: ConsentRevoked,
    ConsentExpired.code: ConsentExpired,
}


@dataclass(frozen=True, slots=True)
class Grant:
    """What the check needs of one stored consent."""

    consent_id: str
    subject_ref: str
    purposes: frozenset[str]
    categories: frozenset[str]
    revoked: bool
    signed_at: datetime
    valid_from: datetime
    valid_until: datetime


def status_at(*, revoked: bool, valid_until: datetime, at: datetime) -> Status:
    """A consent's status at a moment: a revocation stands; otherwise it expires at ``valid_until``."""
    if revoked:
        return "revoked"
    return "expired" if at >= valid_until else "active"


def covering_consents(
    subject_refs: Sequence[str],
    grants: Iterable[Grant],
    *,
    purpose: str,
    categories: Collection[str],
    at: datetime,
) -> tuple[str, ...]:
    """The consent relied on for each household member, in household order.

    Raises :class:`ConsentMissing` (or :class:`ConsentRevoked` / :class:`ConsentExpired` when every failing
    member fails for that reason) with ``members=[{"index": i, "reason": code}, ...]``.
    """
    wanted = frozenset(categories)
    matching: dict[str, list[Grant]] = {ref: [] for ref in subject_refs}
    for grant in grants:
        if grant.subject_ref in matching and purpose in grant.purposes and wanted <= grant.categories:
            matching[grant.subject_ref].append(grant)

    relied_on: list[str] = []
    failures: list[dict[str, int | str]] = []
    for index, ref in enumerate(subject_refs):
        candidates = matching[ref]
        usable = [g for g in candidates if not g.revoked and g.valid_from <= at < g.valid_until]
        if usable:
            # The longest-lasting one, so that the report names the consent that stays valid.
            relied_on.append(max(usable, key=lambda g: (g.valid_until, g.consent_id)).consent_id)
            continue
        failures.append({"index": index, "reason": _reason(candidates, at)})
    if failures:
        reasons = {str(failure["reason"]) for failure in failures}
        error = _REFUSALS[reasons.pop()] if len(reasons) == 1 else ConsentMissing
        raise error(
            f"{len(failures)} of {len(subject_refs)} household members have no usable consent "
            "for this purpose, these categories and this requester",
            members=failures,
        )
    return tuple(relied_on)


def _reason(candidates: Sequence[Grant], at: datetime) -> str:
    if not candidates:
        return ConsentMissing.code
    # The most recently signed matching consent says what became of the member's authorisation.
    latest = max(candidates, key=lambda g: (g.signed_at, g.valid_until, g.consent_id))
    status = status_at(revoked=latest.revoked, valid_until=latest.valid_until, at=at)
    if status == "revoked":
        return ConsentRevoked.code
    if status == "expired":
        return ConsentExpired.code
    return ConsentMissing.code  # signed, but its valid_from has not come yet
