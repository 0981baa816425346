"""Crypto: what the envelope costs per request, against the raw operations it is made of.

One verification seals and opens two envelopes: the member seals the request, the hub opens it, the hub
seals the report, the member opens it. Each ``seal`` is an Ed25519 signature (RFC 8037) inside an
ECDH-ES+A256KW / A256GCM JWE (RFC 7518 §4.6, §5.3): an ephemeral X25519 key pair, one key agreement, the
Concat KDF (RFC 7518 §4.6.2, NIST SP 800-56A), an AES key wrap (RFC 3394) and AES-256-GCM. ``open`` is the
agreement, KDF, unwrap, GCM decryption and signature verification. The raw rows time exactly those
operations in ``cryptography`` on payloads of the same size; the difference is JOSE framing (JSON,
base64url, joserfc's object model) and the envelope's checks.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from bench._population import bench_households, request_body
from bench.harness import Column, print_table, ratio
from gateway.envelope import (
    StaticKeyResolver,
    generate_member_jwks,
    load_jwks,
    open_envelope,
    private_signing_key,
    public_encryption_key,
    seal,
)
from gateway.settings import DEFAULT_HUB_ID

NAME = "crypto"
DESCRIPTION = "envelope seal/open per request vs raw Ed25519, X25519, Concat KDF, AES-KW, AES-GCM"
_MEMBER_ID = "CN/GOV/11110101MB12345677/dibao-mis"
_BATCH_S = 0.02  # one timed batch; the median of the batches is reported


def per_operation_us(operation: Callable[[], object], budget_s: float) -> float:
    """Median microseconds per call of ``operation`` over batches of about 20 ms filling ``budget_s``."""
    calls = 1
    while True:  # calibrate: how many calls make one batch
        started = time.perf_counter()
        for _ in range(calls):
            operation()
        if (elapsed := time.perf_counter() - started) >= _BATCH_S:
            break
        calls *= 2
    samples = [elapsed / calls]
    deadline = time.perf_counter() + budget_s
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        for _ in range(calls):
            operation()
        samples.append((time.perf_counter() - started) / calls)
    return statistics.median(samples) * 1e6


def _report_body(request: dict[str, Any]) -> dict[str, Any]:
    """A report with the shape and about the size of a real one (docs/architecture.md §6) for this request."""
    indicators = [
        "household_size", "monthly_income_total", "monthly_income_per_capita", "financial_assets_total",
        "financial_assets_per_capita", "residential_properties", "residential_area_per_capita",
        "commercial_properties", "vehicles_count", "vehicles_value", "registered_businesses",
        "registered_capital_total", "deceased_members", "existing_enrollments", "medical_expenses_12m",
        "disabled_members", "hukou_count", "provident_fund_total",
    ]  # fmt: skip
    members = [
        {"index": i, "name": m["name"], "relation": m["relation"], "registered": True, "sex": "F",
         "hukou_id": f"110101{i:012d}", "hukou_region": "110101", "register_relation": m["relation"],
         "birth_date": "1980-01-01", "deceased": False, "marital_status": "married", "disability_grade": None}
        for i, m in enumerate(request["household"])
    ]  # fmt: skip
    sources = [
        {"adapter": name, "category": name, "status": "ok", "latency_ms": 3,
         "provenance": {"agency": name, "as_of": "2026-11-22", "record_ids": [f"{name}-{n:08d}" for n in range(4)]}}
        for name in ("hukou", "civil_affairs", "tax", "housing", "banking")
    ]  # fmt: skip
    return {
        "verification_id": "7d1f0a52-5a43-4f0e-9a55-3f3b0c8f9a10",
        "case_id": request["case_id"],
        "purpose": request["purpose"],
        "region": request["region"],
        "status": "complete",
        "household": {"members": members},
        "indicators": {name: 1234.56 for name in indicators},
        "sources": sources,
        "decision": {"recommendation": "review", "rules": []},
        "flags": [],
        "issued_at": "2026-11-22T08:00:00Z",
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    budget_s = min(max(args.duration / 8, 0.1), 1.0)
    household = bench_households(args.households, date.today())[0]
    request = request_body(household, 0)
    report = _report_body(request)
    member_private, member_public = generate_member_jwks()
    hub_private, hub_public = generate_member_jwks()
    member_keys, hub_keys = load_jwks(member_private), load_jwks(hub_private)
    member_signing, hub_signing = private_signing_key(member_keys), private_signing_key(hub_keys)
    to_hub, to_member = public_encryption_key(hub_public), public_encryption_key(member_public)
    hub_sees = StaticKeyResolver({_MEMBER_ID: member_public})
    member_sees = StaticKeyResolver({DEFAULT_HUB_ID: hub_public})
    sealed_request = seal(
        request, issuer=_MEMBER_ID, audience=DEFAULT_HUB_ID, signing_key=member_signing, recipient_key=to_hub
    )
    sealed_report = seal(
        report,
        issuer=DEFAULT_HUB_ID,
        audience=_MEMBER_ID,
        signing_key=hub_signing,
        recipient_key=to_member,
        request_jws=sealed_request.jws,
    )

    def opened(token: str, keys: Any, resolver: StaticKeyResolver, audience: str) -> Callable[[], object]:
        # replay=None: the single-use check is a database write, timed in the overhead benchmark, not here.
        def open_once() -> object:
            coroutine = open_envelope(token, decryption_keys=keys, resolver=resolver, audience=audience, replay=None)
            # open_envelope never suspends with these in-memory resolvers: drive the coroutine to its end.
            try:
                coroutine.send(None)
            except StopIteration as finished:
                return finished.value
            raise RuntimeError("open_envelope suspended")

        return open_once

    def sealed(
        body: dict[str, Any], issuer: str, audience: str, key: Any, to: Any, **extra: Any
    ) -> Callable[[], object]:
        return lambda: seal(body, issuer=issuer, audience=audience, signing_key=key, recipient_key=to, **extra)

    request_size, report_size = len(sealed_request.jws), len(sealed_report.jws)
    envelope_rows = [
        ("seal request (member)", request_size, sealed(request, _MEMBER_ID, DEFAULT_HUB_ID, member_signing, to_hub)),
        ("open request (hub)", request_size, opened(sealed_request.token, hub_keys, hub_sees, DEFAULT_HUB_ID)),
        (
            "seal report (hub)",
            report_size,
            sealed(report, DEFAULT_HUB_ID, _MEMBER_ID, hub_signing, to_member, request_jws=sealed_request.jws),
        ),
        ("open report (member)", report_size, opened(sealed_report.token, member_keys, member_sees, _MEMBER_ID)),
    ]
    rows: list[dict[str, Any]] = []
    envelope_us: dict[str, float] = {}
    for label, size, operation in envelope_rows:
        envelope_us[label] = per_operation_us(operation, budget_s)
        rows.append({"kind": "envelope", "operation": label, "bytes": size, "us": envelope_us[label]})

    raw = _raw_operations(request_size, report_size, budget_s)
    rows += [{"kind": "raw", "operation": label, "bytes": size, "us": us} for label, size, us in raw]
    by_label = {label: us for label, _, us in raw}
    raw_seal = {size: _raw_seal_us(by_label, size) for size in ("request", "report")}
    raw_open = {size: _raw_open_us(by_label, size) for size in ("request", "report")}
    pairs = [
        ("seal request (member)", raw_seal["request"]),
        ("open request (hub)", raw_open["request"]),
        ("seal report (hub)", raw_seal["report"]),
        ("open report (member)", raw_open["report"]),
    ]
    for label, raw_us in pairs:
        rows.append(
            {"kind": "comparison", "operation": label, "us": envelope_us[label], "raw_us": raw_us,
             "overhead_x": ratio(envelope_us[label], raw_us)}
        )  # fmt: skip
    hub_us = envelope_us["open request (hub)"] + envelope_us["seal report (hub)"]
    hub_raw = raw_open["request"] + raw_seal["report"]
    total_us = sum(envelope_us.values())
    total_raw = sum(raw_us for _, raw_us in pairs)
    rows.append({"kind": "comparison", "operation": "hub's share per request", "us": hub_us, "raw_us": hub_raw,
                 "overhead_x": ratio(hub_us, hub_raw)})  # fmt: skip
    rows.append({"kind": "comparison", "operation": "whole round trip", "us": total_us, "raw_us": total_raw,
                 "overhead_x": ratio(total_us, total_raw)})  # fmt: skip
    for row in rows:
        row["per_second_one_core"] = 1e6 / row["us"]
    _print(rows)
    return rows


def _raw_operations(request_bytes: int, report_bytes: int, budget_s: float) -> list[tuple[str, int | None, float]]:
    """(label, payload bytes, microseconds) of each primitive the envelope uses, in ``cryptography``."""
    signer = Ed25519PrivateKey.generate()
    verifier = signer.public_key()
    recipient = X25519PrivateKey.generate()
    recipient_public = recipient.public_key()
    ephemeral_public = X25519PrivateKey.generate().public_key()
    kek, cek, iv = os.urandom(32), os.urandom(32), os.urandom(12)
    wrapped = aes_key_wrap(kek, cek)
    aesgcm = AESGCM(cek)
    aad = b"e" * 200  # the protected JWE header, base64url, is the additional data (RFC 7516 §5.1)
    payloads = {"request": os.urandom(request_bytes), "report": os.urandom(report_bytes)}
    signatures = {size: signer.sign(data) for size, data in payloads.items()}
    ciphertexts = {size: aesgcm.encrypt(iv, data, aad) for size, data in payloads.items()}

    def concat_kdf() -> bytes:
        # RFC 7518 §4.6.2: AlgorithmID, PartyUInfo, PartyVInfo, SuppPubInfo (key length in bits).
        other_info = b"\x00\x00\x00\x0eECDH-ES+A256KW" + b"\x00" * 8 + b"\x00\x00\x01\x00"
        return ConcatKDFHash(hashes.SHA256(), 32, other_info).derive(os.urandom(32))

    def sender_agreement() -> bytes:
        return X25519PrivateKey.generate().exchange(recipient_public)

    operations: list[tuple[str, int | None, Callable[[], object]]] = [
        ("X25519 ephemeral key + agreement (sender)", None, sender_agreement),
        ("X25519 agreement (recipient)", None, lambda: recipient.exchange(ephemeral_public)),
        ("Concat KDF SHA-256", None, concat_kdf),
        ("AES-256 key wrap", None, lambda: aes_key_wrap(kek, cek)),
        ("AES-256 key unwrap", None, lambda: aes_key_unwrap(kek, wrapped)),
        ("CEK + IV from os.urandom", None, lambda: (os.urandom(32), os.urandom(12))),
    ]

    def encrypt(data: bytes) -> bytes:
        return AESGCM(cek).encrypt(iv, data, aad)  # a fresh CEK per message, so the key setup counts

    def decrypt(ciphertext: bytes) -> bytes:
        return AESGCM(cek).decrypt(iv, ciphertext, aad)

    for kind, data in payloads.items():
        operations += [
            (f"Ed25519 sign ({kind})", len(data), partial(signer.sign, data)),
            (f"Ed25519 verify ({kind})", len(data), partial(verifier.verify, signatures[kind], data)),
            (f"AES-256-GCM encrypt ({kind})", len(data), partial(encrypt, data)),
            (f"AES-256-GCM decrypt ({kind})", len(data), partial(decrypt, ciphertexts[kind])),
        ]
    return [(label, size, per_operation_us(operation, budget_s)) for label, size, operation in operations]


def _raw_seal_us(us: dict[str, float], size: str) -> float:
    return (
        us[f"Ed25519 sign ({size})"]
        + us["X25519 ephemeral key + agreement (sender)"]
        + us["Concat KDF SHA-256"]
        + us["CEK + IV from os.urandom"]
        + us["AES-256 key wrap"]
        + us[f"AES-256-GCM encrypt ({size})"]
    )


def _raw_open_us(us: dict[str, float], size: str) -> float:
    return (
        us["X25519 agreement (recipient)"]
        + us["Concat KDF SHA-256"]
        + us["AES-256 key unwrap"]
        + us[f"AES-256-GCM decrypt ({size})"]
        + us[f"Ed25519 verify ({size})"]
    )


def _print(rows: list[dict[str, Any]]) -> None:
    columns = [
        Column("operation", "operation"),
        Column("bytes", "payload B"),
        Column("us", "us/op", ",.1f"),
        Column("per_second_one_core", "ops/s (1 core)", ",.0f"),
    ]
    print_table(
        "Crypto: the envelope (joserfc, gateway.envelope)", columns, [r for r in rows if r["kind"] == "envelope"]
    )
    print_table("Crypto: raw primitives (cryptography / OpenSSL)", columns, [r for r in rows if r["kind"] == "raw"])
    print_table(
        "Crypto: envelope vs the sum of its raw primitives",
        [
            Column("operation", "operation"),
            Column("us", "envelope us", ",.1f"),
            Column("raw_us", "raw us", ",.1f"),
            Column("overhead_x", "envelope / raw", ".1f"),
        ],
        [r for r in rows if r["kind"] == "comparison"],
    )
