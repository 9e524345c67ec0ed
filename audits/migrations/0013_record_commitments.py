# Issue 13 (ADR 0027): record leaves and their index; evidence rows that nobody
# may update or delete.

from django.db import migrations, models

from audits import dbguards

# Insert-only from now on (the ledger commits to them at insert).
APPEND_ONLY = ["audits_recordcommitment", "audits_protectedattributes"]
# The current state of evidence: updated (each change is a record leaf), never
# deleted.
NO_DELETE = [
    "governance_releaserequest",
    "governance_finding",
    "audits_monitor",
    "audits_monitoringreport",
    "audits_alert",
    "audits_evidencepack",
]


def guard(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    # SQLite rebuilt audits_ledgerkey for the new entry type choice, dropping its
    # triggers: put its guard back (a no-op change on PostgreSQL).
    for table in ["audits_ledgerkey", *APPEND_ONLY]:
        dbguards.run(schema_editor, dbguards.append_only_sql(vendor, table))
    for table in NO_DELETE:
        dbguards.run(schema_editor, dbguards.no_delete_sql(vendor, table))


def unguard(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in APPEND_ONLY:
        dbguards.run(schema_editor, dbguards.drop_append_only_sql(vendor, table))
    for table in NO_DELETE:
        dbguards.run(schema_editor, dbguards.drop_no_delete_sql(vendor, table))


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0012_refusal_kind_and_origin"),
        ("governance", "0006_monitoring"),
    ]

    operations = [
        migrations.AlterField(
            model_name="ledgerkey",
            name="entry_type",
            field=models.SmallIntegerField(
                choices=[
                    (1, "prediction"),
                    (2, "outcome"),
                    (3, "governance event"),
                    (4, "deployment state"),
                    (5, "governance record"),
                ]
            ),
        ),
        migrations.CreateModel(
            name="RecordCommitment",
            fields=[
                ("entry_id", models.UUIDField(primary_key=True, serialize=False)),
                ("table", models.CharField(max_length=100)),
                ("object_pk", models.CharField(max_length=64)),
                ("rev", models.PositiveIntegerField()),
                ("leaf_hash", models.BinaryField(max_length=32)),
                ("created_at", models.DateTimeField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("table", "object_pk", "rev"),
                        name="audits_recordcommitment_table_pk_rev",
                    )
                ],
            },
        ),
        migrations.RunPython(guard, unguard),
    ]
