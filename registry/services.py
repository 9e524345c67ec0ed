"""State changes of the registry. Each writes its audit event in the same transaction.

Rules enforced here (not only in views):
- a user works on a model only if its permission allows and, for developers and
  service accounts, only on models they are listed on;
- a submitted version's content is frozen (FrozenError), backed by a DB trigger;
- validation reports are written by validators who are not on the model's team
  (independence, SR 11-7 §V); development documents and cards by the model's team;
- the card and documents freeze with the version's dossier when a release request
  is submitted for validation, and a live approval covers them (ADR 0026): every
  edit asks ``governance.services.dossier.dossier_edit_allow`` first, and a refused
  one is on the refused-action log.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from audits import services as audit_services
from audits.models import RefusalKind
from governance import inputs, refusals
from governance.exceptions import Conflict, FrozenError
from governance.services import dossier as dossier_services
from registry import baseline as baseline_rules
from registry import catalog, digests, template_schema
from registry.choices import (
    AuthorRole,
    DocumentKind,
    ModelStatus,
    Regulation,
    VersionStatus,
)
from registry.models import (
    VERSION_CONTENT_FIELDS,
    Document,
    DocumentTemplate,
    Model,
    ModelCard,
    ModelVersion,
)

MODEL_CARD_TEMPLATE_KEY = "model-card"
# Slugs that are page paths under /registry/ and so cannot name a model.
RESERVED_SLUGS = frozenset({"new", "templates", "api", "admin"})

MODEL_EDITABLE_FIELDS = (
    "name",
    "model_type",
    "methodology",
    "purpose",
    "intended_use",
    "out_of_scope_uses",
    "products",
    "business_unit",
    "is_vendor",
    "vendor_name",
    "risk_tier",
    "tier_rationale",
    "materiality_exposure",
    "materiality_purpose",
    "regulations",
    "status",
    "next_review_date",
)
VERSION_EDITABLE_FIELDS = (*VERSION_CONTENT_FIELDS, "description")
# Decisions of the risk function (SR 26-2 tiering, lifecycle status, review dates):
# the model's team proposes them at creation; changing them needs govern_model.
GOVERNED_MODEL_FIELDS = ("risk_tier", "tier_rationale", "status", "next_review_date")


def is_model_member(user: Any, model: Model) -> bool:
    """Whether ``user`` is the model's owner or one of its developers."""
    if not getattr(user, "is_authenticated", False):
        return False
    return model.owner_id == user.pk or model.developers.filter(pk=user.pk).exists()


def _require(actor: Any, perm: str, message: str) -> None:
    if not getattr(actor, "is_authenticated", False) or not actor.has_perm(perm):
        raise PermissionDenied(message)


def _require_member_or_all(actor: Any, model: Model, message: str) -> None:
    """Team members always; others only with inventory-wide rights."""
    if is_model_member(actor, model) or actor.has_perm("registry.view_all_models"):
        return
    raise PermissionDenied(message)


Service = TypeVar("Service", bound=Callable[..., Any])


def _records_dossier_refusals(action: str) -> Callable[[Service], Service]:
    """Put an edit that the dossier's freeze refused on the refused-action log, after
    the rollback, in its own transaction; then re-raise it (a 409)."""

    def wrap(func: Service) -> Service:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except dossier_services.DossierFrozenError as exc:
                audit_services.refused_action_record(
                    actor=kwargs.get("actor"),
                    action=action,
                    obj=kwargs.get("card")
                    or kwargs.get("document")
                    or kwargs.get("version"),
                    reason=str(exc),
                    kind=RefusalKind.PERMISSION,
                )
                refusals.mark_recorded(exc)
                raise

        return inner  # type: ignore[return-value]

    return wrap


def _users_by_username(field: str, usernames: Any) -> list[Any]:
    if not isinstance(usernames, list) or not all(
        isinstance(u, str) for u in usernames
    ):
        raise ValidationError({field: ["Must be a list of usernames."]})
    User = get_user_model()
    found = {u.username: u for u in User.objects.filter(username__in=usernames)}
    missing = [u for u in usernames if u not in found]
    if missing:
        raise ValidationError({field: [f"Unknown users: {', '.join(missing)}."]})
    return [found[u] for u in usernames]


def _clean_regulations(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(v in Regulation.values for v in value):
        raise ValidationError(
            {
                "regulations": [
                    f"Must be a list drawn from: {', '.join(Regulation.values)}."
                ]
            }
        )
    return list(dict.fromkeys(value))


def _apply_model_fields(model: Model, data: Mapping[str, Any]) -> list[str]:
    changed = []
    for name in MODEL_EDITABLE_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if name == "regulations":
            value = _clean_regulations(value)
        if getattr(model, name) != value:
            setattr(model, name, value)
            changed.append(name)
    return changed


@transaction.atomic(durable=True)
def model_create(*, actor: Any, data: Mapping[str, Any]) -> Model:
    """Add a model to the inventory.

    ``data`` holds the inventory fields plus ``slug`` and optional ``owner``
    (username) and ``developers`` (usernames). A developer creating a model is put
    on its team. Audited as ``registry.model.created``.
    """
    _require(
        actor, "registry.add_model", "Your role may not add models to the inventory."
    )
    if data.get(
        "status", ModelStatus.IN_DEVELOPMENT
    ) != ModelStatus.IN_DEVELOPMENT and not actor.has_perm("registry.govern_model"):
        raise PermissionDenied(
            "A new inventory entry starts in development; only the risk function "
            "may set another status."
        )
    if data.get("slug") in RESERVED_SLUGS:
        raise ValidationError(
            {"slug": [f"{data['slug']!r} is reserved; choose another slug."]}
        )
    model = Model(slug=data.get("slug", ""), created_by=actor)
    _apply_model_fields(model, data)
    owner = None
    if data.get("owner"):
        owner = _users_by_username("owner", [data["owner"]])[0]
    model.owner = owner
    developers = _users_by_username("developers", data.get("developers", []))
    model.full_clean()
    model._history_user = actor  # type: ignore[attr-defined]
    model.save()
    if (
        actor.has_perm("registry.author_development_documents")
        and actor not in developers
    ):
        developers.append(actor)
    model.developers.set(developers)
    audit_services.audit_event_record(
        actor=actor,
        event_type="registry.model.created",
        obj=model,
        payload={"slug": model.slug, "risk_tier": model.risk_tier},
    )
    return model


class TeamChangeRefused(PermissionDenied):
    """A change of a model's owner or team by someone who may not make it."""


TEAM_CHANGE_MESSAGE = (
    "Only a risk officer or an administrator may change the owner or the team of "
    "{slug}: who is on a model's team decides who may validate and approve it."
)


def _usernames_of(users: Any) -> list[str]:
    return sorted(u.get_username() for u in users)


def model_update(*, actor: Any, model: Model, data: Mapping[str, Any]) -> Model:
    """Change inventory fields of a model; history keeps every prior state.

    Developers may change models they are on; risk officers and administrators any
    model. Tier, status and review date need ``registry.govern_model`` (the risk
    function), and so do the owner and the team (developers): a change of either is
    a separation-of-duties event, audited as ``registry.model.team_changed`` with
    before and after, and refused to anyone else (``TeamChangeRefused``, recorded
    as a refused action). Audited as ``registry.model.updated`` with the changed
    field names.
    """
    try:
        return _model_update(actor=actor, model=model, data=data)
    except TeamChangeRefused as exc:
        # Recorded after the rollback, in its own transaction.
        audit_services.refused_action_record(
            actor=actor,
            action="registry.model.team_change",
            obj=model,
            reason=str(exc),
            kind=RefusalKind.SEPARATION_OF_DUTIES,
        )
        # Recorded: the API's and the pages' edges must not record it again.
        refusals.mark_recorded(exc)
        raise


@transaction.atomic(durable=True)
def _model_update(*, actor: Any, model: Model, data: Mapping[str, Any]) -> Model:
    _require(
        actor, "registry.change_model", "Your role may not change inventory entries."
    )
    _require_member_or_all(actor, model, "You are not on this model's team.")
    model = Model.objects.select_for_update().get(pk=model.pk)
    changed = _apply_model_fields(model, data)
    governed = sorted(set(changed) & set(GOVERNED_MODEL_FIELDS))
    if governed and not actor.has_perm("registry.govern_model"):
        raise PermissionDenied(
            f"Only the risk function may change {', '.join(governed)} of an inventory entry."
        )
    owner_before = model.owner.get_username() if model.owner else None
    developers_before = _usernames_of(model.developers.all())
    team: dict[str, Any] = {}
    if "owner" in data:
        owner = (
            _users_by_username("owner", [data["owner"]])[0] if data["owner"] else None
        )
        if owner != model.owner:
            team["owner"] = owner
    if "developers" in data:
        developers = _users_by_username("developers", data["developers"])
        if set(_usernames_of(developers)) != set(developers_before):
            team["developers"] = developers
    if team and not actor.has_perm("registry.govern_model"):
        raise TeamChangeRefused(TEAM_CHANGE_MESSAGE.format(slug=model.slug))
    if "owner" in team:
        model.owner = team["owner"]
        changed.append("owner")
    if "developers" in team:
        model.developers.set(team["developers"])
        changed.append("developers")
    if not changed:
        return model
    model.updated_at = timezone.now()
    model.full_clean()
    model._history_user = actor  # type: ignore[attr-defined]
    model.save()
    audit_services.audit_event_record(
        actor=actor,
        event_type="registry.model.updated",
        obj=model,
        payload={"fields": sorted(set(changed))},
    )
    if team:
        owner_after = model.owner.get_username() if model.owner else None
        developers_after = _usernames_of(model.developers.all())
        audit_services.audit_event_record(
            actor=actor,
            event_type="registry.model.team_changed",
            obj=model,
            payload={
                "slug": model.slug,
                "owner": {"before": owner_before, "after": owner_after},
                "developers": {
                    "before": developers_before,
                    "after": developers_after,
                    "added": sorted(set(developers_after) - set(developers_before)),
                    "removed": sorted(set(developers_before) - set(developers_after)),
                },
            },
        )
    return model


def _validate_version_content(version: ModelVersion) -> None:
    errors: dict[str, list[str]] = {}
    schema_errors = baseline_rules.validate_input_schema(version.input_schema)
    if schema_errors:
        errors["input_schema"] = schema_errors
    features = (
        set(version.input_schema.get("properties", {})) if not schema_errors else None
    )
    base_errors = baseline_rules.validate_baseline(version.baseline, features)
    attrs = version.protected_attributes
    if not isinstance(attrs, list) or not all(isinstance(a, str) and a for a in attrs):
        errors["protected_attributes"] = ["Must be a list of attribute names."]
    elif isinstance(version.baseline, Mapping):
        rates = version.baseline.get("approval_rate")
        groups = rates.get("by_group") if isinstance(rates, Mapping) else None
        if isinstance(groups, Mapping):
            extra = sorted(set(groups) - set(attrs))
            if extra:
                base_errors.append(
                    "approval_rate.by_group: attributes not declared as protected: "
                    + ", ".join(extra)
                )
    if base_errors:
        errors["baseline"] = base_errors
    for name in ("hyperparameters", "metrics"):
        if not isinstance(getattr(version, name), dict):
            errors[name] = ["Must be an object."]
    if errors:
        raise ValidationError(errors)


def _card_template() -> DocumentTemplate:
    template = (
        DocumentTemplate.objects.filter(key=MODEL_CARD_TEMPLATE_KEY, is_active=True)
        .order_by("-version")
        .first()
    )
    if template is None:
        raise Conflict(
            "The model-card template is missing; run migrate to load the catalog."
        )
    return template


@transaction.atomic(durable=True)
def model_version_register(
    *, actor: Any, model: Model, data: Mapping[str, Any]
) -> ModelVersion:
    """Register a new version of ``model`` with its lineage and baseline, as a draft.

    Needs ``registry.add_modelversion`` and a place on the model's team. Creates the
    version's (empty) model card from the newest model-card template. A duplicate
    version string is a Conflict. Audited as ``registry.version.registered``.
    """
    _require(actor, "registry.add_modelversion", "Your role may not register versions.")
    if not is_model_member(actor, model):
        raise PermissionDenied("You are not on this model's team.")
    version = ModelVersion(model=model, created_by=actor)
    for name in VERSION_EDITABLE_FIELDS:
        if name in data:
            setattr(version, name, data[name])
    version.full_clean(validate_unique=False, validate_constraints=False)
    _validate_version_content(version)
    if ModelVersion.objects.filter(model=model, version=version.version).exists():
        raise Conflict(
            f"Version {version.version} of {model.slug} already exists.",
            code="duplicate",
        )
    version._history_user = actor  # type: ignore[attr-defined]
    try:
        with transaction.atomic():
            version.save()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict(
            f"Version {version.version} of {model.slug} already exists.",
            code="duplicate",
        ) from exc
    card = ModelCard(model_version=version, template=_card_template(), updated_by=actor)
    card._history_user = actor  # type: ignore[attr-defined]
    card.save()
    audit_services.audit_event_record(
        actor=actor,
        event_type="registry.version.registered",
        obj=version,
        payload={
            "model": model.slug,
            "version": version.version,
            "artifact_sha256": version.artifact_sha256,
            "training_data_sha256": version.training_data_sha256,
            "code_commit": version.code_commit,
        },
    )
    return version


@transaction.atomic(durable=True)
def model_version_update(
    *, actor: Any, version: ModelVersion, data: Mapping[str, Any]
) -> ModelVersion:
    """Change a draft version. A submitted (frozen) version refuses every change.

    Raises FrozenError for a frozen version, before any permission detail is
    revealed to a team member. Audited as ``registry.version.updated``.
    """
    _require(
        actor, "registry.change_modelversion", "Your role may not change versions."
    )
    version = (
        ModelVersion.objects.select_for_update()
        .select_related("model")
        .get(pk=version.pk)
    )
    if not is_model_member(actor, version.model):
        raise PermissionDenied("You are not on this model's team.")
    if version.is_frozen:
        raise FrozenError(
            f"Version {version.version} of {version.model.slug} was submitted on "
            f"{version.submitted_at:%Y-%m-%d %H:%M} UTC; its content is frozen "
            f"(digest {version.content_digest}). Register a new version instead."
        )
    unknown = sorted(set(data) - set(VERSION_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({k: ["This field cannot be changed."] for k in unknown})
    changed = []
    for name, value in data.items():
        if getattr(version, name) != value:
            setattr(version, name, value)
            changed.append(name)
    if not changed:
        return version
    version.full_clean(validate_unique=False, validate_constraints=False)
    _validate_version_content(version)
    if (
        "version" in changed
        and ModelVersion.objects.filter(model=version.model, version=version.version)
        .exclude(pk=version.pk)
        .exists()
    ):
        raise Conflict(f"Version {version.version} already exists.", code="duplicate")
    version._history_user = actor  # type: ignore[attr-defined]
    version.save(update_fields=changed)
    audit_services.audit_event_record(
        actor=actor,
        event_type="registry.version.updated",
        obj=version,
        payload={"fields": sorted(changed)},
    )
    return version


@transaction.atomic(durable=True)
def model_version_submit(*, actor: Any, version: ModelVersion) -> ModelVersion:
    """Submit a draft version for review and freeze its content.

    Stores the SHA-256 of the canonical content; from then on any change is refused
    here and by the database trigger. Requires the artifact digest and an input
    schema. Audited as ``registry.version.submitted`` with the digest.
    """
    _require(
        actor, "registry.submit_modelversion", "Your role may not submit versions."
    )
    version = (
        ModelVersion.objects.select_for_update()
        .select_related("model")
        .get(pk=version.pk)
    )
    if not is_model_member(actor, version.model):
        raise PermissionDenied("You are not on this model's team.")
    if version.status != VersionStatus.DRAFT:
        raise Conflict(
            f"Version {version.version} is {version.get_status_display().lower()}; "
            "only a draft can be submitted.",
            code="invalid_state",
        )
    if not version.input_schema:
        raise ValidationError({"input_schema": ["A version needs an input schema."]})
    content = version.content()
    refused = inputs.problems(content)
    if refused:
        # Stored before the input boundary (ADR 0019): never frozen into a digest.
        errors: dict[str, list[str]] = {}
        for where, message in refused:
            errors.setdefault(where, []).append(
                f"{message} Correct it in the draft (manage.py input_scan --repair "
                "reports and repairs it) before submitting."
            )
        raise ValidationError(errors)
    version.content_digest = digests.content_digest(content)
    version.status = VersionStatus.SUBMITTED
    version.submitted_by = actor
    version.submitted_at = timezone.now()
    version._history_user = actor  # type: ignore[attr-defined]
    version.save(
        update_fields=["content_digest", "status", "submitted_by", "submitted_at"]
    )
    model = version.model
    if model.status == ModelStatus.IN_DEVELOPMENT:
        model.status = ModelStatus.PENDING_VALIDATION
        model.updated_at = timezone.now()
        model._history_user = actor  # type: ignore[attr-defined]
        model.save(update_fields=["status", "updated_at"])
    audit_services.audit_event_record(
        actor=actor,
        event_type="registry.version.submitted",
        obj=version,
        payload={"content_digest": version.content_digest, "model": model.slug},
    )
    return version


def _check_can_author(actor: Any, model: Model, author_role: str) -> None:
    if author_role == AuthorRole.VALIDATOR:
        _require(
            actor,
            "registry.author_validation_documents",
            "Only a validator may write a validation report.",
        )
        if is_model_member(actor, model):
            raise PermissionDenied(
                "A validator must be independent of the model: you are on its team "
                "(SR 11-7 §V)."
            )
        return
    _require(
        actor,
        "registry.author_development_documents",
        "Only the model's developers may write its card and development documents.",
    )
    if not is_model_member(actor, model):
        raise PermissionDenied("You are not on this model's team.")


def _clean_section(
    template: DocumentTemplate, section_key: str, values: Any
) -> dict[str, Any]:
    section = template_schema.section_map(template.definition).get(section_key)
    if section is None:
        raise ValidationError({"section": [f"Unknown section {section_key!r}."]})
    try:
        return template_schema.clean_section_values(section, values)
    except template_schema.SchemaError as exc:
        raise ValidationError(exc.errors) from exc


def _clean_content(template: DocumentTemplate, content: Any) -> dict[str, Any]:
    if not isinstance(content, Mapping):
        raise ValidationError({"content": ["Must be an object keyed by section."]})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for key, values in content.items():
        try:
            cleaned[key] = _clean_section(template, key, values)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors[f"{key}.{field}" if field != "section" else key] = messages
    if errors:
        raise ValidationError(errors)
    return cleaned


@_records_dossier_refusals("registry.card.section_update")
@transaction.atomic(durable=True)
def model_card_section_update(
    *, actor: Any, card: ModelCard, section_key: str, values: Mapping[str, Any]
) -> ModelCard:
    """Replace the values of one section of a model card.

    The row is locked, so two people editing different sections never lose each
    other's work. Refused (DossierFrozenError, recorded) while the dossier is
    frozen; an amendment puts live approvals under review (ADR 0026). Audited as
    ``registry.card.section_updated``.
    """
    card = (
        ModelCard.objects.select_for_update()
        .select_related("template", "model_version__model")
        .get(pk=card.pk)
    )
    _check_can_author(actor, card.model_version.model, card.template.author_role)
    cleaned = _clean_section(card.template, section_key, values)
    if card.content.get(section_key) == cleaned:
        return card
    content = {**card.content, section_key: cleaned}
    dossier_services.dossier_edit_allow(actor=actor, paper=card, content=content)
    card.content = content
    card.updated_by = actor
    card.updated_at = timezone.now()
    card._history_user = actor  # type: ignore[attr-defined]
    card.save(update_fields=["content", "updated_by", "updated_at"])
    audit_services.audit_event_record(
        actor=actor,
        event_type="registry.card.section_updated",
        obj=card,
        payload={"section": section_key, "version": str(card.model_version)},
    )
    return card


@_records_dossier_refusals("registry.card.replace")
@transaction.atomic(durable=True)
def model_card_replace(
    *, actor: Any, card: ModelCard, content: Mapping[str, Any]
) -> ModelCard:
    """Replace a model card's whole content (sections not given become empty).

    The dossier rule of :func:`model_card_section_update` applies. Audited as
    ``registry.card.replaced``.
    """
    card = (
        ModelCard.objects.select_for_update()
        .select_related("template", "model_version__model")
        .get(pk=card.pk)
    )
    _check_can_author(actor, card.model_version.model, card.template.author_role)
    cleaned = _clean_content(card.template, content)
    if cleaned == card.content:
        return card
    dossier_services.dossier_edit_allow(actor=actor, paper=card, content=cleaned)
    card.content = cleaned
    card.updated_by = actor
    card.updated_at = timezone.now()
    card._history_user = actor  # type: ignore[attr-defined]
    card.save(update_fields=["content", "updated_by", "updated_at"])
    audit_services.audit_event_record(
        actor=actor,
        event_type="registry.card.replaced",
        obj=card,
        payload={"sections": sorted(cleaned), "version": str(card.model_version)},
    )
    return card


@_records_dossier_refusals("registry.document.create")
@transaction.atomic(durable=True)
def document_create(
    *,
    actor: Any,
    version: ModelVersion,
    template: DocumentTemplate,
    title: str = "",
    content: Mapping[str, Any] | None = None,
) -> Document:
    """Start a document of ``version`` from ``template``: one per template key.

    The author rules of the template apply (validators for validation reports,
    the model's team otherwise), and so does the dossier rule of
    :func:`document_section_update`. Audited as ``registry.document.created``.
    """
    model = version.model
    _require(actor, "registry.add_document", "Your role may not create documents.")
    if template.kind == DocumentKind.MODEL_CARD:
        raise ValidationError(
            {"template": ["The model card is created with the version."]}
        )
    if not template.is_active:
        raise ValidationError({"template": ["This template is retired."]})
    _check_can_author(actor, model, template.author_role)
    if Document.objects.filter(
        model_version=version, template__key=template.key
    ).exists():
        raise Conflict(
            f"{version} already has a {template.name} document.", code="duplicate"
        )
    cleaned = _clean_content(template, content or {})
    document = Document(
        model_version=version,
        template=template,
        title=title.strip() or f"{template.name}: {model.name} {version.version}",
        content=cleaned,
        created_by=actor,
        updated_by=actor,
    )
    document.full_clean(validate_constraints=False)
    dossier_services.dossier_edit_allow(
        actor=actor, paper=document, content=cleaned, created=True
    )
    document._history_user = actor  # type: ignore[attr-defined]
    document.save()
    audit_services.audit_event_record(
        actor=actor,
        event_type="registry.document.created",
        obj=document,
        payload={"template": template.key, "template_version": template.version},
    )
    return document


@_records_dossier_refusals("registry.document.section_update")
@transaction.atomic(durable=True)
def document_section_update(
    *, actor: Any, document: Document, section_key: str, values: Mapping[str, Any]
) -> Document:
    """Replace the values of one section of a document (row locked).

    Refused (DossierFrozenError, recorded) while the dossier is frozen: a request
    in review freezes every document but the validation report, which the
    validator of a request in validation writes until they sign; a live approval
    whose policy allows no amendments freezes all. Where it allows them, the edit
    puts the approval under review and notifies its signers (ADR 0026). Audited as
    ``registry.document.section_updated``.
    """
    document = (
        Document.objects.select_for_update()
        .select_related("template", "model_version__model")
        .get(pk=document.pk)
    )
    _check_can_author(
        actor, document.model_version.model, document.template.author_role
    )
    cleaned = _clean_section(document.template, section_key, values)
    if document.content.get(section_key) == cleaned:
        return document
    content = {**document.content, section_key: cleaned}
    dossier_services.dossier_edit_allow(actor=actor, paper=document, content=content)
    document.content = content
    document.updated_by = actor
    document.updated_at = timezone.now()
    document._history_user = actor  # type: ignore[attr-defined]
    document.save(update_fields=["content", "updated_by", "updated_at"])
    audit_services.audit_event_record(
        actor=actor,
        event_type="registry.document.section_updated",
        obj=document,
        payload={"section": section_key, "version": str(document.model_version)},
    )
    return document


# Not durable: the Django admin saves inside its own transaction.
@transaction.atomic
def template_create(*, actor: Any, definition: Mapping[str, Any]) -> DocumentTemplate:
    """Add an organisation's own template, or a new version of an existing key.

    A new version must be higher than every stored version of the key; shipped
    templates are never overwritten. Audited as ``registry.template.created``.
    """
    _require(
        actor, "registry.add_documenttemplate", "Only administrators add templates."
    )
    try:
        template_schema.validate_definition(definition)
    except template_schema.SchemaError as exc:
        raise ValidationError(exc.errors) from exc
    latest = DocumentTemplate.objects.filter(key=definition["key"]).aggregate(
        v=Max("version")
    )["v"]
    if latest is not None and definition["version"] <= latest:
        raise Conflict(
            f"Template {definition['key']} is at version {latest}; "
            "a new version must be higher.",
            code="duplicate",
        )
    template = DocumentTemplate(
        key=definition["key"],
        version=definition["version"],
        name=definition["name"],
        description=definition.get("description", ""),
        kind=definition["kind"],
        author_role=definition["author_role"],
        definition=dict(definition),
        definition_sha256=digests.content_digest(definition),
        is_builtin=False,
        created_by=actor,
    )
    template.full_clean(validate_constraints=False)
    template._history_user = actor  # type: ignore[attr-defined]
    template.save()
    audit_services.audit_event_record(
        actor=actor,
        event_type="registry.template.created",
        obj=template,
        payload={"key": template.key, "version": template.version},
    )
    return template


def template_catalog_sync(*, using: str = "default") -> list[str]:
    """Insert shipped templates the database lacks; return warnings.

    Never rewrites a stored template: a shipped definition whose digest differs
    from the stored row of the same version is reported, not applied.
    """
    warnings = []
    for shipped in catalog.load_catalog():
        d = shipped.definition
        existing = (
            DocumentTemplate.objects.using(using)
            .filter(key=d["key"], version=d["version"])
            .first()
        )
        if existing is not None:
            if existing.definition_sha256 != shipped.sha256:
                warnings.append(
                    f"{shipped.path.name}: template {d['key']} v{d['version']} differs from "
                    "the stored one; bump its version to ship a change."
                )
            continue
        # Its creation is recorded in the template's own history (history_user None).
        DocumentTemplate.objects.using(using).create(
            key=d["key"],
            version=d["version"],
            name=d["name"],
            description=d.get("description", ""),
            kind=d["kind"],
            author_role=d["author_role"],
            definition=d,
            definition_sha256=shipped.sha256,
            is_builtin=True,
        )
    return warnings


@transaction.atomic(durable=True)
def stored_input_repair(
    *,
    actor: Any,
    obj: ModelVersion | ModelCard | Document,
    fields: Mapping[str, Any],
    paths: list[str],
) -> ModelVersion | ModelCard | Document:
    """Replace ``fields`` of a draft's row holding values stored before the input
    boundary (``manage.py input_scan --repair``; ADR 0019).

    Only a draft version, or the card or a document of one, may be changed: anything
    frozen is reported, never rewritten (raises Conflict). The row is locked; the
    new values must pass the boundary (raises ValidationError). Audited as
    ``registry.input.repaired`` with the field paths repaired.
    """
    obj = type(obj).objects.select_for_update().get(pk=obj.pk)
    version = obj if isinstance(obj, ModelVersion) else obj.model_version
    if version.status != VersionStatus.DRAFT:
        raise Conflict(
            f"Version {version} is {version.get_status_display().lower()}; only a "
            "draft's records may be repaired.",
            code="invalid_state",
        )
    for name, value in fields.items():
        inputs.check(value, path=name)
        setattr(obj, name, value)
    obj._history_user = actor  # type: ignore[union-attr]
    obj.save(update_fields=list(fields))
    audit_services.audit_event_record(
        actor=actor,
        event_type="registry.input.repaired",
        obj=obj,
        payload={"version": str(version), "fields": sorted(fields), "paths": paths},
    )
    return obj
