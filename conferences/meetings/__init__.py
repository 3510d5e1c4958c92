"""Provider meetings: the row-first pipeline that creates, cancels and retries
meetings and webinars on the video provider (pipeline.py), the sync that brings a
created one up to date (sync.py), who is on them and the worker's push of those rows
(invitees.py), their admin page with the failed ones first (admin.py), and the local
backend's room (views.py). The adapters themselves live in conferences/video/."""
