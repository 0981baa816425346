"""The rule for URLs the hub sends to: https anywhere, plain http only to a loopback host."""

from __future__ import annotations

import pytest

from gateway.outbound_urls import is_loopback, secure_or_loopback


@pytest.mark.parametrize(
    ("scheme", "host", "allowed"),
    [
        ("https", "mis.example.gov.cn", True),
        ("http", "127.0.0.1", True),
        ("http", "127.8.9.10", True),
        ("http", "::1", True),
        ("http", "LocalHost", True),
        ("http", "mis.example.gov.cn", False),
        ("http", "10.0.0.1", False),
        ("http", "localhost.evil.example", False),
        ("ftp", "127.0.0.1", False),
        ("https", None, False),
        ("https", "", False),
    ],
)
def test_https_anywhere_http_only_to_loopback(scheme: str, host: str | None, allowed: bool) -> None:
    assert secure_or_loopback(scheme, host) is allowed


def test_names_are_not_resolved() -> None:
    assert not is_loopback("loopback.example")  # only the literal name localhost counts
