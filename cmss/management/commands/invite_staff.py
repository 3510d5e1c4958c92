"""Create a helpdesk staff account and email it an invitation to choose a password.

    python manage.py invite_staff --email a.agent@example.eu --name "A. Agent" --role agent

Running it again for the same address sends a fresh invitation (no second account).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cmss import staff


class Command(BaseCommand):
    help = (
        "Create a helpdesk agent, supervisor or superuser (or find the existing one) and email an "
        "invitation with a set-password link; two-factor sign-in is set up at the first sign-in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True, help="the staff member's work address (their sign-in)")
        parser.add_argument(
            "--name", required=True, help="how they sign their replies, e.g. 'Ana (helpdesk)'"
        )
        parser.add_argument(
            "--role",
            required=True,
            choices=[role.value for role in staff.Role],
            help="agent: works the queue; supervisor: also reference data, exports, audit log; "
            "superuser: also manages staff accounts",
        )

    def handle(self, *args: Any, email: str, name: str, role: str, **options: Any) -> None:
        try:
            user = staff.invite_staff(email=email, name=name, role=role)
        except staff.StaffError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"{user.email} is a {staff.Role(role).label}. The invitation email is in the outbox; "
                "a worker sends it (Admin → Outgoing emails shows when)."
            )
        )
