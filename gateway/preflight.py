"""Start-up checks of a hub's configuration, every problem listed at once (docs/architecture.md §15).

``hedui serve`` runs them before it binds a port, and ``hedui config check`` runs them alone (a deploy
pipeline, a Kubernetes init step). An operator who fixes one setting should not find the next problem only
on the next start: each check runs whatever the others found, and the report names the ``HEDUI_*`` variable
or file at fault, never a secret's value.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.console.oidc import checked_issuer
from gateway.errors import ConfigurationError, ConsoleOidcFailed, HeduiError
from gateway.settings import Settings

# Database drivers the hub runs on (docs/architecture.md §10); anything else fails at the first query.
_DRIVERS = {"sqlite+aiosqlite", "postgresql+asyncpg"}
_ADAPTER_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_DATABASE_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong: where (an environment variable or a file) and what."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def _env_name(location: tuple[int | str, ...]) -> str:
    return "HEDUI_" + str(location[0]).upper() if location else "HEDUI_*"


def _settings() -> tuple[Settings | None, list[Problem]]:
    """The settings and the problems of their fields. With invalid fields, the settings returned have those
    fields at their defaults, so that the other checks still run on everything else."""
    try:
        return Settings(), []  # pydantic reports every invalid field of the model in one ValidationError
    except ValidationError as exc:
        errors = exc.errors(include_input=False)  # the message, not the input: it may be a secret
    problems = [Problem(_env_name(error["loc"]), error["msg"]) for error in errors]
    defaults = {
        str(error["loc"][0]): Settings.model_fields[str(error["loc"][0])].get_default(call_default_factory=True)
        for error in errors
        if error["loc"] and str(error["loc"][0]) in Settings.model_fields
    }
    try:
        return Settings(**defaults), problems
    except ValidationError:
        return None, problems


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def _check_urls(settings: Settings) -> list[Problem]:
    problems = []
    if not _http_url(settings.public_url):
        problems.append(Problem("HEDUI_PUBLIC_URL", "must be an http(s) URL with a host"))
    from gateway.broker.registry import discover_adapters

    installed = discover_adapters()
    for name, source in settings.agencies.items():
        # An edge source (docs/federation.md) needs no local adapter when it names its categories.
        url = source if isinstance(source, str) else source.edge
        served_elsewhere = not isinstance(source, str) and bool(source.categories)
        if not _ADAPTER_NAME.fullmatch(name) or (name not in installed and not served_elsewhere):
            known = ", ".join(sorted(installed)) or "none"
            problems.append(
                Problem("HEDUI_AGENCIES", f"no adapter named {name[:64]!r} is installed (installed: {known})")
            )
        if not _http_url(url):
            problems.append(Problem("HEDUI_AGENCIES", f"the URL of {name[:64]!r} is not an http(s) URL with a host"))
    external = (settings.external_issuer, settings.external_jwks_url, settings.external_audience)
    if any(external) and not all(external):
        problems.append(
            Problem(
                "HEDUI_EXTERNAL_ISSUER",
                "an external issuer needs HEDUI_EXTERNAL_ISSUER, HEDUI_EXTERNAL_JWKS_URL and HEDUI_EXTERNAL_AUDIENCE",
            )
        )
    if settings.external_jwks_url and not _http_url(settings.external_jwks_url):
        problems.append(Problem("HEDUI_EXTERNAL_JWKS_URL", "must be an http(s) URL with a host"))
    if settings.console_oidc_issuer:
        try:
            checked_issuer(settings.console_oidc_issuer)
        except ConsoleOidcFailed as exc:
            problems.append(Problem("HEDUI_CONSOLE_OIDC_ISSUER", exc.detail))
        if not settings.console_oidc_client_id or settings.console_oidc_client_secret is None:
            problems.append(
                Problem(
                    "HEDUI_CONSOLE_OIDC_ISSUER",
                    "console sign-in through a provider needs HEDUI_CONSOLE_OIDC_CLIENT_ID and "
                    "HEDUI_CONSOLE_OIDC_CLIENT_SECRET (a HEDUI_SECRETS_DIR file)",
                )
            )
    return problems


def _check_keys(settings: Settings) -> list[Problem]:
    from gateway.audit import LogKey, log_origin
    from gateway.envelope import HubKeys

    problems = []
    where = f"HEDUI_KEY_DIR ({settings.key_dir})"
    if not settings.key_dir.is_dir():
        return [Problem(where, "no such directory; run `hedui keys init` or mount the hub's key secret there")]
    for load in (
        lambda: HubKeys.load(settings.key_dir),
        lambda: LogKey.load(settings.key_dir, name=log_origin(settings.hub_id)),
    ):
        try:
            load()
        except (ConfigurationError, OSError, ValueError) as exc:
            detail = exc.detail if isinstance(exc, HeduiError) else type(exc).__name__
            problems.append(Problem(where, detail))
    return problems


def _check_contracts() -> list[Problem]:
    from gateway.auth import PurposeCatalog
    from gateway.contracts import CONTRACTS_DIR
    from gateway.meanstest.policy import load_policies

    where = f"HEDUI_CONTRACTS_DIR ({CONTRACTS_DIR})"
    if not CONTRACTS_DIR.is_dir():
        return [Problem(where, "no such directory")]
    problems = []
    try:
        PurposeCatalog.load(CONTRACTS_DIR / "purposes.yaml")
    except (HeduiError, OSError, ValueError) as exc:
        problems.append(
            Problem(f"{where} purposes.yaml", exc.detail if isinstance(exc, HeduiError) else type(exc).__name__)
        )
    try:
        load_policies(CONTRACTS_DIR / "policies")
    except ConfigurationError as exc:
        problems.extend(
            Problem(f"{where} policies", str(problem)) for problem in exc.extensions.get("problems", [exc.detail])
        )
    except OSError as exc:
        problems.append(Problem(f"{where} policies", type(exc).__name__))
    return problems


async def _check_database(settings: Settings) -> list[Problem]:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(settings.database_url)
    except ArgumentError:
        return [Problem("HEDUI_DATABASE_URL", "not a SQLAlchemy URL")]
    if url.drivername not in _DRIVERS:
        return [Problem("HEDUI_DATABASE_URL", f"driver {url.drivername!r} is not one of {', '.join(sorted(_DRIVERS))}")]
    from gateway.store import Database

    database = Database(settings.database_url)
    try:
        async with asyncio.timeout(_DATABASE_TIMEOUT_S):
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                if not settings.migrate_on_start:
                    return await _schema_problems(connection)
    except TimeoutError:
        return [Problem("HEDUI_DATABASE_URL", f"the database did not answer within {_DATABASE_TIMEOUT_S:.0f} s")]
    except Exception as exc:  # any driver error: the report names its type, never the URL or its password
        return [Problem("HEDUI_DATABASE_URL", f"cannot connect ({type(exc).__name__})")]
    finally:
        await database.dispose()
    return []


async def _schema_problems(connection: AsyncConnection) -> list[Problem]:
    """With HEDUI_MIGRATE_ON_START=false the schema must already be at Alembic's head (`hedui db upgrade`)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from gateway.store.database import alembic_config

    def current(sync_connection: Connection) -> set[str]:
        return set(MigrationContext.configure(sync_connection).get_current_heads())

    heads = set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
    found = await connection.run_sync(current)
    if found != heads:
        return [
            Problem(
                "HEDUI_DATABASE_URL",
                f"schema at {sorted(found) or 'nothing'}, the code needs {sorted(heads)}; run `hedui db upgrade`",
            )
        ]
    return []


def configuration_problems() -> list[Problem]:
    """Every problem of the configuration in the process environment."""
    settings, problems = _settings()
    problems.extend(_check_contracts())
    if settings is None:
        return problems
    checks: list[Callable[[Settings], list[Problem]]] = [_check_urls, _check_keys]
    for check in checks:
        problems.extend(check(settings))
    problems.extend(asyncio.run(_check_database(settings)))
    return problems


def exit_on_configuration_problems() -> None:
    """For ``hedui serve``: print every problem to standard error and exit 2 if there is any."""
    problems = configuration_problems()
    if problems:
        for problem in problems:
            typer.echo(f"configuration error: {problem}", err=True)
        typer.echo(f"{len(problems)} configuration problem(s); the hub does not start", err=True)
        raise typer.Exit(code=2)


def prepare_worker_metrics(workers: int) -> None:
    """Several worker processes share one port, so a scrape reaches one of them: give them a directory to
    pool their metrics in (prometheus_client's multiprocess mode, gateway/metrics.py), emptied at start so
    values of an earlier run do not count. An operator's PROMETHEUS_MULTIPROC_DIR is used if set."""
    from gateway.metrics import MULTIPROCESS_DIR_ENV

    if workers <= 1:
        return
    configured = os.environ.get(MULTIPROCESS_DIR_ENV)
    directory = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="hedui-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROCESS_DIR_ENV] = str(directory)  # the workers inherit it


config_app = typer.Typer(help="The hub's configuration (HEDUI_* environment variables).", no_args_is_help=True)


@config_app.command("check")
def config_check(
    quiet: Annotated[bool, typer.Option(help="Print nothing when the configuration is sound")] = False,
) -> None:
    """Check settings, keys, contracts and the database as `hedui serve` does; list every problem, exit 2."""
    exit_on_configuration_problems()
    if not quiet:
        typer.echo("configuration is sound")


__all__ = [
    "Problem",
    "config_app",
    "configuration_problems",
    "exit_on_configuration_problems",
    "prepare_worker_metrics",
]
