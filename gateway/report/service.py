"""The hub's side of the printable report: the requester's stored report, sealed and rendered."""

from __future__ import annotations

import asyncio

from gateway.auth import Caller
from gateway.context import HubContext
from gateway.report.render import render_report
from gateway.report.seal import seal_report


async def printable_report(hub: HubContext, caller: Caller, verification_id: str) -> tuple[bytes, str]:
    """``(PDF, seal)`` of a stored report of ``caller``."""
    report = await hub.verifications.stored_report(caller, verification_id)  # NotFound for anyone else
    seal = seal_report(report, hub.keys.signing_key, issuer=hub.settings.hub_id)
    # Rendering (font subsetting) takes CPU seconds: off the event loop.
    return await asyncio.to_thread(render_report, report, seal), seal
