"""French and German clinicians read the site and their emails in their language.

The catalogues live in locale/<language>/LC_MESSAGES: the .po files are the
source, the .mo files are compiled from them and committed (CI has no gettext).
"""

from __future__ import annotations

import gettext
import html
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from cmss.outbox import render_email
from tests.factories import ClinicianFactory

pytestmark = pytest.mark.django_db

LOCALE = Path(__file__).resolve().parents[1] / "locale"
LANGUAGES = ["fr", "de"]
NBSP = "\u00a0"  # French puts a no-break space before ":" and inside « ».


# --- A small .po parser -------------------------------------------------------------------

ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def unquote(line: str) -> str:
    body = line.strip()
    assert body.startswith('"') and body.endswith('"'), line
    return re.sub(r"\\(.)", lambda match: ESCAPES.get(match.group(1), match.group(0)), body[1:-1])


def po_entries(path: Path) -> list[dict[str, Any]]:
    """Every entry of a .po file: flags, msgid, msgid_plural and msgstr forms (header excluded)."""
    entries: list[dict[str, Any]] = []
    entry: dict[str, Any] = {"flags": set(), "fields": {}}
    field = ""

    def close() -> None:
        nonlocal entry
        if "msgid" in entry["fields"]:
            entries.append(entry)
        entry = {"flags": set(), "fields": {}}

    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            close()
        elif line.startswith("#~"):
            continue  # obsolete entries are not used
        elif line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry["fields"][field] += unquote(line)
        else:
            field, _, rest = line.partition(" ")
            entry["fields"][field] = unquote(rest)
    close()
    return [item for item in entries if item["fields"]["msgid"] != ""]


def msgstrs(entry: dict[str, Any]) -> dict[str, str]:
    return {name: value for name, value in entry["fields"].items() if name.startswith("msgstr")}


def page_text(response: Any) -> str:
    assert response.status_code == 200
    return html.unescape(response.content.decode())


# --- Pages -----------------------------------------------------------------------------------


def test_a_french_clinician_sees_the_profile_page_in_french(client: Client) -> None:
    clinician = ClinicianFactory.create(user__language="fr", status="registered")
    client.force_login(clinician.user)

    page = page_text(client.get("/profile/"))

    assert '<html lang="fr">' in page
    assert "<h1>Mon profil</h1>" in page
    assert "Enregistrer mon profil" in page
    assert "Inscription enregistrée — le service d’assistance vous contactera" in page
    assert "Save my profile" not in page
    assert "My profile" not in page


def test_a_german_clinician_sees_the_helpdesk_question_page_in_german(client: Client) -> None:
    clinician = ClinicianFactory.create(user__language="de")
    client.force_login(clinician.user)

    page = page_text(client.get("/helpdesk/new/"))

    assert '<html lang="de">' in page
    assert "<h1>Frage an den Helpdesk</h1>" in page
    assert "Der Helpdesk antwortet an Arbeitstagen von 9:00 bis 17:00 Uhr (Brüsseler Zeit)." in page
    assert ">Senden</button>" in page
    assert "Ask the helpdesk" not in page
    assert ">Send</button>" not in page


def test_an_english_clinician_still_reads_english(client: Client) -> None:
    clinician = ClinicianFactory.create(user__language="en")
    client.force_login(clinician.user)

    page = page_text(client.get("/profile/"))

    assert "Save my profile" in page
    assert "Enregistrer mon profil" not in page


# --- Emails ----------------------------------------------------------------------------------


def test_the_email_a_french_clinician_receives_after_registering_is_in_french() -> None:
    clinician = ClinicianFactory.create(user__language="fr", first_name="Amélie")

    subject, text, body_html = render_email(
        "registration_received", {"clinician": clinician, "user": clinician.user}, language="fr"
    )

    # render_email folds all whitespace of the subject, the no-break space included.
    assert subject == "[CMSS] Votre inscription est confirmée : prochaines étapes"
    assert text.startswith("Bonjour Amélie,")
    assert f"Prochaines étapes{NBSP}: le service d’assistance vous contactera" in text
    assert "Le service d’assistance du CMSS" in text
    assert "Tenez votre profil à jour" in body_html
    assert "what happens next" not in subject + text + body_html


def test_the_same_email_stays_in_english_for_english_readers() -> None:
    clinician = ClinicianFactory.create(user__language="en")

    subject, _text, _html = render_email(
        "registration_received", {"clinician": clinician, "user": clinician.user}, language="en"
    )

    assert subject == "[CMSS] Your registration is confirmed: what happens next"


# --- The catalogues --------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_in_the_catalogue_is_translated_and_none_is_fuzzy(language: str) -> None:
    entries = po_entries(LOCALE / language / "LC_MESSAGES" / "django.po")

    assert len(entries) > 400
    untranslated = [entry["fields"]["msgid"] for entry in entries if not all(msgstrs(entry).values())]
    fuzzy = [entry["fields"]["msgid"] for entry in entries if "fuzzy" in entry["flags"]]
    assert untranslated == []
    assert fuzzy == []
    header = (LOCALE / language / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    assert "#, fuzzy" not in header
    assert f'"Language: {language}\\n"' in header


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_committed_mo_file_is_compiled_from_the_current_po_file(language: str) -> None:
    folder = LOCALE / language / "LC_MESSAGES"
    with (folder / "django.mo").open("rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]

    expected: dict[object, str] = {}
    for entry in po_entries(folder / "django.po"):
        fields = entry["fields"]
        msgid = f"{fields['msgctxt']}\x04{fields['msgid']}" if "msgctxt" in fields else fields["msgid"]
        if "msgid_plural" in fields:
            for name, value in msgstrs(entry).items():
                expected[(msgid, int(name[len("msgstr[") : -1]))] = value
        else:
            expected[msgid] = fields["msgstr"]
    compiled_messages = {key: value for key, value in catalog.items() if key != ""}

    assert compiled_messages == expected
