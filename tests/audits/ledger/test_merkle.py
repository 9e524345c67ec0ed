"""RFC 6962 / 9162 Merkle hashing and proofs: known answers, a brute-force reference
straight from the RFC's recursive definitions, and a verifier mutation corpus
(modelled on transparency-dev/merkle's testdata). No database."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

import pytest

from audits.ledger import merkle

LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
# Roots of the first n reference leaves, n = 0..8 (transparency-dev/merkle).
ROOT_PREFIXES = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9c",
    "fac54203",
    "aeb6bcfe",
    "d37ee418",
    "4e3bbb1f",
    "76e67dad",
    "ddb89be4",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_hasher_known_answers() -> None:
    assert merkle.EMPTY_ROOT.hex() == ROOT_PREFIXES[0]
    assert merkle.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert merkle.leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert merkle.node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    h1, h2 = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    assert merkle.node_hash(h1, h2) != merkle.leaf_hash(h1 + h2)
    assert merkle.node_hash(h1, h2) != merkle.node_hash(h2, h1)


@pytest.mark.parametrize("size", range(9))
def test_roots_of_the_reference_leaves(size: int) -> None:
    got = merkle.root([merkle.leaf_hash(d) for d in LEAVES[:size]]).hex()
    assert got.startswith(ROOT_PREFIXES[size])
    if len(ROOT_PREFIXES[size]) == 64:
        assert got == ROOT_PREFIXES[size]


# --- brute-force reference, transliterated from RFC 6962 §2.1 ---------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def _data(n: int) -> list[bytes]:
    return [f"record-{i}".encode() for i in range(n)]


@pytest.mark.parametrize("n", range(1, 34))
def test_proofs_equal_the_reference_and_verify_for_every_index_and_prefix(
    n: int,
) -> None:
    data = _data(n)
    hashes = [merkle.leaf_hash(x) for x in data]
    root = merkle.root(hashes)
    assert root == ref_mth(data)
    for i in range(n):
        proof = merkle.inclusion_proof(i, hashes)
        assert proof == ref_path(i, data)
        assert merkle.verify_inclusion(
            leaf=hashes[i], index=i, tree_size=n, proof=proof, root_hash=root
        )
    for m in range(1, n + 1):
        proof = merkle.consistency_proof(m, hashes)
        assert proof == (ref_subproof(m, data, True) if m < n else [])
        assert merkle.verify_consistency(
            first=m,
            second=n,
            first_root=ref_mth(data[:m]),
            second_root=root,
            proof=proof,
        )


def test_random_sizes_up_to_a_few_thousand() -> None:
    rng = random.Random(20261122)
    for _ in range(40):
        n = rng.randint(2, 3000)
        hashes = [merkle.leaf_hash(x) for x in _data(n)]
        root = merkle.root(hashes)
        i, m = rng.randrange(n), rng.randint(1, n - 1)
        proof = merkle.inclusion_proof(i, hashes)
        assert len(proof) <= (n - 1).bit_length()
        assert merkle.verify_inclusion(
            leaf=hashes[i], index=i, tree_size=n, proof=proof, root_hash=root
        )
        assert merkle.verify_consistency(
            first=m,
            second=n,
            first_root=merkle.root(hashes[:m]),
            second_root=root,
            proof=merkle.consistency_proof(m, hashes),
        )


# --- verifier mutation corpus --------------------------------------------------------

Mutation = Callable[
    [int, int, list[bytes], bytes, bytes], tuple[int, int, list[bytes], bytes, bytes]
]


def _flip(b: bytes, bit: int = 0) -> bytes:
    return bytes([b[0] ^ (1 << bit)]) + b[1:]


INCLUSION_MUTATIONS: dict[str, Mutation] = {
    "index+1": lambda i, n, p, leaf, r: (i + 1, n, p, leaf, r),
    "index-1": lambda i, n, p, leaf, r: (i - 1, n, p, leaf, r),
    "index^2": lambda i, n, p, leaf, r: (i ^ 2, n, p, leaf, r),
    "size*2": lambda i, n, p, leaf, r: (i, n * 2, p, leaf, r),
    "size/2": lambda i, n, p, leaf, r: (i, n // 2, p, leaf, r),
    "inserted": lambda i, n, p, leaf, r: (i, n, [*p[:1], bytes(32), *p[1:]], leaf, r),
    "removed": lambda i, n, p, leaf, r: (i, n, p[:-1], leaf, r),
    "trailing": lambda i, n, p, leaf, r: (i, n, [*p, p[0]], leaf, r),
    "preceding": lambda i, n, p, leaf, r: (i, n, [p[0], *p], leaf, r),
    "wrong-leaf": lambda i, n, p, leaf, r: (i, n, p, merkle.leaf_hash(b"forged"), r),
    "empty-root": lambda i, n, p, leaf, r: (i, n, p, leaf, merkle.EMPTY_ROOT),
    "random-root": lambda i, n, p, leaf, r: (i, n, p, leaf, _flip(r, 3)),
    "short-element": lambda i, n, p, leaf, r: (i, n, [p[0][:31], *p[1:]], leaf, r),
}


@pytest.mark.parametrize("name", sorted(INCLUSION_MUTATIONS))
@pytest.mark.parametrize(("n", "i"), [(7, 3), (8, 5), (13, 12), (64, 0), (100, 63)])
def test_inclusion_verifier_rejects_every_mutation(name: str, n: int, i: int) -> None:
    hashes = [merkle.leaf_hash(x) for x in _data(n)]
    proof, root = merkle.inclusion_proof(i, hashes), merkle.root(hashes)
    assert merkle.verify_inclusion(
        leaf=hashes[i], index=i, tree_size=n, proof=proof, root_hash=root
    )
    mi, mn, mp, mleaf, mroot = INCLUSION_MUTATIONS[name](i, n, proof, hashes[i], root)
    assert not merkle.verify_inclusion(
        leaf=mleaf, index=mi, tree_size=mn, proof=mp, root_hash=mroot
    )


@pytest.mark.parametrize(("n", "i"), [(7, 3), (13, 12), (100, 63)])
def test_inclusion_verifier_rejects_a_flipped_bit_in_each_element(
    n: int, i: int
) -> None:
    hashes = [merkle.leaf_hash(x) for x in _data(n)]
    proof, root = merkle.inclusion_proof(i, hashes), merkle.root(hashes)
    for k in range(len(proof)):
        bad = [*proof[:k], _flip(proof[k]), *proof[k + 1 :]]
        assert not merkle.verify_inclusion(
            leaf=hashes[i], index=i, tree_size=n, proof=bad, root_hash=root
        )


@pytest.mark.parametrize(
    ("m", "n"), [(1, 2), (3, 7), (4, 8), (6, 8), (8, 13), (13, 100)]
)
def test_consistency_verifier_rejects_mutations(m: int, n: int) -> None:
    hashes = [merkle.leaf_hash(x) for x in _data(n)]
    r1, r2 = merkle.root(hashes[:m]), merkle.root(hashes)
    proof = merkle.consistency_proof(m, hashes)

    def ok(first: int, second: int, a: bytes, b: bytes, p: list[bytes]) -> bool:
        return merkle.verify_consistency(
            first=first, second=second, first_root=a, second_root=b, proof=p
        )

    assert ok(m, n, r1, r2, proof)
    # A second size of n±1 can give the same tree shape, which no hash-only verifier
    # can tell apart: sizes are bound to roots by the signed checkpoint instead.
    # Mutations that change the shape must all be rejected.
    rejected = [
        ok(m + 1, n, r1, r2, proof),
        ok(m - 1, n, r1, r2, proof) if m > 1 else False,
        ok(m, n * 2, r1, r2, proof),
        ok(m, m, r1, r2, proof),
        ok(m, n, r2, r2, proof),
        ok(m, n, r1, r1, proof),
        ok(m, n, r1, r2, []),
        ok(m, n, r1, r2, [r1, *proof]),
        ok(m, n, r1, r2, [*proof, proof[0]]) if proof else False,
        ok(n, m, r2, r1, proof),
        *[
            ok(m, n, r1, r2, [*proof[:k], _flip(proof[k]), *proof[k + 1 :]])
            for k in range(len(proof))
        ],
    ]
    assert not any(rejected)


def test_proof_generation_refuses_impossible_requests() -> None:
    hashes = [merkle.leaf_hash(x) for x in _data(5)]
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_proof(5, hashes)
    with pytest.raises(merkle.ProofError):
        merkle.consistency_proof(6, hashes)
    assert merkle.consistency_proof(0, hashes) == []
    assert merkle.verify_consistency(
        first=0,
        second=5,
        first_root=merkle.EMPTY_ROOT,
        second_root=merkle.root(hashes),
        proof=[],
    )
