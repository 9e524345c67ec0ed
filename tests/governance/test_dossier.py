"""An approval covers the whole dossier (ADR 0026): signatures bind the digests of
the card, the documents, the validation report and the monitoring state; the
dossier freezes when a request is submitted for validation; an edit under a live
approval is refused or, where the policy allows amendments, puts the approval under
review; the request page, the trail and the pack show what changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audits import trail as trail_selectors
from audits.evidence import collect
from audits.models import AuditEvent, RefusalKind, RefusedAction
from governance import dossier as dossier_rules
from governance import services
from governance.choices import RequestState
from governance.models import ApprovalPolicy, ReleaseRequest, Signature
from governance.services import dossier, notifications, workflow
from registry import selectors as registry_selectors
from registry import services as registry_services
from registry.models import Document, ModelCard, ModelVersion
from tests.audits.test_trail import (  # noqa: F401 (fixtures)
    PREDICTION_ID,
    deployed,
    page_url,
    served,
    trail_url,
)
from tests.conftest import client_for
from tests.factories import PASSWORD, UserFactory
from tests.governance.test_gate_api import approve
from tests.governance.workflow_helpers import complete_values, document_everything

Frozen = dossier.DossierFrozenError


# -- helpers -------------------------------------------------------------------


def _tier_2(version: ModelVersion) -> ModelVersion:
    type(version.model).objects.filter(pk=version.model_id).update(risk_tier=2)
    version.refresh_from_db()
    return version


def _card(version: ModelVersion) -> ModelCard:
    return ModelCard.objects.select_related("template").get(model_version=version)


def _document(version: ModelVersion, key: str) -> Document:
    return Document.objects.select_related("template").get(
        model_version=version, template__key=key
    )


def _first_field(template: Any) -> tuple[str, dict[str, Any]]:
    """The first section's key and values with its first text field rewritten."""
    section = template.definition["sections"][0]
    values = complete_values(template)[section["key"]]
    first = next(f for f in section["fields"] if f["type"] in ("text", "textarea"))
    values[first["key"]] = "Rewritten after the freeze."
    return section["key"], values


def _papers_snapshot(version: ModelVersion) -> Callable[[], Any]:
    def snapshot() -> Any:
        return (
            list(ModelCard.objects.filter(model_version=version).values()),
            list(Document.objects.filter(model_version=version).values()),
            ModelCard.history.filter(model_version_id=version.pk).count(),
            Document.history.filter(model_version_id=version.pk).count(),
            list(ReleaseRequest.objects.filter(model_version=version).values()),
        )

    return snapshot


def _last_refusal_id() -> int:
    last = RefusedAction.objects.order_by("-id").first()
    return last.pk if last else 0


def _assert_frozen(
    call: Callable[[], Any],
    *,
    actor: Any,
    obj: Any,
    message: str,
    action: str,
    version: ModelVersion,
) -> None:
    """``call`` raises DossierFrozenError(message); nothing changed; one refusal."""
    snapshot = _papers_snapshot(version)
    before = snapshot()
    audits = AuditEvent.objects.count()
    last_refusal = _last_refusal_id()
    with pytest.raises(Frozen) as info:
        call()
    assert str(info.value) == message
    assert info.value.code == "frozen"
    assert snapshot() == before
    assert AuditEvent.objects.count() == audits
    refusals = [
        (r.actor_id, r.action, r.object_type, r.object_id, r.reason, r.kind)
        for r in RefusedAction.objects.filter(id__gt=last_refusal)
    ]
    assert refusals == [
        (
            actor.pk,
            action,
            obj._meta.label_lower,
            str(obj.pk),
            message,
            RefusalKind.PERMISSION,
        )
    ]


def _submitted(version: ModelVersion, developer: Any) -> ReleaseRequest:
    rr = services.release_request_create(
        actor=developer, version=version, environments=["production"]
    )
    return services.release_request_submit(actor=developer, request=rr)


@pytest.fixture
def documented(
    submitted_version: ModelVersion, developer: Any, validator: Any
) -> ModelVersion:
    version = _tier_2(submitted_version)
    document_everything(version=version, developer=developer, validator=validator)
    return version


@pytest.fixture
def approval(
    submitted_version: ModelVersion,
    developer: Any,
    validator: Any,
    risk_officer: Any,
) -> ReleaseRequest:
    return approve(
        version=submitted_version,
        developer=developer,
        validator=validator,
        risk_officer=risk_officer,
        environments=["production"],
    )


def _as_superuser(table: str, sql: str, params: list[Any]) -> None:
    """Run ``sql`` on ``table`` as a superuser would: its insert-only triggers
    switched off for the statement, then on again. (The test's deferred foreign-key
    checks run first: PostgreSQL alters no table with trigger events pending.)"""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER ALL')
        cursor.execute(sql, params)
        cursor.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER ALL')
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _superuser_alter_history(document: Document, content: dict[str, Any]) -> None:
    """Rewrite the document's latest history row, as a superuser."""
    table = Document.history.model._meta.db_table
    latest = (
        Document.history.filter(id=document.pk)
        .order_by("-history_date", "-history_id")
        .first()
    )
    _as_superuser(
        table,
        f'UPDATE "{table}" SET content = %s::jsonb WHERE history_id = %s',
        [json.dumps(content), latest.history_id],
    )


# -- what a signature binds ----------------------------------------------------


def test_every_signature_binds_the_dossier_and_its_binding_covers_it(
    approval: ReleaseRequest,
) -> None:
    # given an approved request (validated, then approved)
    version = approval.model_version
    card = _card(version)
    documents = list(
        Document.objects.select_related("template")
        .filter(model_version=version)
        .order_by("template__key")
    )
    expected_papers = [
        {
            "kind": "card",
            "id": card.pk,
            "label": "Model card",
            "template": "model-card",
            "template_version": card.template.version,
            "sha256": dossier_rules.paper_digest(
                template_key="model-card",
                template_version=card.template.version,
                title="Model card",
                content=card.content,
            ),
        },
        *(
            {
                "kind": "document",
                "id": d.pk,
                "label": d.title,
                "template": d.template.key,
                "template_version": d.template.version,
                "sha256": dossier_rules.paper_digest(
                    template_key=d.template.key,
                    template_version=d.template.version,
                    title=d.title,
                    content=d.content,
                ),
            }
            for d in documents
        ),
    ]
    # then both signatures bind the card, the four documents (the validation
    # report among them) and an empty monitoring state, and verify
    signatures = list(approval.signatures.order_by("signed_at", "id"))
    assert [s.meaning for s in signatures] == ["validated", "approved"]
    assert [d.template.key for d in documents] == [
        "eu-ai-act-annex-iv",
        "sr11-7-development",
        "sr26-2-materiality",
        "validation-report",
    ]
    for signature in signatures:
        assert signature.dossier == {"papers": expected_papers, "monitoring": []}
        assert workflow.signature_binding_is_intact(signature) is True
        assert [line.state for line in dossier.dossier_check(signature)] == [
            "as_signed"
        ] * 6


def test_a_changed_dossier_column_breaks_the_binding(approval: ReleaseRequest) -> None:
    # given the approval's signature with its dossier rewritten by a superuser
    signature = approval.signatures.get(meaning="approved")
    forged = json.loads(json.dumps(signature.dossier))
    forged["papers"][1]["sha256"] = "0" * 64
    _as_superuser(
        "governance_signature",
        "UPDATE governance_signature SET dossier = %s::jsonb WHERE id = %s",
        [json.dumps(forged), signature.pk],
    )
    # when it is checked again
    signature.refresh_from_db()
    # then the binding fails
    assert workflow.signature_binding_is_intact(signature) is False


def test_a_signature_made_before_dossiers_were_bound_still_verifies(
    approval: ReleaseRequest,
) -> None:
    # given a signature row without a dossier, bound the way it was before ADR 0026
    template = approval.signatures.get(meaning="approved")
    old = Signature(
        request=approval,
        model_version=template.model_version,
        signer=template.signer,
        printed_name=template.printed_name,
        meaning="approved",
        comment="signed before the dossier was bound",
        signed_at=template.signed_at - timedelta(seconds=1),
        artifact_sha256=template.artifact_sha256,
        content_digest=template.content_digest,
        environments=template.environments,
        dossier=None,
    )
    version = template.model_version
    old.binding_sha256 = dossier_rules.digests.content_digest(
        {
            "request": approval.pk,
            "model": version.model.slug,
            "version": version.version,
            "version_id": version.pk,
            "artifact_sha256": old.artifact_sha256,
            "content_digest": old.content_digest,
            "environments": old.environments,
            "meaning": "approved",
            "signer": old.signer.get_username(),
            "printed_name": old.printed_name,
            "signed_at": old.signed_at.isoformat(),
            "comment": old.comment,
        }
    )
    old.save(force_insert=True)
    # then it verifies, and has no dossier to check
    assert workflow.signature_binding_is_intact(old) is True
    assert dossier.dossier_check(old) == []


# -- the freeze ----------------------------------------------------------------


def test_the_card_and_documents_freeze_when_the_request_is_submitted(
    documented: ModelVersion, developer: Any
) -> None:
    # given a request submitted for validation
    rr = _submitted(documented, developer)
    card = _card(documented)
    section, values = _first_field(card.template)
    # when the team edits the card, then it is refused, naming it; nothing changed
    _assert_frozen(
        lambda: registry_services.model_card_section_update(
            actor=developer, card=card, section_key=section, values=values
        ),
        actor=developer,
        obj=card,
        message=(
            f"Model card of credit-risk 1.0.0 is frozen: RR-{rr.pk} (submitted) was "
            "submitted for validation with it. A change is a new draft that a new "
            "request must carry: withdraw the request (or wait for its decision) "
            "first."
        ),
        action="registry.card.section_update",
        version=documented,
    )
    # and so is an edit of a development document
    development = _document(documented, "sr11-7-development")
    section, values = _first_field(development.template)
    _assert_frozen(
        lambda: registry_services.document_section_update(
            actor=developer, document=development, section_key=section, values=values
        ),
        actor=developer,
        obj=development,
        message=(
            f"{development.title} of credit-risk 1.0.0 is frozen: RR-{rr.pk} "
            "(submitted) was submitted for validation with it. A change is a new "
            "draft that a new request must carry: withdraw the request (or wait for "
            "its decision) first."
        ),
        action="registry.document.section_update",
        version=documented,
    )


def test_a_withdrawn_request_unfreezes_the_dossier_for_the_next_request(
    documented: ModelVersion, developer: Any
) -> None:
    # given a submitted request, withdrawn
    rr = _submitted(documented, developer)
    services.release_request_withdraw(actor=developer, request=rr)
    card = _card(documented)
    section, values = _first_field(card.template)
    # when the team edits the card
    card = registry_services.model_card_section_update(
        actor=developer, card=card, section_key=section, values=values
    )
    # then it is saved
    assert card.content[section] == values


def test_the_assigned_validator_writes_the_validation_report_until_they_sign(
    documented: ModelVersion, developer: Any, validator: Any
) -> None:
    # given a request in validation by vera, and another validator
    walt = UserFactory(username="walt", role="validator")
    rr = _submitted(documented, developer)
    report = _document(documented, "validation-report")
    section, values = _first_field(report.template)
    # while nobody has taken the request, no validator writes the report
    message_submitted = (
        f"{report.title} of credit-risk 1.0.0 is frozen: RR-{rr.pk} (submitted) is "
        "under review, and only the validator assigned to a request in validation "
        "writes its validation report, until they sign."
    )
    _assert_frozen(
        lambda: registry_services.document_section_update(
            actor=validator, document=report, section_key=section, values=values
        ),
        actor=validator,
        obj=report,
        message=message_submitted,
        action="registry.document.section_update",
        version=documented,
    )
    rr = services.release_request_start_validation(actor=validator, request=rr)
    # when the assigned validator writes it, then it is saved
    report = registry_services.document_section_update(
        actor=validator, document=report, section_key=section, values=values
    )
    assert report.content[section] == values
    # but another validator may not
    _assert_frozen(
        lambda: registry_services.document_section_update(
            actor=walt, document=report, section_key=section, values={}
        ),
        actor=walt,
        obj=report,
        message=message_submitted.replace("(submitted)", "(in validation)"),
        action="registry.document.section_update",
        version=documented,
    )
    # and once the validator has signed, neither may they
    services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )
    _assert_frozen(
        lambda: registry_services.document_section_update(
            actor=validator, document=report, section_key=section, values={}
        ),
        actor=validator,
        obj=report,
        message=message_submitted.replace("(submitted)", "(validated)"),
        action="registry.document.section_update",
        version=documented,
    )
    # and the validator's signature bound the report as they wrote it
    signed = rr.signatures.get(meaning="validated").dossier
    assert dossier_rules.signed_papers(signed)["validation-report"] == (
        dossier_rules.paper_digest(
            template_key="validation-report",
            template_version=report.template.version,
            title=report.title,
            content=report.content,
        )
    )


def test_a_new_document_cannot_join_a_frozen_dossier(
    submitted_version: ModelVersion, developer: Any, validator: Any
) -> None:
    # given a request submitted before the materiality assessment was written
    version = _tier_2(submitted_version)
    card = _card(version)
    registry_services.model_card_replace(
        actor=developer, card=card, content=complete_values(card.template)
    )
    _submitted(version, developer)
    template = registry_selectors.template_latest(key="sr26-2-materiality")
    # when the team starts it, then it is refused
    with pytest.raises(Frozen) as info:
        registry_services.document_create(
            actor=developer, version=version, template=template
        )
    assert "was submitted for validation with it" in str(info.value)
    assert Document.objects.filter(model_version=version).count() == 0


def test_the_api_answers_409_naming_the_document(
    documented: ModelVersion, developer: Any
) -> None:
    # given a submitted request
    rr = _submitted(documented, developer)
    card = _card(documented)
    section, values = _first_field(card.template)
    before = _papers_snapshot(documented)()
    # when the card is changed through the API
    response = client_for(developer).put(
        f"/api/v1/models/credit-risk/versions/1.0.0/card/sections/{section}",
        {"values": values},
        format="json",
    )
    # then it is a 409 naming the card, and nothing changed
    assert response.status_code == 409
    assert response.json() == {
        "detail": (
            f"Model card of credit-risk 1.0.0 is frozen: RR-{rr.pk} (submitted) was "
            "submitted for validation with it. A change is a new draft that a new "
            "request must carry: withdraw the request (or wait for its decision) "
            "first."
        ),
        "code": "frozen",
        "errors": {},
    }
    assert _papers_snapshot(documented)() == before


def test_the_page_says_why_the_edit_was_not_saved(
    documented: ModelVersion, developer: Any
) -> None:
    # given a submitted request
    rr = _submitted(documented, developer)
    card = _card(documented)
    section = card.template.definition["sections"][0]
    client = Client()
    client.force_login(developer)
    before = _papers_snapshot(documented)()
    # when the card's section is posted from its page
    data = {f["key"]: "Rewritten" for f in section["fields"] if f["type"] == "textarea"}
    response = client.post(
        reverse(
            "registry:card_section_edit",
            kwargs={
                "slug": "credit-risk",
                "version": "1.0.0",
                "section": section["key"],
            },
        ),
        data,
        follow=True,
    )
    # then the page names the card and the request, and nothing changed
    html = response.content.decode()
    assert response.status_code == 200
    assert f"Model card of credit-risk 1.0.0 is frozen: RR-{rr.pk}" in html
    assert _papers_snapshot(documented)() == before


# -- under a live approval -----------------------------------------------------


@pytest.mark.parametrize("key", ["sr11-7-development", "validation-report"])
def test_an_edit_under_a_live_approval_is_refused_without_amendments(
    approval: ReleaseRequest, developer: Any, validator: Any, key: str
) -> None:
    # given an approval whose policy allows no amendments
    version = approval.model_version
    document = _document(version, key)
    author = validator if key == "validation-report" else developer
    section, values = _first_field(document.template)
    # when the document's author edits it, then it is refused; nothing changed
    _assert_frozen(
        lambda: registry_services.document_section_update(
            actor=author, document=document, section_key=section, values=values
        ),
        actor=author,
        obj=document,
        message=(
            f"{document.title} of credit-risk 1.0.0 is covered by the approval "
            f"RR-{approval.pk} (until {approval.expires_at:%Y-%m-%d %H:%M} UTC), "
            "whose policy allows no amendments. A change is a new draft that a new "
            "request must carry, once the approval has expired or been revoked."
        ),
        action="registry.document.section_update",
        version=version,
    )
    approval.refresh_from_db()
    assert (approval.state, approval.under_review_at) == (RequestState.APPROVED, None)


def test_an_expired_or_revoked_approval_covers_nothing(
    approval: ReleaseRequest, developer: Any, risk_officer: Any
) -> None:
    # given the approval revoked
    services.release_request_revoke(
        actor=risk_officer, request=approval, reason="Replaced."
    )
    card = _card(approval.model_version)
    section, values = _first_field(card.template)
    # when the card is edited, then it is saved
    card = registry_services.model_card_section_update(
        actor=developer, card=card, section_key=section, values=values
    )
    assert card.content[section] == values


@pytest.mark.parametrize("key", ["sr11-7-development", "validation-report"])
def test_an_amendment_puts_the_approval_under_review_and_tells_its_signers(
    approval: ReleaseRequest,
    developer: Any,
    validator: Any,
    risk_officer: Any,
    key: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given an approval whose policy allows amendments, and its signers' addresses
    ApprovalPolicy.objects.filter(pk=approval.policy_id).update(allows_amendments=True)
    type(validator).objects.filter(pk=validator.pk).update(email="vera@example.com")
    type(risk_officer).objects.filter(pk=risk_officer.pk).update(
        email="rita@example.com"
    )
    version = approval.model_version
    document = _document(version, key)
    author = validator if key == "validation-report" else developer
    section, values = _first_field(document.template)
    signed = dossier_rules.signed_papers(
        approval.signatures.get(meaning="approved").dossier
    )[key]
    last_event = AuditEvent.objects.order_by("-id").first().pk
    # when the author amends it
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        document = registry_services.document_section_update(
            actor=author, document=document, section_key=section, values=values
        )
    # then the edit is saved, and the approval is under review (still approved)
    assert document.content[section] == values
    approval.refresh_from_db()
    reason = (
        f"{document.title} of credit-risk 1.0.0 was amended by "
        f"{author.username} after approval."
    )
    assert approval.state == RequestState.APPROVED
    assert approval.under_review_at is not None
    assert approval.review_reason == reason
    now_sha = dossier_rules.paper_digest(
        template_key=key,
        template_version=document.template.version,
        title=document.title,
        content=document.content,
    )
    events = [
        (e.event_type, e.actor_id, e.object_id, e.payload)
        for e in AuditEvent.objects.filter(id__gt=last_event).order_by("id")
    ]
    common = {
        "model": "credit-risk",
        "version": "1.0.0",
        "environments": ["production"],
        "state": "approved",
    }
    assert events == [
        (
            "governance.request.under_review",
            author.pk,
            str(approval.pk),
            {**common, "reason": reason, "amended": document.title},
        ),
        (
            dossier.AMENDED_EVENT,
            author.pk,
            str(approval.pk),
            {
                "model": "credit-risk",
                "version": "1.0.0",
                "document": document.title,
                "sha256_before": signed,
                "sha256_after": now_sha,
            },
        ),
        (
            "registry.document.section_updated",
            author.pk,
            str(document.pk),
            {"section": section, "version": "credit-risk 1.0.0"},
        ),
    ]
    # and one notification is queued after commit; it goes to the signers
    assert len(callbacks) == 1
    mail.outbox.clear()
    notifications.notify_request_event(request=approval, event="amended")
    assert [(m.subject, sorted(m.to)) for m in mail.outbox] == [
        (
            f"[modelgov] RR-{approval.pk} credit-risk 1.0.0: dossier amended, "
            "approval under review",
            ["rita@example.com", "vera@example.com"],
        )
    ]
    assert f"Under review: {reason}\n" in mail.outbox[0].body
    # and the signature's dossier check names the amended document as changed
    lines = {
        line.label: line.state
        for line in dossier.dossier_check(approval.signatures.get(meaning="approved"))
    }
    assert lines[document.title] == "changed"
    assert [s for label, s in lines.items() if label != document.title] == [
        "as_signed"
    ] * 5


# -- what the request page, the pack and the trail show -------------------------


def test_the_request_page_shows_each_document_as_signed_or_changed(
    approval: ReleaseRequest, developer: Any, auditor: Any
) -> None:
    # given an amended development document under an approval that allows it
    ApprovalPolicy.objects.filter(pk=approval.policy_id).update(allows_amendments=True)
    version = approval.model_version
    document = _document(version, "sr11-7-development")
    section, values = _first_field(document.template)
    registry_services.document_section_update(
        actor=developer, document=document, section_key=section, values=values
    )
    client = Client()
    client.force_login(auditor)
    # when the request page is read
    html = client.get(f"/governance/requests/{approval.pk}/").content.decode()
    # then each paper has its mark: the amended one changed, the others as signed
    dossier_html = html.split('id="dossier-title"', 1)[1].split("</section>", 1)[0]
    rows = dossier_html.split("<tr data-dossier-state=")[1:]
    states = {row.split("<th")[1].split(">")[1].split("<")[0]: row for row in rows}
    assert "changed since signature" in states[document.title]
    assert '"changed"' in states[document.title]
    assert "as signed" in states["Model card"]
    assert sum("as signed" in row for row in rows) == 5


def test_a_pack_shows_a_document_whose_history_was_altered(
    approval: ReleaseRequest, validator: Any
) -> None:
    # given the validation report's history row rewritten by a superuser
    version = approval.model_version
    report = _document(version, "validation-report")
    forged = json.loads(json.dumps(report.content))
    section = next(iter(forged))
    forged[section] = {key: "Forged" for key in forged[section]}
    _superuser_alter_history(report, forged)
    now = timezone.now()
    # when the version pack is built
    content = collect.version_pack_content(
        version=version,
        period_start=now - timedelta(days=1),
        period_end=now,
        as_of=now,
    )
    # then the report is marked altered in its source and HTML; the rest as signed
    documents = json.loads(
        next(s for s in content.sources if s.name == "documents.json").content
    )["documents"]
    marks = {d["template"]["key"]: d["dossier_mark"] for d in documents}
    assert marks == {
        "eu-ai-act-annex-iv": "as_signed",
        "sr11-7-development": "as_signed",
        "sr26-2-materiality": "as_signed",
        "validation-report": "altered",
    }
    card = json.loads(
        next(s for s in content.sources if s.name == "model_card.json").content
    )["card"]
    assert card["dossier_mark"] == "as_signed"
    assert content.html.count("altered: differs from the signed digest") == 1
    assert content.html.count('data-dossier-mark="as_signed"') == 4


def test_the_trail_shows_a_document_whose_history_was_altered(
    served: Any,  # noqa: F811 (fixture)
    auditor: Any,
) -> None:
    # given the development document's history rewritten by a superuser after the
    # prediction was served
    version = served.version
    development = _document(version, "sr11-7-development")
    forged = json.loads(json.dumps(development.content))
    section = next(iter(forged))
    forged[section] = {key: "Forged" for key in forged[section]}
    _superuser_alter_history(development, forged)
    # when the trail is read (selector, page, JSON)
    trail = trail_selectors.prediction_trail(user=auditor, prediction_id=PREDICTION_ID)
    # then that paper is altered, the others as signed
    marks = {p.template_key: p.dossier_mark for p in trail.papers}
    assert marks == {
        "model-card": "as_signed",
        "eu-ai-act-annex-iv": "as_signed",
        "sr11-7-development": "altered",
        "sr26-2-materiality": "as_signed",
        "validation-report": "as_signed",
    }
    client = Client()
    client.force_login(auditor)
    html = client.get(page_url()).content.decode()
    assert html.count("altered: differs from the signed digest") == 1
    response = client_for(auditor).get(trail_url())
    assert response.status_code == 200
    papers = response.json()["documentation"]["papers"]
    assert [p["dossier_mark"] for p in papers] == [
        marks[p["template"].split(" v")[0]] for p in papers
    ]
    assert "altered" in [p["dossier_mark"] for p in papers]


# -- the monitoring state ------------------------------------------------------


def _monitoring_report(
    version: ModelVersion, kind: str, hour: int, **fields: Any
) -> Any:
    from audits.monitoring.models import MonitoringReport

    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(
        hours=48 - hour
    )
    return MonitoringReport.objects.create(
        model_version=version,
        environment="production",
        kind=kind,
        window_start=start,
        window_end=start + timedelta(hours=1),
        status=fields.pop("status", "done"),
        metrics=fields.pop("metrics", {"psi": 0.01}),
        breaches=fields.pop("breaches", []),
    )


def test_a_signature_binds_the_latest_finished_report_of_each_kind(
    documented: ModelVersion, developer: Any, validator: Any, risk_officer: Any
) -> None:
    # given two drift reports (the later one counts), a failed fairness report and
    # a queued one (not finished: left out)
    _monitoring_report(documented, "drift", 1)
    drift = _monitoring_report(documented, "drift", 2, metrics={"psi": 0.02})
    fairness = _monitoring_report(
        documented, "fairness", 1, status="failed", metrics={}
    )
    _monitoring_report(documented, "performance", 3, status="queued")
    # when the request is validated
    rr = _submitted(documented, developer)
    rr = services.release_request_start_validation(actor=validator, request=rr)
    rr = services.release_request_record_validation(
        actor=validator, request=rr, outcome="approve", password=PASSWORD
    )
    signature = rr.signatures.get()
    # then its dossier holds the two latest finished reports, with their digests
    assert signature.dossier["monitoring"] == [
        {
            "report": drift.pk,
            "monitor": None,
            "environment": "production",
            "kind": "drift",
            "status": "done",
            "sha256": dossier_rules.digests.content_digest(
                {"metrics": {"psi": 0.02}, "breaches": []}
            ),
        },
        {
            "report": fairness.pk,
            "monitor": None,
            "environment": "production",
            "kind": "fairness",
            "status": "failed",
            "sha256": dossier_rules.digests.content_digest(
                {"metrics": {}, "breaches": []}
            ),
        },
    ]
    # and a newer report shows as a change of the monitoring state, nothing else
    assert dossier.dossier_check(signature)[-1].state == "as_signed"
    _monitoring_report(documented, "drift", 4, breaches=[{"metric": "psi"}])
    lines = dossier.dossier_check(signature)
    assert [(line.kind, line.state) for line in lines][-1] == ("monitoring", "changed")
    assert {line.state for line in lines[:-1]} == {"as_signed"}


def test_the_paper_page_says_the_card_is_frozen_and_offers_no_edit(
    documented: ModelVersion, developer: Any
) -> None:
    # given a request submitted for validation
    rr = _submitted(documented, developer)
    client = Client()
    client.force_login(developer)
    url = reverse(
        "registry:card_detail", kwargs={"slug": "credit-risk", "version": "1.0.0"}
    )
    # when the team opens the card
    html = client.get(url).content.decode()
    # then it says why it is read-only, and links to no section editor
    assert (
        f"<strong>Frozen.</strong> Model card of credit-risk 1.0.0 is frozen: "
        f"RR-{rr.pk} (submitted)"
    ) in html
    assert "/edit/" not in html


def test_the_paper_page_warns_that_saving_amends_an_approval(
    approval: ReleaseRequest, developer: Any
) -> None:
    # given an approval whose policy allows amendments
    ApprovalPolicy.objects.filter(pk=approval.policy_id).update(allows_amendments=True)
    client = Client()
    client.force_login(developer)
    url = reverse(
        "registry:card_detail", kwargs={"slug": "credit-risk", "version": "1.0.0"}
    )
    # when the team opens the card
    html = client.get(url).content.decode()
    # then it may edit, and is told that saving puts the approval under review
    assert (
        "<strong>Covered by an approval.</strong> Saving a change amends the dossier "
        f"of RR-{approval.pk}"
    ) in html
    assert "/edit/" in html
