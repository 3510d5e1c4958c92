from django.conf import settings
from django.db import migrations


def trigram_indexes(apps, schema_editor):
    # The clinicians changelist's search (ClinicianAdmin.get_search_results): a
    # partial name over every clinician (the directory's index covers the listed
    # ones only) and a partial email, as Django's icontains writes it
    # (UPPER(email) LIKE UPPER('%...%')). SQLite, the demo database, needs none.
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS clinician_admin_search_trgm ON clinicians_clinician "
        "USING gin (search_name gin_trgm_ops)"
    )
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS user_email_upper_trgm ON cmss_user USING gin ((UPPER(email::text)) gin_trgm_ops)"
    )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS clinician_admin_search_trgm")
        schema_editor.execute("DROP INDEX IF EXISTS user_email_upper_trgm")


class Migration(migrations.Migration):
    dependencies = [
        ("clinicians", "0008_admin_privacyacceptance_order_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(trigram_indexes, drop_trigram_indexes, elidable=False)]
