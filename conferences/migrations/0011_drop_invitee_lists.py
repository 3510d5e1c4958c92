# The invitee lists are rows now (0009, 0010).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('conferences', '0010_invitee_rows'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='providermeeting',
            name='invitees',
        ),
        migrations.RemoveField(
            model_name='providermeeting',
            name='provider_invitees',
        ),
    ]
