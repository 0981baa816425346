"""Access (docs/architecture.md §5): OAuth2 client credentials with private_key_jwt (RFC 7523), JWT access tokens
(RFC 9068), roles and scopes, and the purpose catalogue (contracts/purposes.yaml)."""

from gateway.auth.purposes import Purpose, PurposeCatalog
from gateway.auth.rfc7523 import CLIENT_ASSERTION_TYPE, ClientAssertionVerifier, client_assertion
from gateway.auth.rfc9068 import AccessTokenIssuer, AccessTokenValidator, Caller, ExternalIssuer
from gateway.auth.scopes import ROLE_SCOPES, granted_scopes

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "ROLE_SCOPES",
    "AccessTokenIssuer",
    "AccessTokenValidator",
    "Caller",
    "ClientAssertionVerifier",
    "ExternalIssuer",
    "Purpose",
    "PurposeCatalog",
    "client_assertion",
    "granted_scopes",
]
