"""Which callback URLs a member may register, and their origins."""

from __future__ import annotations

import pytest

from gateway.errors import CallbackUrlNotAllowed
from gateway.members.callback_url import callback_origin, checked_callback_url


@pytest.mark.parametrize(
    "url",
    [
        "https://mis.example.org/hedui/batches",
        "https://mis.example.org:8443/",
        "http://127.0.0.1:8080/hook",  # loopback: the sandbox and tests
        "http://localhost/hook",
        "http://[::1]:9000/hook",
    ],
)
def test_allowed(url: str) -> None:
    assert checked_callback_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://mis.example.org/hook",  # plain http off the machine
        "http://10.0.0.8/hook",
        "ftp://mis.example.org/hook",
        "https:///hook",
        "//mis.example.org/hook",
        "https://user:secret@mis.example.org/hook",
        "https://mis.example.org/hook?token=x",
        "https://mis.example.org/hook#part",
        "https://mis.example.org:0/hook",
        "https://mis.example.org:99999/hook",
        "https://mis.example.org/hook/110105194912310021",  # an identity number has no place in a URL
        "https://mis.example.org/ho ok",
        "https://例子.中国/hook",  # not ASCII: register the A-label
        "https://mis.example.org/" + "a" * 2048,
        "",
        None,
        42,
    ],
)
def test_refused(url: object) -> None:
    with pytest.raises(CallbackUrlNotAllowed):
        checked_callback_url(url)


def test_origin_is_scheme_host_and_effective_port() -> None:
    assert callback_origin("https://MIS.example.org/a") == ("https", "mis.example.org", 443)
    assert callback_origin("https://mis.example.org:443/b") == callback_origin("https://mis.example.org/c")
    assert callback_origin("http://127.0.0.1:8080/") != callback_origin("http://127.0.0.1:8081/")
    assert callback_origin("http://localhost:80/") == ("http", "localhost", 80)
