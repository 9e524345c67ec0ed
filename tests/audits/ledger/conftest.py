"""The ledger's own tests start from an empty ledger.

Since issue 13 the shipped documentation templates, which migrations insert, are
committed to the ledger as record leaves: a fresh test database holds a few queued
entries before any test runs. The storage, witness and tamper tests count entries,
checkpoints and seqs exactly from 0; for them (``empty_ledger``) those queued leaves,
their idempotency keys and index rows are removed inside the test's transaction
(rolled back after it), as if the templates had been loaded before the ledger.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

# (table, column holding the entry id) cleared in this order.
_QUEUED = (
    ("audits_recordcommitment", "entry_id"),
    ("audits_ledgerkey", "entry_id"),
)


@pytest.fixture
def empty_ledger(db: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audits_ledgerentry")
        assert cursor.fetchone() == (0,), "the ledger already has sequenced entries"
        for table, column in _QUEUED:
            cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER ALL')
            cursor.execute(
                f'DELETE FROM "{table}" WHERE "{column}" IN '
                "(SELECT entry_id FROM audits_ledgerqueue)"
            )
            cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER ALL')
        cursor.execute("DELETE FROM audits_ledgerqueue")
