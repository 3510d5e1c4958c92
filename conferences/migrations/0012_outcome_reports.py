# Structured outcome reports replace the free-text outcome notes (Conference.outcome).
#
# No data migration: the old notes were the agent's own, shown on the ticket panel
# only and never sent to anyone; turning them into reports would publish them to the
# requester, the coordinators and the invitees, with an agreement and a list of
# participants nobody recorded. They stay on the conference, shown on the panel as
# before, and the retention purge clears them as it did.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('clinicians', '0004_directory'),
        ('conferences', '0011_drop_invitee_lists'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='conference',
            name='advice_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='report sent'),
        ),
        migrations.CreateModel(
            name='OutcomeReport',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('question', models.TextField(blank=True, max_length=4000, verbose_name='question as asked')),
                ('advice', models.TextField(blank=True, max_length=8000, verbose_name='advice and recommendations')),
                ('agreement', models.CharField(choices=[('consensus', 'consensus'), ('majority', 'majority'), ('none', 'no agreement')], max_length=10, verbose_name='agreement')),
                ('dissent', models.TextField(blank=True, max_length=2000, verbose_name='dissent')),
                ('further_tests', models.TextField(blank=True, max_length=2000, verbose_name='further tests')),
                ('transfer_advised', models.BooleanField(default=False, verbose_name='transfer advised')),
                ('transfer_to', models.CharField(blank=True, max_length=200, verbose_name='transfer to')),
                ('rediscuss_on', models.DateField(blank=True, null=True, verbose_name='re-discussion date')),
                ('requester_took_part', models.BooleanField(default=True, verbose_name='the requester took part')),
                ('written_at', models.DateTimeField(auto_now_add=True, verbose_name='written')),
                ('sent_at', models.DateTimeField(blank=True, null=True, verbose_name='sent')),
                ('read_at', models.DateTimeField(blank=True, null=True, verbose_name='read by the requester')),
                ('usefulness', models.CharField(blank=True, choices=[('yes', 'useful'), ('partly', 'partly useful'), ('no', 'not useful')], max_length=10, verbose_name='useful?')),
                ('usefulness_comment', models.TextField(blank=True, max_length=2000, verbose_name='comment on usefulness')),
                ('answered_at', models.DateTimeField(blank=True, null=True, verbose_name='usefulness answered')),
                ('text_purged_at', models.DateTimeField(blank=True, null=True, verbose_name='text purged')),
                ('conference', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='report', to='conferences.conference', verbose_name='conference')),
                ('participants', models.ManyToManyField(blank=True, related_name='outcome_reports', to='clinicians.clinician', verbose_name='took part')),
                ('written_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='written by')),
            ],
            options={
                'verbose_name': 'outcome report',
                'verbose_name_plural': 'outcome reports',
                'ordering': ['-written_at', 'pk'],
            },
        ),
    ]
