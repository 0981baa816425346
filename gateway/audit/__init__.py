"""The tamper-evident audit log (docs/architecture.md §9): an RFC 9162 Merkle tree over RFC 8785 entries, signed
c2sp.org/tlog-checkpoint checkpoints, inclusion and consistency proofs, search and subject access reports."""

from gateway.audit.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint, parse_verifier_key
from gateway.audit.entries import (
    ENTRY_TYPES,
    AuditEntry,
    AuditQuery,
    AuditViewed,
    BatchChanged,
    ConsentGranted,
    ConsentRevoked,
    EdgeQueried,
    KeyRotated,
    MemberChanged,
    RegistryEnrollment,
    SourceQueried,
    VerificationAbandoned,
    VerificationCompleted,
    VerificationRejected,
    VerificationRequested,
    canonical_entry,
    parse_entry,
    subject_ref,
)
from gateway.audit.integrity import IntegrityReport, verify_log
from gateway.audit.keys import LOG_KEY_FILE, LogKey, init_log_key, log_origin
from gateway.audit.log import AlongsideWriter, AuditLog, LoggedEntry, StoredCheckpoint, SubjectAccessReport, Viewer
from gateway.audit.proofs import ConsistencyProof, InclusionProof

__all__ = [
    "ENTRY_TYPES",
    "LOG_KEY_FILE",
    "AlongsideWriter",
    "AuditEntry",
    "AuditLog",
    "AuditQuery",
    "AuditViewed",
    "BatchChanged",
    "Checkpoint",
    "ConsentGranted",
    "ConsentRevoked",
    "ConsistencyProof",
    "EdgeQueried",
    "InclusionProof",
    "IntegrityReport",
    "KeyRotated",
    "LogKey",
    "LoggedEntry",
    "MemberChanged",
    "RegistryEnrollment",
    "SignedCheckpoint",
    "SourceQueried",
    "StoredCheckpoint",
    "SubjectAccessReport",
    "VerificationAbandoned",
    "VerificationCompleted",
    "VerificationRejected",
    "VerificationRequested",
    "Viewer",
    "canonical_entry",
    "init_log_key",
    "log_origin",
    "open_checkpoint",
    "parse_entry",
    "parse_verifier_key",
    "subject_ref",
    "verify_log",
]
