"""Proof bundles: what the hub hands out so that a third party can check an entry or the log's growth offline,
with nothing but the log's verifier key.

An inclusion bundle holds the entry's canonical bytes, its leaf hash, the RFC 9162 inclusion proof and the
signed checkpoint of the tree it is proved against; a consistency bundle holds two tree heads and the proof
between them. The JSON form uses base64 for hashes, as checkpoints do.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.audit.checkpoint import open_checkpoint
from gateway.audit.rfc9162 import leaf_hash, verify_consistency, verify_inclusion
from gateway.errors import ProofInvalid


@dataclass(frozen=True, slots=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    root_hash: bytes
    entry: bytes | None = None  # the canonical entry, when the bundle is for someone entitled to read it
    checkpoint: str | None = None  # the signed note of the tree of ``tree_size``, when there is one

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "leaf_hash": _b64(self.leaf_hash),
            "proof": [_b64(value) for value in self.proof],
            "root_hash": _b64(self.root_hash),
        }
        if self.entry is not None:
            document["entry"] = self.entry.decode("utf-8")
        if self.checkpoint is not None:
            document["checkpoint"] = self.checkpoint
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> InclusionProof:
        try:
            entry = document.get("entry")
            return cls(
                leaf_index=int(document["leaf_index"]),
                tree_size=int(document["tree_size"]),
                leaf_hash=_unb64(document["leaf_hash"]),
                proof=tuple(_unb64(value) for value in document["proof"]),
                root_hash=_unb64(document["root_hash"]),
                entry=None if entry is None else str(entry).encode("utf-8"),
                checkpoint=document.get("checkpoint"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProofInvalid("not an inclusion proof bundle") from exc

    def verify(self, vkey: str) -> None:
        """Check the whole bundle: the checkpoint's signatures and tree, the entry's leaf hash and the proof."""
        if self.checkpoint is None:
            raise ProofInvalid("the bundle carries no signed checkpoint to check the root hash against")
        head = open_checkpoint(self.checkpoint, vkey).checkpoint
        if (head.size, head.root_hash) != (self.tree_size, self.root_hash):
            raise ProofInvalid("the bundle's tree is not the checkpoint's tree")
        if self.entry is not None and leaf_hash(self.entry) != self.leaf_hash:
            raise ProofInvalid("the entry does not hash to the bundle's leaf hash")
        verify_inclusion(self.leaf_index, self.tree_size, self.leaf_hash, self.proof, self.root_hash)


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    first_size: int
    second_size: int
    first_root: bytes
    second_root: bytes
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "first_size": self.first_size,
            "second_size": self.second_size,
            "first_root": _b64(self.first_root),
            "second_root": _b64(self.second_root),
            "proof": [_b64(value) for value in self.proof],
        }

    def verify(self) -> None:
        verify_consistency(self.first_size, self.second_size, self.first_root, self.second_root, self.proof)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _unb64(value: Any) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64") from exc
