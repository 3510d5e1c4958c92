"""The client's address, as every part of CMSS sees it.

Behind a reverse proxy REMOTE_ADDR is the proxy. The address of the client is
then the entry of X-Forwarded-For that the outermost *trusted* proxy wrote:
each proxy appends the address it was connected from, so with
TRUSTED_PROXY_COUNT proxies in front of the application, that is the
TRUSTED_PROXY_COUNT-th entry from the right. Entries further left were sent by
the client and are never believed. allauth's rate limits and user sessions
(through the account adapter), CMSS's own limits and the audit log all read
this one function.
"""

from __future__ import annotations

import ipaddress
from typing import cast

from django.conf import settings
from django.http import HttpRequest


def _clean(value: str) -> str | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "198.51.100.7:51234"
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The address the request came from, through the configured trusted proxies."""
    cached = getattr(request, "_cmss_client_ip", False)
    if cached is not False:
        return cast("str | None", cached)  # set below
    address = None
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0:
        entries = [item for item in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if item.strip()]
        if entries:
            # Fewer entries than proxies: the request entered behind the outer
            # ones, and the left-most entry was written by a trusted proxy.
            address = _clean(entries[-min(count, len(entries))])
    if address is None:
        address = _clean(request.META.get("REMOTE_ADDR", ""))
    request._cmss_client_ip = address  # type: ignore[attr-defined]
    return address
