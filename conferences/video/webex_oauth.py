"""OAuth for the Webex backend: the access and refresh tokens live in the one
WebexToken row (conferences.models), refreshed under its row lock by one worker
at a time; a refresh Webex refuses marks the row failed, and every call then
fails at once until an operator sets a new refresh token."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.db import transaction
from django.utils import timezone

from . import PermanentVideoError, VideoError

if TYPE_CHECKING:
    import httpx

# An access token that expires sooner than this is refreshed before use.
REFRESH_MARGIN = timedelta(seconds=60)


class WebexOAuth:
    """The token half of WebexBackend (a mixin: it uses the backend's HTTP layer)."""

    access_token: str
    client_id: str
    client_secret: str

    def _send(
        self,
        method: str,
        target: str,
        *,
        payload: bytes | None,
        headers: dict[str, str],
        log_path: str = "",
        ambiguous_after_send: bool = True,
    ) -> tuple[int, dict[str, Any], httpx.Response]:
        raise NotImplementedError  # WebexBackend's HTTP layer

    def _classify(
        self, status: int, data: dict[str, Any], response: httpx.Response, tracking_id: str, prefix: str = ""
    ) -> VideoError:
        raise NotImplementedError

    def _log(self, error: VideoError, method: str, path: str) -> VideoError:
        raise NotImplementedError

    @property
    def uses_oauth(self) -> bool:
        """True when the access token comes from the WebexToken row (no WEBEX_ACCESS_TOKEN)."""
        return not self.access_token

    def _bearer(self) -> str:
        """The access token for the next call: the static one, or a fresh one from the row."""
        if not self.uses_oauth:
            return self.access_token
        from conferences.models import WebexToken

        row = WebexToken.load()
        self._refuse_if_failed(row)
        if self._usable(row):
            return row.access_token
        return self._refresh()

    @staticmethod
    def _usable(row: Any, rejected: str = "") -> bool:
        return bool(
            row.access_token
            and row.access_token != rejected
            and row.expires_at is not None
            and row.expires_at > timezone.now() + REFRESH_MARGIN
        )

    @staticmethod
    def _refuse_if_failed(row: Any) -> None:
        if row.failed:
            raise PermanentVideoError(
                "Webex token refresh failed earlier; not calling Webex until an operator sets a new "
                f"refresh token (WebexToken.reset(refresh_token=...)). Last error: {row.last_error}"
            )

    def _refresh(self, rejected: str = "") -> str:
        """A new access token, made under the WebexToken row lock; `rejected` is a token
        Webex just refused (401), which must not be handed out again."""
        from conferences.models import WebexToken

        failure: VideoError | None = None
        with transaction.atomic():
            row = WebexToken.objects.select_for_update().get(pk=WebexToken.SINGLETON_PK)
            # Re-check under the lock: another worker may have refreshed (or failed) meanwhile.
            self._refuse_if_failed(row)
            if self._usable(row, rejected):
                return row.access_token
            if not (self.client_id and self.client_secret and row.refresh_token):
                raise PermanentVideoError(
                    "Webex is not configured: set WEBEX_ACCESS_TOKEN, or WEBEX_CLIENT_ID, "
                    "WEBEX_CLIENT_SECRET and WEBEX_REFRESH_TOKEN."
                )
            # The house rule is no network call while holding a row lock; here the lock is
            # the point: it is what makes only one worker refresh at a time (the others wait
            # and then use the stored token). The call is a single short request, bounded by
            # the usual WEBEX_TIMEOUT.
            form = {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": row.refresh_token,
            }
            status, data, response = self._send(
                "POST",
                "/access_token",
                payload=urlencode(form).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                ambiguous_after_send=False,
            )
            tracking_id = response.headers.get("trackingId") or str(data.get("trackingId") or "")
            if status < 400:
                try:
                    access_token = str(data["access_token"])
                    expires_in = float(data["expires_in"])
                except (KeyError, TypeError, ValueError) as error:
                    failure = PermanentVideoError(
                        f"Webex token refresh: unexpected answer ({error!r})", tracking_id=tracking_id
                    )
                else:
                    now = timezone.now()
                    row.access_token = access_token
                    row.refresh_token = str(data.get("refresh_token") or row.refresh_token)
                    row.expires_at = now + timedelta(seconds=expires_in)
                    row.refreshed_at = now
                    row.last_error = ""
                    row.save(
                        update_fields=[
                            "access_token",
                            "refresh_token",
                            "expires_at",
                            "refreshed_at",
                            "last_error",
                        ]
                    )
                    return access_token
            else:
                failure = self._classify(status, data, response, tracking_id, prefix="Webex token refresh ")
            if isinstance(failure, PermanentVideoError):
                # Saved (committed with this block) before raising, so that no worker retries.
                row.failed = True
                row.last_error = f"{failure} trackingId={failure.tracking_id or '-'}"
                row.access_token = ""
                row.save(update_fields=["failed", "last_error", "access_token"])
        assert failure is not None
        raise self._log(failure, "POST", "/access_token")
