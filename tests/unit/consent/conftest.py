"""Synthetic people and registrations for the consent tests (see tests/consent_kit.py)."""

from __future__ import annotations

import pytest

from tests.consent_kit import ConsentKit

__all__ = ["ConsentKit"]  # the tests import the kit's type from here


@pytest.fixture
def kit() -> ConsentKit:
    return ConsentKit()
