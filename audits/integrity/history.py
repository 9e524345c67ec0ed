"""History rows (django-simple-history) as record leaves.

django-simple-history writes a model's history row in ``post_save``, inside the
transaction of the save: this receiver is the one place where the library's rows
are committed to the ledger, in that same transaction. (Services do not create
history rows themselves; wrapping every save of a card or document instead would
scatter the same call over the registry. ADR 0027.)
"""

from __future__ import annotations

from typing import Any

from simple_history.signals import post_create_historical_record

from audits.integrity import commit, inventory


def _history_committed(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    model = type(history_instance)
    if model in inventory.by_model():
        commit.record_commit(history_instance)


def connect() -> None:
    post_create_historical_record.connect(
        _history_committed, dispatch_uid="audits.integrity.history"
    )
