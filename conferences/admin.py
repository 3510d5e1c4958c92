"""The admin of the conferences app: each domain registers its own ModelAdmins."""

from __future__ import annotations

from .cases import admin as cases_admin
from .meetings import admin as meetings_admin
from .webinars import admin as webinars_admin

__all__ = ["cases_admin", "meetings_admin", "webinars_admin"]
