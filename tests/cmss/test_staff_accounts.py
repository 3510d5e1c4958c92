"""Staff onboarding: `manage.py invite_staff` and the admin's add form create the account through
cmss.staff, the invitation's link lets the person choose a password, and the first sign-in
enrols TOTP. Superusers manage staff accounts; every change is audited."""

from __future__ import annotations

import re
import time
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client

from cmss import roles, staff
from cmss.models import AuditEvent, OutgoingEmail, User
from tests.conftest import sign_in_staff
from tests.factories import ClinicianFactory, StaffFactory
from tests.forms import form_as_posted

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-and-unusual-passphrase-42"


def invite(*args: str) -> str:
    out = StringIO()
    call_command("invite_staff", *args, stdout=out)
    return out.getvalue()


def invitations_to(address: str) -> list[OutgoingEmail]:
    return list(
        OutgoingEmail.objects.filter(to_address=address, subject__contains="choose your password").order_by(
            "pk"
        )
    )


def link_in(email: OutgoingEmail) -> str:
    found = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", email.text_body)
    assert found is not None, email.text_body
    return found.group(1)


def actions_about(user: User) -> list[str]:
    return list(
        AuditEvent.objects.filter(subject_user_id=user.pk).order_by("pk").values_list("action", flat=True)
    )


def test_the_command_creates_an_agent_with_no_password_and_a_confirmed_address() -> None:
    output = invite(
        "--email", " Nora.Agent@Commission.example.eu ", "--name", "Nora Agent", "--role", "agent"
    )
    user = User.objects.get(email="nora.agent@commission.example.eu")
    assert "The invitation email is in the outbox" in output
    assert (user.is_staff, user.is_superuser, user.display_name) == (True, False, "Nora Agent")
    assert set(user.groups.values_list("name", flat=True)) == {roles.AGENTS}
    assert user.has_usable_password() is False
    assert EmailAddress.objects.filter(user=user, email=user.email, verified=True, primary=True).exists()
    (email,) = invitations_to(user.email)
    assert "Dear Nora Agent," in email.text_body
    assert "as helpdesk agent." in email.text_body
    assert "/accounts/password/reset/key/" in email.text_body
    assert "/accounts/login/" in email.text_body
    assert actions_about(user) == ["staff.invited"]


def test_running_it_again_for_the_same_address_sends_a_new_invitation_to_the_same_account() -> None:
    invite("--email", "sam@commission.example.eu", "--name", "Sam", "--role", "agent")
    invite("--email", "SAM@commission.example.eu", "--name", "Sam S.", "--role", "supervisor")
    (user,) = User.objects.filter(email__iexact="sam@commission.example.eu")
    assert EmailAddress.objects.filter(user=user).count() == 1
    assert len(invitations_to(user.email)) == 2
    assert set(user.groups.values_list("name", flat=True)) == {roles.SUPERVISORS}
    assert user.display_name == "Sam S."
    assert actions_about(user) == ["staff.invited", "staff.invitation_resent"]


def test_the_first_superuser_comes_from_the_command() -> None:
    invite("--email", "root@commission.example.eu", "--name", "Deployer", "--role", "superuser")
    user = User.objects.get(email="root@commission.example.eu")
    assert user.is_superuser and user.is_staff and staff.role_of(user) == staff.Role.SUPERUSER


def test_a_clinicians_address_is_not_turned_into_a_staff_account() -> None:
    clinician = ClinicianFactory.create()
    with pytest.raises(CommandError, match="is a clinician's account"):
        invite("--email", clinician.user.email, "--name", "X", "--role", "supervisor")
    clinician.user.refresh_from_db()
    assert clinician.user.is_staff is False and not clinician.user.groups.exists()
    assert invitations_to(clinician.user.email) == []


def test_the_invitation_sets_a_password_and_the_first_sign_in_enrols_totp() -> None:
    user = staff.invite_staff(email="ines@commission.example.eu", name="Inès", role="agent")
    client = Client()
    # The link goes to allauth's set-password page (the key moves to the session first).
    response = client.get(link_in(invitations_to(user.email)[0]))
    assert response.status_code == 302 and response["Location"].endswith("-set-password/")
    response = client.post(response["Location"], {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302, response.content.decode()[:2000]
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)

    # Signing in needs no email confirmation; the admin sends the person to enrol TOTP.
    response = client.post("/accounts/login/", {"login": user.email, "password": NEW_PASSWORD})
    assert response.status_code == 302
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/totp/activate/")
    activate = response["Location"]
    # allauth asks for the password again before a second factor is added (a sign-in
    # does not count as re-authentication, whatever ACCOUNT_REAUTHENTICATION_TIMEOUT says).
    response = client.get(activate)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/reauthenticate/")
    response = client.post(response["Location"], {"password": NEW_PASSWORD})
    assert response.status_code == 302
    response = client.get(activate)
    assert response.status_code == 200
    secret = response.context["form"].secret
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    response = client.post(activate, {"code": code})
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/recovery-codes/"
    assert client.get("/accounts/2fa/recovery-codes/").status_code == 200
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).exists()
    # Enrolling is not a sign-in with the second factor: the admin asks for a code once.
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/reauthenticate/")
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    response = client.post(response["Location"], {"code": code})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_the_invitation_link_works_once() -> None:
    user = staff.invite_staff(email="once@commission.example.eu", name="Once", role="agent")
    link = link_in(invitations_to(user.email)[0])
    client = Client()
    form = client.get(link)["Location"]
    client.post(form, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    again = Client().get(link)
    assert again.status_code == 200 and again.context["token_fail"] is True


# --- The admin: superusers manage staff accounts -----------------------------------------------


@pytest.fixture
def superuser_client(client: Client) -> Client:
    return sign_in_staff(client, StaffFactory.create(role="supervisors", is_superuser=True))


def test_the_admin_add_form_invites_without_any_password(superuser_client: Client) -> None:
    page = superuser_client.get("/admin/cmss/user/add/").content.decode()
    assert 'type="password"' not in page
    response = superuser_client.post(
        "/admin/cmss/user/add/",
        {"email": "vera@commission.example.eu", "display_name": "Vera", "role": "supervisor"},
        follow=True,
    )
    assert "The invitation to choose a password is on its way to vera@commission.example.eu." in (
        response.content.decode()
    )
    user = User.objects.get(email="vera@commission.example.eu")
    assert user.is_staff and not user.has_usable_password()
    assert set(user.groups.values_list("name", flat=True)) == {roles.SUPERVISORS}
    assert len(invitations_to(user.email)) == 1


def test_a_deactivated_staff_member_is_signed_out_and_it_is_audited(superuser_client: Client) -> None:
    agent = StaffFactory.create(role="agents")
    agents_browser = sign_in_staff(Client(), agent)
    assert agents_browser.get("/admin/").status_code == 200
    url = f"/admin/cmss/user/{agent.pk}/change/"
    data = form_as_posted(superuser_client, url, "user_form")
    del data["is_active"]
    assert superuser_client.post(url, {**data, "role": "supervisor"}).status_code == 302
    agent.refresh_from_db()
    assert agent.is_active is False
    assert set(agent.groups.values_list("name", flat=True)) == {roles.SUPERVISORS}
    assert set(actions_about(agent)) == {"staff.deactivated", "staff.role_changed"}
    response = agents_browser.get("/admin/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_superuser_cannot_deactivate_or_demote_themselves(client: Client) -> None:
    me = StaffFactory.create(role="supervisors", is_superuser=True)
    sign_in_staff(client, me)
    url = f"/admin/cmss/user/{me.pk}/change/"
    data = form_as_posted(client, url, "user_form")
    del data["is_active"]
    response = client.post(url, data)
    assert response.status_code == 200
    assert "You cannot deactivate your own account." in response.content.decode()
    response = client.post(url, {**form_as_posted(client, url, "user_form"), "role": "agent"})
    assert "You cannot change your own role" in response.content.decode()
    me.refresh_from_db()
    assert me.is_active and me.is_superuser


def test_a_lost_authenticator_is_reset_and_the_staff_member_enrols_again(superuser_client: Client) -> None:
    agent = StaffFactory.create(role="agents")
    agents_browser = sign_in_staff(Client(), agent)
    response = superuser_client.post(
        "/admin/cmss/user/",
        {"action": "reset_two_factor", "_selected_action": [agent.pk]},
        follow=True,
    )
    assert "Two-factor sign-in reset for 1 staff member." in response.content.decode()
    assert not Authenticator.objects.filter(user=agent).exists()
    assert "staff.two_factor_reset" in actions_about(agent)
    agents_browser.logout()
    agents_browser.force_login(agent)
    response = agents_browser.get("/admin/")
    assert response["Location"].startswith("/accounts/2fa/totp/activate/")


def test_supervisors_see_staff_accounts_but_change_nothing(supervisor_client: Client) -> None:
    agent = StaffFactory.create(role="agents")
    url = f"/admin/cmss/user/{agent.pk}/change/"
    page = supervisor_client.get(url)
    assert page.status_code == 200 and "helpdesk agent" in page.content.decode()
    assert supervisor_client.post(url, {"display_name": "Renamed", "role": "supervisor"}).status_code == 403
    assert supervisor_client.get("/admin/cmss/user/add/").status_code == 403
    agent.refresh_from_db()
    assert agent.display_name != "Renamed"
    assert (
        Group.objects.get(name=roles.SUPERVISORS).permissions.filter(codename="change_user").exists() is False
    )
