"""JSON over HTTP for the REST agencies (hukou, housing): the batch-query convention they share, and a client.

Both agencies follow the convention of the government data-sharing platform (政务数据共享交换平台):

* request: ``POST`` of a :class:`BatchQuery`: ``requestId`` (fresh per HTTP call, echoed back),
  ``verificationId``, ``purpose``, ``region`` and ``persons`` (``seq`` + ``idNumber``). Identity numbers
  travel only in this body, never in the URL.
* answer: HTTP 200 with ``{"code": "0000", "message", "requestId", "data": {"asOf", "results"}}``, one
  result per ``seq`` asked; HTTP 400 with ``{"code", "message"}`` for a request the agency refuses.

Wire models keep the agencies' camelCase names (they *are* the contract in
``contracts/agencies/<agency>/openapi.yaml``), are strict (no coercion, no unknown fields) and never put
input values into validation errors, because those values are identity numbers and other personal data.
The simulated agencies in ``adapters.testkit`` are built with :func:`create_batch_query_app`.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Generic, Literal, TypeVar

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adapters.base import AdapterSettings, SourceQuery
from adapters.http import get_ok, new_session, post_bytes
from gateway.errors import InvalidInput, RecordMismatch, SourceProtocolError
from gateway.ids import id_number_check_char

_SUCCESS_CODE = "0000"
# Error codes of a refused request (HTTP 400): the body is not JSON / a field breaks the contract.
_MALFORMED_REQUEST_CODE = "1001"
_INVALID_REQUEST_CODE = "1002"
MAX_PERSONS = 100

_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
# Only field names and list positions may appear in error details: a hostile answer could use an identity
# number as an unknown key, and keys end up in the error location.
_SAFE_KEY = re.compile(r"^[A-Za-z]{1,40}$")
_MAX_REPORTED_ERRORS = 3

# An agency's opaque record identifier (户籍记录号, 不动产单元 record, account record ...).
RecordId = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,40}$")]


class WireModel(BaseModel):
    """Base of every JSON shape on the wire: strict types, unknown fields refused, inputs kept out of errors."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, hide_input_in_errors=True)


class PersonRef(WireModel):
    """One person asked about: the requester's member position and the GB 11643 identity number."""

    seq: int = Field(ge=0)
    idNumber: str = Field(pattern=r"^[1-9][0-9]{16}[0-9X]$", repr=False)

    @field_validator("idNumber")
    @classmethod
    def _check_character(cls, value: str) -> str:
        # GB 11643-1999 §5.2: ISO 7064 MOD 11-2 check character (the number itself is never echoed).
        if id_number_check_char(value[:17]) != value[17]:
            raise ValueError("check character does not match (GB 11643-1999 §5.2)")
        return value


class BatchQuery(WireModel):
    """The request body of every batch query endpoint."""

    requestId: str = Field(pattern=r"^[0-9a-f]{32}$")
    verificationId: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    purpose: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", max_length=64)
    region: str = Field(pattern=r"^[0-9]{6}$")
    persons: list[PersonRef] = Field(min_length=1, max_length=MAX_PERSONS)

    @model_validator(mode="after")
    def _distinct_seqs(self) -> BatchQuery:
        if len({person.seq for person in self.persons}) != len(self.persons):
            raise ValueError("seq values must be distinct")
        return self

    @classmethod
    def for_members(cls, query: SourceQuery) -> BatchQuery:
        """The batch asking about every member of ``query``: identity numbers only, never names.

        Raises :class:`InvalidInput` when the query cannot be expressed in the contract (no members, more
        than :data:`MAX_PERSONS`, or an identity number the hub should have refused already).
        """
        try:
            return cls(
                requestId=uuid.uuid4().hex,
                verificationId=query.verification_id,
                purpose=query.purpose,
                region=query.region,
                persons=[PersonRef(seq=member.index, idNumber=member.id_number) for member in query.members],
            )
        except ValidationError as exc:
            raise InvalidInput(f"query not expressible as an agency batch: {describe_errors(exc)}") from exc


class SeqResult(WireModel):
    """Base of every per-person result: ``seq`` names the position asked about, ``idNumber`` the person the
    record is about (contract 1.1.0), which must be the number asked about at that position."""

    seq: int = Field(ge=0)
    idNumber: str = Field(pattern=r"^[1-9][0-9]{16}[0-9X]$", repr=False)


ResultT = TypeVar("ResultT", bound=SeqResult)


class AnswerData(WireModel, Generic[ResultT]):
    asOf: date
    results: list[ResultT] = Field(max_length=MAX_PERSONS)


class AgencyAnswer(WireModel, Generic[ResultT]):
    """The success envelope; each endpoint subclasses it with its own result type."""

    code: Literal["0000"]
    message: str = Field(max_length=200)
    requestId: str = Field(pattern=r"^[0-9a-f]{32}$")
    data: AnswerData[ResultT]


class _RefusalBody(WireModel):
    code: str = Field(pattern=r"^[0-9]{4}$")
    message: str = Field(max_length=500)


def describe_errors(exc: ValidationError) -> str:
    """Where and what, never the value: ``persons.2.idNumber: string_pattern_mismatch``."""
    parts = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        where = ".".join(str(part) if isinstance(part, int) or _SAFE_KEY.match(part) else "?" for part in error["loc"])
        parts.append(f"{where or 'body'}: {error['type']}")
    if len(parts) > _MAX_REPORTED_ERRORS:
        parts[_MAX_REPORTED_ERRORS:] = [f"and {len(parts) - _MAX_REPORTED_ERRORS} more"]
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class Answered(Generic[ResultT]):
    """A checked answer: its as-of date and one result per ``seq`` asked about."""

    as_of: date
    by_seq: Mapping[int, ResultT]


class JsonAgencyClient:
    """POSTs batch queries to one agency over the adapter's aiohttp session and checks the answers.

    The session is created on first use, inside the running event loop, and closed by :meth:`aclose`.
    """

    def __init__(self, base_url: str, settings: AdapterSettings) -> None:
        self._base_url = base_url.rstrip("/")
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = new_session(self._settings)
        return self._session

    async def query(self, path: str, batch: BatchQuery, answer_model: type[AgencyAnswer[ResultT]]) -> Answered[ResultT]:
        """POST ``batch`` to ``path`` and return the checked answer.

        Raises :class:`SourceUnavailable` (connection error, HTTP 5xx) or :class:`SourceProtocolError`
        (refusal, wrong content type, malformed JSON, shape outside the contract, an answer to another
        request, or results that do not match the persons asked about one to one), and
        :class:`RecordMismatch` when a result is about another person than the one asked about at its seq.
        """
        status, content_type, raw = await post_bytes(
            self._open_session(),
            self._base_url + path,
            batch.model_dump_json().encode(),
            _JSON_HEADERS,
            max_bytes=self._settings.max_response_bytes,
        )
        if status != 200:
            raise SourceProtocolError(f"agency refused the query: HTTP {status}{_refusal_code(raw)}")
        if content_type != "application/json":
            raise SourceProtocolError("agency answered with a content type other than application/json")
        try:
            answer = answer_model.model_validate_json(raw)
        except ValidationError as exc:
            # Not chained: pydantic's own message names every offending location, and a hostile answer can
            # choose its keys (an identity number as a key). describe_errors keeps only safe locations.
            raise SourceProtocolError(f"agency answer outside its contract: {describe_errors(exc)}") from None
        if answer.requestId != batch.requestId:
            raise SourceProtocolError("agency answer carries another request's requestId")
        asked = {person.seq: person.idNumber for person in batch.persons}
        if sorted(result.seq for result in answer.data.results) != sorted(asked):
            raise SourceProtocolError("agency answer does not hold exactly one result per person asked about")
        for result in answer.data.results:
            # Issue 11 defect 7: a position is not a person. Every record kept names the number asked.
            if result.idNumber != asked[result.seq]:
                raise RecordMismatch(f"agency answered seq {result.seq} with a record about another person")
        return Answered(as_of=answer.data.asOf, by_seq={result.seq: result for result in answer.data.results})

    async def health(self) -> bool:
        return await get_ok(self._open_session(), self._base_url + "/health")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _refusal_code(raw: bytes) -> str:
    """The agency's error code, if the refusal follows the contract; its free-text message is not kept."""
    try:
        return f", code {_RefusalBody.model_validate_json(raw).code}"
    except ValidationError:
        return ""


FirstT = TypeVar("FirstT")
SecondT = TypeVar("SecondT")


async def concurrently(
    first: Coroutine[Any, Any, FirstT], second: Coroutine[Any, Any, SecondT]
) -> tuple[FirstT, SecondT]:
    """Run two agency calls at once. If one fails the other is cancelled and the failure itself is raised
    (not an ExceptionGroup), so the broker sees the ``gateway.errors`` class it expects.

    Not a TaskGroup: on Python 3.11 a TaskGroup whose child fails calls ``cancel()`` on the *calling* task
    to abort its body; that request can outlive the group (its ``uncancel`` may run before the pending
    cancellation is delivered) and then surfaces at the caller's next ``await`` (the broker's retry
    backoff) as a bare CancelledError that no deadline asked for. ``asyncio.wait`` never cancels the
    caller: only the children are cancelled, and they are awaited before this returns or raises.
    """
    tasks = (asyncio.ensure_future(first), asyncio.ensure_future(second))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            failure = task.exception() if task.done() and not task.cancelled() else None
            if failure is not None:
                raise failure
        return tasks[0].result(), tasks[1].result()
    finally:
        for task in tasks:
            task.cancel()
        # Wait for the cancelled children (also when the caller itself is being cancelled), so no agency
        # call outlives the query that started it; their outcomes are already decided above.
        await asyncio.gather(*tasks, return_exceptions=True)


# -- the agency side of the convention (used by the simulated agencies in adapters.testkit) ------------


def _refuse(code: str, message: str) -> web.HTTPBadRequest:
    body = json.dumps({"code": code, "message": message}, ensure_ascii=False)
    return web.HTTPBadRequest(text=body, content_type="application/json")


async def read_batch_query(request: web.Request) -> BatchQuery:
    """Parse and validate the request body, or raise HTTP 400 with ``{"code", "message"}``.

    The message names the offending field and rule, never its value.
    """
    if request.content_type != "application/json":
        raise _refuse(_MALFORMED_REQUEST_CODE, "请求体必须为 application/json (body must be application/json)")
    try:
        return BatchQuery.model_validate_json(await request.read())
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors(include_input=False)):
            raise _refuse(_MALFORMED_REQUEST_CODE, "请求体不是合法的 JSON (body is not valid JSON)") from exc
        raise _refuse(_INVALID_REQUEST_CODE, f"参数校验失败 (invalid field): {describe_errors(exc)}") from exc


def answer_response(query: BatchQuery, as_of: date, results: Sequence[Mapping[str, Any]]) -> web.Response:
    """The success envelope around ``results`` (plain JSON objects built by the agency)."""
    body = {
        "code": _SUCCESS_CODE,
        "message": "成功",
        "requestId": query.requestId,
        "data": {"asOf": as_of.isoformat(), "results": list(results)},
    }
    return web.json_response(body, dumps=lambda value: json.dumps(value, ensure_ascii=False))


# The agency's result about one identity number, without ``seq`` and ``idNumber`` (e.g. ``{"found": False}``).
PersonResult = Callable[[str], dict[str, Any]]
# For a person asked about, and everyone asked about in the same request: whose record to answer with and the
# number to label it with (fault injection answers with another person's record).
WhoseRecord = Callable[[str, Sequence[str]], tuple[str, str]]


def _same_person(id_number: str, _asked: Sequence[str]) -> tuple[str, str]:
    return id_number, id_number


def create_batch_query_app(
    as_of: date,
    endpoints: Mapping[str, PersonResult],
    middlewares: Iterable[Middleware],
    whose_record: WhoseRecord = _same_person,
) -> web.Application:
    """An agency following the convention: ``GET /health`` and a batch query endpoint per path of ``endpoints``.

    Each endpoint answers every person asked about with ``{"seq": seq, "idNumber": number}`` followed by the
    fields of its :data:`PersonResult` for the person's identity number, in request order. ``whose_record``
    lets fault injection answer with another person's record.
    """

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "UP"})

    def batch_query(person_result: PersonResult) -> Handler:
        async def answer(request: web.Request) -> web.Response:
            query = await read_batch_query(request)
            results = []
            asked = [ref.idNumber for ref in query.persons]
            for ref in query.persons:
                record_of, label = whose_record(ref.idNumber, asked)
                results.append({"seq": ref.seq, "idNumber": label} | person_result(record_of))
            return answer_response(query, as_of, results)

        return answer

    app = web.Application(middlewares=middlewares)
    app.router.add_get("/health", health)
    for path, person_result in endpoints.items():
        app.router.add_post(path, batch_query(person_result))
    return app
