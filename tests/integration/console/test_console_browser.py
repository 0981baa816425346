"""The auditor console in a real browser: sign-in, CSRF, lockout, search by identity number, in-browser proof
verification (and its failure on a tampered proof), the subject access report, dashboards, Chinese glyphs."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.async_api import BrowserContext, Page, Route

from gateway.audit import subject_ref
from gateway.audit.checkpoint import Checkpoint, sign_checkpoint, verifier_key
from gateway.audit.rfc9162 import inclusion_plan, leaf_hash, root_hash
from gateway.client import HubClient
from gateway.console.accounts import add_user
from gateway.sandbox import Sandbox
from tests.integration.console.conftest import console_login, sign_in
from tests.integration.helpers import scenario_named, verification_request

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def verified(sandbox: Sandbox) -> dict[str, Any]:
    """A scenario and the report of one verification of it (done once per module by the first test)."""
    return {"scenario": scenario_named(sandbox, "clearly_eligible")}


async def _verify_once(sandbox: Sandbox, verified: dict[str, Any]) -> dict[str, Any]:
    if "report" not in verified:
        async with HubClient.from_sandbox(sandbox.sandbox_json) as client:
            verified["report"] = await client.verify(verification_request(verified["scenario"]))
    return verified


async def test_sign_in_shows_the_console_in_chinese(sandbox: Sandbox, page: Page, screenshots: Path) -> None:
    url, _, _ = console_login(sandbox)
    await page.goto(f"{url}/login")
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    await page.screenshot(path=screenshots / "login.png")
    await sign_in(page, sandbox)
    assert page.url.endswith("/console/search")
    assert await page.get_by_test_id("signed-in-as").inner_text() == "auditor"
    assert "访问日志检索" in await page.locator("h1").inner_text()
    cookie = next(c for c in await page.context.cookies() if c["name"] == "hedui_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert not cookie["secure"]  # plain HTTP on loopback; Secure whenever the hub is served over TLS


async def test_english_switch(sandbox: Sandbox, page: Page) -> None:
    await sign_in(page, sandbox)
    await page.get_by_test_id("lang-en").click()
    assert "Search the access log" in await page.locator("h1").inner_text()
    assert await page.locator("html").get_attribute("lang") == "en"
    await page.get_by_test_id("lang-zh").click()
    assert "访问日志检索" in await page.locator("h1").inner_text()


async def test_a_post_without_the_csrf_token_is_refused(sandbox: Sandbox, page: Page) -> None:
    await sign_in(page, sandbox)
    url, _, _ = console_login(sandbox)
    response = await page.request.post(f"{url}/search", form={"purpose": "dibao.application"})
    assert response.status == 403
    assert (await response.json())["code"] == "csrf_invalid"
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    accepted = await page.request.post(f"{url}/search", form={"purpose": "dibao.application", "csrf_token": token})
    assert accepted.status == 200


async def test_problems_met_while_browsing_are_console_pages(sandbox: Sandbox, page: Page) -> None:
    """A browser gets a console page with the problem's status and code (and the sign-in page when signed
    out); a program asking the same URL without text/html still gets the RFC 9457 document."""
    url, _, _ = console_login(sandbox)
    await page.context.clear_cookies()
    await page.goto(f"{url}/search")
    assert page.url.endswith("/console/login")
    await sign_in(page, sandbox)
    shown = await page.goto(f"{url}/entries/999999999")
    assert shown is not None and shown.status == 404
    assert await page.get_by_test_id("problem-code").inner_text() == "not_found"
    assert "错误 404" in await page.locator("h1").inner_text()
    await page.get_by_test_id("problem-back").click()
    assert page.url.endswith("/console/search")
    unknown = await page.goto(f"{url}/no-such-page")
    assert unknown is not None and unknown.status == 404
    assert await page.get_by_test_id("problem-code").inner_text() == "not_found"
    program = await page.request.get(f"{url}/entries/999999999", headers={"Accept": "application/json"})
    assert program.status == 404
    assert program.headers["content-type"] == "application/problem+json"
    assert (await program.json())["code"] == "not_found"


async def test_repeated_failures_lock_the_account_and_the_lock_is_audited(
    sandbox: Sandbox, context: BrowserContext
) -> None:
    hub = sandbox.hub
    await add_user(
        hub.database,
        hub.audit,
        "locktest",
        role="auditor",
        password="correct horse battery",
        hub_id=hub.settings.hub_id,
    )
    page = await context.new_page()
    for _ in range(sandbox.hub.settings.console_max_failures):
        await sign_in(page, sandbox, "locktest", "wrong password!!")
        assert await page.get_by_test_id("login-error").get_attribute("data-error") == "sign_in_failed"
    await sign_in(page, sandbox, "locktest", "correct horse battery")
    assert await page.get_by_test_id("login-error").get_attribute("data-error") == "locked_out"
    assert "/console/login" in page.url
    locks = await sandbox.hub.audit.search(types=["console.locked"])
    assert [entry.entry["account"] for entry in locks] == ["locktest"]
    assert locks[0].entry["operator"] == "console:locktest"


async def test_search_by_identity_number_finds_the_persons_entries(
    sandbox: Sandbox, page: Page, verified: dict[str, Any], screenshots: Path
) -> None:
    await _verify_once(sandbox, verified)
    id_number = verified["scenario"]["household"][0]["id_number"]
    await sign_in(page, sandbox)
    await page.get_by_test_id("search-id-number").fill(id_number)
    await page.get_by_test_id("search-submit").click()
    await page.wait_for_load_state()
    assert id_number not in page.url and id_number not in await page.content()
    rows = page.get_by_test_id("result-row")
    types = {await row.get_attribute("data-type") for row in await rows.all()}
    assert {"verification.requested", "verification.completed", "source.queried"} <= types
    await page.screenshot(path=screenshots / "search.png", full_page=True)
    # The look-up itself is audited, with the console user as operator and the person's subject_ref.
    ref = subject_ref(sandbox.hub.keys.subject_pepper, id_number)
    viewed = await sandbox.hub.audit.search(types=["audit.viewed"])
    assert any(v.entry["operator"] == "console:auditor" and ref in v.entry.get("subject_refs", []) for v in viewed)


async def test_an_invalid_identity_number_is_refused_without_echo(sandbox: Sandbox, page: Page) -> None:
    await sign_in(page, sandbox)
    await page.get_by_test_id("search-id-number").fill("110101199003071234")
    await page.get_by_test_id("search-submit").click()
    await page.wait_for_load_state()
    assert await page.get_by_test_id("search-error").is_visible()
    assert "110101199003071234" not in await page.content()


async def _first_row_of(page: Page, sandbox: Sandbox, kind: str) -> str:
    await sign_in(page, sandbox)
    await page.get_by_test_id("search-type").select_option(kind)
    await page.get_by_test_id("search-submit").click()
    await page.wait_for_load_state()
    leaf = await page.get_by_test_id("result-row").first.get_attribute("data-leaf")
    assert leaf is not None
    return leaf


async def test_the_browser_verifies_an_entry_against_the_log_key(
    sandbox: Sandbox, page: Page, verified: dict[str, Any], screenshots: Path
) -> None:
    await _verify_once(sandbox, verified)
    leaf = await _first_row_of(page, sandbox, "verification.completed")
    await page.goto(f"{console_login(sandbox)[0]}/entries/{leaf}")
    status = page.get_by_test_id("proof-status")
    await page.wait_for_selector('[data-testid="proof-status"]:not([data-state="checking"])')
    assert await status.get_attribute("data-state") == "verified", await status.inner_text()
    key = await page.get_by_test_id("log-key").inner_text()
    assert key.strip() == sandbox.hub.audit_key.verifier_key()
    await page.screenshot(path=screenshots / "entry.png", full_page=True)


@pytest.mark.parametrize("field", ["proof", "entry", "checkpoint", "leaf_index"])
async def test_a_tampered_proof_shows_failed(
    sandbox: Sandbox, page: Page, verified: dict[str, Any], field: str
) -> None:
    await _verify_once(sandbox, verified)
    leaf = await _first_row_of(page, sandbox, "verification.requested")

    async def tamper(route: Route) -> None:
        response = await route.fetch()
        bundle = await response.json()
        if field == "proof":
            first = bundle["proof"][0]
            bundle["proof"][0] = ("B" if first[0] == "A" else "A") + first[1:]
        elif field == "entry":
            bundle["entry"] = bundle["entry"].replace("dibao", "tekun", 1)
        elif field == "checkpoint":
            lines = bundle["checkpoint"].split("\n")
            lines[1] = str(int(lines[1]) + 1)  # another tree size, the signature no longer matches
            bundle["checkpoint"] = "\n".join(lines)
        else:
            bundle["leaf_index"] += 1
        await route.fulfill(response=response, body=json.dumps(bundle))

    await page.route("**/proof.json", tamper)
    try:
        await page.goto(f"{console_login(sandbox)[0]}/entries/{leaf}")
        await page.wait_for_selector('[data-testid="proof-status"]:not([data-state="checking"])')
        assert await page.get_by_test_id("proof-status").get_attribute("data-state") == "failed"
    finally:
        await page.unroute("**/proof.json")


async def test_subject_access_report_and_its_export(
    sandbox: Sandbox, page: Page, verified: dict[str, Any], screenshots: Path
) -> None:
    await _verify_once(sandbox, verified)
    household = verified["scenario"]["household"]
    await sign_in(page, sandbox)
    await page.get_by_test_id("nav-subject").click()
    await page.get_by_test_id("subject-id-number").fill(household[0]["id_number"])
    await page.get_by_test_id("subject-submit").click()
    await page.wait_for_load_state()
    rows = page.get_by_test_id("access-row")
    texts = [await row.inner_text() for row in await rows.all()]
    assert any(verified["report"]["case_id"] in text and "verification" in text for text in texts)
    await page.screenshot(path=screenshots / "subject.png", full_page=True)
    async with page.expect_download() as waiting:
        await page.get_by_test_id("subject-export").click()
    download = await waiting.value
    saved = await download.path()
    exported = list(csv.DictReader(io.StringIO(saved.read_bytes().decode("utf-8-sig"))))
    assert any(row["case_id"] == verified["report"]["case_id"] for row in exported)
    others = {person["id_number"] for s in _scenarios(sandbox) for person in s["household"]}
    others -= {person["id_number"] for person in household}
    dumped = json.dumps(exported)
    assert not any(number in dumped for number in others | {household[0]["id_number"]})


def _scenarios(sandbox: Sandbox) -> list[dict[str, Any]]:
    return list(json.loads(sandbox.sandbox_json.read_text(encoding="utf-8"))["scenarios"])


async def test_checkpoint_history_and_consistency(sandbox: Sandbox, page: Page, screenshots: Path) -> None:
    await sign_in(page, sandbox)
    await sandbox.hub.audit.checkpoint()
    await page.get_by_test_id("nav-checkpoints").click()
    sizes = [await row.get_attribute("data-size") for row in await page.get_by_test_id("checkpoint-row").all()]
    assert sizes, "no checkpoints listed"
    await page.get_by_test_id("consistency-first").fill(str(sizes[-1]))
    await page.get_by_test_id("consistency-second").fill(str(sizes[0]))
    await page.get_by_test_id("consistency-submit").click()
    await page.wait_for_load_state()
    assert await page.get_by_test_id("consistency-status").get_attribute("data-state") == "consistent"
    await page.screenshot(path=screenshots / "checkpoints.png", full_page=True)


async def test_dashboard_charts(sandbox: Sandbox, page: Page, verified: dict[str, Any], screenshots: Path) -> None:
    await _verify_once(sandbox, verified)
    await sign_in(page, sandbox)
    await page.get_by_test_id("nav-dashboard").click()
    charts = page.get_by_test_id("chart")
    assert await charts.count() == 6
    svg = await charts.first.inner_html()
    assert "<rect" in svg and verified["scenario"]["purpose"] in svg
    await page.screenshot(path=screenshots / "dashboard.png", full_page=True)


async def test_chinese_renders_with_real_glyphs(sandbox: Sandbox, page: Page, screenshots: Path) -> None:
    """Chromium reports which platform font drew each node: a CJK font must draw every character of the
    heading (tofu would be a fallback font with missing glyphs), and two different headings must not render
    as the same boxes."""
    await sign_in(page, sandbox)
    heading = page.locator("h1")
    text = (await heading.inner_text()).strip()
    session = await page.context.new_cdp_session(page)
    await session.send("DOM.enable")
    await session.send("CSS.enable")
    root = await session.send("DOM.getDocument")
    node = await session.send("DOM.querySelector", {"nodeId": root["root"]["nodeId"], "selector": "h1"})
    fonts = (await session.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]}))["fonts"]
    await session.detach()
    cjk = [font for font in fonts if "CJK" in font["familyName"] or "SC" in font["familyName"]]
    assert cjk, fonts
    assert sum(font["glyphCount"] for font in cjk) >= len(text) - 1, fonts
    first = await heading.screenshot()
    await page.get_by_test_id("nav-subject").click()
    second = await page.locator("h1").screenshot()
    assert first != second


async def test_a_watched_person_looked_up_raises_an_alert_that_is_acknowledged(
    sandbox: Sandbox, page: Page, screenshots: Path
) -> None:
    scenario = scenario_named(sandbox, "income_above_standard")
    await sign_in(page, sandbox)
    await page.get_by_test_id("nav-alerts").click()
    await page.get_by_test_id("watch-id-number").fill(scenario["household"][1]["id_number"])
    await page.get_by_test_id("watch-submit").click()
    await page.wait_for_load_state()
    assert await page.get_by_test_id("alerts-notice").is_visible()
    async with HubClient.from_sandbox(sandbox.sandbox_json) as client:
        report = await client.verify(verification_request(scenario))
    # Detection runs every misuse_interval_s: reload until the alert is listed (generous bound, no timing).
    alert = page.locator('[data-testid="alert-row"][data-rule="watch_list"]')
    for _ in range(120):
        await page.reload()
        if await alert.count():
            break
        await page.wait_for_timeout(500)
    assert await alert.count() == 1
    await page.screenshot(path=screenshots / "alerts.png", full_page=True)
    alert_id = await alert.get_attribute("data-alert")
    await alert.get_by_test_id("alert-entry").first.click()
    await page.wait_for_selector('[data-testid="proof-status"]:not([data-state="checking"])')
    assert report["verification_id"] in await page.get_by_test_id("entry-fields").inner_text()
    await page.go_back()
    await page.locator(f'[data-alert="{alert_id}"]').get_by_test_id("alert-ack").click()
    await page.wait_for_load_state()
    assert await page.locator(f'[data-alert="{alert_id}"]').get_by_test_id("alert-acknowledged").is_visible()
    acks = await sandbox.hub.audit.search(types=["alert.acknowledged"])
    assert [(a.entry["alert_id"], a.entry["operator"]) for a in acks] == [(alert_id, "console:auditor")]
    watched = await sandbox.hub.audit.search(types=["watchlist.changed"])
    assert len(watched) == 1 and watched[0].entry["operator"] == "console:auditor"


# -- verify.js against proofs built here (every leaf of small trees, keys whose base64 holds '+' and '/') --

ORIGIN = "example.org/hub/audit"


def keys_with_plus_and_slash() -> list[Ed25519PrivateKey]:
    """Fresh keys until both '+' and '/' have appeared in a verifier key's base64 part."""
    found: list[Ed25519PrivateKey] = []
    seen: set[str] = set()
    for _ in range(500):
        key = Ed25519PrivateKey.generate()
        encoded = verifier_key(ORIGIN, key.public_key()).split("+", 2)[2]
        new = {char for char in "+/" if char in encoded} - seen
        if new:
            found.append(key)
            seen |= new
        if seen == {"+", "/"}:
            return found
    raise AssertionError("no key with '+' and '/' in 500 tries")


def bundle(key: Ed25519PrivateKey, size: int, index: int) -> dict[str, Any]:
    entries = [
        json.dumps({"n": n, "type": "verification.requested", "note": "核对"}, ensure_ascii=False) for n in range(size)
    ]
    leaves = [leaf_hash(entry.encode("utf-8")) for entry in entries]
    proof = [root_hash(leaves[start:end]) for start, end in inclusion_plan(index, size).ranges]
    root = root_hash(leaves)
    note = sign_checkpoint(Checkpoint(ORIGIN, size, root), key, timestamp=1_780_000_000)
    return {
        "leaf_index": index,
        "tree_size": size,
        "entry": entries[index],
        "leaf_hash": base64.b64encode(leaves[index]).decode(),
        "proof": [base64.b64encode(value).decode() for value in proof],
        "root_hash": base64.b64encode(root).decode(),
        "checkpoint": note,
    }


CHECK = """async (cases) => {
  const results = [];
  for (const [bundle, leaf, vkey] of cases) {
    try { await window.heduiVerify(bundle, leaf, vkey); results.push("verified"); }
    catch (error) { results.push("failed: " + error.message); }
  }
  return results;
}"""


async def test_verify_js_accepts_every_honest_proof_and_rejects_tampering(sandbox: Sandbox, page: Page) -> None:
    url, _, _ = console_login(sandbox)
    await page.goto(f"{url}/login")
    await page.add_script_tag(url="/console/static/verify.js")
    keys = keys_with_plus_and_slash()
    honest = [
        [bundle(key, size, index), index, verifier_key(ORIGIN, key.public_key())]
        for key in keys
        for size in range(1, 10)
        for index in range(size)
    ]
    assert set(await page.evaluate(CHECK, honest)) == {"verified"}

    key = keys[0]
    vkey = verifier_key(ORIGIN, key.public_key())
    other = verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key())
    good = bundle(key, 7, 5)
    tampered: list[list[Any]] = []
    for change in ("entry", "proof", "tree_size", "leaf_index", "checkpoint"):
        forged = json.loads(json.dumps(good))
        if change == "entry":
            forged["entry"] = forged["entry"].replace("核对", "核实")
        elif change == "proof":
            forged["proof"][1] = forged["proof"][0]
        elif change == "tree_size":
            forged["tree_size"] = 8
        elif change == "leaf_index":
            forged["leaf_index"] = 4
        else:
            forged["checkpoint"] = forged["checkpoint"].replace("\n7\n", "\n6\n", 1)
        tampered.append([forged, 5, vkey])
    tampered.append([good, 5, other])  # the right proof, checked against another log's key
    results = await page.evaluate(CHECK, tampered)
    assert all(result.startswith("failed") for result in results), results
