"""ERNs and languages get a bit each; clinicians get their memberships, their
languages and their user's time zone copied onto their row, for the suggested
experts' ranking (conferences/experts.py)."""

import clinicians.models
import django.db.models.functions
from django.conf import settings
from django.db import migrations, models


def give_bits(apps, schema_editor):
    # In code order; ERNs and languages added later take the lowest bit free.
    db = schema_editor.connection.alias
    for name in ("ERN", "Language"):
        model = apps.get_model("clinicians", name)
        for bit, pk in enumerate(model.objects.using(db).order_by("code").values_list("pk", flat=True)):
            model.objects.using(db).filter(pk=pk).update(bit=bit)


def _bits(through, to):
    """The sum (so the OR: each bit once) of 1 << bit of a clinician's rows of `through`."""
    one = django.db.models.functions.Cast(models.Value(1), models.BigIntegerField())
    total = (
        through.objects.filter(clinician_id=models.OuterRef("pk"))
        .order_by()
        .values("clinician_id")
        .annotate(bits=models.Sum(one.bitleftshift(models.F(f"{to}__bit"))))
        .values("bits")
    )
    return django.db.models.functions.Coalesce(
        models.Subquery(total, output_field=models.BigIntegerField()), models.Value(0)
    )


def copy_expertise(apps, schema_editor):
    Clinician = apps.get_model("clinicians", "Clinician")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    Clinician.objects.using(schema_editor.connection.alias).update(
        ern_bits=_bits(Clinician.erns.through, "ern"),
        language_bits=_bits(Clinician.languages.through, "language"),
        time_zone=models.Subquery(User.objects.filter(pk=models.OuterRef("user_id")).values("time_zone")[:1]),
    )


def bits_index(apps, schema_editor):
    # The suggested experts find a wanted ERN's members among 100,000 clinicians
    # through this index (conferences/experts.py): the bits set in ern_bits as
    # an array, in a GIN index, for the directory's clinicians. Probing the
    # primary key with the members' ids costs a descent of the index each, and
    # thousands of them. SQLite, the demo database, has none and needs none.
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE OR REPLACE FUNCTION clinician_bits_set(bits bigint) RETURNS smallint[] "
        "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ "
        "SELECT coalesce(array_agg(bit::smallint ORDER BY bit), '{}') FROM pg_catalog.generate_series(0, 62) AS bit "
        "WHERE bits & (1::bigint << bit) <> 0 $$"
    )
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS clinician_ern_bits_gin ON clinicians_clinician "
        "USING gin (clinician_bits_set(ern_bits)) "
        "WHERE status = 'verified' AND listed_in_directory AND NOT restricted"
    )


def drop_bits_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS clinician_ern_bits_gin")
        schema_editor.execute("DROP FUNCTION IF EXISTS clinician_bits_set(bigint)")


class Migration(migrations.Migration):

    dependencies = [
        ('clinicians', '0004_directory'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='ern',
            name='bit',
            field=models.PositiveSmallIntegerField(editable=False, null=True, verbose_name='bit'),
        ),
        migrations.AddField(
            model_name='language',
            name='bit',
            field=models.PositiveSmallIntegerField(editable=False, null=True, verbose_name='bit'),
        ),
        migrations.RunPython(give_bits, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='ern',
            name='bit',
            field=models.PositiveSmallIntegerField(default=clinicians.models.free_ern_bit, editable=False, unique=True, verbose_name='bit'),
        ),
        migrations.AlterField(
            model_name='language',
            name='bit',
            field=models.PositiveSmallIntegerField(default=clinicians.models.free_language_bit, editable=False, unique=True, verbose_name='bit'),
        ),
        migrations.AddConstraint(
            model_name='ern',
            constraint=models.CheckConstraint(condition=models.Q(('bit__lt', 63)), name='ern_bit_range'),
        ),
        migrations.AddConstraint(
            model_name='language',
            constraint=models.CheckConstraint(condition=models.Q(('bit__lt', 63)), name='language_bit_range'),
        ),
        migrations.AddField(
            model_name='clinician',
            name='ern_bits',
            field=models.BigIntegerField(default=0, editable=False, verbose_name='ERN memberships as bits'),
        ),
        migrations.AddField(
            model_name='clinician',
            name='language_bits',
            field=models.BigIntegerField(default=0, editable=False, verbose_name='languages spoken as bits'),
        ),
        migrations.AddField(
            model_name='clinician',
            name='time_zone',
            field=models.CharField(default='Europe/Brussels', editable=False, max_length=64, verbose_name='time zone'),
        ),
        migrations.RunPython(copy_expertise, migrations.RunPython.noop),
        migrations.RunPython(bits_index, drop_bits_index),
    ]
