"""The completion notification's URL choice, claims and retry schedule (no database, no network)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from gateway.batch.callback import CallbackSchedule, batch_callback_url, callback_claims
from gateway.batch.models import Batch
from gateway.errors import CallbackUrlNotAllowed, InvalidInput

REGISTERED = "https://mis.example.org/hedui/batches"
MIS = "CN/GOV/11110101MB12345677/dibao-mis"


def test_no_callback_unless_asked() -> None:
    assert batch_callback_url(REGISTERED, None, None) is None
    assert batch_callback_url(REGISTERED, False, None) is None
    assert batch_callback_url(None, None, None) is None  # old requests: unchanged


def test_the_registered_url_or_one_on_its_origin() -> None:
    assert batch_callback_url(REGISTERED, True, None) == REGISTERED
    assert batch_callback_url(REGISTERED, None, "https://mis.example.org/other") == "https://mis.example.org/other"
    assert batch_callback_url(REGISTERED, True, "https://mis.example.org:443/x") == "https://mis.example.org:443/x"


@pytest.mark.parametrize(
    ("registered", "requested", "explicit", "error"),
    [
        (None, True, None, CallbackUrlNotAllowed),
        (None, None, "https://mis.example.org/x", CallbackUrlNotAllowed),
        (REGISTERED, None, "https://evil.example.org/hedui/batches", CallbackUrlNotAllowed),
        (REGISTERED, None, "https://mis.example.org:8443/hedui/batches", CallbackUrlNotAllowed),
        (REGISTERED, None, "https://mis.example.org.evil.example/x", CallbackUrlNotAllowed),
        (REGISTERED, None, "https://mis.example.org@evil.example/x", CallbackUrlNotAllowed),
        (REGISTERED, None, 7, CallbackUrlNotAllowed),
        (REGISTERED, "yes", None, InvalidInput),
        (REGISTERED, 1, None, InvalidInput),
        (REGISTERED, False, "https://mis.example.org/x", InvalidInput),
    ],
)
def test_refused(registered: str | None, requested: object, explicit: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        batch_callback_url(registered, requested, explicit)


def test_the_schedule_backs_off_exponentially_with_jitter_up_to_its_cap() -> None:
    schedule = CallbackSchedule(base_delay_s=10.0, max_delay_s=300.0)
    lowest = [schedule.delay_after(n, rng=lambda low, high: low) for n in range(1, 8)]
    highest = [schedule.delay_after(n, rng=lambda low, high: high) for n in range(1, 8)]
    assert highest == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]
    assert lowest == [h / 2 for h in highest]
    drawn = {schedule.delay_after(3) for _ in range(50)}
    assert len(drawn) > 1 and all(20.0 <= d <= 40.0 for d in drawn)
    assert schedule.delay_after(10_000, rng=lambda low, high: high) == 300.0  # no overflow far out
    assert schedule.lease_s > schedule.timeout_s


def test_claims_name_the_batch_and_its_counts_only() -> None:
    batch = Batch(
        batch_id="0b9c1f0e-7d1a-4f63-8c55-2f8e6f1d9a10",
        requester=MIS,
        batch_ref="2026-11-review",
        purpose="dibao.review",
        state="closed",
        item_count=3,
        created_at=datetime.now(UTC),
    )
    tallies = {
        "counts": {"queued": 0, "running": 0, "done": 2, "failed": 1, "cancelled": 0},
        "outcomes": {"complete": 2},
        "recommendations": {"eligible": 1, "review": 1},
        "errors": {"consent_missing": 1},
    }
    claims = callback_claims(hub_id="hub", batch=batch, tallies=tallies, attempt=2, lifetime_s=300, now=1_000)
    assert claims["iss"] == "hub" and claims["aud"] == MIS
    assert (claims["iat"], claims["exp"]) == (1_000, 1_300)
    assert claims["batch_id"] == batch.batch_id and claims["state"] == "closed" and claims["attempt"] == 2
    assert claims["counts"]["done"] == 2 and claims["errors"] == {"consent_missing": 1}
    assert set(claims) == {
        "iss", "aud", "iat", "exp", "jti", "batch_id", "batch_ref", "purpose", "state", "total", "counts",
        "outcomes", "recommendations", "errors", "attempt", "results",
    }  # fmt: skip
    assert not re.search(r"[0-9]{15}", json.dumps(claims))
    again = callback_claims(hub_id="hub", batch=batch, tallies=tallies, attempt=3, lifetime_s=300, now=1_000)
    assert again["jti"] != claims["jti"], "each attempt is a token of its own"
