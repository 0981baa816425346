"""/v1/batches end to end: a sandbox hub with in-process workers on the database queue, driven by HubClient."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from gateway.batch.sample import enrolled_households, review_request
from gateway.client import HubClient
from gateway.consent.seed import register_household_consents
from gateway.errors import BatchItemsInvalid, BatchNotOpen, CallbackUrlNotAllowed, NotFound, Replayed
from gateway.sandbox import SANDBOX_MEMBERS, Sandbox
from tests.integration.batch.conftest import all_results, sample_items, wait_until_finished

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def review_items(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Review requests for 8 households of 110101 that have signed a dibao.review consent."""
    assert sandbox.population is not None
    mis = await sandbox.hub.members.get(str(SANDBOX_MEMBERS["mis"]["id"]))
    enrolled = {h.household_id for h in enrolled_households(sandbox.population)}
    others = [h for h in sandbox.population.households if h.region == "110101" and h.household_id not in enrolled][:7]
    await register_household_consents(sandbox.hub.consents, others, purpose="dibao.review", mis=mis)
    items = sample_items(sandbox) + [review_request(h, f"110101-t-{i:04d}") for i, h in enumerate(others)]
    return items[:8]


def batch_ref() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


async def test_a_batch_runs_every_item_once_and_pages_sealed_reports_in_order(
    client: HubClient, sandbox: Sandbox, review_items: list[dict[str, Any]]
) -> None:
    # One household without a review consent: consent is checked when the item runs, and it fails alone.
    assert sandbox.population is not None
    unconsented = [h for h in sandbox.population.households if h.region == "110101"][-1]
    assert unconsented.members[0].id_number not in {i["household"][0]["id_number"] for i in review_items}
    items = [*review_items[:4], review_request(unconsented, "110101-t-noconsent"), *review_items[4:]]
    created = await client.submit_batch(batch_ref(), "dibao.review", items[:3])
    assert created["counts"]["queued"] + created["counts"]["running"] + created["counts"]["done"] == 3
    await client.add_batch_items(created["batch_id"], items[3:])
    await client.close_batch(created["batch_id"])

    status = await wait_until_finished(client, created["batch_id"])

    assert status["finished"] and status["total"] == len(items)
    assert status["counts"]["done"] == len(items) - 1
    assert status["counts"]["failed"] == 1
    assert set(status["errors"]) == {"consent_missing"}
    assert status["items_per_s"] > 0 and status["eta_s"] == 0.0
    assert status["outcomes"]["complete"] + status["outcomes"].get("partial", 0) == len(items) - 1
    results = await all_results(client, created["batch_id"], page=3)
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["case_id"] for r in results] == [i["case_id"] for i in items]
    failed = [r for r in results if r["state"] == "failed"]
    assert [(r["index"], r["error"]) for r in failed] == [(4, "consent_missing")]
    done = [r for r in results if r["state"] == "done"]
    assert len({r["verification_id"] for r in done}) == len(done)
    for result in done:
        report = result["report"]  # opened by the client: signed by the hub, encrypted to this member
        assert report["verification_id"] == result["verification_id"]
        assert report["purpose"] == "dibao.review"
        assert report["status"] == result["outcome"]
        assert report == await client.get_verification(result["verification_id"])


async def test_invalid_items_are_named_by_index_and_nothing_is_taken(
    client: HubClient, review_items: list[dict[str, Any]]
) -> None:
    bad_number = {
        **review_items[0],
        "household": [{**review_items[0]["household"][0], "id_number": "11010119900101123X"}],
    }
    other_region = {**review_items[1], "region": "510502"}
    ref = batch_ref()
    with pytest.raises(BatchItemsInvalid) as caught:
        await client.submit_batch(ref, "dibao.review", [review_items[0], bad_number, "x", other_region])

    assert caught.value.extensions["items"] == [
        {"index": 1, "code": "invalid_id_number"},
        {"index": 2, "code": "invalid_request"},
        {"index": 3, "code": "region_not_allowed"},
    ]
    assert "11010119900101123X" not in str(caught.value.extensions) + caught.value.detail
    created = await client.submit_batch(ref, "dibao.review", review_items[:1])  # the ref was not taken
    assert created["total"] == 1


async def test_a_cancelled_batch_takes_no_items_and_runs_no_queued_ones(
    client: HubClient, review_items: list[dict[str, Any]]
) -> None:
    created = await client.submit_batch(batch_ref(), "dibao.review", review_items)
    cancelled = await client.cancel_batch(created["batch_id"])

    assert cancelled["state"] == "cancelled"
    with pytest.raises(BatchNotOpen):
        await client.add_batch_items(created["batch_id"], review_items[:1])
    status = await wait_until_finished(client, created["batch_id"])
    counts = status["counts"]
    assert counts["done"] + counts["cancelled"] == len(review_items)
    assert counts["queued"] == counts["running"] == 0
    assert (await client.cancel_batch(created["batch_id"]))["state"] == "cancelled"  # idempotent


async def test_another_member_cannot_see_a_batch(
    client: HubClient, sandbox: Sandbox, review_items: list[dict[str, Any]]
) -> None:
    created = await client.submit_batch(batch_ref(), "dibao.review", review_items[:1])
    async with HubClient.from_sandbox(sandbox.sandbox_json, member="mis_510502") as other:
        with pytest.raises(NotFound):
            await other.batch_status(created["batch_id"])
        with pytest.raises(NotFound):
            await other.batch_results(created["batch_id"])
        with pytest.raises(NotFound):
            await other.cancel_batch(created["batch_id"])


async def test_a_batch_asking_for_a_callback_notifies_the_member_when_it_finishes(
    client: HubClient, sandbox: Sandbox, review_items: list[dict[str, Any]]
) -> None:
    received: list[str] = []
    arrived = asyncio.Event()
    app = web.Application()

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.text())
        arrived.set()
        return web.Response(status=204)

    app.router.add_post("/hedui/batches", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hub = sandbox.hub
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/hedui/batches"
        await hub.members.set_callback_url(client.member_id, url, audit=hub.audit, actor=hub.settings.hub_id)
        with pytest.raises(CallbackUrlNotAllowed):  # the member's origin only
            await client.submit_batch(batch_ref(), "dibao.review", review_items[:2], callback_url="https://x.example/")
        created = await client.submit_batch(batch_ref(), "dibao.review", review_items[:2], close=True, callback=True)

        status = await wait_until_finished(client, created["batch_id"])
        # The in-process deliverer looks every HEDUI_BATCH_CALLBACK_POLL_S (2 s); the bound is generous.
        await asyncio.wait_for(arrived.wait(), 30.0)
        await asyncio.sleep(0.5)  # a second notification would arrive now
    finally:
        await hub.members.set_callback_url(client.member_id, None, audit=hub.audit, actor=hub.settings.hub_id)
        await runner.cleanup()

    [token] = received
    claims = await client.verify_batch_callback(token)
    assert claims["batch_id"] == created["batch_id"] and claims["state"] == "closed"
    assert claims["counts"] == status["counts"] and claims["total"] == 2
    with pytest.raises(Replayed):
        await client.verify_batch_callback(token)  # single use, as every message of the hub
    assert len(await all_results(client, created["batch_id"])) == 2  # the results come through the API
    assert (await client.batch_status(created["batch_id"]))["callback"]["state"] == "delivered"
