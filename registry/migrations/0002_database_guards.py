"""Database guards of the registry.

- History tables are insert-only: the "as of" answers they give are evidence.
- A submitted version's content cannot change or be deleted, even by raw SQL.
"""

from django.db import migrations

from audits import dbguards

HISTORY_TABLES = [
    "registry_historicalmodel",
    "registry_historicalmodel_developers",
    "registry_historicalmodelversion",
    "registry_historicalmodelcard",
    "registry_historicaldocument",
    "registry_historicaldocumenttemplate",
]
CONTENT_COLUMNS = [
    "model_id",
    "version",
    "artifact_uri",
    "artifact_sha256",
    "training_data_uri",
    "training_data_sha256",
    "code_commit",
    "feature_pipeline_version",
    "hyperparameters",
    "metrics",
    "input_schema",
    "protected_attributes",
    "baseline",
    "content_digest",
]
PG_FROZEN = """
CREATE OR REPLACE FUNCTION registry_refuse_frozen_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'modelgov: version % is frozen (content digest %); % refused',
    OLD.id, OLD.content_digest, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def _changed(op: str) -> str:
    return " OR ".join(f'NEW."{c}" {op} OLD."{c}"' for c in CONTENT_COLUMNS)


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in HISTORY_TABLES:
        dbguards.run(schema_editor, dbguards.append_only_sql(vendor, table))
    if vendor == "postgresql":
        dbguards.run(
            schema_editor,
            [
                PG_FROZEN,
                "CREATE TRIGGER registry_version_frozen_update BEFORE UPDATE ON "
                "registry_modelversion FOR EACH ROW WHEN (OLD.content_digest <> '' AND ("
                + _changed("IS DISTINCT FROM")
                + ")) EXECUTE FUNCTION registry_refuse_frozen_version()",
                "ALTER TABLE registry_modelversion ENABLE ALWAYS TRIGGER "
                "registry_version_frozen_update",
                "CREATE TRIGGER registry_version_frozen_delete BEFORE DELETE ON "
                "registry_modelversion FOR EACH ROW WHEN (OLD.content_digest <> '') "
                "EXECUTE FUNCTION registry_refuse_frozen_version()",
                "ALTER TABLE registry_modelversion ENABLE ALWAYS TRIGGER "
                "registry_version_frozen_delete",
            ],
        )
    elif vendor == "sqlite":
        msg = "modelgov: the version is frozen (submitted); its content cannot change"
        dbguards.run(
            schema_editor,
            [
                "CREATE TRIGGER registry_version_frozen_update BEFORE UPDATE ON "
                "registry_modelversion WHEN OLD.content_digest <> '' AND ("
                + _changed("IS NOT")
                + f") BEGIN SELECT RAISE(ABORT, '{msg}'); END",
                "CREATE TRIGGER registry_version_frozen_delete BEFORE DELETE ON "
                "registry_modelversion WHEN OLD.content_digest <> '' "
                f"BEGIN SELECT RAISE(ABORT, '{msg}'); END",
            ],
        )


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in HISTORY_TABLES:
        dbguards.run(schema_editor, dbguards.drop_append_only_sql(vendor, table))
    on = " ON registry_modelversion" if vendor == "postgresql" else ""
    dbguards.run(
        schema_editor,
        [
            f"DROP TRIGGER IF EXISTS {name}{on}"
            for name in ("registry_version_frozen_update", "registry_version_frozen_delete")
        ],
    )


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial"), ("audits", "0002_append_only_guards")]
    operations = [migrations.RunPython(forwards, backwards)]
