"""``hedui batch submit | status --watch | results | cancel`` as processes against a sandbox hub."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from gateway.batch.models import Batch
from gateway.batch.sample import enrolled_households, review_request
from gateway.consent.seed import register_household_consents
from gateway.sandbox import SANDBOX_MEMBERS, Sandbox

pytestmark = pytest.mark.asyncio(loop_scope="module")
HEDUI = str(Path(sys.executable).with_name("hedui"))


async def hedui(*arguments: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        HEDUI, *arguments, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def lines(sandbox: Sandbox) -> list[dict[str, Any]]:
    assert sandbox.population is not None
    mis = await sandbox.hub.members.get(str(SANDBOX_MEMBERS["mis"]["id"]))
    enrolled = {h.household_id for h in enrolled_households(sandbox.population)}
    households = [h for h in sandbox.population.households if h.region == "110101" and h.household_id not in enrolled]
    households = households[-4:]
    await register_household_consents(sandbox.hub.consents, households, purpose="dibao.review", mis=mis)
    return [review_request(h, f"110101-cli-{i:04d}") for i, h in enumerate(households)]


async def batch_count(sandbox: Sandbox) -> int:
    async with sandbox.hub.database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Batch)) or 0)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


async def test_bad_lines_are_reported_by_number_without_identity_numbers_and_nothing_is_sent(
    sandbox: Sandbox, lines: list[dict[str, Any]], tmp_path: Path
) -> None:
    bad_number = {**lines[1], "household": [{**lines[1]["household"][0], "id_number": "11010119900101123X"}]}
    file = write(tmp_path / "b.jsonl", [json.dumps(lines[0]), json.dumps(bad_number), "{not json", "", "[1]"])
    before = await batch_count(sandbox)

    code, out, err = await hedui(
        "batch", "submit", str(file), "--purpose", "dibao.review", "--hub-from", str(sandbox.sandbox_json)
    )

    assert code == 1
    assert "line 2: invalid_id_number" in err
    assert "line 3: invalid_request" in err
    assert "line 5: invalid_request" in err
    assert "nothing submitted" in err
    assert "11010119900101123X" not in out + err
    assert lines[0]["household"][0]["id_number"] not in out + err
    assert await batch_count(sandbox) == before


async def test_submit_skipping_invalid_then_watch_results_and_cancel(
    sandbox: Sandbox, lines: list[dict[str, Any]], tmp_path: Path
) -> None:
    file = write(tmp_path / "b.jsonl", [json.dumps(line) for line in lines[:3]] + ["{not json"])
    hub = ("--hub-from", str(sandbox.sandbox_json))

    code, out, err = await hedui("batch", "submit", str(file), "--purpose", "dibao.review", "--skip-invalid", *hub)
    assert code == 0, err
    assert "line 4: invalid_request" in err
    batch_id = out.strip()

    code, out, err = await hedui("batch", "status", batch_id, "--watch", *hub)
    assert code == 0, err
    status = json.loads(out[out.index("{") :])
    assert status["finished"] and status["counts"]["done"] == 3

    code, _, err = await hedui("batch", "results", batch_id, "-o", str(tmp_path / "out.jsonl"), *hub)
    assert code == 0, err
    results = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["case_id"] for r in results] == [line["case_id"] for line in lines[:3]]
    assert all(r["report"]["verification_id"] == r["verification_id"] for r in results)

    code, out, err = await hedui("batch", "cancel", batch_id, *hub)
    assert code == 0, err
    assert json.loads(out)["state"] == "cancelled"
