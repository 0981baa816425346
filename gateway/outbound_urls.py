"""The one rule for URLs the hub itself sends requests to (a member's batch callback, the console's OpenID
Connect provider): https, or plain http to a loopback host only, for the sandbox and tests, where nothing
leaves the machine."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); a name is never resolved here."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_or_loopback(scheme: str, host: str | None) -> bool:
    """Whether a URL of ``scheme`` to ``host`` may be sent to: https to any host, http to a loopback one."""
    if not host:
        return False
    return scheme == "https" or (scheme == "http" and is_loopback(host))
