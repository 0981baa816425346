"""Batch material of the sandbox: review consents for enrolled households, and a sample batch file.

Only gateway/sandbox.py and the benchmarks import this module (it needs the synthetic population)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from adapters.testkit.population import Household, Population
from gateway.consent.seed import register_household_consents
from gateway.consent.service import ConsentService
from gateway.members import MemberRecord

REVIEW_PURPOSE = "dibao.review"


def enrolled_households(population: Population, region: str | None = None) -> list[Household]:
    """Households receiving 低保 (a member holds a ``dibao`` enrollment), of ``region`` if given."""
    return [
        household
        for household in population.households
        if any(e.program == "dibao" for person in household.members for e in person.enrollments)
        and (region is None or household.region == region)
    ]


async def register_review_consents(
    consents: ConsentService, population: Population, mis_by_region: Mapping[str, MemberRecord]
) -> int:
    """``dibao.review`` consents of every enrolled household, granted to its region's office."""
    count = 0
    for region, mis in mis_by_region.items():
        households = enrolled_households(population, region)
        count += await register_household_consents(consents, households, purpose=REVIEW_PURPOSE, mis=mis)
    return count


def review_request(household: Household, case_id: str) -> dict[str, Any]:
    """One ``dibao.review`` verification request for ``household`` (a line of a batch file)."""
    return {
        "case_id": case_id,
        "purpose": REVIEW_PURPOSE,
        "region": household.region,
        "operator": "batch-review",
        "household": [{"id_number": p.id_number, "name": p.name, "relation": p.relation} for p in household.members],
    }


def write_batch_file(path: Path, households: Sequence[Household], *, case_prefix: str) -> int:
    """A JSON Lines batch file, one review request per household; returns the line count."""
    lines = [
        json.dumps(review_request(household, f"{case_prefix}-{index:06d}"), ensure_ascii=False)
        for index, household in enumerate(households)
    ]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)
