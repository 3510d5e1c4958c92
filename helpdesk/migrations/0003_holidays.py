from django.db import migrations


def load(apps, schema_editor):
    from helpdesk.reference import load_holidays

    load_holidays(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("helpdesk", "0002_queue")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
