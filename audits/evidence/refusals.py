"""The refused actions of a period evidence pack (ADR 0024).

Two lists, both of refusals that occurred in the period and by ``as_of``:

* **on the model**: refusals whose object is the model, one of its versions, their
  model cards, documents, release requests or findings, or an API token bound to
  the model (as object, or as the token that was used);
* **of its people**: failed sign-ins and lockouts (account-level refusals, which
  name no object) of the accounts that were on the model's team (owner or
  developer in any of its recorded states up to ``as_of``) or that acted on it
  (the actor of an audit event on the model or its objects, up to ``as_of``).

Every input is insert-only or bounded by ``as_of``, so the same arguments give the
same rows; a row's ledger ``seq`` is given only when it is inside the pack's
checkpoint (``seq < ledger_size``), null otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q

from audits import selectors as audit_selectors
from audits.ledger import records
from audits.models import AuditEvent, RefusalKind, RefusedAction
from governance.models import ApiToken, Finding, ReleaseRequest
from registry.models import Document, Model, ModelCard, ModelVersion

ACCOUNT_KINDS = (RefusalKind.LOGIN_FAILED, RefusalKind.LOCKED_OUT)


def _model_objects(model: Model) -> tuple[dict[str, list[str]], list[int]]:
    """The model's objects by type (ids as text), and the ids of its tokens.

    Objects made after ``as_of`` need no exclusion: no refusal by ``as_of`` can
    name them."""
    versions = list(
        ModelVersion.objects.filter(model=model).values_list("pk", flat=True)
    )
    tokens = list(
        ApiToken.objects.filter(deployment_model=model).values_list("pk", flat=True)
    )
    ids: dict[str, list[Any]] = {
        "registry.model": [model.pk],
        "registry.modelversion": versions,
        "registry.modelcard": list(
            ModelCard.objects.filter(model_version_id__in=versions).values_list(
                "pk", flat=True
            )
        ),
        "registry.document": list(
            Document.objects.filter(model_version_id__in=versions).values_list(
                "pk", flat=True
            )
        ),
        "governance.releaserequest": list(
            ReleaseRequest.objects.filter(model_version_id__in=versions).values_list(
                "pk", flat=True
            )
        ),
        "governance.finding": list(
            Finding.objects.filter(model_version_id__in=versions).values_list(
                "pk", flat=True
            )
        ),
        "governance.apitoken": tokens,
    }
    return {kind: [str(pk) for pk in pks] for kind, pks in ids.items()}, tokens


def _objects_q(objects: dict[str, list[str]]) -> Q:
    match = Q(pk__in=[])
    for object_type, ids in objects.items():
        if ids:
            match |= Q(object_type=object_type, object_id__in=ids)
    return match


def _people(
    model: Model, objects: dict[str, list[str]], as_of: datetime
) -> tuple[set[int], set[str]]:
    """The user ids and account names of the model's team and of those who acted
    on it, up to ``as_of``."""
    user_ids: set[int] = set()
    states = Model.history.filter(id=model.pk, history_date__lte=as_of)
    for state in states:
        if state.owner_id is not None:
            user_ids.add(state.owner_id)
        user_ids.update(state.developers.values_list("user_id", flat=True))
    user_ids.update(
        AuditEvent.objects.filter(_objects_q(objects), occurred_at__lte=as_of)
        .exclude(actor=None)
        .values_list("actor_id", flat=True)
        .distinct()
    )
    names = set(
        get_user_model()
        .objects.filter(pk__in=user_ids)
        .values_list("username", flat=True)
    )
    return user_ids, names


def _row(refused: RefusedAction, seq: int | None, ledger_size: int) -> dict[str, Any]:
    return {
        "id": refused.pk,
        "occurred_at": records.iso(refused.occurred_at),
        "kind": refused.kind,
        "kind_label": str(RefusalKind(refused.kind).label)
        if refused.kind in RefusalKind.values
        else refused.kind,
        "action": refused.action,
        "who": audit_selectors.refusal_who(refused),
        "username": refused.username,
        "object": (
            {"type": refused.object_type, "id": refused.object_id}
            if refused.object_type
            else None
        ),
        "reason": refused.reason,
        "ip_address": refused.ip_address,
        "method": refused.method,
        "path": refused.path,
        "token_id": refused.token_id,
        "request_id": refused.request_id,
        "seq": seq if seq is not None and seq < ledger_size else None,
    }


def period_refusals(
    *,
    model: Model,
    period_start: datetime,
    period_end: datetime,
    as_of: datetime,
    ledger_size: int,
) -> dict[str, Any]:
    """The refusals of the period pack of ``model``: ``on_model`` and
    ``of_people`` (see the module), oldest first, and the account names the
    second list was drawn for. Reads only."""
    objects, tokens = _model_objects(model)
    in_period = Q(occurred_at__gte=period_start, occurred_at__lt=period_end) & Q(
        occurred_at__lte=as_of
    )
    on_model = list(
        RefusedAction.objects.filter(
            in_period & (_objects_q(objects) | Q(token_id__in=tokens))
        ).order_by("occurred_at", "id")
    )
    user_ids, names = _people(model, objects, as_of)
    of_people = list(
        RefusedAction.objects.filter(
            in_period,
            Q(kind__in=ACCOUNT_KINDS),
            Q(actor_id__in=user_ids) | Q(username__in=names),
        )
        .exclude(pk__in=[r.pk for r in on_model])
        .order_by("occurred_at", "id")
    )
    seqs = audit_selectors.refusal_seqs([r.pk for r in on_model + of_people])
    return {
        "on_model": [_row(r, seqs.get(r.pk), ledger_size) for r in on_model],
        "of_people": [_row(r, seqs.get(r.pk), ledger_size) for r in of_people],
        "accounts": sorted(names),
    }
