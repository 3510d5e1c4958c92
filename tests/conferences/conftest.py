"""Fixtures for the conferences tests: the fake Webex server."""

from tests.conferences.fake_webex import fake_webex, fake_webex_url, webex_openapi

__all__ = ["fake_webex", "fake_webex_url", "webex_openapi"]
