"""Case-discussion conferences: a coordinator's request, the helpdesk's moves on
its ticket, invitees and answers (services.py); invitations with calendar
files and the reminders (invitations.py); the request form
and the helpdesk's forms (forms.py); the coordinators' and invitees' pages
(views.py); the ticket panel (panels.py); the read-only admin list (admin.py)."""
