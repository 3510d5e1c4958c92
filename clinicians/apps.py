from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save, pre_save
from django.utils.translation import gettext_lazy as _


class CliniciansConfig(AppConfig):
    name = "clinicians"
    verbose_name = _("Clinicians network")

    def ready(self) -> None:
        from . import reference

        # Reference data follows the code after every migrate, and after the
        # flush that ends every transactional test.
        post_migrate.connect(reference.load_after_migrate, sender=self, dispatch_uid="clinicians.reference")

        from cmss import fragments, retention

        from . import choices, services
        from .models import ERN, Hospital, Language, Specialty

        # Option lists of reference data (forms, the directory's filters) are
        # cached per language under this topic (cmss/fragments.py).
        fragments.watch("reference", ERN, Language, Specialty)
        # The privacy page and the registration form show the current statement.
        from .middleware import PRIVACY_TOPIC
        from .models import PrivacyStatement

        fragments.watch(PRIVACY_TOPIC, PrivacyStatement)
        post_save.connect(choices.hospital_saved, sender=Hospital, dispatch_uid="clinicians.choices.save")
        post_delete.connect(
            choices.hospital_deleted, sender=Hospital, dispatch_uid="clinicians.choices.delete"
        )
        # Pages of directory entries are cached per search (clinicians/directory.py):
        # a change of a clinician, their ERNs or languages makes them stale.
        # Services that change clinicians with update() bump it themselves.
        from . import directory
        from .models import Clinician

        post_save.connect(
            directory.clinician_changed, sender=Clinician, dispatch_uid="clinicians.directory.save"
        )
        post_delete.connect(
            directory.clinician_changed, sender=Clinician, dispatch_uid="clinicians.directory.delete"
        )
        for through in (Clinician.erns.through, Clinician.languages.through):
            m2m_changed.connect(
                directory.clinician_changed,
                sender=through,
                dispatch_uid=f"clinicians.directory.{through.__name__}",
            )

        retention.register("unconfirmed sign-ups", services.purge_unconfirmed_signups)
        retention.register("rejected registrations", services.purge_rejected_registrations)

        # The copies on the clinician's row that the suggested experts rank by
        # (Clinician.ern_bits, language_bits, time_zone) follow writes made
        # around the services; see the end of clinicians/services.py.
        from django.conf import settings

        for through in (Clinician.erns.through, Clinician.languages.through):
            m2m_changed.connect(
                services.expertise_changed, sender=through, dispatch_uid=f"clinicians.bits.{through.__name__}"
            )
        for model in (ERN, Language):
            post_delete.connect(
                services.bit_deleted, sender=model, dispatch_uid=f"clinicians.bit_deleted.{model.__name__}"
            )
        post_save.connect(
            services.user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="clinicians.zone"
        )
        pre_save.connect(services.clinician_saving, sender=Clinician, dispatch_uid="clinicians.new_zone")
