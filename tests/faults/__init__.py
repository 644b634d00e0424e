"""Fault runs (issue 6): real servers killed or restarted in the middle of work.

``make faults`` runs every test marked ``faults`` (here and in the apps' test modules) and
prints a pass/fail line per fault (tests/faults/summary.py). The load-under-fault tests in
this package start a whole production-shaped stack of their own (tests/stack.py) on
PostgreSQL + Redis, so they run once, in the suite's PostgreSQL pass (tests/faults/conftest.py).
"""
