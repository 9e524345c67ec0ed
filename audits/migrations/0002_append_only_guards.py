from django.db import migrations

from audits import dbguards

TABLES = ["audits_auditevent"]


def forwards(apps, schema_editor):
    for table in TABLES:
        dbguards.run(schema_editor, dbguards.append_only_sql(schema_editor.connection.vendor, table))


def backwards(apps, schema_editor):
    for table in TABLES:
        dbguards.run(
            schema_editor, dbguards.drop_append_only_sql(schema_editor.connection.vendor, table)
        )


class Migration(migrations.Migration):
    dependencies = [("audits", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
