"""The streaming fsck (pure): same verdicts as the whole-log check, in bounded memory."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from audits.ledger import checkpoint, fsck, merkle, tree

ORIGIN = "modelgov/ledger"
KEY = Ed25519PrivateKey.generate()


def _note(size: int, root: bytes, key: Ed25519PrivateKey = KEY) -> str:
    body = checkpoint.Checkpoint(ORIGIN, size, root).body()
    return checkpoint.sign_note(body, ORIGIN, key)


def _ledger(
    leaves: Sequence[bytes], sizes: Sequence[int]
) -> tuple[list[fsck.EntryRow], list[fsck.CheckpointRow], list[fsck.NodeRow]]:
    """Entries, signed checkpoints and the stored (stride) nodes, in stream order."""
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    entries = [fsck.EntryRow(i, leaf, hashes[i]) for i, leaf in enumerate(leaves)]
    checkpoints = []
    for size in sizes:
        root = merkle.root(hashes[:size])
        checkpoints.append(fsck.CheckpointRow(size, root, _note(size, root)))
    nodes: list[fsck.NodeRow] = []

    def stored(level: int, index: int, value: bytes) -> None:
        if level % tree.STRIDE == 0:
            nodes.append(fsck.NodeRow(level, index, value))

    tree.CompactRange(stored).extend(hashes)
    return entries, checkpoints, nodes


# The whole-log check that the streaming one replaced, kept as the oracle: every hash
# in a list, every root recomputed from the list, consistency proofs between
# consecutive checkpoints.
def _reference(
    entries: Iterable[fsck.EntryRow],
    checkpoints: Iterable[fsck.CheckpointRow],
    public_key: Ed25519PublicKey,
    nodes: Iterable[fsck.NodeRow] = (),
) -> dict[str, Any]:
    errors_seq: list[dict[str, Any]] = []
    errors_cp: list[dict[str, Any]] = []
    first: dict[str, int | None] = {"seq": None, "cp": None}

    errors_node: list[dict[str, Any]] = []

    def bad_seq(seq: int, problem: str, *, node: bool = False) -> None:
        (errors_node if node else errors_seq).append({"seq": seq, "problem": problem})
        if first["seq"] is None or seq < first["seq"]:
            first["seq"] = seq

    def bad_cp(size: int, problem: str) -> None:
        errors_cp.append({"checkpoint_size": size, "problem": problem})
        if first["cp"] is None or size < first["cp"]:
            first["cp"] = size

    hashes: list[bytes] = []
    count = 0
    gap = False
    for entry in entries:
        count += 1
        if entry.seq != len(hashes):
            bad_seq(len(hashes), f"seq {entry.seq} found where {len(hashes)} was due")
            gap = True
            break
        recomputed = merkle.leaf_hash(entry.leaf)
        if entry.leaf_hash != recomputed:
            bad_seq(entry.seq, "the stored leaf hash does not match the leaf")
        hashes.append(recomputed)
    levels = [hashes]
    while len(levels[-1]) >= 2:
        below = levels[-1]
        levels.append(
            [
                merkle.node_hash(below[2 * i], below[2 * i + 1])
                for i in range(len(below) // 2)
            ]
        )
    node_count = 0
    # What shows that the log held more leaves than are stored: (size, name).
    beyond: list[tuple[int, str]] = []
    for node in nodes:
        node_count += 1
        if node.level >= len(levels) or node.index >= len(levels[node.level]):
            # A node past the leaves is blamed no lower than the first missing leaf.
            bad_seq(
                max(node.index << node.level, len(hashes)),
                f"node {node.level}/{node.index} past the leaves",
                node=True,
            )
            beyond.append(
                (
                    (node.index + 1) << node.level,
                    f"stored node {node.level}/{node.index}",
                )
            )
        elif levels[node.level][node.index] != node.hash:
            bad_seq(
                node.index << node.level,
                f"node {node.level}/{node.index} differs",
                node=True,
            )
    previous = None
    cp_count = 0
    for row in checkpoints:
        cp_count += 1
        try:
            body, _ = checkpoint.verify_note(row.note, {ORIGIN: public_key})
            signed = checkpoint.parse_checkpoint(body)
        except checkpoint.CheckpointError as exc:
            bad_cp(row.size, f"note: {exc}")
        else:
            if (signed.origin, signed.size, signed.root) != (
                ORIGIN,
                row.size,
                row.root,
            ):
                bad_cp(row.size, "the signed note differs from the row")
        if row.size > len(hashes):
            bad_cp(row.size, f"only {len(hashes)} leaves are stored")
            beyond.append((row.size, f"checkpoint {row.size}"))
            continue
        if merkle.root(hashes[: row.size]) != row.root:
            bad_cp(row.size, "the root differs from the leaves")
        if previous is not None:
            proof = merkle.consistency_proof(previous.size, hashes[: row.size])
            if not merkle.verify_consistency(
                first=previous.size,
                second=row.size,
                first_root=previous.root,
                second_root=row.root,
                proof=proof,
            ):
                bad_cp(row.size, f"not consistent with checkpoint {previous.size}")
        previous = row
    # Consistency between checkpoints is implied once every root is recomputed from
    # the one leaf sequence: the streaming check does not list it separately. It
    # never stands alone (it needs a checkpoint with a wrong root at or below it),
    # so leaving it out changes neither "ok" nor the first bad sizes.
    # Leaves missing from the tail (no gap before them) are named once, at the first
    # missing seq, with the largest record that shows them (checkpoints first).
    missing = None
    if beyond and not gap:
        top = max(size for size, _ in beyond)
        names = [n for size, n in beyond if size == top and n.startswith("checkpoint")]
        names = names or [n for size, n in beyond if size == top]
        missing = {"first_seq": len(hashes), "last_seq": top - 1, "shown_by": names}
        which = (
            f"entry {len(hashes)} is"
            if top - 1 == len(hashes)
            else f"entries {len(hashes)}..{top - 1} are"
        )
        bad_seq(len(hashes), f"{which} missing (shown by {', '.join(names)})")
        errors_seq.insert(0, errors_seq.pop())  # listed first
    errors = errors_seq + errors_node
    errors += [
        e for e in errors_cp if not e["problem"].startswith("not consistent with")
    ]
    return {
        "ok": not errors,
        "entries": count,
        "checkpoints": cp_count,
        "nodes": node_count,
        "first_divergent_seq": first["seq"]
        if first["seq"] is not None
        else first["cp"],
        "first_bad_checkpoint_size": first["cp"],
        "missing": missing,
        "errors": errors,
    }


def _tamper(
    rng: random.Random,
    entries: list[fsck.EntryRow],
    checkpoints: list[fsck.CheckpointRow],
    kind: str,
) -> None:
    k = rng.randrange(len(entries))
    entry = entries[k]
    if kind == "flip-leaf":
        leaf = bytearray(entry.leaf)
        leaf[rng.randrange(len(leaf))] ^= 0x01
        entries[k] = entry._replace(leaf=bytes(leaf))
    elif kind == "flip-leaf-hash":
        entries[k] = entry._replace(leaf_hash=merkle.leaf_hash(b"other"))
    elif kind == "rewrite":  # leaf and leaf hash, consistently
        entries[k] = fsck.EntryRow(k, b"forged", merkle.leaf_hash(b"forged"))
    elif kind == "delete":
        del entries[k]
    elif kind == "renumber":
        del entries[k]
        entries[k:] = [e._replace(seq=e.seq - 1) for e in entries[k:]]
    elif kind == "swap":
        j = rng.randrange(len(entries))
        entries[k], entries[j] = entry._replace(seq=j), entries[j]._replace(seq=k)
        entries.sort(key=lambda e: e.seq)
    elif kind == "truncate":
        del entries[k:]
    elif kind == "resigned-root":
        i = rng.randrange(len(checkpoints))
        root = merkle.leaf_hash(b"forged root")
        checkpoints[i] = fsck.CheckpointRow(
            checkpoints[i].size, root, _note(checkpoints[i].size, root)
        )
    elif kind == "foreign-signature":
        i = rng.randrange(len(checkpoints))
        row = checkpoints[i]
        other = Ed25519PrivateKey.generate()
        checkpoints[i] = row._replace(note=_note(row.size, row.root, other))
    elif kind == "row-root":
        i = rng.randrange(len(checkpoints))
        checkpoints[i] = checkpoints[i]._replace(root=merkle.leaf_hash(b"x"))


KINDS = [
    "clean",
    "flip-leaf",
    "flip-leaf-hash",
    "rewrite",
    "delete",
    "renumber",
    "swap",
    "truncate",
    "resigned-root",
    "foreign-signature",
    "row-root",
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(6))
def test_streaming_check_equals_the_whole_log_check(kind: str, seed: int) -> None:
    # given
    rng = random.Random(f"{kind}-{seed}")
    n = rng.randrange(1, 300)
    leaves = [b"leaf %d of %d" % (i, n) for i in range(n)]
    sizes = sorted({rng.randrange(0, n + 1) for _ in range(rng.randrange(1, 8))} | {n})
    entries, checkpoints, _ = _ledger(leaves, sizes)
    if kind != "clean":
        _tamper(rng, entries, checkpoints, kind)
    # when
    report = fsck.check(entries, checkpoints, KEY.public_key(), origin=ORIGIN)
    # then
    expected = _reference(entries, checkpoints, KEY.public_key())
    assert report.as_dict() == expected
    assert expected["ok"] is (kind == "clean")


@pytest.mark.parametrize("kind", ["clean", "rewrite", "delete", "renumber", "truncate"])
@pytest.mark.parametrize("seed", range(4))
def test_streaming_node_check_equals_the_whole_log_check(kind: str, seed: int) -> None:
    # given: stored nodes, and damage that keeps every leaf hash true to its leaf
    rng = random.Random(f"nodes-{kind}-{seed}")
    n = rng.randrange(16, 256)  # level-4 nodes only: blamed as before
    leaves = [b"leaf %d" % i for i in range(n)]
    entries, checkpoints, nodes = _ledger(leaves, [n // 2, n])
    if kind != "clean":
        _tamper(rng, entries, checkpoints, kind)
    # when
    report = fsck.check(
        entries, checkpoints, KEY.public_key(), origin=ORIGIN, nodes=nodes
    )
    # then
    assert report.as_dict() == _reference(entries, checkpoints, KEY.public_key(), nodes)
    assert report.nodes == len(nodes)


def test_a_wrong_stored_level_4_node_is_named() -> None:
    # given: 100 leaves store level-4 nodes 0..5; node 4/3 covers seqs 48..63
    entries, checkpoints, nodes = _ledger([b"l%d" % i for i in range(100)], [50, 100])
    assert [(n.level, n.index) for n in nodes] == [(4, i) for i in range(6)]
    nodes[3] = fsck.NodeRow(4, 3, merkle.leaf_hash(b"wrong"))
    # when
    report = fsck.check(
        entries, checkpoints, KEY.public_key(), origin=ORIGIN, nodes=nodes
    )
    # then
    assert report.errors == [{"seq": 48, "problem": "node 4/3 differs"}]
    assert (report.first_divergent_seq, report.first_bad_checkpoint_size) == (48, None)
    assert report.nodes == 6


def test_a_flipped_leaf_inside_a_stored_node_is_named_exactly() -> None:
    # given: seq 37 lies in stored node 4/2 (seqs 32..47); only its bytes change
    entries, checkpoints, nodes = _ledger(
        [b"l%d" % i for i in range(100)], [30, 64, 100]
    )
    entries[37] = entries[37]._replace(leaf=b"l37!")
    # when
    report = fsck.check(
        entries, checkpoints, KEY.public_key(), origin=ORIGIN, nodes=nodes
    )
    # then: the node still matches the stored leaf hashes, so only the leaf is named
    assert report.first_divergent_seq == 37
    assert report.first_bad_checkpoint_size == 64
    assert report.errors == [
        {"seq": 37, "problem": "the stored leaf hash does not match the leaf"},
        {"checkpoint_size": 64, "problem": "the root differs from the leaves"},
        {"checkpoint_size": 100, "problem": "the root differs from the leaves"},
    ]


def test_a_changed_leaf_hash_inside_a_stored_node_is_named_exactly() -> None:
    # given: only the stored hash of seq 37 changes; the leaf bytes are intact
    entries, checkpoints, nodes = _ledger([b"l%d" % i for i in range(100)], [100])
    entries[37] = entries[37]._replace(leaf_hash=merkle.leaf_hash(b"other"))
    # when
    report = fsck.check(
        entries, checkpoints, KEY.public_key(), origin=ORIGIN, nodes=nodes
    )
    # then
    assert report.errors == [
        {"seq": 37, "problem": "the stored leaf hash does not match the leaf"}
    ]


def test_a_rewrite_inside_a_node_with_a_flipped_leaf_blames_the_node() -> None:
    # given: seq 40 is flipped (detectable) and seq 35 rewritten consistently
    entries, checkpoints, nodes = _ledger([b"l%d" % i for i in range(64)], [64])
    entries[40] = entries[40]._replace(leaf=b"flipped")
    entries[35] = fsck.EntryRow(35, b"forged", merkle.leaf_hash(b"forged"))
    # when
    report = fsck.check(
        entries, checkpoints, KEY.public_key(), origin=ORIGIN, nodes=nodes
    )
    # then: the node matches neither tree, so its whole range is suspect
    assert report.first_divergent_seq == 32
    assert {"seq": 32, "problem": "node 4/2 differs"} in report.errors


def test_a_renumbered_tail_is_blamed_on_the_first_wrong_level_4_node() -> None:
    # given: seq 300 deleted and the rest moved down; 600 leaves store level-4
    # nodes and level-8 nodes 8/0 (seqs 0..255) and 8/1 (256..511)
    entries, checkpoints, nodes = _ledger([b"l%d" % i for i in range(600)], [600])
    del entries[300]
    entries[300:] = [e._replace(seq=e.seq - 1) for e in entries[300:]]
    # when
    report = fsck.check(
        entries, checkpoints, KEY.public_key(), origin=ORIGIN, nodes=nodes
    )
    # then: node 8/1 differs, but its nodes 4/16..4/17 (256..287) match, so the
    # first seq that cannot be vouched for is 288, the start of node 4/18
    node_errors = [e for e in report.errors if "node" in e["problem"]]
    assert node_errors[:3] == [
        {"seq": 288, "problem": "node 4/18 differs"},
        {"seq": 304, "problem": "node 4/19 differs"},
        {"seq": 320, "problem": "node 4/20 differs"},
    ]
    assert {"seq": 288, "problem": "node 8/1 differs"} in node_errors
    assert report.first_divergent_seq == 288
    assert report.errors[-1] == {
        "checkpoint_size": 600,
        "problem": "only 599 leaves are stored",
    }


def test_stored_nodes_past_the_leaves_or_out_of_order_are_named() -> None:
    # given
    entries, checkpoints, nodes = _ledger([b"l%d" % i for i in range(40)], [40])
    extra = [
        fsck.NodeRow(4, 2, merkle.leaf_hash(b"x")),
        fsck.NodeRow(4, 0, nodes[0].hash),
    ]
    # when: (4, 0) again after (4, 1), then a node beyond 40 leaves
    report = fsck.check(
        entries,
        checkpoints,
        KEY.public_key(),
        origin=ORIGIN,
        nodes=[*nodes, extra[1], extra[0]],
    )
    # then: the node past the leaves shows leaves 40..47, not that 32..39 changed
    assert report.errors == [
        {"seq": 40, "problem": "entries 40..47 are missing (shown by stored node 4/2)"},
        {"seq": 0, "problem": "node 4/0 is not a subtree node in order"},
        {"seq": 40, "problem": "node 4/2 past the leaves"},
    ]
    assert report.nodes == 4


def _generated(n: int, log: list[int]) -> Iterator[fsck.EntryRow]:
    for i in range(n):
        log[0] = i + 1  # entries handed out so far
        leaf = b'{"prediction":%d,"score":0.5}' % i
        yield fsck.EntryRow(i, leaf, merkle.leaf_hash(leaf))


def _stream_sources(n: int, every: int) -> tuple[dict[int, bytes], list[fsck.NodeRow]]:
    """Checkpoint roots every ``every`` leaves and the stored nodes of _generated."""
    roots: dict[int, bytes] = {}
    node_rows: list[fsck.NodeRow] = []

    def stored(level: int, index: int, value: bytes) -> None:
        if level % tree.STRIDE == 0:
            node_rows.append(fsck.NodeRow(level, index, value))

    accumulator = tree.CompactRange(stored)
    for entry in _generated(n, [0]):
        accumulator.append(entry.leaf_hash)
        if accumulator.size % every == 0:
            roots[accumulator.size] = accumulator.root()
    return roots, node_rows


def test_check_consumes_200k_entries_lazily() -> None:
    # given: 200,000 generated entries, a checkpoint every 10,000, stored nodes
    n, every = 200_000, 10_000
    roots, node_rows = _stream_sources(n, every)
    handed_out = [0]
    checkpoint_pulled_at: list[int] = []
    node_pulled_at: list[tuple[int, int]] = []  # (entries handed out, node end)

    def checkpoints() -> Iterator[fsck.CheckpointRow]:
        for size, root in roots.items():
            checkpoint_pulled_at.append(handed_out[0])
            yield fsck.CheckpointRow(size, root, _note(size, root))

    def nodes() -> Iterator[fsck.NodeRow]:
        for node in node_rows:
            node_pulled_at.append((handed_out[0], (node.index + 1) << node.level))
            yield node

    # when
    report = fsck.check(
        _generated(n, handed_out),
        checkpoints(),
        KEY.public_key(),
        origin=ORIGIN,
        nodes=nodes(),
    )
    # then: each checkpoint is read when the stream reaches the one before it, each
    # node at most 16 leaves before the leaf that completes it: nothing read ahead
    assert (report.ok, report.entries, report.checkpoints) == (True, n, n // every)
    assert report.nodes == len(node_rows) == 13_332
    assert checkpoint_pulled_at == [0, *range(every, n, every)]
    assert all(handed <= end for handed, end in node_pulled_at)
    assert max(end - handed for handed, end in node_pulled_at) == 16


def _peak_memory(n: int) -> int:
    roots, node_rows = _stream_sources(n, 1000)
    notes = [fsck.CheckpointRow(s, r, _note(s, r)) for s, r in roots.items()]
    tracemalloc.start()
    try:
        report = fsck.check(
            _generated(n, [0]),
            iter(notes),
            KEY.public_key(),
            origin=ORIGIN,
            nodes=iter(node_rows),
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok
    return peak


def test_check_memory_does_not_grow_with_the_ledger() -> None:
    # when
    small, large = _peak_memory(10_000), _peak_memory(40_000)
    # then: four times the entries, about the same peak (40,000 leaf hashes alone
    # would take more than 3 MB)
    assert large < small * 1.25
    assert large < 100_000


def test_anchors_ahead_of_the_database_report_the_log_behind() -> None:
    # given: the database was cut back to 60 leaves; the witness saw 80 and 100
    entries, checkpoints, _ = _ledger(
        [b"l%d" % i for i in range(100)], [30, 60, 80, 100]
    )
    anchors = [
        fsck.Anchor("witnessed", cp.size, cp.root, ORIGIN) for cp in checkpoints
    ] + [fsck.Anchor("signer-state", 100, checkpoints[-1].root, ORIGIN)]
    # when
    report = fsck.check(
        entries[:60],
        checkpoints[:2],
        KEY.public_key(),
        origin=ORIGIN,
        anchors=anchors,
        head=60,
    )
    # then: the first missing seq is the rolled-back size, shown by the anchors
    assert report.errors == [
        {
            "seq": 60,
            "problem": "entries 60..99 are missing (shown by the witnessed "
            "checkpoint of size 100, the signer-state checkpoint of size 100)",
        },
        {
            "checkpoint_size": 100,
            "problem": "log behind the signer-state checkpoint (size 100)",
        },
        {
            "checkpoint_size": 100,
            "problem": "log behind the witnessed checkpoint (size 100)",
        },
    ]
    assert (report.first_divergent_seq, report.first_bad_checkpoint_size) == (60, 100)
    assert report.missing == {
        "first_seq": 60,
        "last_seq": 99,
        "shown_by": [
            "the witnessed checkpoint of size 100",
            "the signer-state checkpoint of size 100",
        ],
    }
    assert report.summary() == (
        "ledger fsck failed: first divergent seq 60: entries 60..99 are missing "
        "(shown by the witnessed checkpoint of size 100, the signer-state "
        "checkpoint of size 100); first bad checkpoint 100"
    )


def test_anchors_that_disagree_or_went_missing_are_named() -> None:
    # given: the witness holds 30 (another root), 50 (no such checkpoint), 100
    entries, checkpoints, _ = _ledger([b"l%d" % i for i in range(100)], [30, 50, 100])
    other = merkle.leaf_hash(b"another root")
    anchors = [
        fsck.Anchor("witnessed", 30, other, ORIGIN),
        fsck.Anchor("witnessed", 50, checkpoints[1].root, ORIGIN),
        fsck.Anchor("witnessed", 100, checkpoints[2].root, ORIGIN),
        fsck.Anchor("signer-state", 100, checkpoints[2].root, "another/log"),
    ]
    # when
    report = fsck.check(
        entries,
        [checkpoints[0], checkpoints[2]],
        KEY.public_key(),
        origin=ORIGIN,
        anchors=anchors,
    )
    # then
    assert report.errors == [
        {
            "checkpoint_size": 30,
            "problem": "the witnessed root differs from the database's checkpoint",
        },
        {
            "checkpoint_size": 100,
            "problem": "the signer-state checkpoint is for 'another/log'",
        },
        {
            "checkpoint_size": 50,
            "problem": "the witnessed checkpoint is missing from the database",
        },
    ]
    assert report.first_bad_checkpoint_size == 30


def test_head_and_entries_must_match_the_latest_checkpoint() -> None:
    # given: 12 entries, the latest checkpoint covers 10, the head says 11
    entries, checkpoints, _ = _ledger([b"l%d" % i for i in range(12)], [5, 10])
    # when
    report = fsck.check(entries, checkpoints, KEY.public_key(), origin=ORIGIN, head=11)
    # then
    assert report.errors == [
        {"seq": 10, "problem": "entries after the latest checkpoint: 2"},
        {
            "checkpoint_size": 10,
            "problem": "the head says 11 entries but the latest checkpoint covers 10",
        },
    ]
    assert report.first_divergent_seq == 10


def test_errors_listed_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: every leaf is wrong
    monkeypatch.setattr(fsck, "MAX_LISTED", 3)
    entries, checkpoints, _ = _ledger([b"l%d" % i for i in range(10)], [])
    entries = [e._replace(leaf=b"x" + e.leaf) for e in entries]
    # when
    report = fsck.check(entries, checkpoints, KEY.public_key(), origin=ORIGIN)
    # then
    assert [e.get("seq") for e in report.errors] == [0, 1, 2, None]
    assert report.errors[-1] == {"problem": "7 more errors not listed"}
    assert report.first_divergent_seq == 0
