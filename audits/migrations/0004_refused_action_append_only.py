from django.db import migrations

from audits import dbguards


def forwards(apps, schema_editor):
    dbguards.run(
        schema_editor,
        dbguards.append_only_sql(schema_editor.connection.vendor, "audits_refusedaction"),
    )


def backwards(apps, schema_editor):
    dbguards.run(
        schema_editor,
        dbguards.drop_append_only_sql(schema_editor.connection.vendor, "audits_refusedaction"),
    )


class Migration(migrations.Migration):
    dependencies = [("audits", "0003_refused_action")]
    operations = [migrations.RunPython(forwards, backwards)]
