"""The header and footer of base.html for a signed-in person, rendered once per process.

They hold a dozen reversed URLs and translated labels and depend only on the
language, whether the person is staff, their time zone (the footer) and the
script prefix: each variant is rendered the first time it is asked for and
kept in this process (URLs and translations change only with a deploy). The
one part that is the viewer's own, the sign-out form's CSRF token, is put in
at each request. Visitors' pages render the template as written.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.template.defaulttags import CsrfTokenNode
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Where {% csrf_token %} goes in a kept header: it is rendered at each request.
_HOLE = "-cmss-layout-token-"
_TOKEN_INPUT_HOLE = f'<input type="hidden" name="csrfmiddlewaretoken" value="{_HOLE}">'

_kept: dict[tuple[Any, ...], tuple[str, ...]] = {}


def _kept_parts(name: str, key: tuple[Any, ...], context: dict[str, Any]) -> tuple[str, ...]:
    key = (name, translation.get_language(), get_script_prefix(), *key)
    parts = None if settings.DEBUG else _kept.get(key)  # make run: an edited template shows
    if parts is None:
        html = render_to_string(name, {**context, "csrf_token": _HOLE})
        parts = _kept[key] = tuple(html.split(_TOKEN_INPUT_HOLE))
    return parts


@register.simple_tag(takes_context=True)
def signed_in_header(context: template.Context) -> SafeString:
    """templates/_header_signed_in.html, with this request's token."""
    user = context["user"]
    # The template reads of the user only that they are signed in and whether they are staff.
    parts = _kept_parts("_header_signed_in.html", (user.is_staff,), {"user": user})
    token = CsrfTokenNode().render(context)  # as {% csrf_token %} writes it
    return mark_safe(token.join(parts))


@register.simple_tag(takes_context=True)
def signed_in_footer(context: template.Context) -> SafeString:
    """templates/_footer_signed_in.html."""
    user = context["user"]
    zone = timezone.get_current_timezone_name()
    parts = _kept_parts(
        "_footer_signed_in.html", (user.is_staff, zone), {"user": user, "current_time_zone": zone}
    )
    return mark_safe("".join(parts))
