"""The subject access report (docs/architecture.md §9): every access to one person's data, by whom, when, for what
purpose, which data categories, and with what outcome, built from the audit entries that carry their subject_ref.

A verification is one access, however many entries it wrote: its request gives who, when and why, its
completion or rejection the outcome, and the agencies it queried are listed with it. Every other entry
naming the person (consents, registry enrollments, auditors looking them up) is an access of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

_VERIFICATION_TYPES = (
    "verification.requested",
    "verification.completed",
    "verification.abandoned",
    "verification.rejected",
    "source.queried",
)


@dataclass(slots=True)
class Access:
    kind: str  # "verification" or the entry type
    time: str
    member: str
    operator: str | None
    purpose: str | None
    categories: list[str]
    outcome: str
    case_id: str | None = None
    verification_id: str | None = None
    sources: dict[str, str] = field(default_factory=dict)  # agency adapter -> outcome
    leaf_indices: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def subject_accesses(entries: Iterable[tuple[int, dict[str, Any]]]) -> list[Access]:
    """Accesses, oldest first, from ``(leaf_index, entry)`` pairs that all name the same subject."""
    accesses: list[Access] = []
    verifications: dict[str, Access] = {}
    for leaf_index, entry in sorted(entries, key=lambda pair: pair[0]):
        kind = str(entry["type"])
        verification_id = entry.get("verification_id")
        if kind in _VERIFICATION_TYPES and verification_id is not None:
            access = verifications.get(verification_id)
            if access is None:
                access = _access("verification", leaf_index, entry, outcome="pending")
                verifications[verification_id] = access
                accesses.append(access)
            _merge(access, kind, leaf_index, entry)
        else:
            accesses.append(_access(kind, leaf_index, entry, outcome=str(entry.get("outcome", ""))))
    return accesses


def _access(kind: str, leaf_index: int, entry: dict[str, Any], *, outcome: str) -> Access:
    purposes = entry.get("purposes")
    return Access(
        kind=kind,
        time=str(entry["time"]),
        member=str(entry["actor"]),
        operator=entry.get("operator"),
        purpose=entry.get("purpose") or (",".join(purposes) if purposes else None),
        categories=list(entry.get("categories", [])),
        outcome=outcome,
        case_id=entry.get("case_id"),
        verification_id=entry.get("verification_id"),
        leaf_indices=[leaf_index],
    )


def _merge(access: Access, kind: str, leaf_index: int, entry: dict[str, Any]) -> None:
    if leaf_index not in access.leaf_indices:
        access.leaf_indices.append(leaf_index)
    if kind == "verification.requested":
        # The request says who asked, when and why; entries seen before it (none, normally) keep theirs.
        access.time, access.member, access.operator = str(entry["time"]), str(entry["actor"]), entry.get("operator")
        access.purpose, access.case_id = entry.get("purpose"), entry.get("case_id")
        access.categories = list(entry.get("categories", []))
    elif kind == "source.queried":
        access.sources[str(entry["source"])] = str(entry["outcome"])
    else:
        access.outcome = str(entry["outcome"])
