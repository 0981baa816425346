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


class PersonalDataInText(InvalidInput):
    """A stored free-text field (a reference, a reason, a case or staff id) holds an identity number."""

    code = "personal_data_in_text"
    title = "Free-text fields may not carry identity numbers"


class NotFound(HeduiError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(HeduiError):
    status = 409
    code = "conflict"
    title = "Conflict"


# -- envelope (docs/architecture.md §4) ------------------------------------------------------------------------------


class EnvelopeError(HeduiError):
    """Base for every failure to open or seal an envelope; the hub raises only its subclasses."""

    status = 400
    code = "envelope_error"
    title = "The envelope cannot be opened"


class EnvelopeInvalid(EnvelopeError):
    """Not a compact JWE, wrong algorithms, not encrypted to a key we hold, or not a JWS inside."""

    code = "envelope_invalid"


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


class InvalidToken(HeduiError):
    """No, or a bad, expired or foreign bearer token (RFC 6750 §3.1 ``invalid_token``)."""

    status = 401
    code = "invalid_token"
    title = "A valid bearer access token is required"


class ScopeMissing(Forbidden):
    """RFC 6750 §3.1 ``insufficient_scope``."""

    code = "scope_missing"
    title = "The access token lacks the scope this endpoint needs"


class SenderMismatch(Forbidden):
    code = "sender_mismatch"
    title = "The envelope is signed by another member than the access token's subject"


class PurposeNotAllowed(Forbidden):
    code = "purpose_not_allowed"
    title = "This member may not use this purpose"


class RegionNotAllowed(Forbidden):
    code = "region_not_allowed"
    title = "This member may not request cases of this region for this purpose"


class CategoryNotAllowed(Forbidden):
    code = "category_not_allowed"
    title = "The purpose does not cover a requested data category"


class TokenRequestError(HeduiError):
    """Token endpoint failures, rendered as RFC 6749 §5.2 error responses (not RFC 9457 problems)."""

    status = 400
    code = "invalid_request"
    title = "The token request is not valid"


class InvalidClient(TokenRequestError):
    status = 401
    code = "invalid_client"
    title = "Client authentication failed"


class InvalidScope(TokenRequestError):
    code = "invalid_scope"
    title = "The requested scope is not allowed for this client"


class UnsupportedGrantType(TokenRequestError):
    code = "unsupported_grant_type"
    title = "Only the client_credentials grant is supported"


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


class QuotaUnavailable(SourceUnavailable):
    """The shared agency quota (Redis) cannot be checked, so the agency is not called (fail closed)."""

    code = "quota_unavailable"
    title = "An agency's shared quota cannot be checked"


class RecordMismatch(SourceProtocolError):
    """The agency answered with a record about someone else: it names another identity number, or what it
    says contradicts what the asked number itself encodes (GB 11643 birth date and sex)."""

    code = "record_mismatch"
    title = "An agency answered with another person's record"


class NotReady(HeduiError):
    """``/readyz``: a configured source is unreachable (and not marked optional), or none is configured."""

    status = 503
    code = "not_ready"
    title = "Not ready"


class EdgeRefused(SourceProtocolError):
    """An agency's edge node refused the hub's query (``edge_code`` is its problem code): a configuration
    mismatch between hub and edge (keys, purposes), not a passing failure, so it is not retried."""

    code = "edge_refused"
    title = "An agency's edge node refused the query"


class StoreUnavailable(HeduiError):
    status = 503
    code = "store_unavailable"
    title = "The hub's database is unavailable"


class ConfigurationError(HeduiError):
    """Settings, keys or contracts are missing or invalid; raised at start-up, never per request."""

    code = "configuration_error"
    title = "Configuration error"


class AtRestDecryptionFailed(HeduiError):
    code = "stored_record_unreadable"
    title = "A stored record could not be decrypted"


class RoleNotAllowed(Forbidden):
    code = "role_not_allowed"
    title = "This member's role may not use this endpoint"


class UnsupportedMediaType(HeduiError):
    status = 415
    code = "unsupported_media_type"
    title = "Requests carry a JOSE envelope (Content-Type: application/jose)"


class PayloadTooLarge(HeduiError):
    """A request body over its endpoint's limit, refused while it streams in (never read whole first)."""

    status = 413
    code = "payload_too_large"
    title = "The request body is too large"


class HeadersTooLarge(HeduiError):
    """RFC 6585 §5: too many request header fields, or one or all of them too large."""

    status = 431
    code = "request_headers_too_large"
    title = "The request header fields are too large"


class UriTooLong(HeduiError):
    """RFC 9110 §15.5.15: the request target is longer than the hub reads."""

    status = 414
    code = "uri_too_long"
    title = "The request target is too long"


class RemoteProblem(HeduiError):
    """A problem response from a remote hub whose ``code`` this version does not know, or an answer that is
    not what the protocol says (not JSON, a missing field, an unexpected status)."""

    code = "remote_problem"
    title = "The hub answered with a problem"


class RequestBodyLost(HeduiError):
    """The HTTP server in front of the hub dropped the body of a request that offered a protocol upgrade
    (``Upgrade: h2c``, as Java's HttpClient sends): run the hub with ``hedui serve`` or ``uvicorn --http h11``.
    """

    status = 400
    code = "request_body_lost"
    title = "The hub's HTTP server dropped the body of this upgrade request; resend it without Upgrade"


class HubUnavailable(HeduiError):
    """(Client side) the hub could not be reached or did not answer: connection refused or reset, a timeout,
    a TLS failure, or a gateway in front of it answering 502/503/504 without a problem document."""

    status = 503
    code = "hub_unavailable"
    title = "The hub cannot be reached"


def error_class_for(code: str) -> type[HeduiError]:
    """The class of an RFC 9457 problem ``code``, :class:`RemoteProblem` for a code this version does not
    know (clients raise what the hub raised).

    Each code is declared (``code = ...`` in its own body) by exactly one class; a subclass that declares
    none, such as :class:`UnknownMember`, is the same problem to the outside and arrives as that class.
    Token endpoint errors are RFC 6749 codes, a namespace of their own: :func:`token_error_class_for`.
    """
    return _declared_codes(token_errors=False).get(code, RemoteProblem)


def token_error_class_for(error: str) -> type[HeduiError]:
    """The class of an RFC 6749 §5.2 ``error`` of the token endpoint, :class:`RemoteProblem` if unknown."""
    return _declared_codes(token_errors=True).get(error, RemoteProblem)


def declaring_classes() -> list[type[HeduiError]]:
    """Every class of the tree that declares its own code (loaded modules only), base classes first."""
    found, pending = [], [HeduiError]
    while pending:
        cls = pending.pop(0)
        if "code" in vars(cls):
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def _declared_codes(*, token_errors: bool) -> dict[str, type[HeduiError]]:
    return {cls.code: cls for cls in declaring_classes() if issubclass(cls, TokenRequestError) is token_errors}


# -- consent (docs/architecture.md §8) -------------------------------------------------------------------------------


class ConsentMissing(Forbidden):
    """A household member has no usable consent for this purpose, these categories and this requester.

    The problem's ``members`` extension lists the failing household positions and each one's reason
    (``[{"index": 1, "reason": "consent_revoked"}]``), never identity numbers. The two subclasses name the
    one reason when every failing member shares it; mixed reasons are reported as this class.
    """

    code = "consent_missing"
    title = "A household member has not consented to this check"


class ConsentRevoked(ConsentMissing):
    code = "consent_revoked"
    title = "A household member's consent has been revoked"


class ConsentExpired(ConsentMissing):
    code = "consent_expired"
    title = "A household member's consent has expired"


class ConsentAlreadyRegistered(Conflict):
    """The same signed form (evidence digest) is already registered for this person."""

    code = "consent_already_registered"
    title = "This consent is already registered"


class ConsentAlreadyRevoked(Conflict):
    code = "consent_already_revoked"
    title = "This consent has already been revoked"


class ConsentImportInvalid(InvalidInput):
    """A consent CSV file has errors; ``errors`` lists ``{"row", "field", "msg"}`` without any cell values."""

    code = "consent_import_invalid"
    title = "The consent file has errors; nothing was imported"


class ReceiptInvalid(HeduiError):
    """A consent receipt is malformed, not of the receipt type, or not signed by a key of the hub."""

    status = 400
    code = "receipt_invalid"
    title = "The consent receipt does not verify"


# -- registry (issue 7) --------------------------------------------------------------------------------


class EnrollmentNotOwned(Forbidden):
    """Only the local MIS that reported an enrollment may end it."""

    code = "enrollment_not_owned"
    title = "This enrollment was reported by another member"


class RegionNotCovered(Forbidden):
    """A member acted on a region outside its own GB/T 2260 division."""

    code = "region_not_covered"
    title = "The region lies outside the member's region"


# -- the audit log (docs/architecture.md §9) -------------------------------------------------------------------------


class AuditUnavailable(StoreUnavailable):
    """An audit entry could not be committed; whatever it was to record must not happen."""

    code = "audit_unavailable"
    title = "The audit log cannot record this access now"


class AuditEntryInvalid(InvalidInput):
    """An audit entry does not fit its type's schema (the offending values are never echoed)."""

    code = "audit_entry_invalid"
    title = "The audit entry is not valid"


class PersonalDataInAuditEntry(AuditEntryInvalid):
    """An audit entry carries what looks like raw personal data, such as a resident identity number."""

    code = "personal_data_in_audit_entry"
    title = "Audit entries may not carry raw personal data"


class ProofInvalid(HeduiError):
    """A Merkle inclusion or consistency proof does not verify (RFC 9162 §2.1.3.2, §2.1.4.2)."""

    status = 422
    code = "proof_invalid"
    title = "The Merkle proof does not verify"


class CheckpointInvalid(HeduiError):
    """A signed note or checkpoint is malformed, or not signed by the expected key (c2sp.org/signed-note)."""

    status = 422
    code = "checkpoint_invalid"
    title = "The checkpoint is malformed or its signature does not verify"


class AuditLogCorrupt(HeduiError):
    """The stored log does not match its own hashes or signed checkpoints: rows were edited, moved or
    deleted. ``leaf_index`` names the first bad entry where one can be named."""

    code = "audit_log_corrupt"
    title = "The audit log fails verification"


# -- means-test policies (issue 7) ---------------------------------------------------------------------


class PolicyNotFound(NotFound):
    """No policy of contracts/policies covers this region and programme on the reference date."""

    code = "policy_not_found"
    title = "No means-test policy is in effect for this region and programme"


# -- batches (bulk re-verification) --------------------------------------------------------------------


class QueueUnavailable(StoreUnavailable):
    code = "queue_unavailable"
    title = "The batch work queue is unavailable"


class BatchItemsInvalid(InvalidInput):
    """Items of a batch fail validation; ``items`` lists ``{index, code}`` (never a value of the item)."""

    code = "batch_items_invalid"
    title = "Items of the batch are not valid"


class BatchTooLarge(InvalidInput):
    code = "batch_too_large"
    title = "Too many items in one call"


class BatchExists(Conflict):
    code = "batch_exists"
    title = "This member already has a batch with this batch_ref"


class BatchNotOpen(Conflict):
    """Items added to, or a close of, a batch that is closed or cancelled."""

    code = "batch_not_open"
    title = "The batch no longer takes items"


class CallbackUrlNotAllowed(InvalidInput):
    """A batch asked for a completion callback the member has no registered URL for, or to a URL outside the
    member's registered origin; or a callback URL that is not an allowed https (loopback http) URL."""

    code = "callback_url_not_allowed"
    title = "The callback URL is not the member's registered one"


# -- auditor console, misuse detection, printable reports (issue 15) ---------------------------------------


class ConsoleSignInRequired(HeduiError):
    status = 401
    code = "console_sign_in_required"
    title = "Sign in to the console first"


class ConsoleSignInFailed(HeduiError):
    """Wrong user name or password (one answer for both, so names cannot be probed)."""

    status = 401
    code = "console_sign_in_failed"
    title = "Wrong user name or password"


class ConsoleOidcFailed(HeduiError):
    """Sign-in through the identity provider did not complete: the provider refused or could not be reached,
    its answer did not validate (state, ID token), or no console account is linked to the identity."""

    status = 401
    code = "console_oidc_failed"
    title = "Sign-in through the identity provider failed"


class ConsoleLockedOut(Forbidden):
    """Too many failed sign-ins: the account is locked for a while (the lock is audited)."""

    code = "console_locked_out"
    title = "The account is locked after repeated failed sign-ins"


class CsrfInvalid(Forbidden):
    """A console form was posted without the session's CSRF token (or with another)."""

    code = "csrf_invalid"
    title = "The form's CSRF token is missing or wrong"


class MisuseRulesInvalid(ConfigurationError):
    """contracts/misuse-rules.yaml does not fit its schema."""

    code = "misuse_rules_invalid"
    title = "The misuse detection rules are not valid"


class ReportSealInvalid(HeduiError):
    """A printed report's QR code (compact JWS by the hub) does not verify, or the report's digest differs."""

    status = 422
    code = "report_seal_invalid"
    title = "The report's QR seal does not verify"
