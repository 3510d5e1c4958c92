from django.db import migrations, models


class Migration(migrations.Migration):
    """The admin's clinician list is ordered by name (ClinicianAdmin.ordering): an
    index in that order lets PostgreSQL read a page instead of sorting the table."""

    dependencies = [
        ("clinicians", "0006_directory_order_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="clinician",
            index=models.Index(fields=["last_name", "first_name", "id"], name="clinician_admin_name_idx"),
        ),
    ]
