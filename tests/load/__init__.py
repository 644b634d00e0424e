"""The load test: ``python -m tests.load --database postgres|sqlite --duration 120 ...``.

A :class:`tests.stack.Stack` (gunicorn, Celery worker and beat, on PostgreSQL + Redis or
on the embedded SQLite + filesystem broker) gets accounts (observers of a center, partner
accounts with "read write" tokens: tests/load/accounts.py). Then, for ``--duration``
seconds, each observer thread logs in through the login form and files reports through
the filing pages (violation, convoy, checkpoint in turn), each with a unique marker in its
narrative; each partner thread files reports through the API with an Idempotency-Key,
syncs through the change feed (cursor paging) and reads the report list. Every request is
recorded (method, endpoint class, status, latency). At the end every report that got a
success response is looked up in the stack's database by its marker, and the logs are
searched for 5xx and "database is locked". Exit status 1 on any loss, 5xx, request
without a response, unexpected status or lock error.
"""
