"""The 31 countries of the network: the EU 27, Iceland, Liechtenstein, Norway and the UK."""

from __future__ import annotations

from typing import Any

from django_countries import Countries
from django_countries.fields import CountryField

from cmss.timezones import COUNTRY_TIME_ZONES

NETWORK_COUNTRY_CODES: tuple[str, ...] = tuple(sorted(COUNTRY_TIME_ZONES))


class NetworkCountries(Countries):
    only = list(NETWORK_COUNTRY_CODES)


def NetworkCountryField(**kwargs: Any) -> CountryField:
    return CountryField(countries=NetworkCountries, **kwargs)
