"""The completion callback of a batch (docs/batch.md "Completion callback"): which URLs a member may
register and a batch may name, the notification's claims, and the retry schedule. Delivery itself is
:class:`gateway.batch.delivery.CallbackDeliverer`.

The notification is a compact JWS (RFC 7515 §7.1) signed by the hub's signing key and explicitly typed
``hedui-batch-callback+jwt`` (RFC 8725 §3.11), so that no other token of the hub can pass for one. It names
the batch and its counts: never an identity number, a case id or anything about a household; the member
fetches the results through the API.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.batch.models import Batch
from gateway.errors import CallbackUrlNotAllowed, InvalidInput
from gateway.members.callback_url import callback_origin, checked_callback_url

CALLBACK_TYPE = "hedui-batch-callback+jwt"
CONTENT_TYPE = "application/jose"  # RFC 7515 §9.2.1: a JWS in compact serialization


@dataclass(frozen=True, slots=True)
class CallbackSchedule:
    """How often and how long a notification is tried: attempt n (1-based) that fails is retried after a
    delay drawn uniformly from [d/2, d], d = min(``max_delay_s``, ``base_delay_s`` x 2^(n-1)) (exponential
    backoff with jitter, so receivers coming back up are not hit by every hub at once); after
    ``max_attempts`` failed attempts the notification is ``failed``."""

    max_attempts: int = 8
    base_delay_s: float = 10.0
    max_delay_s: float = 3600.0
    timeout_s: float = 10.0
    token_lifetime_s: int = 300

    def delay_after(self, attempt: int, rng: Callable[[float, float], float] = random.uniform) -> float:
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** min(attempt - 1, 62))
        return rng(ceiling / 2, ceiling)

    @property
    def lease_s(self) -> float:
        """How long a claimed attempt is held: well past the send's total timeout and its database writes."""
        return max(30.0, 3 * self.timeout_s)


def batch_callback_url(registered: str | None, requested: Any, explicit: Any) -> str | None:
    """The URL a new batch's notification goes to: None if the batch asks for none (``"callback"`` absent or
    false and no ``callback_url``); the member's registered URL for ``"callback": true``; an explicit
    ``callback_url`` only on the registered URL's origin. :class:`CallbackUrlNotAllowed` otherwise."""
    if requested is not None and not isinstance(requested, bool):
        raise InvalidInput("callback is true or false")
    if explicit is None and requested is not True:
        return None
    if requested is False:
        raise InvalidInput("callback is false but a callback_url is given")
    if registered is None:
        raise CallbackUrlNotAllowed("the member has no registered callback URL")
    if explicit is None:
        return registered
    url = checked_callback_url(explicit)
    if callback_origin(url) != callback_origin(registered):
        raise CallbackUrlNotAllowed("callback_url is not on the member's registered callback origin")
    return url


def callback_claims(
    *,
    hub_id: str,
    batch: Batch,
    tallies: dict[str, dict[str, int]],
    attempt: int,
    lifetime_s: int,
    now: float | None = None,
) -> dict[str, Any]:
    """The notification's claims (RFC 7519 §4.1 registered ones, then the batch's): counts only, never an
    identity number, case id or anything about a household."""
    issued = int(time.time() if now is None else now)
    return {
        "iss": hub_id,
        "aud": batch.requester,
        "iat": issued,
        "exp": issued + lifetime_s,
        "jti": str(uuid.uuid4()),
        "batch_id": batch.batch_id,
        "batch_ref": batch.batch_ref,
        "purpose": batch.purpose,
        "state": batch.state,
        "total": batch.item_count,
        "counts": tallies["counts"],
        "outcomes": tallies["outcomes"],
        "recommendations": tallies["recommendations"],
        "errors": tallies["errors"],
        "attempt": attempt,
        "results": f"/v1/batches/{batch.batch_id}/results",
    }
