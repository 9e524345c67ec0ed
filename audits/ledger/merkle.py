"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification. Pure.

Leaves are hashed ``SHA-256(0x00 || data)`` and interior nodes
``SHA-256(0x01 || left || right)``; the split point of a tree of n > 1 leaves is the
largest power of two smaller than n. Verification follows RFC 9162 §2.1.3.2
(inclusion) and §2.1.4.2 (consistency) step by step, including the checks that
real verifiers have got wrong: the whole path must be consumed (``sn == 0``), and a
power-of-two first size prepends the first root.

Proof generation here works from the list of leaf hashes (O(n) per call, with
subtree roots cached per call); the ledger serves proofs from stored tree nodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof could not be produced for the given sizes or index."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash of ``data``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class _Tree:
    """Subtree roots over a fixed list of leaf hashes, memoised per instance."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.leaves = tuple(leaf_hashes)
        self.root_of = lru_cache(maxsize=None)(self._root_of)

    def _root_of(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return self.leaves[lo]
        k = _split(n)
        return node_hash(self.root_of(lo, lo + k), self.root_of(lo + k, hi))

    def path(self, index: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = _split(n)
        if index < k:
            return self.path(index, lo, lo + k) + [self.root_of(lo + k, hi)]
        return self.path(index - k, lo + k, hi) + [self.root_of(lo, lo + k)]

    def subproof(self, m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if complete else [self.root_of(lo, hi)]
        k = _split(n)
        if m <= k:
            return self.subproof(m, lo, lo + k, complete) + [self.root_of(lo + k, hi)]
        return self.subproof(m - k, lo + k, hi, False) + [self.root_of(lo, lo + k)]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over the given leaf hashes (the empty tree's root is SHA-256 of nothing)."""
    return _Tree(leaf_hashes).root_of(0, len(leaf_hashes))


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) of RFC 6962 §2.1.1."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ProofError(f"leaf index {index} is outside a tree of size {n}")
    return _Tree(leaf_hashes).path(index, 0, n)


def consistency_proof(first: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(first, D[n]) of RFC 6962 §2.1.2: the size-``first`` tree is a prefix."""
    n = len(leaf_hashes)
    if not 0 <= first <= n:
        raise ProofError(f"first size {first} is outside 0..{n}")
    if first == 0 or first == n:
        return []
    return _Tree(leaf_hashes).subproof(first, 0, n, True)


def _lsb(value: int) -> bool:
    return bool(value & 1)


def verify_inclusion(
    *, leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``leaf`` (a leaf hash) sit at ``index`` of the tree?"""
    if index < 0 or index >= tree_size or any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if _lsb(fn) or fn == sn:
            r = node_hash(p, r)
            if not _lsb(fn):
                while not (_lsb(fn) or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(
    *,
    first: int,
    second: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> bool:
    """RFC 9162 §2.1.4.2: is the size-``first`` tree a prefix of the size-``second`` one?"""
    if first < 0 or first > second or any(len(p) != HASH_SIZE for p in proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root is a node of the path
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while _lsb(fn):
        fn >>= 1
        sn >>= 1
    if not path:
        return False
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if _lsb(fn) or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not _lsb(fn):
                while not (_lsb(fn) or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
