"""Insert-only guards for signatures, gate decisions and deployments, and the
default approval policies for risk tiers 1-3 (docs/adr/0012)."""

from django.db import migrations

from audits import dbguards

APPEND_ONLY = ["governance_signature", "governance_gatedecision", "governance_deployment"]

DEFAULT_POLICIES = [
    {
        "risk_tier": 1,
        "name": "Tier 1 (high materiality)",
        "requires_validation": True,
        "approvals_required": 2,
        "requires_committee": True,
        "required_documents": ["sr11-7-development", "sr26-2-materiality", "validation-report"],
        "blocking_severities": ["high", "critical"],
        "validity_days": 365,
        "environments": ["staging", "production"],
    },
    {
        "risk_tier": 2,
        "name": "Tier 2 (medium materiality)",
        "requires_validation": True,
        "approvals_required": 1,
        "requires_committee": False,
        "required_documents": ["sr11-7-development", "validation-report"],
        "blocking_severities": ["high", "critical"],
        "validity_days": 548,
        "environments": ["staging", "production"],
    },
    {
        "risk_tier": 3,
        "name": "Tier 3 (low materiality)",
        "requires_validation": True,
        "approvals_required": 1,
        "requires_committee": False,
        "required_documents": ["sr11-7-development"],
        "blocking_severities": ["critical"],
        "validity_days": 730,
        "environments": ["staging", "production"],
    },
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in APPEND_ONLY:
        dbguards.run(schema_editor, dbguards.append_only_sql(vendor, table))
    ApprovalPolicy = apps.get_model("governance", "ApprovalPolicy")
    for policy in DEFAULT_POLICIES:
        ApprovalPolicy.objects.create(version=1, is_active=True, **policy)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in APPEND_ONLY:
        dbguards.run(schema_editor, dbguards.drop_append_only_sql(vendor, table))
    apps.get_model("governance", "ApprovalPolicy").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("governance", "0002_approval_workflow"), ("audits", "0002_append_only_guards")]
    operations = [migrations.RunPython(forwards, backwards)]
