"""Ledger entries, nodes and checkpoints are insert-only; the head row starts at 0."""

from django.db import migrations

from audits import dbguards

TABLES = ["audits_ledgerentry", "audits_ledgernode", "audits_ledgercheckpoint"]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        dbguards.run(schema_editor, dbguards.append_only_sql(vendor, table))
    apps.get_model("audits", "LedgerHead").objects.get_or_create(
        id=1, defaults={"size": 0}
    )


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        dbguards.run(schema_editor, dbguards.drop_append_only_sql(vendor, table))


class Migration(migrations.Migration):
    dependencies = [("audits", "0005_ledger")]
    operations = [migrations.RunPython(forwards, backwards)]
