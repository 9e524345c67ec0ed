"""Roles are Django groups with a fixed set of permissions.

The matrix below is the single source of truth; it is applied after every migrate so
that a new permission reaches its roles without a hand-made data migration.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from governance.choices import Role

_VIEW = [
    "registry.view_model",
    "registry.view_modelversion",
    "registry.view_modelcard",
    "registry.view_document",
    "registry.view_documenttemplate",
]
_VIEW_ALL = ["registry.view_all_models"]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.MODEL_DEVELOPER: _VIEW
    + [
        "registry.add_model",
        "registry.change_model",
        "registry.add_modelversion",
        "registry.change_modelversion",
        "registry.submit_modelversion",
        "registry.change_modelcard",
        "registry.add_document",
        "registry.change_document",
        "registry.author_development_documents",
        "governance.add_releaserequest",
        "governance.view_releaserequest",
        "governance.view_finding",
        "audits.view_monitoringreport",
    ],
    Role.VALIDATOR: _VIEW
    + _VIEW_ALL
    + [
        "registry.add_document",
        "registry.change_document",
        "registry.author_validation_documents",
        "governance.view_releaserequest",
        "governance.validate_releaserequest",
        "governance.view_finding",
        "governance.raise_finding",
        "audits.view_monitoringreport",
        "audits.view_alert",
    ],
    Role.RISK_OFFICER: _VIEW
    + _VIEW_ALL
    + [
        "registry.change_model",
        "registry.govern_model",
        "governance.view_releaserequest",
        "governance.approve_releaserequest",
        "governance.revoke_releaserequest",
        "governance.committee_releaserequest",
        "governance.check_gate",
        "governance.view_finding",
        "governance.view_gatedecision",
        "governance.view_deployment",
        "audits.view_prediction_trail",
        "audits.view_monitoringreport",
        "audits.view_monitor",
        "audits.change_monitoring",
        "audits.view_alert",
        "audits.request_evidencepack",
        "audits.view_evidencepack",
    ],
    Role.AUDITOR: _VIEW
    + _VIEW_ALL
    + [
        "registry.export_model",
        "audits.view_auditevent",
        "audits.view_refusedaction",
        "audits.view_prediction_trail",
        # Only auditors see protected attributes (and check the leaf's commitment).
        "audits.view_protectedattributes",
        "audits.view_monitoringreport",
        "audits.view_monitor",
        "audits.view_alert",
        "audits.request_evidencepack",
        "audits.view_evidencepack",
        "governance.check_gate",
        "governance.view_releaserequest",
        "governance.view_finding",
        "governance.view_gatedecision",
        "governance.view_deployment",
    ],
    Role.ADMINISTRATOR: _VIEW
    + _VIEW_ALL
    + [
        "registry.add_model",
        "registry.change_model",
        "registry.govern_model",
        "registry.add_documenttemplate",
        "registry.change_documenttemplate",
        "governance.manage_accounts",
        "governance.add_approvalpolicy",
        "governance.view_approvalpolicy",
        "governance.view_releaserequest",
        "governance.view_signature",
        "governance.view_finding",
        "governance.view_gatedecision",
        "governance.view_deployment",
        "governance.view_apitoken",
        "audits.view_refusedaction",
        "audits.view_auditevent",
    ],
    # A pipeline may freeze what it registered (submit); it can never approve.
    Role.SERVICE_ACCOUNT: _VIEW
    + [
        "registry.add_modelversion",
        "registry.submit_modelversion",
        "governance.add_deployment",
        "governance.view_deployment",
        "governance.check_gate",
    ],
    # The admission webhook's and deploy pipelines' account: asks the gate about any
    # model (it sees them all, so its answers are not concealed) and does nothing
    # else; its tokens carry gate:check only and it has no password.
    Role.GATEKEEPER: _VIEW + _VIEW_ALL + ["governance.check_gate"],
}

# Scopes a token of each role may carry (a token never exceeds its user's role).
# tokens:manage (list and revoke the account's own tokens) is never given by default.
ROLE_SCOPES: dict[str, list[str]] = {
    Role.MODEL_DEVELOPER: ["registry:read", "registry:write", "tokens:manage"],
    Role.VALIDATOR: ["registry:read", "registry:write", "tokens:manage"],
    Role.RISK_OFFICER: [
        "registry:read",
        "registry:write",
        "audit:read",
        "tokens:manage",
    ],
    Role.AUDITOR: ["registry:read", "audit:read", "tokens:manage"],
    # audit:read for the access log and the refusal log, which administrators read.
    Role.ADMINISTRATOR: [
        "registry:read",
        "registry:write",
        "audit:read",
        "tokens:manage",
    ],
    Role.SERVICE_ACCOUNT: [
        "registry:read",
        "registry:write",
        "gate:check",
        "predictions:write",
        "tokens:manage",
    ],
    Role.GATEKEEPER: ["gate:check"],
}


def roles_sync() -> None:
    """Create the role groups and set their permissions to exactly the matrix."""
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        query = Q(pk__in=[])
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            query |= Q(content_type__app_label=app_label, codename=codename)
        found = list(Permission.objects.filter(query))
        if len(found) != len(set(perms)):
            missing = set(perms) - {
                f"{p.content_type.app_label}.{p.codename}" for p in found
            }
            raise LookupError(f"role {role}: unknown permissions {sorted(missing)}")
        group.permissions.set(found)


def sync_roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    # Permissions of every app exist only once the last app has migrated.
    if getattr(sender, "name", "") != "audits":
        return
    roles_sync()
