"""Console sign-in through an OpenID Connect provider in a browser, against a sandbox hub configured with
the provider on loopback (tests/integration/console/identity_provider.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Page

from gateway.console.accounts import ConsoleAccounts
from gateway.console.accounts import add_user as add_console_user
from gateway.console.oidc import OidcIdentity
from gateway.errors import ConsoleSignInFailed
from gateway.sandbox import Sandbox
from tests.integration.console.conftest import console_login
from tests.integration.console.identity_provider import CLIENT_ID, CLIENT_SECRET, IdentityProvider, running_provider
from tests.support import running_sandbox

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def module_provider() -> AsyncIterator[IdentityProvider]:
    async with running_provider() as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def oidc_sandbox(
    module_provider: IdentityProvider, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Sandbox]:
    settings = {
        "console_oidc_issuer": module_provider.issuer,
        "console_oidc_client_id": CLIENT_ID,
        "console_oidc_client_secret": CLIENT_SECRET,
    }
    async with running_sandbox(tmp_path_factory.mktemp("oidc"), households=10, hub_settings=settings) as box:
        module_provider.redirect_uris.add(f"{box.base_url}/console/oidc/callback")
        hub = box.hub
        identity = OidcIdentity(module_provider.issuer, "auditor-7")
        await add_console_user(
            hub.database, hub.audit, "wang.oidc", role="auditor", oidc=identity, hub_id=hub.settings.hub_id
        )
        yield box


async def test_an_auditor_signs_in_through_the_identity_provider(
    oidc_sandbox: Sandbox, module_provider: IdentityProvider, page: Page, screenshots: Path
) -> None:
    url, _, _ = console_login(oidc_sandbox)
    await page.context.clear_cookies()
    await page.goto(f"{url}/login")
    await page.screenshot(path=screenshots / "login-oidc.png")
    await page.get_by_test_id("login-oidc").click()
    await page.wait_for_url("**/console/search")
    assert await page.get_by_test_id("signed-in-as").inner_text() == "wang.oidc"
    session = next(c for c in await page.context.cookies() if c["name"] == "hedui_console")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert not [c for c in await page.context.cookies() if c["name"] == "hedui_console_oidc"]

    # Someone the provider knows but no console account is linked to: back to the sign-in page, refused.
    module_provider.signed_in = "stranger-1"
    try:
        await page.context.clear_cookies()
        await page.goto(f"{url}/login")
        async with page.expect_response("**/console/oidc/callback*") as callback:
            await page.get_by_test_id("login-oidc").click()
        assert (await callback.value).status == 401
        assert await page.get_by_test_id("login-error").get_attribute("data-error") == "oidc_failed"
    finally:
        module_provider.signed_in = "auditor-7"


async def test_an_account_of_the_provider_has_no_password(oidc_sandbox: Sandbox) -> None:
    hub = oidc_sandbox.hub
    accounts = ConsoleAccounts(hub.database, hub.audit, hub_id=hub.settings.hub_id)
    for attempt in ("!oidc", "", "a long enough passphrase"):
        with pytest.raises(ConsoleSignInFailed):
            await accounts.sign_in("wang.oidc", attempt)
    added = [e.entry for e in await hub.audit.search(types=["console.user_added"])]
    assert {"account": "wang.oidc", "sign_in": "oidc"}.items() <= added[-1].items()
