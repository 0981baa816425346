"""Batch tests share the integration sandbox fixtures (hub + agencies, in-process workers on the database
queue) and these helpers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gateway.client import HubClient
from gateway.sandbox import Sandbox


def sample_items(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The sandbox's batch_sample.jsonl: one dibao.review request per enrolled household of 110101."""
    lines = (sandbox.data_dir / "batch_sample.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


async def wait_until_finished(client: HubClient, batch_id: str, bound_s: float = 120.0) -> dict[str, Any]:
    """Poll the status until the batch is finished (the bound is generous; finishing needs far less)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound_s
    while True:
        status = await client.batch_status(batch_id)
        if status["finished"] or loop.time() > deadline:
            return status
        await asyncio.sleep(0.2)


async def all_results(client: HubClient, batch_id: str, page: int = 100) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = -1
    while True:
        answer = await client.batch_results(batch_id, after=after, limit=page)
        items.extend(answer["items"])
        if answer["complete"] or not answer["items"]:
            return items
        after = answer["next_after"]
