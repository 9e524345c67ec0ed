"""The audit trail of one prediction: JSON, PDF and the offline proof bundle.

Each view parses the id, calls :func:`audits.trail.prediction_trail` (which checks
the permission and answers 404 for an unknown id), records the view as an audit
event and renders. Session or bearer auth; a token needs the ``audit:read`` scope.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

# Imported with the URLconf, not on the first PDF: the import alone takes about a
# second, which would otherwise fall on the first user's download.
import weasyprint
from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audits import trail as trail_selectors
from audits.ledger import integrity, proofs, records, tree
from audits.ledger import services as ledger_services
from audits.ledger.models import EntryType
from audits.services import actor_display_name
from governance.choices import TokenScope
from governance.permissions import HasModelPermission

# --- JSON ---------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return records.iso(value) if value is not None else None


def _record_json(record: trail_selectors.LedgerRecord) -> dict[str, Any]:
    return {
        "entry_id": str(record.entry_id),
        "entry_type": EntryType(record.entry_type).label
        if record.entry_type in EntryType.values
        else str(record.entry_type),
        "status": record.status,
        "seq": record.seq,
        "received_at": _time(record.received_at),
        "sequenced_at": _time(record.sequenced_at),
        "leaf": record.leaf_text,
        "leaf_base64": base64.b64encode(record.leaf).decode(),
        "leaf_hash": record.leaf_hash.hex(),
        "inclusion_proof": [p.hex() for p in record.proof]
        if record.proof is not None
        else None,
        "proof_verified": record.verified,
    }


def _approval_json(approval: trail_selectors.ApprovalView) -> dict[str, Any]:
    return {
        "request_id": approval.label,
        "state": approval.state,
        "environments": list(approval.environments),
        "approved_at": _time(approval.approved_at),
        "expires_at": _time(approval.expires_at),
        "revoked_at": _time(approval.revoked_at),
        "approved_artifact_sha256": approval.approved_artifact_sha256,
        "integrity": approval.integrity.as_dict(),
        "signatures": [
            {
                "printed_name": s.printed_name,
                "meaning": s.meaning,
                "signed_at": _time(s.signed_at),
                "binding_sha256": s.binding_sha256,
                "comment": s.comment,
                "integrity": s.integrity.as_dict(),
            }
            for s in approval.signatures
        ],
        "bindings_match_ledger": approval.bindings_match,
    }


def _state_json(state: trail_selectors.DeploymentStateView) -> dict[str, Any]:
    deployment = state.deployment
    return {
        "entry_id": str(state.entry_id),
        "leaf_hash": state.leaf_hash.hex(),
        "hash_matches_prediction": state.hash_matches,
        "reason": state.reason,
        "recorded_at": _time(state.created_at),
        "environment": state.environment,
        "version": state.version,
        "integrity": state.integrity.as_dict(),
        "approval": _approval_json(state.approval) if state.approval else None,
        "approval_expires_at": _time(state.approval_expires_at),
        "deployment": {
            "id": deployment.id,
            "environment": deployment.environment,
            "action": deployment.action,
            "deployed_at": _time(deployment.deployed_at),
            "reported_at": _time(deployment.reported_at),
            "reported_by": deployment.reported_by,
            "target": deployment.target,
            "external_id": deployment.external_id,
            "integrity": deployment.integrity.as_dict(),
        }
        if deployment is not None
        else None,
        "record": _record_json(state.record) if state.record is not None else None,
    }


def trail_json(trail: trail_selectors.Trail) -> dict[str, Any]:
    """The trail as JSON values: times in UTC ISO 8601, hashes in hex, the leaf
    both as its exact text and in base64."""
    cp = trail.checkpoint
    mv = trail.model_version
    protected = trail.protected
    return {
        "prediction_id": str(trail.prediction_id),
        "status": trail.status,
        "predicted_at": trail.predicted_at,
        "shadow": trail.shadow,
        "model": trail.model_slug,
        "environment": trail.environment,
        "record": {**_record_json(trail.record), "data": trail.record.data},
        "checkpoint": {
            "origin": cp.origin,
            "size": cp.size,
            "root": cp.root.hex(),
            "created_at": _time(cp.created_at),
            "key_names": list(cp.key_names),
            "note": cp.note,
        }
        if cp is not None
        else None,
        "model_version": {
            "model": mv.model_slug,
            "model_name": mv.model_name,
            "version": mv.version,
            "artifact_sha256": mv.artifact_sha256,
            "registered_artifact_sha256": mv.registered_artifact_sha256,
            "artifact_matches": mv.artifact_matches,
            "status": mv.status,
            "content_digest": mv.content_digest,
            "url": mv.url,
        }
        if mv is not None
        else None,
        "documentation": {
            "as_of": trail.predicted_at,
            "papers": [
                {
                    "kind": p.kind,
                    "title": p.title,
                    "template": f"{p.template_key} v{p.template_version}",
                    "saved_at": _time(p.saved_at),
                    "saved_by": p.saved_by,
                    "content_sha256": p.content_sha256,
                    "dossier_mark": p.dossier_mark,
                    "signed_sha256": p.signed_sha256,
                    "content": p.content,
                    "as_of_url": p.as_of_url,
                }
                for p in trail.papers
            ],
        },
        "deployment_state": _state_json(trail.deployment_state)
        if trail.deployment_state is not None
        else None,
        "outcome": {
            "outcome": trail.outcome.outcome,
            "observed_at": trail.outcome.observed_at,
            "prediction_hash_matches": trail.outcome.prediction_hash_matches,
            "integrity": trail.outcome.integrity.as_dict(),
            "record": _record_json(trail.outcome.record),
        }
        if trail.outcome is not None
        else None,
        "protected_attributes": {
            "status": protected.status,
            "commitment": protected.commitment,
            "attributes": protected.attributes,
            "salt": protected.salt.hex() if protected.salt is not None else None,
            "computed_commitment": protected.computed,
            "commitment_matches": protected.matches
            if protected.status == "shown"
            else None,
        },
        "links": trail_selectors.trail_links(trail.prediction_id),
    }


# --- OpenAPI ------------------------------------------------------------------------

_ERROR_PROPERTIES: dict[str, Any] = {
    "detail": {"type": "string"},
    "code": {"type": "string"},
    "errors": {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
    },
}
_ERROR = {
    "type": "object",
    "properties": _ERROR_PROPERTIES,
    "required": ["detail", "code", "errors"],
}
_INTEGRITY_ERROR = {
    "type": "object",
    "properties": {
        **_ERROR_PROPERTIES,
        "first_missing_seq": {"type": ["integer", "null"]},
    },
    "required": ["detail", "code", "errors", "first_missing_seq"],
}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_RECORD = {
    "type": "object",
    "properties": {
        "entry_id": {"type": "string", "format": "uuid"},
        "entry_type": {"type": "string"},
        "status": {"type": "string", "enum": ["sequenced", "queued"]},
        "seq": {"type": ["integer", "null"]},
        "received_at": {"type": "string", "format": "date-time"},
        "sequenced_at": _NULLABLE_TIME,
        "leaf": {"type": "string", "description": "The leaf's exact bytes (UTF-8)."},
        "leaf_base64": {"type": "string"},
        "leaf_hash": {"type": "string", "description": "SHA-256(0x00 || leaf), hex"},
        "inclusion_proof": {
            "type": ["array", "null"],
            "items": {"type": "string"},
            "description": "Hex hashes of the RFC 9162 inclusion path; null "
            "while no checkpoint covers the entry.",
        },
        "proof_verified": {"type": "boolean"},
    },
}
_TRAIL = {
    "type": "object",
    "properties": {
        "prediction_id": {"type": "string", "format": "uuid"},
        "status": {"type": "string", "enum": ["sequenced", "queued"]},
        "predicted_at": {"type": "string", "format": "date-time"},
        "shadow": {"type": "boolean"},
        "model": {"type": "string"},
        "environment": {"type": "string"},
        "record": {
            "allOf": [_RECORD],
            "properties": {"data": {"type": "object"}},
        },
        "checkpoint": {
            "type": ["object", "null"],
            "properties": {
                "origin": {"type": "string"},
                "size": {"type": "integer"},
                "root": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
                "key_names": {"type": "array", "items": {"type": "string"}},
                "note": {"type": "string", "description": "The C2SP signed note."},
            },
        },
        "model_version": {"type": ["object", "null"]},
        "documentation": {
            "type": "object",
            "properties": {
                "as_of": {"type": "string"},
                "papers": {"type": "array", "items": {"type": "object"}},
            },
        },
        "deployment_state": {
            "type": ["object", "null"],
            "description": "The state in force, with the approval, its signatures, "
            "the deployment, and its own proof against the same checkpoint.",
        },
        "outcome": {"type": ["object", "null"]},
        "protected_attributes": {
            "type": "object",
            "properties": {
                "status": {
                    "type": "string",
                    "enum": ["none", "hidden", "erased", "shown"],
                }
            },
        },
        "links": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["prediction_id", "status", "record", "links"],
}
_ERRORS = {
    401: OpenApiResponse(_ERROR, description="Not authenticated"),
    403: OpenApiResponse(
        _ERROR,
        description="No audits.view_prediction_trail permission, or a token "
        "without the audit:read scope",
    ),
    404: OpenApiResponse(_ERROR, description="No prediction with this id"),
    409: OpenApiResponse(
        _INTEGRITY_ERROR,
        description="ledger_integrity: the stored ledger cannot back its signed "
        "checkpoint (stored hashes or entries missing, or the witness or signer "
        "state is ahead of it or disagrees); nothing is shown as proven. "
        "first_missing_seq names the first missing entry when known. Run "
        "manage.py ledger_fsck.",
    ),
}


# --- Views --------------------------------------------------------------------------


class _TrailApi(APIView):
    permission_classes = [*APIView.permission_classes, HasModelPermission]
    required_scope = TokenScope.AUDIT_READ.value
    permission_by_method = {"GET": trail_selectors.PERM_TRAIL}

    def trail(
        self, request: Request, prediction_id: uuid.UUID
    ) -> trail_selectors.Trail:
        try:
            return trail_selectors.prediction_trail(
                user=request.user, prediction_id=prediction_id
            )
        except Http404:
            integrity.check_entry_missing(prediction_id)
            raise

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, integrity.LedgerIntegrityError):
            # The shape of ADR 0010 plus the first missing seq, for clients.
            return Response(exc.as_dict(), status=409)
        return super().handle_exception(exc)


class PredictionTrailApi(_TrailApi):
    @extend_schema(
        operation_id="prediction_trail",
        summary="The audit trail of one prediction",
        description=(
            "The ledger record as stored, its inclusion proof against the latest "
            "signed checkpoint, the model version and artifact digest, the model "
            "card and documents as they were at prediction time, the deployment "
            "state in force (approval, signatures, deployment) with its proof "
            "against the same checkpoint, the outcome, and the protected "
            "attributes for auditors. Each call is recorded as an audit event."
        ),
        responses={200: OpenApiResponse(_TRAIL, description="The trail"), **_ERRORS},
        tags=["ledger"],
    )
    def get(self, request: Request, prediction_id: uuid.UUID) -> Response:
        trail = self.trail(request, prediction_id)
        trail_selectors.trail_view_record(
            actor=request.user, trail=trail, view_format="json"
        )
        return Response(trail_json(trail))


def trail_pdf(trail: trail_selectors.Trail, request: HttpRequest) -> bytes:
    """The trail rendered as a PDF (WeasyPrint, print template)."""
    html = render_to_string(
        "audits/trail_pdf.html",
        {
            "trail": trail,
            "generated_at": timezone.now(),
            "viewer": actor_display_name(request.user),
            "page_url": request.build_absolute_uri(
                reverse("audits:trail", kwargs={"prediction_id": trail.prediction_id})
            ),
        },
    )
    return bytes(weasyprint.HTML(string=html).write_pdf())


class PredictionTrailPdfApi(_TrailApi):
    @extend_schema(
        operation_id="prediction_trail_pdf",
        summary="The audit trail of one prediction as a PDF",
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The trail, printable"
            ),
            **_ERRORS,
        },
        tags=["ledger"],
    )
    def get(self, request: Request, prediction_id: uuid.UUID) -> HttpResponse:
        trail = self.trail(request, prediction_id)
        body = trail_pdf(trail, request)
        trail_selectors.trail_view_record(
            actor=request.user, trail=trail, view_format="pdf"
        )
        response = HttpResponse(body, content_type="application/pdf")
        response["Content-Disposition"] = (
            f'attachment; filename="prediction-{prediction_id}-trail.pdf"'
        )
        return response


class PredictionProofApi(_TrailApi):
    @extend_schema(
        operation_id="prediction_proof",
        summary="The offline proof bundle of one prediction",
        description=(
            "A C2SP tlog-proof@v1 bundle: the leaf bytes (extra line, base64), the "
            "index, the inclusion path and the signed checkpoint. Verify it with "
            "`python -m audits.ledger.verify BUNDLE --public-key KEY.pem`. With "
            "`since=<size>`, the consistency proof from that size to the same "
            "checkpoint instead, in the tlog-witness add-checkpoint body format "
            "(`old <size>`, the proof, a blank line, the signed checkpoint): give "
            "it to the verifier with `--consistency` beside `--trusted-checkpoint`."
        ),
        parameters=[
            OpenApiParameter(
                "since",
                int,
                description="A checkpoint size you trust; answers the consistency "
                "proof from it (400 when larger than the latest checkpoint).",
            )
        ],
        responses={
            (200, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The bundle, or with since the consistency proof "
                "(attachment)",
            ),
            400: OpenApiResponse(_ERROR, description="since is not a size"),
            **_ERRORS,
            409: OpenApiResponse(
                {"anyOf": [_ERROR, _INTEGRITY_ERROR]},
                description="not_yet_sequenced: not yet under a signed checkpoint; "
                "retry. ledger_integrity: the stored ledger cannot back its "
                "checkpoint (see the trail).",
            ),
        },
        tags=["ledger"],
    )
    def get(self, request: Request, prediction_id: uuid.UUID) -> HttpResponse:
        query = ProofQueryInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        since = query.validated_data.get("since")
        trail = self.trail(request, prediction_id)
        bundle = trail_selectors.trail_proof_bundle(trail)
        if bundle is None:
            return _conflict(
                "The prediction is accepted but not yet under a signed checkpoint; "
                "retry in a few seconds.",
                "not_yet_sequenced",
            )
        name = f"prediction-{prediction_id}.tlog-proof"
        if since is not None:
            assert trail.checkpoint is not None
            bundle = _consistency(since, trail.checkpoint)
            name = f"prediction-{prediction_id}.since-{since}.tlog-consistency"
        return _bundle_download(request, trail, bundle, "proof", name)


class ProofQueryInputSerializer(serializers.Serializer):
    since = serializers.IntegerField(min_value=0, required=False)


def _consistency(since: int, checkpoint: trail_selectors.CheckpointView) -> str:
    """The consistency companion from size ``since`` to the trail's checkpoint."""
    if since > checkpoint.size:
        raise ValidationError(
            {
                "since": [
                    f"The latest checkpoint has size {checkpoint.size}; since "
                    "cannot be larger."
                ]
            }
        )
    keys = set(tree.consistency_keys(since, checkpoint.size))
    stored = ledger_services.stored_hashes(keys)
    missing = keys - set(stored)
    if missing:
        raise integrity.missing_hashes(missing, checkpoint.size)
    return proofs.format_consistency(
        old_size=since,
        proof=tree.consistency_proof(since, checkpoint.size, stored),
        note=checkpoint.note,
    )


def _conflict(detail: str, code: str) -> Response:
    return Response({"detail": detail, "code": code, "errors": {}}, status=409)


def _bundle_download(
    request: Request,
    trail: trail_selectors.Trail,
    bundle: str,
    view_format: str,
    name: str,
) -> HttpResponse:
    """A proof bundle as an attachment; the download is recorded."""
    trail_selectors.trail_view_record(
        actor=request.user, trail=trail, view_format=view_format
    )
    response = HttpResponse(bundle, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class OutcomeProofApi(_TrailApi):
    @extend_schema(
        operation_id="prediction_outcome_proof",
        summary="The offline proof bundle of a prediction's outcome",
        description=(
            "The outcome's own C2SP tlog-proof@v1 bundle (its leaf names the "
            "prediction's leaf hash), against the same signed checkpoint as the "
            "trail. Verify it with `python -m audits.ledger.verify BUNDLE "
            "--public-key KEY.pem`."
        ),
        responses={
            (200, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR, description="The bundle (attachment)"
            ),
            **_ERRORS,
            409: OpenApiResponse(
                {"anyOf": [_ERROR, _INTEGRITY_ERROR]},
                description="no_outcome, not_yet_sequenced (retry), or "
                "ledger_integrity: the stored ledger cannot back its checkpoint",
            ),
        },
        tags=["ledger"],
    )
    def get(self, request: Request, prediction_id: uuid.UUID) -> HttpResponse:
        trail = self.trail(request, prediction_id)
        bundle = trail_selectors.outcome_proof_bundle(trail)
        if trail.outcome is None:
            return _conflict(
                "No outcome has been reported for this prediction yet.", "no_outcome"
            )
        if bundle is None:
            return _conflict(
                "The outcome is accepted but not yet under a signed checkpoint; "
                "retry in a few seconds.",
                "not_yet_sequenced",
            )
        return _bundle_download(
            request,
            trail,
            bundle,
            "outcome_proof",
            f"outcome-{prediction_id}.tlog-proof",
        )
