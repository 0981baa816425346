"""The callback URL a member may register for its batches' completion notifications (docs/batch.md
"Completion callback"), and its origin, which a batch's own ``callback_url`` must share."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from gateway.errors import CallbackUrlNotAllowed
from gateway.outbound_urls import secure_or_loopback

MAX_URL_CHARS = 2048
_URL_CHARS = re.compile(r"[\x21-\x7e]{1,2048}")
_DIGIT_RUN = re.compile(r"[0-9]{15}")
_DEFAULT_PORTS = {"https": 443, "http": 80}


def checked_callback_url(value: Any) -> str:
    """A callback URL as registered: https, or http to a loopback host only (the sandbox and tests; nothing
    leaves the machine); ASCII, at most 2048 characters; no user info (credentials do not belong in a URL),
    query or fragment (the notification is signed, so the URL needs no secret; it goes into audit entries);
    no run of 15 digits (an identity number is never part of one). :class:`CallbackUrlNotAllowed` if not."""
    if not isinstance(value, str) or not _URL_CHARS.fullmatch(value):
        raise CallbackUrlNotAllowed(f"a callback URL is 1-{MAX_URL_CHARS} printable ASCII characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise CallbackUrlNotAllowed("the callback URL cannot be parsed") from exc
    host = parts.hostname
    if parts.scheme not in _DEFAULT_PORTS or not host:
        raise CallbackUrlNotAllowed("a callback URL is an absolute https URL")
    if not secure_or_loopback(parts.scheme, host):
        raise CallbackUrlNotAllowed("a callback URL is https (http only to a loopback host)")
    if "@" in parts.netloc or parts.query or parts.fragment or "?" in value or "#" in value:
        raise CallbackUrlNotAllowed("a callback URL has no user info, query or fragment")
    if port == 0:
        raise CallbackUrlNotAllowed("the callback URL's port is not valid")
    if _DIGIT_RUN.search(value):
        raise CallbackUrlNotAllowed("a callback URL may not hold a run of 15 or more digits")
    return value


def callback_origin(url: str) -> tuple[str, str, int]:
    """The RFC 6454 §4 origin of a checked URL: scheme, lower-case host, port (the scheme's default if none)."""
    parts = urlsplit(url)
    return parts.scheme.lower(), str(parts.hostname).lower(), parts.port or _DEFAULT_PORTS[parts.scheme.lower()]
