"""Webinars of the ERN expert programme: publishing, registration with capacity
and a waitlist, cancellation and holding (services.py); what registrants are
told, the calendar event and the reminders (notices.py); the public programme,
a webinar's page, the calendar feed and registration (views.py); the agents'
pages in the admin (admin.py) and their forms (forms.py)."""
