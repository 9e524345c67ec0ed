"""The Merkle tree over stored hashes: proofs and roots in O(log n) reads. Pure.

Storage layout. Level 0 is the leaf hashes (``LedgerEntry.leaf_hash`` at ``seq``).
Of the complete ("perfect") subtrees above, only the levels that are multiples of
:data:`STRIDE` are stored (``LedgerNode(level, index)`` covers leaves
``[index << level, (index + 1) << level)``); a perfect node at another level is
recomputed from at most ``2 ** (STRIDE - 1)`` stored hashes of the level below it
that is a multiple of the stride. This keeps the node table at about n / 15 rows
while any proof needs a few hundred 32-byte reads at most, fetched in one query.

Every function that needs stored hashes takes them in two steps, so the database is
asked once: ``*_keys`` names the stored (level, index) pairs needed, the caller
fetches them into a mapping, and the computing function reads only that mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from audits.ledger.merkle import EMPTY_ROOT, ProofError, node_hash

__all__ = [
    "STRIDE",
    "CompactRange",
    "Key",
    "consistency_keys",
    "consistency_proof",
    "inclusion_keys",
    "inclusion_proof",
    "new_node_keys",
    "new_nodes",
    "perfect_hash",
    "perfect_keys",
    "range_keys",
    "root",
    "root_keys",
]

STRIDE = 4

Key = tuple[int, int]  # (level, index); level 0 = leaf hashes by seq


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_perfect(lo: int, hi: int) -> bool:
    n = hi - lo
    return n > 0 and n & (n - 1) == 0 and lo % n == 0


def perfect_keys(level: int, index: int) -> list[Key]:
    """The stored hashes that perfect node (level, index) is computed from."""
    base = level - level % STRIDE
    span = level - base
    first = index << span
    return [(base, i) for i in range(first, first + (1 << span))]


def perfect_hash(level: int, index: int, stored: Mapping[Key, bytes]) -> bytes:
    """Hash of perfect node (level, index) from the stored hashes of its base level."""
    base = level - level % STRIDE
    try:
        current = [stored[key] for key in perfect_keys(level, index)]
    except KeyError as exc:
        raise ProofError(f"stored hash {exc.args[0]} is missing") from exc
    for _ in range(level - base):
        current = [
            node_hash(current[2 * i], current[2 * i + 1])
            for i in range(len(current) // 2)
        ]
    return current[0]


def _decompose(lo: int, hi: int) -> list[tuple[int, int]]:
    """MTH(D[lo:hi]) is a right fold of these perfect (level, index) nodes.

    RFC 6962 splits [lo, hi) at the largest power of two below its size; the left
    part is always perfect when ``lo`` is aligned as it is in every recursion here.
    """
    nodes: list[tuple[int, int]] = []
    while hi - lo > 0:
        if _is_perfect(lo, hi):
            level = (hi - lo).bit_length() - 1
            nodes.append((level, lo >> level))
            break
        k = _split(hi - lo)
        level = k.bit_length() - 1
        nodes.append((level, lo >> level))
        lo += k
    return nodes


def range_keys(lo: int, hi: int) -> list[Key]:
    keys: list[Key] = []
    for level, index in _decompose(lo, hi):
        keys += perfect_keys(level, index)
    return keys


def _range_hash(
    lo: int,
    hi: int,
    stored: Mapping[Key, bytes],
    memo: dict[tuple[int, int], bytes] | None = None,
) -> bytes:
    if memo is not None:
        found = memo.get((lo, hi))
        if found is None:
            found = memo[(lo, hi)] = _range_hash(lo, hi, stored)
        return found
    parts = [perfect_hash(level, i, stored) for level, i in _decompose(lo, hi)]
    if not parts:
        return EMPTY_ROOT
    result = parts[-1]
    for part in reversed(parts[:-1]):
        result = node_hash(part, result)
    return result


def root_keys(size: int) -> list[Key]:
    return range_keys(0, size)


def root(size: int, stored: Mapping[Key, bytes]) -> bytes:
    """MTH of the first ``size`` leaves."""
    return _range_hash(0, size, stored)


def _path_ranges(index: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """The sibling ranges of PATH(index, D[lo:hi]), leaf first."""
    ranges: list[tuple[int, int]] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    ranges.reverse()
    return ranges


def inclusion_keys(index: int, size: int) -> list[Key]:
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    keys: list[Key] = []
    for lo, hi in _path_ranges(index, 0, size):
        keys += range_keys(lo, hi)
    return keys


def inclusion_proof(
    index: int,
    size: int,
    stored: Mapping[Key, bytes],
    memo: dict[tuple[int, int], bytes] | None = None,
) -> list[bytes]:
    """PATH(index, D[size]) of RFC 6962 §2.1.1 from stored hashes. Proofs of
    several leaves of one tree share their upper siblings: pass one ``memo`` to
    compute each range's hash once."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    return [
        _range_hash(lo, hi, stored, memo) for lo, hi in _path_ranges(index, 0, size)
    ]


def _consistency_ranges(first: int, size: int) -> list[tuple[int, int]]:
    """The ranges of PROOF(first, D[size]) (RFC 6962 §2.1.2 SUBPROOF), in order."""
    ranges: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, size, first, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                ranges.append((lo, hi))
            break
        k = _split(n)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    ranges.reverse()
    return ranges


def consistency_keys(first: int, size: int) -> list[Key]:
    if not 0 <= first <= size:
        raise ProofError(f"first size {first} is outside 0..{size}")
    if first in (0, size):
        return []
    keys: list[Key] = []
    for lo, hi in _consistency_ranges(first, size):
        keys += range_keys(lo, hi)
    return keys


def consistency_proof(
    first: int, size: int, stored: Mapping[Key, bytes]
) -> list[bytes]:
    """PROOF(first, D[size]) of RFC 6962 §2.1.2 from stored hashes."""
    if not 0 <= first <= size:
        raise ProofError(f"first size {first} is outside 0..{size}")
    if first in (0, size):
        return []
    return [_range_hash(lo, hi, stored) for lo, hi in _consistency_ranges(first, size)]


def new_node_keys(old_size: int, new_size: int) -> list[Key]:
    """Stored hashes older than ``old_size`` that the nodes completed by growing
    the tree from ``old_size`` to ``new_size`` are computed from."""
    keys: list[Key] = []
    level = STRIDE
    while (new_size >> level) > (old_size >> level):
        # The first new node at this level may start before old_size.
        first = old_size >> level
        base = level - STRIDE
        lo = first << STRIDE
        hi = min((old_size >> base), (first + 1) << STRIDE)
        keys += [(base, i) for i in range(lo, hi)]
        level += STRIDE
    return keys


def _from_below(level: int, index: int, stored: Mapping[Key, bytes]) -> bytes:
    """Stored node (level, index) from its 2**STRIDE stored children below."""
    first = index << STRIDE
    try:
        current = [
            stored[(level - STRIDE, i)] for i in range(first, first + (1 << STRIDE))
        ]
    except KeyError as exc:
        raise ProofError(f"stored hash {exc.args[0]} is missing") from exc
    for _ in range(STRIDE):
        current = [
            node_hash(current[2 * i], current[2 * i + 1])
            for i in range(len(current) // 2)
        ]
    return current[0]


def new_nodes(
    old_size: int, new_size: int, stored: Mapping[Key, bytes]
) -> list[tuple[int, int, bytes]]:
    """The stored-level nodes completed by growing the tree to ``new_size``.

    ``stored`` must hold the leaf hashes ``[old_size, new_size)`` and the hashes
    named by :func:`new_node_keys`. Returns (level, index, hash) in level order;
    each level's nodes are added to ``stored`` for the level above.
    """
    out: list[tuple[int, int, bytes]] = []
    level = STRIDE
    work = dict(stored)
    while (new_size >> level) > (old_size >> level):
        for index in range(old_size >> level, new_size >> level):
            value = _from_below(level, index, work)
            work[(level, index)] = value
            out.append((level, index, value))
        level += STRIDE
    return out


class CompactRange:
    """Streaming Merkle accumulator over leaf hashes appended in order.

    Holds O(log n) perfect subtree roots; :meth:`root` gives MTH of all leaves so
    far. ``on_node(level, index, hash)`` is called for every perfect node completed
    (level >= 1), which lets a checker compare stored nodes as it streams.
    """

    def __init__(self, on_node: object = None) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (level, hash), levels decreasing
        self._on_node = on_node

    def append(self, leaf_hash: bytes) -> None:
        level, value = 0, leaf_hash
        index = self.size
        while self._stack and self._stack[-1][0] == level:
            _, left = self._stack.pop()
            value = node_hash(left, value)
            level += 1
            index >>= 1
            if self._on_node is not None:
                self._on_node(level, index, value)  # type: ignore[operator]
        self._stack.append((level, value))
        self.size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for value in leaf_hashes:
            self.append(value)

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        result = self._stack[-1][1]
        for _, value in reversed(self._stack[:-1]):
            result = node_hash(value, result)
        return result
