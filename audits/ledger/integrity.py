"""What a reader of the ledger does when the ledger fails its own checks.

A trail (page, JSON, PDF, proof) proves a record against the latest signed
checkpoint. It must not do so when the stored ledger cannot back that checkpoint:
stored hashes a proof needs are gone, the checkpoint's last entry is gone, or a
checkpoint kept outside the database (the witness, the signer state) is ahead of
the database (a rollback) or holds another root for the same size (a fork). Then
:class:`LedgerIntegrityError` is raised, which the pages show as an integrity page
and the API as 409 ``ledger_integrity``; ``manage.py ledger_fsck`` gives the full
diagnosis.

The checks on the happy path cost nothing extra in the database: the
checkpoint's last leaf hash is fetched with the proof's stored hashes, and the
anchors are two small files. The diagnosis (where the entries end) runs only once
something failed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from audits.ledger import checkpoint, fsck, tree, witness
from audits.ledger import models as ledger_models
from governance import exceptions

# A proof needs O(log n) hashes, but say no more than this many ranges of them.
MAX_RANGES_NAMED = 5
FSCK_ADVICE = (
    "Run manage.py ledger_fsck for the full report and contact the administrator."
)


class LedgerIntegrityError(exceptions.Conflict):
    """The stored ledger cannot back its checkpoint; nothing may be shown as proven.

    ``problems`` are sentences for people; ``first_missing_seq`` is the first entry
    known to be missing, when known.
    """

    code = "ledger_integrity"

    def __init__(self, problems: list[str], *, first_missing_seq: int | None) -> None:
        self.problems = list(problems)
        self.first_missing_seq = first_missing_seq
        summary = "; ".join(self.problems)
        where = (
            f" First missing seq: {first_missing_seq}."
            if first_missing_seq is not None
            else ""
        )
        super().__init__(
            f"The ledger failed its integrity check: {summary}.{where} {FSCK_ADVICE}",
            code=self.code,
        )

    def as_dict(self) -> dict[str, Any]:
        """The API's error shape (ADR 0010) plus the first missing seq."""
        return {
            "detail": self.message,
            "code": self.code,
            "errors": {},
            "first_missing_seq": self.first_missing_seq,
        }


def stored_end() -> int:
    """One past the last stored entry's seq (0 for an empty ledger): an index scan."""
    last = (
        ledger_models.LedgerEntry.objects.order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    return last + 1 if last is not None else 0


def _seq_ranges(keys: Iterable[tree.Key]) -> list[tuple[int, int]]:
    """The seq ranges [lo, hi) that the stored hashes ``keys`` cover, merged."""
    spans = sorted((index << level, (index + 1) << level) for level, index in keys)
    merged: list[tuple[int, int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _span(lo: int, hi: int) -> str:
    return f"seq {lo}" if hi - lo == 1 else f"seq {lo}..{hi - 1}"


def _tail_problem(size: int, end: int) -> str | None:
    if end >= size:
        return None
    if end == 0:
        return f"checkpoint {size} has no entries at all"
    return f"checkpoint {size} has no entries beyond {end - 1}"


def missing_hashes(missing: set[tree.Key], size: int) -> LedgerIntegrityError:
    """The error for stored hashes that a proof against checkpoint ``size`` needs."""
    end = stored_end()
    ranges = _seq_ranges(missing)
    named = ", ".join(_span(lo, hi) for lo, hi in ranges[:MAX_RANGES_NAMED])
    more = len(ranges) - MAX_RANGES_NAMED
    if more > 0:
        named += f" and {more} more ranges"
    problems = [f"stored hashes for {named} are missing"]
    tail = _tail_problem(size, end)
    if tail is not None:
        problems.append(tail)
    seqs = [index for level, index in missing if level == 0]
    if end < size:
        seqs.append(end)
    return LedgerIntegrityError(problems, first_missing_seq=min(seqs) if seqs else None)


def tail_key(size: int) -> tree.Key:
    """The stored hash of checkpoint ``size``'s last entry: fetched with a proof's
    hashes, it shows cheaply that the checkpoint's tail is still stored."""
    return (0, size - 1)


# --- the anchors: checkpoints kept outside the database -----------------------------


def _anchors() -> tuple[list[fsck.Anchor], list[str]]:
    """The latest witnessed checkpoint and the signer state, when configured, and
    the problems reading them.

    Read as files, without the ledger key: they were verified when written, and a
    page must not need the key to refuse to vouch.
    """
    from django.conf import settings

    from audits.ledger import services

    anchors, problems = [], []
    directory = str(getattr(settings, "MODELGOV_LEDGER_WITNESS_DIR", "") or "")
    if directory:
        try:
            note = (Path(directory) / witness.LATEST).read_text(encoding="utf-8")
            body, _, _ = note.partition("\n\n")
            latest = checkpoint.parse_checkpoint(body + "\n")
            anchors.append(
                fsck.Anchor("witnessed", latest.size, latest.root, latest.origin)
            )
        except FileNotFoundError:
            pass  # nothing witnessed yet
        except (OSError, ValueError) as exc:
            problems.append(f"the witness's latest checkpoint cannot be read ({exc})")
    try:
        state = services.signer_state_read()
    except (OSError, ValueError, KeyError) as exc:
        problems.append(f"the signer state cannot be read ({exc})")
        state = None
    if state is not None:
        anchors.append(
            fsck.Anchor("signer-state", state.size, state.root, state.origin)
        )
    return anchors, problems


def check_anchors(size: int, root: bytes) -> None:
    """Raise LedgerIntegrityError when an anchor is ahead of the database's latest
    checkpoint (``size``, ``root``) or holds another root for a size it has.

    An anchor is written only after its checkpoint committed, so one ahead of the
    checkpoint read a moment ago may just be newer: the database is asked again
    before anything is called missing.
    """
    anchors, problems = _anchors()
    first_missing: int | None = None
    ahead = 0  # the largest anchor size that the database does not reach
    for anchor in anchors:
        if anchor.size < size:
            continue
        if anchor.size == size:
            if anchor.root != root:
                problems.append(
                    f"the {anchor.source} checkpoint of size {size} has another root "
                    "than the checkpoint in the database (a fork)"
                )
            continue
        row = (
            ledger_models.LedgerCheckpoint.objects.filter(size=anchor.size)
            .values_list("root", flat=True)
            .first()
        )
        if row is not None:
            if bytes(row) != anchor.root:
                problems.append(
                    f"the {anchor.source} checkpoint of size {anchor.size} has "
                    "another root than the checkpoint in the database (a fork)"
                )
            continue
        latest = (
            ledger_models.LedgerCheckpoint.objects.order_by("-size")
            .values_list("size", flat=True)
            .first()
        ) or 0
        if latest > anchor.size:
            continue  # a newer checkpoint committed meanwhile
        problems.append(
            f"the {anchor.source} checkpoint covers {anchor.size} entries but the "
            f"latest checkpoint in the database covers {latest}"
        )
        ahead = max(ahead, anchor.size)
    if ahead:
        end = stored_end()
        if end < ahead:
            problems.append(
                f"entries {end}..{ahead - 1} are missing"
                if end < ahead - 1
                else f"entry {end} is missing"
            )
            first_missing = end
    if problems:
        raise LedgerIntegrityError(problems, first_missing_seq=first_missing)


def check_entry_missing(entry_id: uuid.UUID) -> None:
    """Raise LedgerIntegrityError when ``entry_id`` was accepted (its idempotency
    key is stored) but is neither sequenced nor queued: its entry was deleted."""
    if not ledger_models.LedgerKey.objects.filter(entry_id=entry_id).exists():
        return
    if ledger_models.LedgerEntry.objects.filter(entry_id=entry_id).exists():
        return
    if ledger_models.LedgerQueue.objects.filter(entry_id=entry_id).exists():
        return
    problems = [f"entry {entry_id} was accepted but is no longer stored"]
    latest = ledger_models.LedgerCheckpoint.objects.order_by("-size").first()
    end = stored_end()
    first_missing = None
    if latest is not None:
        tail = _tail_problem(latest.size, end)
        if tail is not None:
            problems.append(tail)
            first_missing = end
    raise LedgerIntegrityError(problems, first_missing_seq=first_missing)
