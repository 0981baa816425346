"""Console accounts and sessions: argon2id passwords (RFC 9106, argon2-cffi's defaults), lockout after
repeated failures (audited as ``console.locked``), server-side sessions with a per-session CSRF token.
An account may instead be linked to an identity of the configured OpenID Connect provider (issuer, ``sub``):
it then signs in only there (gateway/console/oidc.py), never with a password.

The browser holds a random session token; the table keeps only its SHA-256, so a copy of the database signs
nobody in. Failed sign-ins are counted per account; the account that reaches ``max_failures`` is locked for
``lockout_s`` and the lock is written to the audit log before the answer goes out.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from gateway.audit import AuditLog, ConsoleLocked, ConsoleUserAdded
from gateway.console.models import ConsoleSession, ConsoleUser
from gateway.console.oidc import OidcIdentity
from gateway.errors import Conflict, ConsoleLockedOut, ConsoleOidcFailed, ConsoleSignInFailed, InvalidInput
from gateway.store import Database

ROLES = ("auditor",)
USERNAME = re.compile(r"[a-z][a-z0-9_.-]{1,31}")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
# Checked against when the account does not exist, so that the answer takes as long as for a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
# The password hash of an account that signs in through the identity provider: no PHC string, so no password
# ever verifies against it.
IDENTITY_PROVIDER_HASH = "!oidc"
_OIDC_SUBJECT = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass(frozen=True, slots=True)
class SignedIn:
    username: str
    role: str
    csrf_token: str


def validate_username(name: str) -> str:
    if not USERNAME.fullmatch(name):
        raise InvalidInput("a console user name is 2 to 32 of a-z, 0-9, '_', '.', '-', starting with a letter")
    return name


def validate_account(username: str, role: str, password: str) -> None:
    validate_username(username)
    validate_password(password)
    if role not in ROLES:
        raise InvalidInput(f"a console role is one of {', '.join(ROLES)}")


def validate_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"a console password is {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


async def add_user(
    database: Database,
    audit: AuditLog,
    username: str,
    *,
    role: str,
    password: str | None = None,
    oidc: OidcIdentity | None = None,
    hub_id: str,
    hasher: PasswordHasher = _HASHER,
) -> None:
    """Store a new account, with its argon2id password hash or linked to an identity of the OpenID Connect
    provider (exactly one of ``password`` and ``oidc``), and its ``console.user_added`` entry in the same
    transaction; :class:`Conflict` if the name (or the identity) is taken."""
    if (password is None) == (oidc is None):
        raise InvalidInput("a console account has a password or an identity provider's subject, not both")
    if password is not None:
        validate_account(username, role, password)
    else:
        validate_account(username, role, "x" * MIN_PASSWORD)
        assert oidc is not None
        if not _OIDC_SUBJECT.fullmatch(oidc.subject):
            raise InvalidInput("an identity provider's subject is 1 to 255 printable ASCII characters")
    row = ConsoleUser(
        username=username,
        role=role,
        password_hash=hasher.hash(password) if password is not None else IDENTITY_PROVIDER_HASH,
        failed_attempts=0,
        locked_until=None,
        created_at=datetime.now(UTC),
        oidc_issuer=oidc.issuer if oidc else None,
        oidc_subject=oidc.subject if oidc else None,
    )
    entry = ConsoleUserAdded(actor=hub_id, account=username, role=role, sign_in="oidc" if oidc else None)
    async with database.session() as session:
        try:
            async with session.begin():
                session.add(row)
                await session.flush()  # the insert, and a name conflict, before the entry
                await audit.append_within(session, entry)
        except IntegrityError as exc:
            raise Conflict("a console user of that name, or linked to that identity, exists") from exc


class ConsoleAccounts:
    def __init__(
        self,
        database: Database,
        audit: AuditLog,
        *,
        hub_id: str,
        max_failures: int = 5,
        lockout_s: float = 900.0,
        session_s: float = 3600.0,
        hasher: PasswordHasher = _HASHER,
    ) -> None:
        self._database = database
        self._audit = audit
        self._hub_id = hub_id
        self._max_failures = max_failures
        self._lockout = timedelta(seconds=lockout_s)
        self._session = timedelta(seconds=session_s)
        self._hasher = hasher  # verification reads the parameters from each stored hash

    async def sign_in(self, username: str, password: str, *, now: datetime | None = None) -> tuple[str, SignedIn]:
        """``(session token for the cookie, who signed in)``; :class:`ConsoleSignInFailed` for a wrong name or
        password (the same answer for both), :class:`ConsoleLockedOut` while the account is locked."""
        now = now or datetime.now(UTC)
        if not USERNAME.fullmatch(username) or len(password) > MAX_PASSWORD:
            raise ConsoleSignInFailed()
        async with self._database.session() as session:
            user = await session.get(ConsoleUser, username)
        if user is None:
            _check(self._hasher, _DUMMY_HASH, password)
            raise ConsoleSignInFailed()
        if user.locked_until is not None and _utc(user.locked_until) > now:
            raise ConsoleLockedOut()
        if not _check(self._hasher, user.password_hash, password):
            await self._failed(user, now)
            raise ConsoleSignInFailed()
        return await self._new_session(user, now)

    async def sign_in_oidc(self, identity: OidcIdentity, *, now: datetime | None = None) -> tuple[str, SignedIn]:
        """A session for the account linked to ``identity`` (the provider has authenticated the person);
        :class:`ConsoleOidcFailed` if none is, :class:`ConsoleLockedOut` while it is locked."""
        now = now or datetime.now(UTC)
        async with self._database.session() as session:
            user = (
                await session.execute(
                    select(ConsoleUser).where(
                        ConsoleUser.oidc_issuer == identity.issuer, ConsoleUser.oidc_subject == identity.subject
                    )
                )
            ).scalar_one_or_none()
        if user is None:
            raise ConsoleOidcFailed("no console account is linked to this identity")
        if user.locked_until is not None and _utc(user.locked_until) > now:
            raise ConsoleLockedOut()
        return await self._new_session(user, now)

    async def _new_session(self, user: ConsoleUser, now: datetime) -> tuple[str, SignedIn]:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        async with self._database.session() as session, session.begin():
            await session.execute(
                update(ConsoleUser)
                .where(ConsoleUser.username == user.username)
                .values(failed_attempts=0, locked_until=None)
            )
            await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
            session.add(
                ConsoleSession(
                    token_hash=_digest(token),
                    username=user.username,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + self._session,
                )
            )
        return token, SignedIn(user.username, user.role, csrf)

    async def _failed(self, user: ConsoleUser, now: datetime) -> None:
        failures = user.failed_attempts + 1
        locked_until = now + self._lockout if failures >= self._max_failures else None
        async with self._database.session() as session, session.begin():
            await session.execute(
                update(ConsoleUser)
                .where(ConsoleUser.username == user.username)
                .values(failed_attempts=0 if locked_until else failures, locked_until=locked_until)
            )
            if locked_until is not None:
                # The lock and its audit entry commit together: if the log cannot take it, the sign-in fails
                # (AuditUnavailable) and the account is not locked without a trace; the next failure retries.
                await self._audit.append_within(
                    session,
                    ConsoleLocked(
                        actor=self._hub_id,
                        operator=f"console:{user.username}",
                        account=user.username,
                        failures=failures,
                        locked_until=locked_until,
                    ),
                )

    async def session(self, token: str, *, now: datetime | None = None) -> SignedIn | None:
        """Who holds this session token, or None (unknown, expired, or the account locked meanwhile)."""
        now = now or datetime.now(UTC)
        if not 20 <= len(token) <= 100:
            return None
        async with self._database.session() as session:
            row = (
                await session.execute(
                    select(ConsoleSession, ConsoleUser)
                    .join(ConsoleUser, ConsoleUser.username == ConsoleSession.username)
                    .where(ConsoleSession.token_hash == _digest(token))
                )
            ).first()
        if row is None:
            return None
        stored, user = row
        if _utc(stored.expires_at) <= now or (user.locked_until is not None and _utc(user.locked_until) > now):
            return None
        return SignedIn(user.username, user.role, stored.csrf_token)

    async def sign_out(self, token: str) -> None:
        async with self._database.session() as session, session.begin():
            await session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _digest(token)))


def _check(hasher: PasswordHasher, stored: str, password: str) -> bool:
    try:
        return hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _utc(value: datetime) -> datetime:
    # SQLite returns stored times without their offset; every stored time is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)
