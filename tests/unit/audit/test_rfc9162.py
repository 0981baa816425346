"""RFC 9162 tree math: every transparency-dev vector (happy paths and every mutation that must fail), and the
node-based proof generation against a literal transcription of the RFC's recursive definitions."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.audit.rfc9162 import (
    EMPTY_ROOT,
    Node,
    append_leaves,
    consistency_plan,
    fold,
    inclusion_plan,
    is_subtree,
    leaf_hash,
    node_hash,
    root_hash,
    subtree_nodes,
    verify_consistency,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)
from gateway.errors import ProofInvalid

TESTDATA = Path(__file__).resolve().parents[2] / "vectors" / "transparency-dev-merkle" / "testdata"
# The leaves of the RFC 6962 test tree the vectors are built on (transparency-dev/merkle's testonly data).
LEAVES = [
    bytes.fromhex(value)
    for value in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]


KINDS = ("inclusion", "consistency", "subtreeinclusion", "subtreeconsistency")


def _vectors(kind: str) -> list[Any]:
    paths = sorted((TESTDATA / kind).rglob("*.json"))
    assert paths, f"no {kind} vectors"
    return [
        pytest.param(json.loads(path.read_text(encoding="utf-8")), id=str(path.relative_to(TESTDATA))) for path in paths
    ]


def _bytes(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _proof(values: list[str] | None) -> list[bytes]:
    return [_bytes(value) for value in values or []]


def _expect(want_error: bool, check: Any) -> None:
    if want_error:
        with pytest.raises(ProofInvalid):
            check()
    else:
        check()


# -- the shared vectors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", _vectors("inclusion"))
def test_inclusion_vector(vector: dict[str, Any]) -> None:
    _expect(
        vector["wantErr"],
        lambda: verify_inclusion(
            vector["leafIdx"],
            vector["treeSize"],
            _bytes(vector["leafHash"]),
            _proof(vector["proof"]),
            _bytes(vector["root"]),
        ),
    )


@pytest.mark.parametrize("vector", _vectors("consistency"))
def test_consistency_vector(vector: dict[str, Any]) -> None:
    _expect(
        vector["wantErr"],
        lambda: verify_consistency(
            vector["size1"], vector["size2"], _bytes(vector["root1"]), _bytes(vector["root2"]), _proof(vector["proof"])
        ),
    )


@pytest.mark.parametrize("vector", _vectors("subtreeinclusion"))
def test_subtree_inclusion_vector(vector: dict[str, Any]) -> None:
    _expect(
        vector["wantErr"],
        lambda: verify_subtree_inclusion(
            vector["leafIdx"],
            vector["start"],
            vector["end"],
            _bytes(vector["leafHash"]),
            _proof(vector["proof"]),
            _bytes(vector["root"]),
        ),
    )


@pytest.mark.parametrize("vector", _vectors("subtreeconsistency"))
def test_subtree_consistency_vector(vector: dict[str, Any]) -> None:
    _expect(
        vector["wantErr"],
        lambda: verify_subtree_consistency(
            vector["start"],
            vector["end"],
            vector["size"],
            _bytes(vector["root1"]),
            _bytes(vector["root2"]),
            _proof(vector["proof"]),
        ),
    )


def test_the_vector_set_is_complete() -> None:
    # Guards against a partial copy: the counts of the shared set (SOURCE.txt's commit).
    counts = {kind: len(list((TESTDATA / kind).rglob("*.json"))) for kind in KINDS}
    assert counts == {"inclusion": 98, "consistency": 98, "subtreeinclusion": 204, "subtreeconsistency": 118}


@pytest.mark.parametrize("kind", ["inclusion", "consistency"])
def test_generated_proofs_equal_every_happy_path_vector(kind: str) -> None:
    hashes = [leaf_hash(leaf) for leaf in LEAVES]
    stored = dict(append_leaves((), hashes)[0])
    happy = [json.loads(path.read_text()) for path in (TESTDATA / kind).glob("*/happy-path.json")]
    assert len(happy) >= 4
    for vector in happy:
        if kind == "inclusion":
            index, size = vector["leafIdx"], vector["treeSize"]
            plan = inclusion_plan(index, size)
            assert _bytes(vector["leafHash"]) == hashes[index]
        else:
            plan = consistency_plan(vector["size1"], vector["size2"])
        assert plan.assemble(stored) == _proof(vector["proof"])


# -- against RFC 9162 §2.1 written out literally -----------------------------------------------------------


def _mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) of §2.1.1, recursively."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of §2.1.3.1."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], known: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of §2.1.4.1."""
    n = len(leaves)
    if m == n:
        return [] if known else [_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, leaves[:k], known), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


DATA = [f"entry {number}".encode() for number in range(70)]
STORED = dict(append_leaves((), [leaf_hash(entry) for entry in DATA])[0])


def test_stored_nodes_are_exactly_the_perfect_subtrees() -> None:
    n = len(DATA)
    assert len(STORED) == 2 * n - bin(n).count("1")
    for node, value in STORED.items():
        assert node.end <= n
        assert value == _mth(DATA[node.begin : node.end])


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 32, 33, 64, 70])
def test_root_and_inclusion_proofs_match_the_rfc(size: int) -> None:
    root = _mth(DATA[:size])
    assert fold([STORED[node] for node in subtree_nodes(0, size)]) == root
    assert root_hash([leaf_hash(entry) for entry in DATA[:size]]) == root
    for index in range(size):
        proof = inclusion_plan(index, size).assemble(STORED)
        assert proof == _path(index, DATA[:size])
        verify_inclusion(index, size, leaf_hash(DATA[index]), proof, root)


def test_consistency_proofs_match_the_rfc_for_every_pair() -> None:
    for second in range(1, 40):
        for first in range(1, second + 1):
            proof = consistency_plan(first, second).assemble(STORED)
            assert proof == _subproof(first, DATA[:second], True), (first, second)
            verify_consistency(first, second, _mth(DATA[:first]), _mth(DATA[:second]), proof)


def test_appending_in_batches_gives_the_same_nodes_as_all_at_once() -> None:
    frontier: list[tuple[Node, bytes]] = []
    collected: dict[Node, bytes] = {}
    for start, end in [(0, 1), (1, 2), (2, 7), (7, 8), (8, 31), (31, 70)]:
        completed, frontier = append_leaves(frontier, [leaf_hash(entry) for entry in DATA[start:end]])
        collected.update(completed)
        assert [node for node, _ in frontier] == subtree_nodes(0, end)
    assert collected == STORED


def test_a_proof_never_verifies_for_another_leaf_or_tree() -> None:
    root = _mth(DATA[:13])
    proof = inclusion_plan(5, 13).assemble(STORED)
    with pytest.raises(ProofInvalid):
        verify_inclusion(5, 13, leaf_hash(DATA[6]), proof, root)
    with pytest.raises(ProofInvalid):
        verify_inclusion(6, 13, leaf_hash(DATA[5]), proof, root)
    with pytest.raises(ProofInvalid):
        verify_inclusion(5, 14, leaf_hash(DATA[5]), proof, _mth(DATA[:14]))


def test_hashing_follows_rfc9162_domain_separation() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(b"L", b"R") == hashlib.sha256(b"\x01LR").digest()
    assert root_hash([]) == EMPTY_ROOT


def test_subtrees() -> None:
    assert is_subtree(0, 7) and is_subtree(8, 12) and is_subtree(4, 5)
    assert not is_subtree(2, 5) and not is_subtree(3, 3) and not is_subtree(5, 4)
    assert subtree_nodes(0, 13) == [Node(3, 0), Node(2, 2), Node(0, 12)]
    assert subtree_nodes(16, 22) == [Node(2, 4), Node(1, 10)]
    with pytest.raises(ValueError, match="not a subtree"):
        subtree_nodes(2, 5)


def test_plans_refuse_impossible_trees() -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_plan(3, 3)
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_plan(0, 3)
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_plan(4, 3)
