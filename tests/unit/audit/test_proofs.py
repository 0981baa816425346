"""Proof bundles round-trip through JSON and verify only when every part agrees: entry, proof, checkpoint."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit.checkpoint import Checkpoint, sign_checkpoint, verifier_key
from gateway.audit.proofs import ConsistencyProof, InclusionProof
from gateway.audit.rfc9162 import append_leaves, consistency_plan, fold, inclusion_plan, leaf_hash, subtree_nodes
from gateway.errors import CheckpointInvalid, ProofInvalid

ORIGIN = "CN/GOV/11100000MB0348916Y/hub/audit"
KEY = Ed25519PrivateKey.generate()
VKEY = verifier_key(ORIGIN, KEY.public_key())
ENTRIES = [f'{{"n":{number}}}'.encode() for number in range(11)]
NODES = dict(append_leaves((), [leaf_hash(entry) for entry in ENTRIES])[0])


def root(size: int) -> bytes:
    return fold([NODES[node] for node in subtree_nodes(0, size)])


def bundle(index: int = 6, size: int = 11) -> InclusionProof:
    return InclusionProof(
        leaf_index=index,
        tree_size=size,
        leaf_hash=leaf_hash(ENTRIES[index]),
        proof=tuple(inclusion_plan(index, size).assemble(NODES)),
        root_hash=root(size),
        entry=ENTRIES[index],
        checkpoint=sign_checkpoint(Checkpoint(ORIGIN, size, root(size)), KEY, timestamp=1_780_000_000),
    )


def test_an_inclusion_bundle_survives_json_and_verifies() -> None:
    document = bundle().to_json()
    assert document["entry"] == '{"n":6}'

    InclusionProof.from_json(document).verify(VKEY)


@pytest.mark.parametrize(
    "change",
    [
        {"entry": '{"n":7}'},
        {"leaf_index": 7},
        {"tree_size": 10},
        {"root_hash": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
        {"checkpoint": None},
    ],
)
def test_a_bundle_with_any_part_changed_fails(change: dict[str, Any]) -> None:
    document = {**bundle().to_json(), **change}
    if document["checkpoint"] is None:
        del document["checkpoint"]
    with pytest.raises(ProofInvalid):
        InclusionProof.from_json(document).verify(VKEY)


def test_a_bundle_against_another_logs_key_fails() -> None:
    with pytest.raises(CheckpointInvalid):
        bundle().verify(verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key()))


def test_malformed_bundles_are_proof_errors() -> None:
    for document in [{}, {**bundle().to_json(), "proof": ["not base64!"]}, {**bundle().to_json(), "tree_size": "x"}]:
        with pytest.raises(ProofInvalid):
            InclusionProof.from_json(document)


def test_a_consistency_bundle_verifies_and_a_wrong_root_does_not() -> None:
    proof = tuple(consistency_plan(5, 11).assemble(NODES))
    good = ConsistencyProof(5, 11, root(5), root(11), proof)
    good.verify()
    assert good.to_json()["first_size"] == 5
    with pytest.raises(ProofInvalid):
        ConsistencyProof(5, 11, root(6), root(11), proof).verify()
