"""The duplicate-assistance rule (重复救助): pure logic over a household's active enrollments.

A household applying for (or being reviewed for) a programme in a region is flagged when one of its members
is already enrolled, on the verification date,

- in the same programme in another region (``other_region``): assistance is paid where the household
  lives, once; or
- in a programme the policy forbids together with the requested one (``forbidden_overlap``), in any region.

The same programme in the same region is the household's own enrollment being re-verified (periodic
review of an existing recipient) and is not a finding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, get_args

Programme = Literal["dibao", "marginal", "tekun", "rigid_expenditure"]
PROGRAMMES: tuple[Programme, ...] = get_args(Programme)
Reason = Literal["other_region", "forbidden_overlap"]

DUPLICATE_FLAG = "duplicate_enrollment"

# The default when a caller passes no policy (a region's policy lists its own, ``incompatible_with`` in
# contracts/policies/<region>/<programme>.yaml): 低保 (dibao) may not be received together with 特困供养 (tekun,
# which already covers basic living) or 低保边缘 (marginal, by definition for households just above the dibao
# line). Exclusions apply both ways (see excluded_programmes).
DEFAULT_FORBIDDEN_OVERLAPS: Mapping[str, frozenset[str]] = {"dibao": frozenset({"tekun", "marginal"})}


@dataclass(frozen=True, slots=True)
class ActiveEnrollment:
    """An enrollment active on the verification date, of the household member at ``member_index``."""

    member_index: int
    programme: str
    region: str
    since: date


@dataclass(frozen=True, slots=True)
class DuplicateFinding:
    """One reason for the ``duplicate_enrollment`` flag. Names the member by household position only."""

    member_index: int
    programme: str
    region: str
    since: date
    reason: Reason

    def as_dict(self) -> dict[str, Any]:
        """The report's entry for this finding (the report's ``duplicates`` list)."""
        return {
            "household_index": self.member_index,
            "programme": self.programme,
            "region": self.region,
            "since": self.since.isoformat(),
            "reason": self.reason,
        }


def programme_for_purpose(purpose: str) -> Programme | None:
    """The programme a purpose code (contracts/purposes.yaml) is about: ``<programme>.<action>``, e.g.
    ``dibao.application``, ``dibao.residence_application`` (非户籍地申请) and ``dibao.review`` -> ``dibao``.

    Purposes of no registry programme (``temporary_assistance.application``, audits) give None: no check.
    """
    programme, dot, action = purpose.partition(".")
    if not dot or not action or "." in action:
        return None
    return next((known for known in PROGRAMMES if known == programme), None)


def excluded_programmes(programme: str, forbidden_overlaps: Mapping[str, Set[str]]) -> frozenset[str]:
    """Programmes that may not be received together with ``programme``.

    The policy lists, per programme, what it excludes; exclusion is a relation between two programmes, so it
    is read both ways: "dibao excludes tekun" also makes a tekun applicant already on dibao a finding.
    """
    excluded = set(forbidden_overlaps.get(programme, ()))
    excluded.update(other for other, excludes in forbidden_overlaps.items() if programme in excludes)
    excluded.discard(programme)
    return frozenset(excluded)


def find_duplicates(
    active: Iterable[ActiveEnrollment],
    programme: str,
    region: str,
    forbidden_overlaps: Mapping[str, Set[str]],
) -> list[DuplicateFinding]:
    """The findings for an application for ``programme`` in ``region``, in household order."""
    excluded = excluded_programmes(programme, forbidden_overlaps)
    findings = []
    for enrollment in active:
        reason: Reason
        if enrollment.programme == programme and enrollment.region != region:
            reason = "other_region"
        elif enrollment.programme in excluded:
            reason = "forbidden_overlap"
        else:
            continue
        findings.append(
            DuplicateFinding(enrollment.member_index, enrollment.programme, enrollment.region, enrollment.since, reason)
        )
    findings.sort(key=lambda f: (f.member_index, f.since, f.programme, f.region))
    return findings
