"""Reference data: the 24 ERNs, specialties, spoken languages, demo hospitals
and the first privacy statement.

One idempotent loader, called by a data migration and after every migrate
(so transactional tests, which truncate tables, still find it). It adds what
is missing and never overwrites what supervisors have edited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

from .models import first_free_bit

ERNS: list[tuple[str, str, str]] = [
    ("endo-ern", "Endo-ERN", "Rare endocrine conditions"),
    ("erknet", "ERKNet", "Rare kidney diseases"),
    ("ern-bond", "ERN BOND", "Rare bone disorders"),
    ("ern-cranio", "ERN CRANIO", "Rare craniofacial anomalies and ear, nose and throat disorders"),
    ("ern-epicare", "ERN EpiCARE", "Rare and complex epilepsies"),
    ("ern-euracan", "ERN EURACAN", "Rare adult solid cancers"),
    ("ern-eurobloodnet", "ERN EuroBloodNet", "Rare haematological diseases"),
    ("ern-eurogen", "ERN eUROGEN", "Rare urogenital diseases and complex conditions"),
    ("ern-euro-nmd", "ERN EURO-NMD", "Rare neuromuscular diseases"),
    ("ern-eye", "ERN EYE", "Rare eye diseases"),
    ("ern-genturis", "ERN GENTURIS", "Genetic tumour risk syndromes"),
    ("ern-guard-heart", "ERN GUARD-HEART", "Rare and complex diseases of the heart"),
    ("ern-ithaca", "ERN ITHACA", "Congenital malformations and rare intellectual disability"),
    ("ern-lung", "ERN LUNG", "Rare respiratory diseases"),
    ("ern-paedcan", "ERN PaedCan", "Paediatric cancer (haemato-oncology)"),
    ("ern-rare-liver", "ERN RARE-LIVER", "Rare hepatological diseases"),
    ("ern-reconnet", "ERN ReCONNET", "Rare connective tissue and musculoskeletal diseases"),
    ("ern-rita", "ERN RITA", "Rare immunodeficiency, autoinflammatory and autoimmune diseases"),
    ("ern-rnd", "ERN-RND", "Rare neurological diseases"),
    ("ern-skin", "ERN Skin", "Rare and undiagnosed skin disorders"),
    ("ern-transplant-child", "ERN TRANSPLANT-CHILD", "Transplantation in children"),
    ("ernica", "ERNICA", "Rare inherited and congenital digestive disorders"),
    ("metabern", "MetabERN", "Rare hereditary metabolic disorders"),
    ("vascern", "VASCERN", "Rare multisystemic vascular diseases"),
]

# Directive 2005/36/EC, Annex V, points 5.1.3 (specialist medical training)
# and 5.1.4 (general practice); intensive care medicine is added because most
# clinicians treating severe COVID-19 practise it.
MEDICAL_SPECIALTIES: list[str] = [
    "Accident and emergency medicine",
    "Allergology",
    "Anaesthetics",
    "Biological haematology",
    "Cardiology",
    "Cardio-thoracic surgery",
    "Child psychiatry",
    "Clinical biology",
    "Clinical microbiology-bacteriology",
    "Clinical neurophysiology",
    "Community medicine",
    "Dental, oral and maxillo-facial surgery",
    "Dermato-venereology",
    "Dermatology",
    "Diagnostic radiology",
    "Endocrinology",
    "Gastroenterological surgery",
    "Gastroenterology",
    "General (internal) medicine",
    "General haematology",
    "General practice",
    "General surgery",
    "Geriatrics",
    "Immunology",
    "Infectious diseases",
    "Intensive care medicine",
    "Maxillo-facial surgery",
    "Medical genetics",
    "Medical oncology",
    "Microbiology",
    "Nephrology",
    "Neurological surgery",
    "Neurology",
    "Neuropsychiatry",
    "Nuclear medicine",
    "Obstetrics and gynaecology",
    "Occupational medicine",
    "Ophthalmology",
    "Orthopaedics",
    "Otorhinolaryngology",
    "Paediatric surgery",
    "Paediatrics",
    "Pathological anatomy",
    "Pharmacology",
    "Physical medicine and rehabilitation",
    "Plastic surgery",
    "Psychiatry",
    "Radiology",
    "Radiotherapy",
    "Respiratory medicine",
    "Rheumatology",
    "Stomatology",
    "Thoracic surgery",
    "Tropical medicine",
    "Urology",
    "Vascular surgery",
    "Venereology",
]

NURSING_ROLES: list[str] = [
    "General care nursing",
    "Intensive care nursing",
    "Anaesthesia nursing",
    "Emergency nursing",
    "Infection prevention and control nursing",
    "Paediatric nursing",
    "Respiratory nursing",
    "Advanced practice nursing",
    "Midwifery",
]

# ISO 639-1: the 24 official EU languages, the other network countries'
# languages, and languages often spoken by patients and staff.
LANGUAGES: list[tuple[str, str, str]] = [
    ("bg", "Bulgarian", "български"),
    ("hr", "Croatian", "hrvatski"),
    ("cs", "Czech", "čeština"),
    ("da", "Danish", "dansk"),
    ("nl", "Dutch", "Nederlands"),
    ("en", "English", "English"),
    ("et", "Estonian", "eesti"),
    ("fi", "Finnish", "suomi"),
    ("fr", "French", "français"),
    ("de", "German", "Deutsch"),
    ("el", "Greek", "ελληνικά"),
    ("hu", "Hungarian", "magyar"),
    ("ga", "Irish", "Gaeilge"),
    ("it", "Italian", "italiano"),
    ("lv", "Latvian", "latviešu"),
    ("lt", "Lithuanian", "lietuvių"),
    ("mt", "Maltese", "Malti"),
    ("pl", "Polish", "polski"),
    ("pt", "Portuguese", "português"),
    ("ro", "Romanian", "română"),
    ("sk", "Slovak", "slovenčina"),
    ("sl", "Slovenian", "slovenščina"),
    ("es", "Spanish", "español"),
    ("sv", "Swedish", "svenska"),
    ("is", "Icelandic", "íslenska"),
    ("no", "Norwegian", "norsk"),
    ("lb", "Luxembourgish", "Lëtzebuergesch"),
    ("ca", "Catalan", "català"),
    ("eu", "Basque", "euskara"),
    ("gl", "Galician", "galego"),
    ("cy", "Welsh", "Cymraeg"),
    ("ru", "Russian", "русский"),
    ("uk", "Ukrainian", "українська"),
    ("tr", "Turkish", "Türkçe"),
    ("ar", "Arabic", "العربية"),
]

# (name, city, country, reference centre) — approved hospitals for the demo
# and for tests; production adds its own through the admin.
HOSPITALS: list[tuple[str, str, str, bool]] = [
    ("Cliniques universitaires Saint-Luc", "Brussels", "BE", True),
    ("Hôpital Erasme", "Brussels", "BE", False),
    ("UZ Leuven", "Leuven", "BE", True),
    ("UZ Gent", "Ghent", "BE", False),
    ("Charité – Universitätsmedizin Berlin", "Berlin", "DE", True),
    ("Universitätsklinikum Hamburg-Eppendorf", "Hamburg", "DE", False),
    ("LMU Klinikum", "Munich", "DE", True),
    ("Universitätsklinikum Heidelberg", "Heidelberg", "DE", False),
    ("Hôpital de la Pitié-Salpêtrière (AP-HP)", "Paris", "FR", True),
    ("Hôpital Necker-Enfants malades (AP-HP)", "Paris", "FR", True),
    ("Hospices Civils de Lyon", "Lyon", "FR", False),
    ("CHU de Bordeaux", "Bordeaux", "FR", False),
    ("Ospedale Luigi Sacco", "Milan", "IT", True),
    ("INMI Lazzaro Spallanzani", "Rome", "IT", True),
    ("Policlinico Universitario Agostino Gemelli", "Rome", "IT", False),
    ("Azienda Ospedale Università Padova", "Padua", "IT", False),
    ("Hospital Universitario La Paz", "Madrid", "ES", True),
    ("Hospital Clínic de Barcelona", "Barcelona", "ES", True),
    ("Hospital Universitari Vall d'Hebron", "Barcelona", "ES", False),
    ("Hospital Universitario Virgen del Rocío", "Seville", "ES", False),
    ("Amsterdam UMC", "Amsterdam", "NL", True),
    ("Erasmus MC", "Rotterdam", "NL", False),
    ("Radboudumc", "Nijmegen", "NL", False),
    ("Uniwersyteckie Centrum Kliniczne", "Gdańsk", "PL", False),
    ("Centralny Szpital Kliniczny", "Warsaw", "PL", False),
    ("Karolinska Universitetssjukhuset", "Stockholm", "SE", True),
    ("Sahlgrenska Universitetssjukhuset", "Gothenburg", "SE", False),
    ("Universitätsklinikum AKH Wien", "Vienna", "AT", True),
    ("Rigshospitalet", "Copenhagen", "DK", True),
    ("Helsingin yliopistollinen keskussairaala", "Helsinki", "FI", False),
    ("St James's Hospital", "Dublin", "IE", False),
    ("Mater Misericordiae University Hospital", "Dublin", "IE", False),
    ("Hospital de Santa Maria", "Lisbon", "PT", False),
    ("Centro Hospitalar Universitário de São João", "Porto", "PT", False),
    ("Fakultní nemocnice v Motole", "Prague", "CZ", False),
    ("Attikon University General Hospital", "Athens", "GR", False),
    ("Semmelweis Egyetem Klinikai Központ", "Budapest", "HU", False),
    ("Institutul Național de Boli Infecțioase Matei Balș", "Bucharest", "RO", False),
    ("Oslo universitetssykehus", "Oslo", "NO", False),
    ("Guy's and St Thomas' NHS Foundation Trust", "London", "GB", False),
    ("Royal Infirmary of Edinburgh", "Edinburgh", "GB", False),
    ("Landspítali", "Reykjavík", "IS", False),
    ("Centre Hospitalier de Luxembourg", "Luxembourg", "LU", False),
    ("Landesspital Liechtenstein", "Vaduz", "LI", False),
    ("Mater Dei Hospital", "Msida", "MT", False),
]

FIRST_PUBLISHED = datetime(2020, 6, 1, tzinfo=UTC)

PRIVACY_STATEMENT_TITLE = "Privacy statement of the COVID-19 Clinical Management Support System"

PRIVACY_STATEMENT_BODY = """\
This statement explains how the European Commission processes your personal data when you use the COVID-19 \
Clinical Management Support System (CMSS): the COVID-19 Clinicians Network, its helpdesk, case-discussion web \
conferences and the webinars of the European Reference Networks. The processing is subject to Regulation (EU) \
2018/1725 on the protection of natural persons with regard to the processing of personal data by the Union \
institutions, bodies, offices and agencies.

## Who is responsible (the controller)
The European Commission, Directorate-General for Health and Food Safety (DG SANTE), Unit B.3 — European \
Reference Networks and digital health, 1049 Brussels, Belgium. Contact: the CMSS helpdesk, through the contact \
form of this site or the helpdesk page of your profile.

## The data protection officer
You can contact the Commission's data protection officer at DATA-PROTECTION-OFFICER@ec.europa.eu about any \
question on the processing of your personal data.

## Why we process your data (purposes)
To register clinicians who treat COVID-19 in the network and verify that they are health professionals; to let \
verified clinicians find one another in the directory; to answer helpdesk requests; to organise case-discussion \
web conferences requested by reference-centre hospitals and webinars given by experts of the European Reference \
Networks; to send the emails, invitations and reminders these need. The CMSS supports clinical practice; it is \
not used for epidemiology or surveillance, and your data is never used for marketing.

## Legal basis
Article 5(1)(a) of Regulation (EU) 2018/1725: the processing is necessary for a task carried out in the public \
interest, namely the Commission's support to Member States in the coordination of the response to COVID-19. \
Showing your email address or phone number to other verified clinicians in the directory is based on your \
consent (Article 5(1)(d)), which you give or withdraw at any time in your profile.

## Which data we process
Identification and contact data: name, professional email address, phone number, country, hospital or \
affiliation. Professional data: profession, specialty, languages spoken, European Reference Network memberships. \
Your choices (directory visibility, time zone, language) and your acceptance of this statement. Your helpdesk \
requests and the replies to them. For conferences: the invitations you received and your answers; the case \
summaries that coordinators enter must be anonymised and must not contain patient data. For webinars: your \
registrations. Technical data: sign-in times, and the IP address recorded in the audit log when personal data is \
viewed, exported or changed.

## Who receives your data
Authorised helpdesk staff of DG SANTE and its contractor operating the helpdesk. Other verified clinicians see \
your name, profession, specialty, hospital, country, ERN memberships and languages in the directory, and your \
email address and phone number only if you chose to show them. Invitees of a conference see the other invitees. \
The video-conference provider (Cisco Webex, acting as processor) receives the name and email address of the \
participants of a conference or webinar. The email service that delivers our messages. No data is transferred \
outside the European Economic Area except where the video provider's contract with the Commission allows it \
under Chapter V of the Regulation.

## How long we keep your data
Unconfirmed sign-ups: 7 days. Rejected registrations: 6 months. Your profile: as long as you are a member; it \
is erased when you delete your account. Text of closed helpdesk requests: 2 years. Case summaries: 1 year after \
the conference. Emails sent to you: 1 year. Audit events: 5 years.

## Your rights
You have the right to access, rectify and erase your data, to restrict its processing, to data portability, and \
to object to the processing (Articles 17 to 23 of the Regulation). You can see and edit your profile at any \
time, download all data held about you as a file from your profile, and delete your account there. For any other \
request, open a data-protection request with the helpdesk; we answer within one month.

## Your right to complain
You have the right to lodge a complaint with the European Data Protection Supervisor (edps@edps.europa.eu, \
www.edps.europa.eu) if you consider that your rights under Regulation (EU) 2018/1725 have been infringed.
"""


def _with_bits(model: Any, using: str, rows: list[Any]) -> list[Any]:
    """`rows` (new ERNs or languages), each given the lowest bit still free, in
    the order of the lists above (once migration 0005 has added the bits; the
    migration gives the rows that came before it theirs)."""
    if not rows or "bit" not in {field.name for field in model._meta.concrete_fields}:
        return rows
    taken = set(model.objects.using(using).values_list("bit", flat=True))
    for row in rows:
        row.bit = first_free_bit(taken)
        taken.add(row.bit)
    return rows


def load_reference_data(apps: Any = global_apps, using: str = DEFAULT_DB_ALIAS) -> None:
    """Add the reference rows that are missing (idempotent; edits are kept)."""
    ERN = apps.get_model("clinicians", "ERN")
    Specialty = apps.get_model("clinicians", "Specialty")
    Language = apps.get_model("clinicians", "Language")
    Hospital = apps.get_model("clinicians", "Hospital")
    PrivacyStatement = apps.get_model("clinicians", "PrivacyStatement")

    have = set(ERN.objects.using(using).values_list("code", flat=True))
    ERN.objects.using(using).bulk_create(
        _with_bits(
            ERN,
            using,
            [ERN(code=code, name=name, full_name=full) for code, name, full in ERNS if code not in have],
        )
    )

    have = set(Specialty.objects.using(using).values_list("name", flat=True))
    Specialty.objects.using(using).bulk_create(
        [Specialty(name=name, kind="medical") for name in MEDICAL_SPECIALTIES if name not in have]
        + [Specialty(name=name, kind="nursing") for name in NURSING_ROLES if name not in have]
    )

    have = set(Language.objects.using(using).values_list("code", flat=True))
    Language.objects.using(using).bulk_create(
        _with_bits(
            Language,
            using,
            [
                Language(code=code, name=name, native_name=native)
                for code, name, native in LANGUAGES
                if code not in have
            ],
        )
    )

    have_hospitals = set(Hospital.objects.using(using).values_list("name", "city", "country"))
    Hospital.objects.using(using).bulk_create(
        [
            Hospital(name=name, city=city, country=country, is_reference_centre=ref, approved=True)
            for name, city, country, ref in HOSPITALS
            if (name, city, country) not in have_hospitals
        ]
    )

    if not PrivacyStatement.objects.using(using).exists():
        PrivacyStatement.objects.using(using).create(
            version=1,
            title=PRIVACY_STATEMENT_TITLE,
            body=PRIVACY_STATEMENT_BODY,
            published_at=FIRST_PUBLISHED,
        )


def load_after_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    from cmss import fragments

    load_reference_data(using=using)
    # bulk_create sends no post_save: cached option lists are rebuilt by hand.
    fragments.bump("reference")
