"""The one exception tree of Hedui.

Every error the hub raises on purpose is a :class:`HeduiError`. Each class carries the HTTP status, a short
title and the stable ``code`` that RFC 9457 problem responses expose (see ``gateway.api.problems``).
Errors from outside libraries (joserfc, zeep, lxml, aiohttp, SQLAlchemy) are translated where they are
caught, with ``raise X(...) from exc``, so callers only ever handle this tree.

Messages (``detail``) must never contain personal data: no identity numbers, no names.
"""

from __future__ import annotations

from typing import Any, ClassVar


class HeduiError(Exception):
    """Base of every Hedui error."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions = extensions


# -- input ---------------------------------------------------------------------------------------------


class InvalidInput(HeduiError):
    status = 422
    code = "invalid_request"
    title = "The request body is not valid"


class InvalidIdNumber(InvalidInput):
    """A resident identity number fails GB 11643 validation (the number itself is never echoed)."""

    code = "invalid_id_number"
    title = "Invalid resident identity number"


class InvalidMemberId(InvalidInput):
    code = "invalid_member_id"
    title = "Invalid member id"


class InvalidCreditCode(InvalidInput):
    code = "invalid_credit_code"
    title = "Invalid unified social credit code"


class InvalidRegion(InvalidInput):
    code = "invalid_region"
    title = "Invalid region code"


class NotFound(HeduiError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(HeduiError):
    status = 409
    code = "conflict"
    title = "Conflict"


# -- envelope (DESIGN §4) ------------------------------------------------------------------------------


class EnvelopeError(HeduiError):
    """Base for every failure to open or seal an envelope."""

    status = 400
    code = "envelope_invalid"
    title = "The envelope cannot be opened"


class EnvelopeInvalid(EnvelopeError):
    """Not a compact JWE, wrong algorithms, not encrypted to a key we hold, or not a JWS inside."""


class SignatureInvalid(EnvelopeError):
    status = 401
    code = "signature_invalid"
    title = "Unknown signing key or bad signature"


class Expired(EnvelopeError):
    status = 401
    code = "expired"
    title = "The message has expired or is not yet valid"


class WrongAudience(EnvelopeError):
    status = 401
    code = "wrong_audience"
    title = "The message is addressed to another member"


class Replayed(EnvelopeError):
    status = 409
    code = "replayed"
    title = "This message id (jti) has already been used"


class ResponseBindingInvalid(EnvelopeError):
    """A response's ``req`` claim does not match the request it answers."""

    code = "response_binding_invalid"
    title = "The response is not bound to this request"


# -- access --------------------------------------------------------------------------------------------


class Forbidden(HeduiError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class UnknownMember(SignatureInvalid):
    """The sender is not a registered member: treated like an unknown key, so as not to reveal membership."""


# -- sources and the store -----------------------------------------------------------------------------


class SourceError(HeduiError):
    """An agency could not answer properly. The broker turns these into per-source statuses."""

    status = 502
    code = "source_error"
    title = "An agency source failed"


class SourceUnavailable(SourceError):
    """Connection refused, reset, HTTP 5xx: the agency did not answer."""

    code = "source_unavailable"
    title = "An agency source is unavailable"


class SourceProtocolError(SourceError):
    """The agency answered, but not in its contract: malformed, schema-invalid or hostile content."""

    code = "source_protocol_error"
    title = "An agency answered outside its contract"


class StoreUnavailable(HeduiError):
    status = 503
    code = "store_unavailable"
    title = "The hub's database is unavailable"


class ConfigurationError(HeduiError):
    """Settings, keys or contracts are missing or invalid; raised at start-up, never per request."""

    code = "configuration_error"
    title = "Configuration error"


class RemoteProblem(HeduiError):
    """A problem response from a remote hub whose ``code`` this version does not know."""

    code = "remote_problem"
    title = "The hub answered with a problem"


def error_class_for(code: str) -> type[HeduiError]:
    """The most specific error class with this problem ``code`` (clients raise what the hub raised)."""
    pending: list[type[HeduiError]] = [HeduiError]
    found: type[HeduiError] = RemoteProblem
    while pending:
        cls = pending.pop()
        if cls.code == code:
            found = cls
        pending.extend(cls.__subclasses__())
    return found
