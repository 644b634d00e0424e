"""The load-under-fault tests (modules with ``STACK_DATABASE``) start a whole stack of their
own, on PostgreSQL + Redis whatever database the suite runs on: they run once, in the
suite's PostgreSQL pass (``--database postgres``), and are deselected (not skipped) in the
SQLite pass (the summary line counts them as deselected; ``-rA`` or the junit report of
the PostgreSQL pass shows them run)."""

from __future__ import annotations

import os

import pytest

from tests.plugin_servers import DATABASE_CHOICE


def _runs_here(item: pytest.Item) -> bool:
    wanted = getattr(getattr(item, "module", None), "STACK_DATABASE", None)
    return wanted is None or wanted == os.environ.get(DATABASE_CHOICE, "sqlite")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    elsewhere = [item for item in items if not _runs_here(item)]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if _runs_here(item)]
