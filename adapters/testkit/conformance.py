"""The adapter conformance suite (``hedui adapters test ENTRY_POINT``; docs/adapters.md).

Run against any adapter registered under ``hedui.adapters`` and an agency (its simulated one by default,
or ``agency_url``), through :class:`ConformanceProxy`, it checks what every adapter owes the hub:

* ``contract``: the class is an :class:`adapters.base.Adapter` named as its entry point, with categories,
  built from ``(base_url, AdapterSettings)``; a plugin's vocabulary is well-formed and clashes with nothing;
* ``answers``: a real answer becomes a :class:`SourceResult` of facts in the vocabulary, about members of
  the query, with provenance;
* ``wrong_person``: an answer whose records name another identity number than the one asked is refused
  (:class:`SourceProtocolError`), never turned into facts about the person asked;
* ``deadline``: an agency that does not answer is given up within the adapter's ``timeout_s`` (the proxy
  holds the answer until the call has ended, so a pass proves the adapter ended it);
* ``unavailable``, ``protocol_error``, ``unreachable``: HTTP 503, a garbage answer and a closed port map to
  :class:`SourceUnavailable` / :class:`SourceProtocolError` / :class:`SourceUnavailable` (and ``health()``
  is False for the closed port);
* ``health``: the health check answers True;
* ``no_identity_numbers_in_logs``: nothing the adapter logged, and no error it raised, contains an
  identity number it was asked about.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from importlib.metadata import entry_points
from typing import Any

from aiohttp import web

from adapters.base import Adapter, AdapterSettings, QueryMember, SourceQuery, SourceResult
from adapters.testkit.conformance_proxy import ConformanceProxy, Mode, other_person
from adapters.testkit.faults import FaultInjector
from adapters.testkit.population import Population, generate
from adapters.testkit.server import RunningAgency, start_agency

SIMULATED_AGENCIES_GROUP = "hedui.simulated_agencies"
PROBE_SCENARIO = "clearly_eligible"
DEADLINE_S = 0.5
GENEROUS_BOUND_S = 30.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    detail: str = ""


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(self.format(record))
        if record.exc_info and record.exc_info[1] is not None:
            self.messages.append(repr(record.exc_info[1]))


@contextmanager
def _capturing_logs() -> Iterator[_Captured]:
    handler = _Captured()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def simulated_agency_factory(name: str) -> Callable[[Population], web.Application] | None:
    """The simulated agency of a built-in adapter, or the one a plugin registers under
    ``hedui.simulated_agencies`` (a callable taking the synthetic :class:`Population`)."""
    from adapters.testkit.agencies import AGENCY_APPS

    if name in AGENCY_APPS:
        app_factory = AGENCY_APPS[name]
        return lambda population: app_factory(population, FaultInjector())
    for entry_point in entry_points(group=SIMULATED_AGENCIES_GROUP):
        if entry_point.name == name:
            factory: Callable[[Population], web.Application] = entry_point.load()
            return factory
    return None


async def run_conformance(
    entry_point: str,
    *,
    agency_url: str | None = None,
    id_numbers: Sequence[str] = (),
    as_of: date | None = None,
    adapter_class: type[Adapter] | None = None,
    agency_factory: Callable[[Population], web.Application] | None = None,
) -> list[Check]:
    """Every check of the suite against the adapter ``entry_point``; the agency is started if not given.

    ``adapter_class`` and ``agency_factory`` stand in for the entry points of a package not installed yet
    (the scaffolding's own tests)."""
    from gateway.broker import discover_adapters

    adapter_class = adapter_class or discover_adapters().get(entry_point)
    if adapter_class is None:
        return [Check("contract", False, f"no adapter registered under hedui.adapters as {entry_point!r}")]
    population = generate(households=20, as_of=as_of or date.today())
    running: RunningAgency | None = None
    if agency_url is None:
        factory = agency_factory or simulated_agency_factory(entry_point)
        if factory is None:
            return [Check("contract", False, f"no simulated agency for {entry_point}; give --agency-url")]
        running = await start_agency(entry_point, factory(population), FaultInjector())
        agency_url = running.url
    numbers = list(id_numbers) or [
        p.id_number for p in population.household(population.scenario(PROBE_SCENARIO).household_id).members
    ]
    query = SourceQuery(
        verification_id="conformance-0001",
        purpose="dibao.application",
        region="110101",
        members=tuple(QueryMember(index=i, id_number=n, name="-", relation="other") for i, n in enumerate(numbers)),
        as_of=population.as_of,
    )
    proxy = ConformanceProxy(agency_url)
    await proxy.start()
    try:
        with _capturing_logs() as logs:
            suite = _Suite(adapter_class, entry_point, proxy, query)
            checks = await suite.run()
        secret = set(numbers) | {other_person(n) for n in numbers}
        leaked = [m for m in [*logs.messages, *suite.raised] if any(n in m for n in secret)]
        checks.append(
            Check(
                "no_identity_numbers_in_logs",
                not leaked,
                f"{len(leaked)} log lines or errors contain an identity number" if leaked else "",
            )
        )
        return checks
    finally:
        await proxy.stop()
        if running is not None:
            await running.stop()


class _Suite:
    def __init__(self, adapter_class: type[Adapter], name: str, proxy: ConformanceProxy, query: SourceQuery) -> None:
        self.adapter_class = adapter_class
        self.name = name
        self.proxy = proxy
        self.query = query
        self.raised: list[str] = []

    def _adapter(self, url: str, timeout_s: float = 5.0) -> Adapter:
        return self.adapter_class(url, AdapterSettings(timeout_s=timeout_s))  # type: ignore[call-arg]

    async def run(self) -> list[Check]:
        contract = await self._contract()
        if not contract.passed:
            return [contract]
        return [
            contract,
            await self._answers(),
            await self._expect_error("wrong_person", "swap", "SourceProtocolError"),
            await self._deadline(),
            await self._expect_error("unavailable", "unavailable", "SourceUnavailable"),
            await self._expect_error("protocol_error", "garbage", "SourceProtocolError"),
            await self._unreachable(),
            await self._health(),
        ]

    async def _contract(self) -> Check:
        from gateway.plugins import Plugin, PluginVocabulary, check_plugins

        try:
            adapter = self._adapter(self.proxy.url)
        except Exception as exc:  # any failure of a third-party constructor is the finding
            return Check("contract", False, f"the constructor (base_url, AdapterSettings) failed: {type(exc).__name__}")
        problems = []
        if not isinstance(adapter, Adapter):
            problems.append("not an adapters.base.Adapter (name, categories, fetch, health, aclose)")
        if getattr(adapter, "name", None) != self.name:
            problems.append(f"name is not the entry point name {self.name!r}")
        categories = getattr(adapter, "categories", None)
        if not isinstance(categories, frozenset) or not categories:
            problems.append("categories is not a non-empty frozenset")
        declared = getattr(self.adapter_class, "vocabulary", None)
        if isinstance(declared, PluginVocabulary):
            try:
                check_plugins([Plugin(self.name, declared)])
            except Exception as exc:
                problems.append(str(exc))
        await adapter.aclose()
        return Check("contract", not problems, "; ".join(problems))

    async def _fetch(self, mode: Mode, timeout_s: float = 5.0, url: str | None = None) -> SourceResult | BaseException:
        self.proxy.set_mode(mode)
        adapter = self._adapter(url or self.proxy.url, timeout_s)
        bound = asyncio.timeout(GENEROUS_BOUND_S)
        try:
            async with bound:
                return await adapter.fetch(self.query)
        except Exception as exc:
            if isinstance(exc, TimeoutError) and bound.expired():
                return _Hung()  # the suite's own bound, not the adapter's deadline
            self.raised.append(f"{exc!s} {exc!r}")
            return exc
        finally:
            self.proxy.release()
            await adapter.aclose()
            self.proxy.set_mode("pass")

    async def _answers(self) -> Check:
        from gateway.contracts import vocabulary

        result = await self._fetch("pass")
        if not isinstance(result, SourceResult):
            return Check("answers", False, f"fetch raised {type(result).__name__}")
        from gateway.plugins import PluginVocabulary

        terms = set(vocabulary())
        declared = getattr(self.adapter_class, "vocabulary", None)
        if isinstance(declared, PluginVocabulary):  # a package not installed yet brings its own
            terms |= {term.code for term in declared.facts}
        problems = []
        if result.adapter != self.name:
            problems.append("result.adapter is not the adapter's name")
        if not result.facts:
            problems.append("no facts about the probe household (the other checks need some)")
        unknown = sorted({f.code for f in result.facts if f.code not in terms})
        if unknown:
            problems.append(f"fact codes outside the vocabulary: {', '.join(unknown)}")
        if any(not 0 <= f.member < len(self.query.members) for f in result.facts):
            problems.append("a fact names a member the query did not list")
        if not isinstance(result.provenance.as_of, date):
            problems.append("provenance.as_of is not a date")
        return Check("answers", not problems, "; ".join(problems))

    async def _expect_error(self, name: str, mode: Mode, expected: str) -> Check:
        outcome = await self._fetch(mode)
        return _judge(name, outcome, (expected,))

    async def _deadline(self) -> Check:
        outcome = await self._fetch("hold", timeout_s=DEADLINE_S)
        return _judge("deadline", outcome, ("SourceUnavailable", "TimeoutError"))

    async def _unreachable(self) -> Check:
        closed = await _closed_port_url()
        check = _judge("unreachable", await self._fetch("pass", url=closed), ("SourceUnavailable",))
        adapter = self._adapter(closed)
        try:
            healthy = await adapter.health()
        finally:
            await adapter.aclose()
        if healthy is not False and check.passed:
            return Check("unreachable", False, "health() is not False for an agency that cannot be reached")
        return check

    async def _health(self) -> Check:
        self.proxy.set_mode("pass")
        adapter = self._adapter(self.proxy.url)
        try:
            healthy = await adapter.health()
        finally:
            await adapter.aclose()
        return Check("health", healthy is True, "" if healthy is True else "health() did not answer True")


class _Hung(Exception):
    """The adapter was still waiting when the suite's generous bound ran out."""


def _judge(name: str, outcome: Any, expected: tuple[str, ...]) -> Check:
    if isinstance(outcome, _Hung):
        return Check(name, False, f"the adapter was still waiting after {GENEROUS_BOUND_S} s")
    if isinstance(outcome, SourceResult):
        return Check(
            name, False, f"fetch returned {len(outcome.facts)} facts instead of raising {' or '.join(expected)}"
        )
    kinds = {cls.__name__ for cls in type(outcome).__mro__}
    if kinds & set(expected):
        return Check(name, True)
    return Check(name, False, f"raised {type(outcome).__name__}, expected {' or '.join(expected)}")


async def _closed_port_url() -> str:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return f"http://127.0.0.1:{port}"
