"""Merkle tree math of RFC 9162 §2.1, as pure functions over bytes.

Leaves and interior nodes are hashed with domain separation (§2.1.1): ``SHA-256(0x00 || entry)`` and
``SHA-256(0x01 || left || right)``. A tree of size ``n`` splits at the largest power of two smaller than
``n``, so every tree is a sequence of *perfect* subtrees (complete binary trees of 2^level leaves, aligned on
a multiple of their size), largest first. A :class:`Node` names one: ``Node(level, index)`` covers leaves
``[index * 2^level, (index + 1) * 2^level)``. The log stores one hash per perfect subtree once it is complete,
so the hash of any tree, or of any proof element, is a fold of O(log n) stored hashes and is never rebuilt.

Proof generation is split into a *plan* (which leaf ranges the proof hashes cover, RFC 9162 §2.1.3.1 and
§2.1.4.1) and its assembly from the stored node hashes the plan names; the store reads those in one query.

Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2, and the subtree proofs of the Merkle Tree Certificates
draft (draft-ietf-plants-merkle-tree-certs §4.3, §4.4), of which an RFC 9162 consistency proof is the case
``start = 0``. Verifiers raise :class:`~gateway.errors.ProofInvalid`; they never return booleans.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.errors import ProofInvalid

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256() (§2.1.1)
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


@dataclass(frozen=True, slots=True, order=True)
class Node:
    """A perfect subtree: ``2**level`` leaves starting at leaf ``index * 2**level``."""

    level: int
    index: int

    @property
    def begin(self) -> int:
        return self.index << self.level

    @property
    def end(self) -> int:
        return (self.index + 1) << self.level


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d(0)}) = SHA-256(0x00 || d(0)) (§2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])) (§2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def is_subtree(start: int, end: int) -> bool:
    """Whether ``[start, end)`` is a subtree in the sense of the MTC draft §4.1: non-empty, and ``start`` a
    multiple of the smallest power of two not below ``end - start``. Every tree ``[0, n)`` is one, and so is
    every range an RFC 9162 proof hashes."""
    return 0 <= start < end and start % _bit_ceil(end - start) == 0


def subtree_nodes(start: int, end: int) -> list[Node]:
    """The perfect subtrees that make up the subtree ``[start, end)``, largest (leftmost) first: one per set
    bit of ``end - start``."""
    if not is_subtree(start, end):
        raise ValueError(f"[{start}, {end}) is not a subtree")
    nodes = []
    position = start
    for level in range((end - start).bit_length() - 1, -1, -1):
        if (end - start) >> level & 1:
            nodes.append(Node(level, position >> level))
            position += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a subtree from the hashes of its :func:`subtree_nodes`: the split of §2.1.1 always puts the
    largest perfect subtree on the left, so the hash nests to the right."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from all leaf hashes (§2.1.1), in O(n); the log itself folds stored nodes instead."""
    return fold([hashed for _, hashed in append_leaves((), leaf_hashes)[1]])


def append_leaves(
    frontier: Iterable[tuple[Node, bytes]], leaf_hashes: Iterable[bytes]
) -> tuple[list[tuple[Node, bytes]], list[tuple[Node, bytes]]]:
    """Extend a tree by leaves: ``(new complete nodes, new frontier)``.

    ``frontier`` is the tree's :func:`subtree_nodes` ``(0, size)`` with their hashes (empty for an empty
    tree). The result lists every perfect subtree completed by the new leaves, the leaves themselves
    included, in the order they complete; the new frontier describes the extended tree the same way.
    """
    stack = list(frontier)
    completed: list[tuple[Node, bytes]] = []
    size = stack[-1][0].end if stack else 0
    for hashed in leaf_hashes:
        node, value = Node(0, size), hashed
        size += 1
        completed.append((node, value))
        while stack and stack[-1][0].level == node.level:
            left_node, left_value = stack.pop()
            node, value = Node(node.level + 1, left_node.index >> 1), node_hash(left_value, value)
            completed.append((node, value))
        stack.append((node, value))
    return completed, stack


@dataclass(frozen=True, slots=True)
class ProofPlan:
    """The leaf ranges whose subtree hashes form a proof, in proof order."""

    ranges: tuple[tuple[int, int], ...]

    def nodes(self) -> set[Node]:
        """The stored node hashes the proof is assembled from."""
        return {node for start, end in self.ranges for node in subtree_nodes(start, end)}

    def assemble(self, hashes: Mapping[Node, bytes]) -> list[bytes]:
        """The proof, from the hashes of :meth:`nodes`; a missing node is a :class:`KeyError`."""
        return [fold([hashes[node] for node in subtree_nodes(start, end)]) for start, end in self.ranges]


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, as ranges ordered from the leaf up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _split(end - begin)
        if index < begin + k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin += k
    ranges.reverse()
    return ProofPlan(tuple(ranges))


def consistency_plan(first: int, second: int) -> ProofPlan:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1, for 0 < m <= n."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    ranges: list[tuple[int, int]] = []
    begin, end, known = 0, second, True
    m = first
    while m != end - begin:
        k = _split(end - begin)
        if m <= k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            m -= k
            begin += k
            known = False
    if not known:
        ranges.append((begin, end))
    ranges.reverse()
    return ProofPlan(tuple(ranges))


# -- verification ----------------------------------------------------------------------------------------


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root hash an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1-5, without the comparison)."""
    if not 0 <= index < size:
        raise ProofInvalid(f"leaf {index} is not in a tree of size {size}")
    _check_sizes([leaf, *proof])
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ProofInvalid("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofInvalid("the inclusion proof is too short")
    return result


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf`` (a leaf hash) is entry ``index`` of the tree of ``size`` with hash ``root``."""
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofInvalid("the inclusion proof does not lead to the root hash")


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of size ``second`` extends the tree of size ``first`` (RFC 9162 §2.1.4.2).

    A proof from the empty tree is refused: it would prove nothing (§2.1.4 defines proofs for 0 < m).
    """
    if first > second:
        raise ProofInvalid(f"size {first} is larger than size {second}")
    if first == 0:
        raise ProofInvalid("a consistency proof from the empty tree is meaningless")
    _verify_subtree_consistency(0, first, second, first_root, second_root, proof)


def verify_subtree_inclusion(
    index: int, start: int, end: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """MTC draft §4.3.3: ``leaf`` is entry ``index`` of the subtree ``[start, end)`` with hash ``root``."""
    if not is_subtree(start, end):
        raise ProofInvalid(f"[{start}, {end}) is not a subtree")
    if not start <= index < end:
        raise ProofInvalid(f"leaf {index} is not in the subtree [{start}, {end})")
    verify_inclusion(index - start, end - start, leaf, proof, root)


def verify_subtree_consistency(
    start: int, end: int, size: int, subtree_root: bytes, root: bytes, proof: Sequence[bytes]
) -> None:
    """MTC draft §4.4.3: the subtree ``[start, end)`` with hash ``subtree_root`` lies at those positions in
    the tree of ``size`` with hash ``root``. The empty subtree lies in every tree."""
    if start == end and 0 <= start <= size:
        if proof:
            raise ProofInvalid("the proof for an empty subtree must be empty")
        if subtree_root != EMPTY_ROOT:
            raise ProofInvalid("the empty subtree's hash is not MTH({})")
        return
    if not is_subtree(start, end):
        raise ProofInvalid(f"[{start}, {end}) is not a subtree")
    _verify_subtree_consistency(start, end, size, subtree_root, root, proof)


def _verify_subtree_consistency(
    start: int, end: int, size: int, subtree_root: bytes, root: bytes, proof: Sequence[bytes]
) -> None:
    # With start = 0 this is RFC 9162 §2.1.4.2 step for step (there, fn is our sn and sn our tn).
    if end > size:
        raise ProofInvalid(f"the subtree ends at {end}, beyond size {size}")
    if start == 0 and end == size:
        if proof:
            raise ProofInvalid("the proof between equal trees must be empty")
        if subtree_root != root:
            raise ProofInvalid("equal tree sizes with different root hashes")
        return
    if not proof:
        raise ProofInvalid("the consistency proof is empty")
    _check_sizes(proof)
    fn, sn, tn = start, end - 1, size - 1
    if sn == tn:
        while fn != sn:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    else:
        while fn != sn and sn & 1:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    if fn == sn:
        rest: Sequence[bytes] = proof
        first_result = second_result = subtree_root
    else:
        rest = proof[1:]
        first_result = second_result = proof[0]
    for sibling in rest:
        if tn == 0:
            raise ProofInvalid("the consistency proof is too long")
        if sn & 1 or sn == tn:
            if fn < sn:
                first_result = node_hash(sibling, first_result)
            second_result = node_hash(sibling, second_result)
            while not sn & 1:
                fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        else:
            second_result = node_hash(second_result, sibling)
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    if tn != 0:
        raise ProofInvalid("the consistency proof is too short")
    if first_result != subtree_root:
        raise ProofInvalid("the consistency proof does not lead to the first root hash")
    if second_result != root:
        raise ProofInvalid("the consistency proof does not lead to the second root hash")


def _check_sizes(hashes: Iterable[bytes]) -> None:
    if any(len(value) != HASH_SIZE for value in hashes):
        raise ProofInvalid(f"a hash in the proof is not {HASH_SIZE} bytes")


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): where §2.1.1 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def _bit_ceil(n: int) -> int:
    """The smallest power of two not below ``n`` (1 for 0 and 1)."""
    return 1 << max(n - 1, 0).bit_length()
