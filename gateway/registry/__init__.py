"""National beneficiary registry (docs/architecture.md §2): enrollments and the duplicate-assistance
check (重复救助)."""

from gateway.registry.bodies import (
    EnrollmentCreate,
    EnrollmentEnd,
    EnrollmentList,
    EnrollmentSearch,
    EnrollmentView,
    parse_body,
)
from gateway.registry.duplicates import (
    DEFAULT_FORBIDDEN_OVERLAPS,
    DUPLICATE_FLAG,
    PROGRAMMES,
    DuplicateFinding,
    Programme,
    programme_for_purpose,
)
from gateway.registry.service import RegistryService

__all__ = [
    "DEFAULT_FORBIDDEN_OVERLAPS",
    "DUPLICATE_FLAG",
    "PROGRAMMES",
    "DuplicateFinding",
    "EnrollmentCreate",
    "EnrollmentEnd",
    "EnrollmentList",
    "EnrollmentSearch",
    "EnrollmentView",
    "Programme",
    "RegistryService",
    "parse_body",
    "programme_for_purpose",
]
