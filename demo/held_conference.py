"""The demo's held conference: a case discussed last week, with its outcome
report sent to the coordinator (who can read and rate it) and to the invitee
who took part (Victor Verified).

Loaded by load_demo after the other conferences; a conference already there
(by title) is left as it is.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from clinicians.models import ERN, Clinician
from cmss.models import User
from conferences.cases import outcomes
from conferences.cases import services as case_conferences
from conferences.models import Conference, Invitation

TITLE = "Kidney transplant recipient with persistent SARS-CoV-2 infection"


def load() -> bool:
    """Add the held conference and its report; returns whether it was added."""
    if Conference.objects.filter(title=TITLE).exists():
        return False
    coordinator = Clinician.objects.select_related("hospital").get(user__email="coordinator@cmss.example.org")
    verified = Clinician.objects.get(user__email="verified@cmss.example.org")
    other = Clinician.objects.listed().exclude(pk__in=[coordinator.pk, verified.pk]).order_by("pk").first()
    agent = User.objects.get(email="agent@cmss.example.org")
    last_week = timezone.localtime(timezone.now() - timedelta(days=7)).replace(
        hour=14, minute=0, second=0, microsecond=0
    )
    conference = case_conferences.request_conference(
        coordinator=coordinator,
        data=case_conferences.RequestData(
            title=TITLE,
            question="Should we switch from remdesivir to a monoclonal antibody, and reduce mycophenolate?",
            case_summary=(
                "Man in his fifties, kidney transplant four years ago (tacrolimus, mycophenolate, "
                "prednisolone). PCR positive for 45 days, Ct 22 on day 40, new infiltrates on day 38."
            ),
            urgency=Conference.Urgency.ROUTINE,
            slots=[timezone.now() + timedelta(days=1)],
            duration_minutes=45,
            time_zone="Europe/Brussels",
            invitees=[verified, *([other] if other else [])],
            erns=list(ERN.objects.filter(name="ERKNet")),
        ),
    )
    # It took place last week: the demo sets the past time directly (a real
    # conference is approved at a future time and held once it is over).
    Conference.objects.filter(pk=conference.pk).update(
        state=Conference.State.SCHEDULED,
        start=last_week,
        created_at=last_week - timedelta(days=4),
    )
    case_conferences.respond(
        invitation=Invitation.objects.get(conference=conference, clinician=verified), accept=True
    )
    outcomes.mark_held(
        conference=conference,
        report=outcomes.ReportData(
            question="Should we switch from remdesivir to a monoclonal antibody, and reduce mycophenolate?",
            advice=(
                "Stop mycophenolate for now and keep tacrolimus at trough 4–6 ng/mL.\n\n"
                "A second course of remdesivir combined with nirmatrelvir/ritonavir is preferred over "
                "a monoclonal antibody, given the variants currently circulating; adjust tacrolimus "
                "closely because of the interaction with ritonavir."
            ),
            agreement=outcomes.Agreement.MAJORITY,
            dissent="One participant would add convalescent plasma if the Ct stays below 25.",
            further_tests="Viral sequencing for resistance mutations; CT chest after 14 days.",
            rediscuss_on=timezone.localdate() + timedelta(days=14),
            participants=[verified],
        ),
        by=agent,
    )
    return True
