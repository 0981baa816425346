"""The tax agency adapter: XML over HTTP with XSD (contracts/agencies/tax/), parsed with hardened lxml.

One ``POST /xml/income-query`` per verification asks about every household member at once. The answer
gives, per person, 12 monthly income records (wages and business income from withholding declarations,
pensions from the social-insurance ledger), registered businesses and the 12-month medical expenses.
"""

from __future__ import annotations

import aiohttp

from adapters.base import AdapterSettings, Provenance, SourceQuery, SourceResult
from adapters.http import get_ok, new_session, post_bytes
from adapters.tax._contract import NAMESPACE, qname, reporting_months, request_schema, response_schema
from adapters.tax._messages import build_request, read_answer

__all__ = ["NAMESPACE", "TaxAdapter", "qname", "reporting_months", "request_schema", "response_schema"]

_HEADERS = {"Content-Type": "application/xml; charset=utf-8", "Accept": "application/xml"}


class TaxAdapter:
    """Adapter for the tax agency (``hedui.adapters`` entry point ``tax``).

    Timeouts, retries and the circuit breaker belong to the broker; this class only speaks the protocol.
    """

    name: str = "tax"
    categories: frozenset[str] = frozenset({"tax"})

    def __init__(self, base_url: str, settings: AdapterSettings | None = None) -> None:
        self._base_url = base_url.rstrip("/")
        self._settings = settings or AdapterSettings()
        self._session: aiohttp.ClientSession | None = None
        # Load both schemas now, so a missing contract fails at start-up rather than on a request.
        request_schema()
        response_schema()

    def __repr__(self) -> str:
        return f"TaxAdapter(base_url={self._base_url!r})"

    async def fetch(self, query: SourceQuery) -> SourceResult:
        provenance = Provenance(agency=self.name, as_of=query.as_of)
        if not query.members:
            return SourceResult(adapter=self.name, facts=(), provenance=provenance)
        max_bytes = self._settings.max_response_bytes
        status, content_type, payload = await post_bytes(
            self._session_in_loop(),
            f"{self._base_url}/xml/income-query",
            build_request(query),
            _HEADERS,
            max_bytes=max_bytes,
        )
        facts = read_answer(query, status, content_type, payload, max_bytes=max_bytes)
        record_ids = tuple(fact.record_id for fact in facts if fact.record_id is not None)
        return SourceResult(
            adapter=self.name,
            facts=facts,
            provenance=Provenance(agency=self.name, as_of=query.as_of, record_ids=record_ids),
        )

    async def health(self) -> bool:
        return await get_ok(self._session_in_loop(), f"{self._base_url}/health")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _session_in_loop(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running event loop, as aiohttp requires.
        if self._session is None or self._session.closed:
            self._session = new_session(self._settings)
        return self._session
