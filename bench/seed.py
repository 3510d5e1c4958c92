"""Bulk seeding for benchmarks, in SQL (generate_series): 100,000 tickets in seconds.

Idempotent by size: each function tops its table up to the wanted count.
"""

from __future__ import annotations

from django.db import connection

from demo.management.commands.load_demo import FIRST_NAMES, LAST_NAMES

# The demo's names, so that benchmark people look like the demo's.
FIRST, LAST = FIRST_NAMES, LAST_NAMES


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (fixed table names)
        return int(cursor.fetchone()[0])


def accept_privacy_statement() -> None:
    """Every seeded clinician accepted the current privacy statement at registration."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO clinicians_privacyacceptance (user_id, statement_id, accepted_at)
            SELECT c.user_id, s.id, c.created_at FROM clinicians_clinician c
            CROSS JOIN (SELECT id FROM clinicians_privacystatement WHERE published_at IS NOT NULL
                        ORDER BY version DESC LIMIT 1) s
            ON CONFLICT DO NOTHING
            """
        )


def seed_clinicians(total: int) -> int:
    """Top up to `total` verified clinicians (users named bench<N>@bench.example.org)."""
    have = _count("clinicians_clinician")
    if have >= total:
        accept_privacy_statement()
        return 0
    missing = total - have
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM cmss_user")
        start = int(cursor.fetchone()[0]) + 1
        cursor.execute(
            """
            INSERT INTO cmss_user (password, is_superuser, email, display_name, time_zone, language,
                                   is_staff, is_active, date_joined)
            SELECT '!', false, 'bench' || g || '@bench.example.org', '', 'Europe/Brussels', 'en', false, true,
                   now() - (g %% 700 || ' days')::interval
            FROM generate_series(%s, %s) AS g
            """,
            [start, start + missing - 1],
        )
        cursor.execute(
            """
            WITH hospitals AS (SELECT array_agg(id ORDER BY id) AS ids, array_agg(country ORDER BY id) AS countries
                               FROM clinicians_hospital WHERE approved),
                 specialties AS (SELECT array_agg(id ORDER BY id) AS ids FROM clinicians_specialty)
            INSERT INTO clinicians_clinician (user_id, first_name, last_name, search_name, phone, country, hospital_id,
                profession, specialty_id, show_email, show_phone, listed_in_directory, restricted, status,
                status_changed_at, hospital_confirmed, email_confirmed_at, created_at, updated_at,
                ern_bits, language_bits, time_zone)
            SELECT u.id,
                   n.first, n.last, translate(lower(n.first || ' ' || n.last), 'áéíóöúñç', 'aeiooonc'),
                   '+3222' || lpad((u.id %% 1000000)::text, 6, '0'),
                   h.countries[1 + u.id %% array_length(h.ids, 1)], h.ids[1 + u.id %% array_length(h.ids, 1)],
                   'physician', s.ids[1 + u.id %% array_length(s.ids, 1)], u.id %% 2 = 0, u.id %% 3 = 0,
                   true, false, 'verified', u.date_joined, true, u.date_joined, u.date_joined, u.date_joined,
                   -- The expertise bits are filled by bench.experts.seed_history (refresh_expertise).
                   0, 0, u.time_zone
            FROM cmss_user u CROSS JOIN hospitals h CROSS JOIN specialties s
            CROSS JOIN LATERAL (SELECT (%s::text[])[1 + u.id %% 20] AS first,
                                       (%s::text[])[1 + (u.id / 20) %% 20] || ' ' || u.id AS last) n
            WHERE u.id >= %s AND NOT u.is_staff
            """,
            [FIRST, LAST, start],
        )
        cursor.execute(
            """
            INSERT INTO clinicians_clinician_languages (clinician_id, language_id)
            SELECT c.id, l.code FROM clinicians_clinician c
            JOIN clinicians_language l ON l.code IN ('en', (ARRAY['fr','de','it','es','nl','pl','pt','sv'])[1 + c.id %% 8])
            WHERE c.user_id >= %s
            """,
            [start],
        )
        cursor.execute(
            """
            INSERT INTO clinicians_clinician_erns (clinician_id, ern_id)
            SELECT c.id, e.id FROM clinicians_clinician c
            JOIN clinicians_ern e ON e.id = (SELECT min(id) FROM clinicians_ern) + c.id %% 24
            WHERE c.user_id >= %s AND c.id %% 3 = 0
            """,
            [start],
        )
    accept_privacy_statement()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE clinicians_clinician")
        cursor.execute("ANALYZE")
    return missing


def seed_tickets(total: int, *, messages_per_ticket: int = 2) -> int:
    """Top up to `total` tickets with `messages_per_ticket` messages each.
    One in ten is active (new, open or waiting), the rest resolved or closed."""
    have = _count("helpdesk_ticket")
    if have >= total:
        return 0
    missing = total - have
    with connection.cursor() as cursor:
        cursor.execute("SELECT array_agg(id ORDER BY id) FROM cmss_user WHERE NOT is_staff")
        users = cursor.fetchone()[0]
        cursor.execute("SELECT array_agg(id ORDER BY id) FROM cmss_user WHERE is_staff")
        staff = cursor.fetchone()[0] or [None]
        cursor.execute("SELECT coalesce(max(id), 0) FROM helpdesk_ticket")
        start = int(cursor.fetchone()[0]) + 1
        cursor.execute(
            """
            WITH src AS (
                SELECT g, now() - ((%s - g) * interval '7 minutes') AS opened
                FROM generate_series(%s, %s) AS g
            )
            INSERT INTO helpdesk_ticket (kind, state, priority, subject, requester_id, requester_name,
                requester_email, assignee_id, created_at, updated_at, due_at, resolved_at)
            SELECT (ARRAY['question','question','data_protection','conference_request','webinar'])[1 + g %% 5],
                   CASE WHEN g %% 10 = 0 THEN 'new' WHEN g %% 10 = 1 THEN 'open' WHEN g %% 10 = 2 THEN 'waiting'
                        WHEN g %% 10 < 5 THEN 'resolved' ELSE 'closed' END,
                   CASE WHEN g %% 7 = 0 THEN 'urgent' ELSE 'normal' END,
                   'Question ' || g || ' about treating a patient with COVID-19',
                   (%s::bigint[])[1 + g %% array_length(%s::bigint[], 1)], 'Bench Requester ' || g,
                   'bench' || g || '@bench.example.org',
                   CASE WHEN g %% 3 = 0 THEN (%s::bigint[])[1 + g %% array_length(%s::bigint[], 1)] END,
                   opened, opened + interval '1 hour', opened + interval '2 days',
                   CASE WHEN g %% 10 >= 3 THEN opened + interval '1 day' END
            FROM src
            """,
            [start + missing, start, start + missing - 1, users, users, staff, staff],
        )
        cursor.execute(
            """
            INSERT INTO helpdesk_ticketmessage (ticket_id, kind, author_id, body, created_at)
            SELECT t.id, CASE WHEN s = 1 THEN 'requester' WHEN s %% 3 = 0 THEN 'note' ELSE 'reply' END,
                   CASE WHEN s = 1 THEN t.requester_id ELSE t.assignee_id END,
                   repeat('A clinically detailed message about the case and what to do next. ', 5),
                   t.created_at + s * interval '1 hour'
            FROM helpdesk_ticket t CROSS JOIN generate_series(1, %s) AS s
            WHERE t.id >= %s
            """,
            [messages_per_ticket, start],
        )
        cursor.execute(
            """
            INSERT INTO helpdesk_ticketevent (ticket_id, at, actor_id, action, from_value, to_value, note)
            SELECT id, created_at, requester_id, 'opened', '', 'new', '' FROM helpdesk_ticket WHERE id >= %s
            """,
            [start],
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE helpdesk_ticket")
        cursor.execute("VACUUM ANALYZE helpdesk_ticketmessage")
    return missing


def seed_webinars(total: int = 600, registrations_per_webinar: int = 60) -> int:
    """Top up to `total` webinars of the programme: one in ten coming (published),
    the rest held over the past three years, each with one or two ERNs, two
    speakers and `registrations_per_webinar` registrations (in SQL)."""
    have = _count("conferences_webinar")
    if have >= total:
        return 0
    missing = total - have
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM conferences_webinar")
        start = int(cursor.fetchone()[0]) + 1
        cursor.execute(
            """
            WITH src AS (
                SELECT g, CASE WHEN g %% 10 = 0 THEN now() + (g %% 90 + 1) * interval '1 day' + interval '14 hours'
                               ELSE now() - (g %% 1000 + 1) * interval '1 day' END AS starts
                FROM generate_series(%s, %s) AS g
            )
            INSERT INTO conferences_webinar (title, description, language_id, start, duration_minutes, end_at,
                time_zone, capacity, recorded, state, recording_url, sequence, cancel_reason, published_at,
                cancelled_at, held_at, created_at, updated_at)
            SELECT 'Managing COVID-19 in patients with rare diseases, part ' || g,
                   repeat('What the network learnt about treating these patients, and what to do next. ', 8),
                   (ARRAY['en','en','en','fr','de','it','es'])[1 + g %% 7], starts, 60, starts + interval '1 hour',
                   'Europe/Brussels', 100 + g %% 5 * 100, g %% 2 = 0,
                   CASE WHEN g %% 10 = 0 THEN 'published' ELSE 'held' END,
                   CASE WHEN g %% 10 <> 0 AND g %% 2 = 0 THEN 'https://video.example.org/recording/' || g ELSE '' END,
                   1, '', starts - interval '30 days', NULL,
                   CASE WHEN g %% 10 <> 0 THEN starts + interval '2 hours' END,
                   starts - interval '40 days', starts - interval '30 days'
            FROM src
            """,
            [start, start + missing - 1],
        )
        cursor.execute(
            """
            INSERT INTO conferences_webinar_erns (webinar_id, ern_id)
            SELECT w.id, e.id FROM conferences_webinar w
            JOIN clinicians_ern e ON e.id IN ((SELECT min(id) FROM clinicians_ern) + w.id %% 24,
                                              (SELECT min(id) FROM clinicians_ern) + (w.id * 7) %% 24)
            WHERE w.id >= %s
            """,
            [start],
        )
        cursor.execute(
            """
            INSERT INTO conferences_speaker (webinar_id, name, affiliation, email, position)
            SELECT w.id, 'Dr Speaker ' || w.id || '-' || s, 'University Hospital ' || s, '', s
            FROM conferences_webinar w CROSS JOIN generate_series(1, 2) AS s WHERE w.id >= %s
            """,
            [start],
        )
        cursor.execute(
            """
            INSERT INTO conferences_registration (webinar_id, clinician_id, status, registered_at, confirmed_at)
            SELECT w.id, c.id, 'confirmed', w.published_at, w.published_at
            FROM conferences_webinar w
            CROSS JOIN LATERAL (SELECT id FROM clinicians_clinician
                                WHERE id >= 1 + (w.id * 97) %% 90000 ORDER BY id LIMIT %s) c
            WHERE w.id >= %s
            """,
            [registrations_per_webinar, start],
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conferences_webinar")
        cursor.execute("ANALYZE conferences_registration")
    return missing
