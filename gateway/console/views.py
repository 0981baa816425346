"""The auditor console at ``/console``: server-rendered pages (Jinja2), every asset served from here.

Every page that shows log content is audited through :class:`gateway.audit.AuditLog` (``audit.viewed``, the
hub as actor and ``console:<user>`` as operator) before it is sent; if the entry cannot be committed the page
is not shown. Identity numbers arrive only in POST forms and are looked up by their subject_ref.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy import select

from gateway.api.deps import hub_of
from gateway.audit import ENTRY_TYPES, AuditQuery, AuditViewed, Viewer, open_checkpoint
from gateway.audit.models import AuditCheckpoint
from gateway.console import charts
from gateway.console.accounts import ConsoleAccounts, SignedIn
from gateway.console.dashboard import DASHBOARD_TYPES, figures
from gateway.console.i18n import language, translate
from gateway.console.oidc import OidcClient, PendingSignIn
from gateway.context import HubContext
from gateway.errors import (
    CheckpointInvalid,
    ConfigurationError,
    ConsoleLockedOut,
    ConsoleOidcFailed,
    ConsoleSignInFailed,
    ConsoleSignInRequired,
    CsrfInvalid,
    InvalidIdNumber,
    InvalidInput,
    NotFound,
    ProofInvalid,
)
from gateway.misuse import MisuseDetection
from gateway.settings import Settings

HERE = Path(__file__).parent
log = logging.getLogger(__name__)
SESSION_COOKIE = "hedui_console"
LOGIN_CSRF_COOKIE = "hedui_console_login"
OIDC_COOKIE = "hedui_console_oidc"
OIDC_PENDING_S = 600
LANG_COOKIE = "hedui_lang"
SHOWN = 200
_DECIMAL = re.compile(r"[0-9]{1,12}")
ConsoleView = Literal["checkpoint", "dashboard", "alerts"]
_FILTER = re.compile(r"[A-Za-z0-9_.:/-]{1,128}")
_NEXT = re.compile(r"/console(/[a-z]+)?")
_ALERT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/console", include_in_schema=False)


def problem_page(request: Request, status: int, code: str, title: str, detail: str) -> Response | None:
    """A browser's view of a problem under /console (``app.state.problem_page``): sign-in required goes to the
    sign-in page, any other problem is a console page with its status and code; programs (no ``text/html`` in
    ``Accept``), and every path outside the console, keep the problem document."""
    if not request.url.path.startswith("/console") or "text/html" not in request.headers.get("accept", ""):
        return None
    if code == ConsoleSignInRequired.code:
        return _redirect("/console/login")
    # The detail is the hub's own English text (never personal data); the title is shown as the heading.
    return page(request, "error.html", None, status, status_code=status, code=code, title=title, detail=detail)


def oidc_client(settings: Settings) -> OidcClient | None:
    """The client of the configured identity provider, or None (passwords only). Open it with the hub
    (``app.state.console_oidc``) and close it at shutdown."""
    if not settings.console_oidc_issuer:
        return None
    if not settings.console_oidc_client_id or settings.console_oidc_client_secret is None:
        raise ConfigurationError("console_oidc_issuer needs console_oidc_client_id and console_oidc_client_secret")
    return OidcClient(
        issuer=settings.console_oidc_issuer,
        client_id=settings.console_oidc_client_id,
        client_secret=settings.console_oidc_client_secret.get_secret_value(),
        redirect_uri=settings.public_url.rstrip("/") + "/console/oidc/callback",
    )


def install(app: Any) -> None:
    """The console's static assets, and its pages for problems met while browsing it."""
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.state.problem_page = problem_page


# -- plumbing ------------------------------------------------------------------------------------------


def accounts_of(hub: HubContext) -> ConsoleAccounts:
    settings = hub.settings
    return ConsoleAccounts(
        hub.database,
        hub.audit,
        hub_id=settings.hub_id,
        max_failures=settings.console_max_failures,
        lockout_s=settings.console_lockout_s,
        session_s=settings.console_session_s,
    )


async def current_user(request: Request) -> SignedIn | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await accounts_of(hub_of(request)).session(token)


async def signed_in(request: Request) -> SignedIn:
    user = await current_user(request)
    if user is None:
        raise ConsoleSignInRequired()
    return user


User = Annotated[SignedIn, Depends(signed_in)]


def viewer(request: Request, user: SignedIn) -> Viewer:
    return Viewer(hub_of(request).settings.hub_id, f"console:{user.username}")


async def _audit_view(request: Request, user: SignedIn, view: ConsoleView, query: AuditQuery, count: int) -> None:
    """An ``audit.viewed`` entry for a console page the log's own read methods do not audit (the stored
    checkpoint list, dashboards, alerts); committed before the page is sent."""
    who = viewer(request, user)
    entry = AuditViewed(actor=who.member, operator=who.operator, view=view, query=query, result_count=count)
    await hub_of(request).audit.append(entry)


async def form_of(request: Request, user: SignedIn | None = None, *, csrf: str | None = None) -> dict[str, str]:
    """The posted form (text fields only, bounded), its CSRF token checked against the session's."""
    form = await request.form(max_files=0, max_fields=32, max_part_size=64 * 1024)
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    expected = csrf if csrf is not None else (user.csrf_token if user else None)
    given = fields.get("csrf_token", "")
    if not expected or not secrets.compare_digest(given.encode(), expected.encode()):
        raise CsrfInvalid()
    return fields


def page(request: Request, name: str, user: SignedIn | None, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request.cookies.get(LANG_COOKIE))

    def t(key: str, **values: object) -> str:
        return translate(lang, key, **values)

    return templates.TemplateResponse(
        request, name, {"t": t, "lang": lang, "user": user, **context}, status_code=status
    )


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or hub_of(request).settings.public_url.startswith("https://")


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/console", httponly=True, samesite="strict", secure=_secure(request)
    )


def _redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303)


# -- sign-in -------------------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    return _redirect("/console/search" if await current_user(request) else "/console/login")


@router.get("/lang/{code}")
async def switch_language(request: Request, code: str, next: str = "/console") -> Response:
    response = _redirect(next if _NEXT.fullmatch(next) else "/console")
    _cookie(response, request, LANG_COOKIE, language(code), max_age=365 * 86400)
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    return _login_page(request)


def _login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    csrf = secrets.token_urlsafe(32)
    oidc = _oidc(request) is not None
    response = page(request, "login.html", None, status, csrf_token=csrf, error=error, oidc=oidc)
    _cookie(response, request, LOGIN_CSRF_COOKIE, csrf)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    fields = await form_of(request, csrf=request.cookies.get(LOGIN_CSRF_COOKIE, ""))
    accounts = accounts_of(hub_of(request))
    try:
        token, _ = await accounts.sign_in(fields.get("username", ""), fields.get("password", ""))
    except ConsoleSignInFailed:
        return _login_page(request, "sign_in_failed", 401)
    except ConsoleLockedOut:
        return _login_page(request, "locked_out", 403)
    return _signed_in(request, token, LOGIN_CSRF_COOKIE, "/console")


def _signed_in(request: Request, token: str, used_cookie: str, used_path: str) -> Response:
    """To the console's first page with the new session's cookie, the sign-in's own cookie gone."""
    response = _redirect("/console/search")
    _cookie(response, request, SESSION_COOKIE, token, max_age=int(hub_of(request).settings.console_session_s))
    response.delete_cookie(used_cookie, path=used_path)
    return response


def _oidc(request: Request) -> OidcClient | None:
    client: OidcClient | None = getattr(request.app.state, "console_oidc", None)
    return client


@router.get("/oidc/start")
async def oidc_start(request: Request) -> Response:
    """Send the browser to the identity provider (OIDC Core §3.1.2.1), keeping state, nonce and PKCE verifier
    in a cookie that comes back with its answer (SameSite=Lax: the answer is a cross-site navigation)."""
    client = _oidc(request)
    if client is None:
        raise NotFound("sign-in through an identity provider is not configured")
    pending = PendingSignIn.new()
    try:
        location = await client.authorization_url(pending)
    except ConsoleOidcFailed as exc:
        log.warning("console OIDC sign-in not started: %s", exc.detail)
        return _login_page(request, "oidc_failed", 502)
    response = _redirect(location)
    response.set_cookie(
        OIDC_COOKIE,
        pending.cookie(),
        max_age=OIDC_PENDING_S,
        path="/console/oidc",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    return response


@router.get("/oidc/callback")
async def oidc_callback(
    request: Request,
    code: Annotated[str, Query(max_length=2048)] = "",
    state: Annotated[str, Query(max_length=128)] = "",
    error: Annotated[str, Query(max_length=256)] = "",
) -> Response:
    """The provider's answer (OIDC Core §3.1.2.5/§3.1.2.6): a code, exchanged and its ID token validated, then
    a session for the linked account; any failure shows the sign-in page (the reason goes to the log only)."""
    client = _oidc(request)
    if client is None:
        raise NotFound("sign-in through an identity provider is not configured")
    try:
        if error or not code:
            raise ConsoleOidcFailed("the identity provider did not sign the person in")
        pending = PendingSignIn.from_cookie(request.cookies.get(OIDC_COOKIE))
        identity = await client.finish(pending, state=state, code=code)
        token, _ = await accounts_of(hub_of(request)).sign_in_oidc(identity)
    except ConsoleOidcFailed as exc:
        log.warning("console OIDC sign-in failed: %s", exc.detail)
        failed = _login_page(request, "oidc_failed", exc.status)
        failed.delete_cookie(OIDC_COOKIE, path="/console/oidc")
        return failed
    except ConsoleLockedOut:
        return _login_page(request, "locked_out", 403)
    return _signed_in(request, token, OIDC_COOKIE, "/console/oidc")


@router.post("/logout")
async def logout(request: Request, user: User) -> Response:
    await form_of(request, user)
    await accounts_of(hub_of(request)).sign_out(request.cookies.get(SESSION_COOKIE, ""))
    response = _redirect("/console/login")
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


# -- the access log ------------------------------------------------------------------------------------


@router.get("/search", response_class=HTMLResponse)
async def search_form(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return _redirect("/console/login")
    return page(request, "search.html", user, form={}, results=None, types=ENTRY_TYPES, error=None)


@router.post("/search", response_class=HTMLResponse)
async def search(request: Request, user: User) -> Response:
    fields = await form_of(request, user)
    form = {key: fields.get(key, "").strip() for key in SEARCH_FIELDS}
    try:
        results = await _search(request, user, form)
    except InvalidInput as exc:
        return page(request, "search.html", user, 422, form=form, results=None, types=ENTRY_TYPES, error=_error(exc))
    form.pop("id_number")  # never echoed back into the page
    return page(request, "search.html", user, form=form, results=results, types=ENTRY_TYPES, error=None)


SEARCH_FIELDS = ("since", "until", "member", "operator", "purpose", "type", "outcome", "id_number")


async def _search(request: Request, user: SignedIn, form: dict[str, str]) -> list[dict[str, Any]]:
    for name in ("member", "operator", "purpose", "outcome"):
        if form[name] and not _FILTER.fullmatch(form[name]):
            raise InvalidInput(f"{name} is not a valid filter")
    if form["type"] and form["type"] not in ENTRY_TYPES:
        raise InvalidInput("type is not an entry type")
    found = await hub_of(request).audit.search(
        member=form["member"] or None,
        purpose=form["purpose"] or None,
        types=[form["type"]] if form["type"] else [],
        since=_time(form["since"], "since"),
        until=_time(form["until"], "until"),
        subject_id_number=form["id_number"] or None,
        limit=1000,
        viewer=viewer(request, user),
    )
    rows = [
        {"leaf_index": item.leaf_index, **item.entry}
        for item in found
        if (not form["operator"] or item.entry.get("operator") == form["operator"])
        and (not form["outcome"] or item.entry.get("outcome") == form["outcome"])
    ]
    return rows[:SHOWN]


def _time(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} is not a date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _error(exc: InvalidInput) -> str:
    return "invalid_id_number" if isinstance(exc, InvalidIdNumber) else exc.detail


@router.get("/entries/{leaf}", response_class=HTMLResponse)
async def entry(request: Request, leaf: str) -> Response:
    user = await current_user(request)
    if user is None:
        return _redirect("/console/login")
    index = _index(leaf)
    hub = hub_of(request)
    found = await hub.audit.entries(index, index + 1, viewer=viewer(request, user))
    if not found:
        raise NotFound("no such entry")
    return page(
        request,
        "entry.html",
        user,
        leaf=index,
        entry=found[0].entry,
        verifier_key=hub.audit_key.verifier_key(),
    )


@router.get("/entries/{leaf}/proof.json")
async def entry_proof(request: Request, leaf: str, user: User) -> JSONResponse:
    """The inclusion proof bundle the entry page checks in the browser, against a signed checkpoint: if no
    checkpoint covers the leaf yet, the current tree is signed now."""
    index = _index(leaf)
    audit = hub_of(request).audit
    proof = await audit.inclusion_proof(index, with_entry=True, viewer=viewer(request, user))
    if proof.checkpoint is None:
        signed = await audit.checkpoint()
        assert signed is not None  # the log holds the leaf
        proof = await audit.inclusion_proof(index, signed.tree_size, with_entry=True)  # the same view, once audited
    return JSONResponse(proof.to_json(), headers={"Cache-Control": "no-store"})


def _index(text: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise NotFound("no such entry")
    return int(text)


@router.get("/checkpoints", response_class=HTMLResponse)
async def checkpoints(request: Request, first: str = "", second: str = "") -> Response:
    user = await current_user(request)
    if user is None:
        return _redirect("/console/login")
    hub = hub_of(request)
    async with hub.database.session() as session:
        rows = (
            await session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(50))
        ).scalars()
        history = [
            {"tree_size": row.tree_size, "root_hash": bytes(row.root_hash).hex(), "signed_at": row.signed_at}
            for row in rows
        ]
    await _audit_view(request, user, "checkpoint", AuditQuery(), len(history))
    consistency = None
    if first or second:
        consistency = await _consistency(request, user, first, second)
    return page(
        request,
        "checkpoints.html",
        user,
        history=history,
        consistency=consistency,
        first=first if _DECIMAL.fullmatch(first) else "",
        second=second if _DECIMAL.fullmatch(second) else "",
        verifier_key=hub.audit_key.verifier_key(),
    )


async def _consistency(request: Request, user: SignedIn, first: str, second: str) -> dict[str, Any]:
    """Check, here, that the two signed checkpoints verify under the log key and that the consistency proof
    between their trees holds; the page shows the proof so it can be rechecked elsewhere."""
    if not (_DECIMAL.fullmatch(first) and _DECIMAL.fullmatch(second)):
        return {"ok": False, "reason": "tree sizes are decimal numbers"}
    hub = hub_of(request)
    sizes = int(first), int(second)
    audit = hub.audit
    try:
        proof = await audit.consistency_proof(*sizes, viewer=viewer(request, user))
        async with hub.database.session() as session:
            notes = {
                row.tree_size: row.note
                for row in (
                    await session.execute(select(AuditCheckpoint).where(AuditCheckpoint.tree_size.in_(sizes)))
                ).scalars()
            }
        vkey = hub.audit_key.verifier_key()
        for size, root in zip(sizes, (proof.first_root, proof.second_root), strict=True):
            if size not in notes:
                raise ProofInvalid(f"no signed checkpoint of tree size {size}")
            head = open_checkpoint(notes[size], vkey).checkpoint
            if head.root_hash != root:
                raise ProofInvalid(f"the checkpoint of size {size} has another root")
        proof.verify()
    except (InvalidInput, NotFound, ProofInvalid, CheckpointInvalid) as exc:
        return {"ok": False, "reason": exc.detail}
    return {"ok": True, "proof": [value.hex() for value in proof.proof], **{"first": sizes[0], "second": sizes[1]}}


# -- subject access report -----------------------------------------------------------------------------


@router.get("/subject", response_class=HTMLResponse)
async def subject_form(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return _redirect("/console/login")
    return page(request, "subject.html", user, report=None, error=None, id_number="")


@router.post("/subject", response_class=Response)
async def subject_report(request: Request, user: User) -> Response:
    fields = await form_of(request, user)
    id_number = fields.get("id_number", "").strip()
    try:
        report = await hub_of(request).audit.subject_access_report(id_number, viewer=viewer(request, user))
    except InvalidInput as exc:
        return page(request, "subject.html", user, 422, report=None, error=_error(exc), id_number="")
    if fields.get("format") == "csv":
        return _csv(report.to_json())
    # The number goes back only into the export form's hidden field of this POST answer, never into a URL.
    return page(request, "subject.html", user, report=report, error=None, id_number=id_number)


def _csv(report: dict[str, Any]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "time",
            "kind",
            "member",
            "operator",
            "purpose",
            "case_id",
            "categories",
            "agencies",
            "outcome",
            "leaf_indices",
        ]
    )
    for access in report["accesses"]:
        writer.writerow(
            [
                *(access[c] or "" for c in ("time", "kind", "member", "operator", "purpose", "case_id")),
                ";".join(access["categories"]),
                ";".join(f"{source}={outcome}" for source, outcome in access["sources"].items()),
                access["outcome"],
                ";".join(str(i) for i in access["leaf_indices"]),
            ]
        )
    return Response(
        out.getvalue().encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="subject-access-report.csv"',
            "Cache-Control": "no-store",
        },
    )


# -- dashboard -----------------------------------------------------------------------------------------


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, days: int = 14) -> Response:
    user = await current_user(request)
    if user is None:
        return _redirect("/console/login")
    days = min(max(days, 1), 90)
    today = datetime.now(UTC).date()
    since = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), UTC)
    audit = hub_of(request).audit
    entries: list[dict[str, Any]] = []
    after = None
    for _ in range(10):  # at most 10,000 entries
        batch = await audit.search(types=DASHBOARD_TYPES, since=since, after=after, limit=1000)
        entries.extend(item.entry for item in batch)
        if len(batch) < 1000:
            break
        after = batch[-1].leaf_index
    await _audit_view(request, user, "dashboard", AuditQuery(types=DASHBOARD_TYPES, since=since), len(entries))
    data = figures(entries, today=today, days=days)
    lang = language(request.cookies.get(LANG_COOKIE))
    empty = translate(lang, "no_data")

    def title(key: str) -> str:
        return translate(lang, key)

    svgs = [
        charts.stacked_columns(title("chart_verifications"), data.days, data.per_day_by_purpose, empty=empty),
        charts.horizontal_bars(title("chart_regions"), sorted(data.by_region.items()), empty=empty),
        charts.horizontal_bars(title("chart_latency"), list(data.latency_ms.items()), empty=empty),
        charts.horizontal_bars(title("chart_errors"), list(data.error_rate.items()), empty=empty, unit="%"),
        charts.stacked_columns(title("chart_refusals"), data.days, {"consent": data.refusals_per_day}, empty=empty),
        charts.horizontal_bars(title("chart_recommendations"), sorted(data.recommendations.items()), empty=empty),
    ]
    return page(request, "dashboard.html", user, charts=[Markup(svg) for svg in svgs], days=days)  # noqa: S704


# -- misuse alerts -------------------------------------------------------------------------------------


def _detection(request: Request) -> MisuseDetection:
    detection: MisuseDetection = request.app.state.misuse
    return detection


@router.get("/alerts", response_class=HTMLResponse)
async def alerts(request: Request, notice: str = "") -> Response:
    user = await current_user(request)
    if user is None:
        return _redirect("/console/login")
    return await _alerts_page(request, user, notice="watch_added" if notice == "watch_added" else None)


async def _alerts_page(
    request: Request, user: SignedIn, *, notice: str | None = None, error: str | None = None, status: int = 200
) -> Response:
    detection = _detection(request)
    found = await detection.alerts()
    await _audit_view(request, user, "alerts", AuditQuery(), len(found))
    lang = language(request.cookies.get(LANG_COOKIE))
    descriptions = {
        rule.id: rule.description.en if lang == "en" else rule.description.zh for rule in detection.rules.rules
    }
    return page(
        request, "alerts.html", user, status, alerts=found, descriptions=descriptions, notice=notice, error=error
    )


@router.post("/alerts/{alert_id}/ack")
async def acknowledge(request: Request, alert_id: str, user: User) -> Response:
    await form_of(request, user)
    if not _ALERT_ID.fullmatch(alert_id):
        raise NotFound("no such alert")
    await _detection(request).acknowledge(alert_id, username=user.username)
    return _redirect("/console/alerts")


@router.post("/watch")
async def watch(request: Request, user: User) -> Response:
    fields = await form_of(request, user)
    try:
        await _detection(request).watch(fields.get("id_number", "").strip(), username=user.username)
    except InvalidInput as exc:
        return await _alerts_page(request, user, error=_error(exc), status=422)
    return _redirect("/console/alerts?notice=watch_added")
