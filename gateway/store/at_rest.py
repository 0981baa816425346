"""At-rest encryption of stored reports: AES-256-GCM (NIST SP 800-38D) under the hub's storage key.

Reports hold personal data (names, composition, incomes); the database only ever sees ciphertext. The row's
id is the associated data, so a ciphertext copied onto another row fails to open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.errors import AtRestDecryptionFailed

_NONCE_BYTES = 12  # SP 800-38D §8.2: 96-bit random nonces; far below 2^32 messages per key here


def seal_at_rest(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def open_at_rest(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated_data)
    except (InvalidTag, ValueError) as exc:
        raise AtRestDecryptionFailed("wrong key, or the record was altered") from exc
