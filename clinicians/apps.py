from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CliniciansConfig(AppConfig):
    name = "clinicians"
    verbose_name = _("Clinicians network")

    def ready(self) -> None:
        from . import reference

        # Reference data follows the code after every migrate, and after the
        # flush that ends every transactional test.
        post_migrate.connect(reference.load_after_migrate, sender=self, dispatch_uid="clinicians.reference")

        from cmss import retention

        from . import services

        retention.register("unconfirmed sign-ups", services.purge_unconfirmed_signups)
        retention.register("rejected registrations", services.purge_rejected_registrations)
