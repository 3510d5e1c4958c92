from django.db import migrations


def load(apps, schema_editor):
    from clinicians.reference import load_reference_data

    load_reference_data(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("clinicians", "0002_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
