"""A witness of the ledger's checkpoints kept in a directory on separate storage.

:class:`DirectoryWitness` follows ``c2sp.org/tlog-witness`` ``add-checkpoint``: it
accepts a signed checkpoint only with a valid consistency proof from the latest one it
holds, so a database that is rolled back, truncated or rewritten can no longer match
it. It answers with the protocol's status codes as :class:`WitnessError`:

* 404: the note is for another origin;
* 403: no signature by the log's key verifies;
* 400: the note is malformed, or the old size is larger than the new size;
* 409: the old size is not the witness's latest size, or the sizes are equal and the
  roots differ (``latest_size`` carries the witness's size, as the
  ``text/x.tlog.size`` body does);
* 422: the consistency proof does not verify.

Every accepted checkpoint is persisted before :meth:`DirectoryWitness.add` returns,
atomically (temporary file, fsync, rename, fsync of the directory):
``checkpoints/<size>.note``, then ``latest.note``. Writers are serialised with an
exclusive ``flock`` on ``.lock``; a rejected request changes no file.

The directory should live on storage that the database's operators cannot write
(another disk, host or account); see docs/operations.md, "Detection".
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audits.ledger import checkpoint, merkle

LATEST = "latest.note"
CHECKPOINTS = "checkpoints"
LOCK = ".lock"
NOTE_SUFFIX = ".note"


class WitnessError(Exception):
    """The witness refused a checkpoint; ``status`` is the tlog-witness HTTP status."""

    def __init__(
        self, status: int, message: str, *, latest_size: int | None = None
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.latest_size = latest_size


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: a crash leaves the old or the new file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _fsync_directory(path.parent)


def _body(note: str) -> checkpoint.Checkpoint:
    """The checkpoint of a stored note (verified when it was added)."""
    body, _, _ = note.partition("\n\n")
    return checkpoint.parse_checkpoint(body + "\n")


class DirectoryWitness:
    """A tlog-witness for one log (origin and public key) stored in ``path``."""

    def __init__(
        self, path: str | os.PathLike[str], origin: str, public_key: Ed25519PublicKey
    ) -> None:
        self.path = Path(path)
        self.origin = origin
        self.public_key = public_key

    # --- reading -----------------------------------------------------------------

    def latest_note(self) -> str | None:
        try:
            return (self.path / LATEST).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def latest(self) -> checkpoint.Checkpoint | None:
        """The latest checkpoint the witness accepted, or None before the first."""
        note = self.latest_note()
        return _body(note) if note is not None else None

    def sizes(self) -> list[int]:
        """The sizes of every checkpoint the witness accepted, ascending."""
        directory = self.path / CHECKPOINTS
        if not directory.is_dir():
            return []
        sizes = []
        for entry in os.scandir(directory):
            stem, suffix = entry.name[: -len(NOTE_SUFFIX)], entry.name[-5:]
            if suffix == NOTE_SUFFIX and stem.isdigit():
                sizes.append(int(stem))
        return sorted(sizes)

    def note(self, size: int) -> str:
        return (self.path / CHECKPOINTS / f"{size}{NOTE_SUFFIX}").read_text(
            encoding="utf-8"
        )

    def checkpoints(self) -> Iterator[checkpoint.Checkpoint]:
        """Every accepted checkpoint in size order, the latest included."""
        sizes = self.sizes()
        latest = self.latest()
        for size in sizes:
            yield _body(self.note(size))
        if latest is not None and (not sizes or latest.size > sizes[-1]):
            yield latest

    # --- add-checkpoint ----------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK, "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _verified(self, note: str) -> checkpoint.Checkpoint:
        origin = note.partition("\n")[0]
        if origin != self.origin:
            raise WitnessError(404, f"unknown origin {origin!r}")
        try:
            body, _ = checkpoint.verify_note(note, {self.origin: self.public_key})
        except checkpoint.CheckpointError as exc:
            raise WitnessError(403, f"no trusted signature: {exc}") from exc
        try:
            return checkpoint.parse_checkpoint(body)
        except checkpoint.CheckpointError as exc:
            raise WitnessError(400, f"malformed checkpoint: {exc}") from exc

    def add(
        self, note: str, old_size: int, proof: Sequence[bytes]
    ) -> checkpoint.Checkpoint:
        """Accept ``note`` if it extends the latest checkpoint; persist it first.

        ``old_size`` is the size the submitter believes the witness holds and
        ``proof`` the consistency proof from that size. Raises WitnessError (see the
        module docstring); re-adding the latest checkpoint is accepted and writes
        nothing.
        """
        new = self._verified(note)
        if old_size < 0 or old_size > new.size:
            raise WitnessError(
                400, f"old size {old_size} is larger than the new size {new.size}"
            )
        with self._locked():
            latest = self.latest()
            latest_size = latest.size if latest is not None else 0
            latest_root = latest.root if latest is not None else merkle.EMPTY_ROOT
            if old_size != latest_size:
                raise WitnessError(
                    409,
                    f"old size {old_size} is not the witnessed size {latest_size}",
                    latest_size=latest_size,
                )
            if new.size == latest_size:
                if new.root != latest_root:
                    raise WitnessError(
                        409,
                        f"a different root for the witnessed size {latest_size}",
                        latest_size=latest_size,
                    )
                if latest is not None:
                    return new
            elif not merkle.verify_consistency(
                first=latest_size,
                second=new.size,
                first_root=latest_root,
                second_root=new.root,
                proof=list(proof),
            ):
                raise WitnessError(
                    422, f"the consistency proof {latest_size} -> {new.size} fails"
                )
            directory = self.path / CHECKPOINTS
            directory.mkdir(exist_ok=True)
            _write_atomically(directory / f"{new.size}{NOTE_SUFFIX}", note)
            _write_atomically(self.path / LATEST, note)
        return new


# --- the configured witness and the log ---------------------------------------------


def ledger_public_key() -> Ed25519PublicKey:
    """The key that checkpoints must be signed with: MODELGOV_LEDGER_PUBLIC_KEY
    (PEM) if set, else the public half of the signing key."""
    from django.conf import settings

    from audits.ledger import services
    from governance import attestations

    pem = str(getattr(settings, "MODELGOV_LEDGER_PUBLIC_KEY", "") or "")
    if pem:
        return attestations.load_public_key(pem)
    return services.ledger_signing_key().public_key()


def configured_witness() -> DirectoryWitness | None:
    """The witness in MODELGOV_LEDGER_WITNESS_DIR for the configured log, if set."""
    from django.conf import settings

    from audits.ledger import services

    path = str(getattr(settings, "MODELGOV_LEDGER_WITNESS_DIR", "") or "")
    if not path:
        return None
    return DirectoryWitness(path, services.ledger_origin(), ledger_public_key())


@dataclass(frozen=True)
class WitnessStatus:
    """The outcome of :func:`witness_submit_pending`."""

    configured: bool
    witness_size: int = 0
    database_size: int = 0
    added: list[int] = field(default_factory=list)

    @property
    def behind(self) -> bool:
        """The database holds less than the witness saw: rolled back or truncated."""
        return self.database_size < self.witness_size


RETRIES_ON_409 = 3


def witness_submit_pending() -> WitnessStatus:
    """Submit every checkpoint newer than the witness's latest, in size order.

    Each goes with the consistency proof from the witness's latest size
    (services.ledger_consistency). A concurrent submitter moving the witness on
    (409) restarts from its new size, at most RETRIES_ON_409 times; any other
    refusal raises WitnessError. Returns the sizes added and both latest sizes;
    nothing is submitted when the witness is not configured.
    """
    from audits.ledger import models as ledger_models
    from audits.ledger import services

    witness = configured_witness()
    if witness is None:
        return WitnessStatus(configured=False)
    added: list[int] = []
    for attempt in range(RETRIES_ON_409 + 1):
        latest = witness.latest()
        old = latest.size if latest is not None else 0
        pending = (
            ledger_models.LedgerCheckpoint.objects.filter(size__gt=old)
            .order_by("size")
            .values_list("size", "note")
        )
        try:
            for size, note in pending.iterator(chunk_size=1000):
                witness.add(note, old, services.ledger_consistency(old, size))
                added.append(size)
                old = size
        except WitnessError as exc:
            if exc.status != 409 or attempt == RETRIES_ON_409:
                raise
            continue
        break
    last = ledger_models.LedgerCheckpoint.objects.order_by("-size").first()
    latest = witness.latest()
    return WitnessStatus(
        configured=True,
        witness_size=latest.size if latest is not None else 0,
        database_size=last.size if last is not None else 0,
        added=added,
    )
