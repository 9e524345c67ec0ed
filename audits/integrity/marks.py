"""Verdicts for pages whose rows are not model instances (the access log and the
refused actions are lists of selector rows): the rows are loaded once by primary
key and checked in one batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models

from audits.integrity import verify

__all__ = ["verdicts_by_pk"]


def verdicts_by_pk(
    model: type[models.Model], pks: Iterable[Any]
) -> dict[Any, verify.Verdict]:
    """The verdict of each row of ``model`` named in ``pks``, by primary key (a
    key whose row is gone has no entry: pages show it as not verified)."""
    wanted = list(dict.fromkeys(pks))
    if not wanted:
        return {}
    rows = list(model._default_manager.filter(pk__in=wanted))
    found = verify.verdicts(rows)
    return {row.pk: found[verify.key_of(row)] for row in rows}
