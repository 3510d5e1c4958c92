"""Does the time a sign-up takes tell whether the address is registered?

Posts the registration form for new addresses and for an address that already
has an account, interleaved, with production settings (Argon2), in-process
through the whole middleware stack, and reports the median of each and their
ratio. allauth answers both the same way (PREVENT_ENUMERATION); the work must
be the same too. Part of `make bench`; alone: `python -m bench.signup_timing`
with DATABASE_URL set (bench.run's defaults apply).
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

ROUNDS = 25
# The two medians may differ by this much before the check says MISSED.
TOLERANCE = 0.15


def _form(email: str) -> dict[str, Any]:
    from clinicians.models import Hospital, PrivacyStatement, Specialty

    hospital = Hospital.objects.approved().order_by("pk").first()
    statement = PrivacyStatement.objects.current()
    assert hospital is not None and statement is not None
    return {
        "email": email,
        "password1": "a-long-and-unusual-passphrase",
        "first_name": "Timing",
        "last_name": "Check",
        "phone": "+32 16 33 22 11",
        "country": hospital.country.code,
        "hospital": str(hospital.pk),
        "profession": "physician",
        "specialty": str(Specialty.objects.order_by("pk").first().pk),  # type: ignore[union-attr]
        "languages": ["en"],
        "time_zone": "",
        "language": "en",
        "accept_privacy": "on",
        "privacy_version": str(statement.version),
    }


def run() -> dict[str, float]:
    from django.conf import settings
    from django.core.cache import cache
    from django.test import Client

    from cmss.models import User

    run_id = uuid.uuid4().hex[:8]
    known = f"signup-timing-{run_id}-known@example.org"
    samples: dict[str, list[float]] = {"new address": [], "registered address": []}
    hasher = settings.PASSWORD_HASHERS[0].rsplit(".", 1)[-1]

    def post(email: str, number: int) -> float:
        cache.clear()  # one client address each, and past allauth's per-address email limit
        client = Client(REMOTE_ADDR=f"10.{number // 250}.{number % 250}.1")
        started = time.perf_counter()
        response = client.post("/register/", _form(email))
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 302, response.status_code
        return elapsed

    post(known, 0)
    for number in range(1, ROUNDS + 1):
        samples["new address"].append(post(f"signup-timing-{run_id}-{number}@example.org", 2 * number))
        samples["registered address"].append(post(known, 2 * number + 1))
    User.objects.filter(email__startswith=f"signup-timing-{run_id}-").delete()

    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians["registered address"] / medians["new address"]
    met = abs(ratio - 1) <= TOLERANCE
    print(f"\nSign-up timing ({ROUNDS} each, interleaved, {hasher}), server time in ms:")
    for name, median in medians.items():
        print(f"  {name:19} p50 {median:7.1f}")
    print(
        f"  registered / new    {ratio:7.2f}  (target within ±{TOLERANCE:.0%}: {'met' if met else 'MISSED'})"
    )
    return {**medians, "ratio": ratio}


if __name__ == "__main__":
    from bench.run import prepare, setup_django

    setup_django()
    prepare()
    run()
