"""Consent records (docs/architecture.md §8): registration with signed receipts, revocation, search and the consent
check that the verification flow runs before any agency is asked. See docs/consent.md."""

from gateway.consent.coverage import Grant, covering_consents
from gateway.consent.csv_import import import_consents, parse_consent_csv
from gateway.consent.receipt import RECEIPT_TYPE, receipt_claims, sign_receipt, verify_receipt
from gateway.consent.rules import ConsentTerms, check_terms
from gateway.consent.schema import (
    ConsentBatch,
    ConsentList,
    ConsentRegistration,
    ConsentView,
    RevokeRequest,
    SearchRequest,
    parse_body,
)
from gateway.consent.service import ConsentService, grantees_of
from gateway.ids.subject import subject_ref

__all__ = [
    "RECEIPT_TYPE",
    "ConsentBatch",
    "ConsentList",
    "ConsentRegistration",
    "ConsentService",
    "ConsentTerms",
    "ConsentView",
    "Grant",
    "RevokeRequest",
    "SearchRequest",
    "check_terms",
    "covering_consents",
    "grantees_of",
    "import_consents",
    "parse_body",
    "parse_consent_csv",
    "receipt_claims",
    "sign_receipt",
    "subject_ref",
    "verify_receipt",
]
