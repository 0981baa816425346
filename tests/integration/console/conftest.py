"""A browser (Debian's chromium driven by Playwright) shared by every console test of a module, a sandbox with
some verifications in its log, and where screenshots go (``HEDUI_SCREENSHOTS``, e.g. docs/console, or a
temporary directory)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from gateway.audit import AuditLog, LogKey, init_log_key, log_origin
from gateway.envelope import HubKeys, init_key_dir
from gateway.sandbox import Sandbox
from gateway.settings import DEFAULT_HUB_ID
from gateway.store import Database
from tests.integration.helpers import sandbox_document

CHROMIUM = os.environ.get("HEDUI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    created = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        yield created
    finally:
        await created.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("HEDUI_SCREENSHOTS")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def console_login(sandbox: Sandbox) -> tuple[str, str, str]:
    """(console URL, user name, password) from sandbox.json."""
    console = sandbox_document(sandbox)["console"]
    password = (sandbox.data_dir / console["password_file"]).read_text(encoding="utf-8").strip()
    return console["url"], console["username"], password


async def sign_in(page: Page, sandbox: Sandbox, username: str | None = None, password: str | None = None) -> None:
    url, default_user, default_password = console_login(sandbox)
    await page.goto(f"{url}/login")
    await page.get_by_test_id("login-username").fill(username or default_user)
    await page.get_by_test_id("login-password").fill(password or default_password)
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_load_state()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def audit(database: Database, tmp_path: Path) -> AsyncIterator[AuditLog]:
    key_dir = tmp_path / "keys"
    init_key_dir(key_dir)
    init_log_key(key_dir)
    log = AuditLog(
        database,
        log_key=LogKey.load(key_dir, name=log_origin(DEFAULT_HUB_ID)),
        subject_pepper=HubKeys.load(key_dir).subject_pepper,
        checkpoint_interval_s=3600,
    )
    try:
        yield log
    finally:
        await log.aclose()
