"""Calendar files (ics.py: invitations, updates and cancellations under one UID
per meeting, and the webinar feed) and the reminder sweep that conferences and
webinars feed (reminders.py)."""
