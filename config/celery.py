"""The Celery application: configured from Django settings (CELERY_* names), tasks autodiscovered.

Every task runs with the audit source "task", so the audit entries its services write
say that Celery made the change.
"""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ceasefire_monitor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_tokens: dict[str, object] = {}


@task_prerun.connect
def _enter_task_source(task_id=None, **_kwargs) -> None:
    from monitoring.choices import AuditEntrySource
    from monitoring.context import _source

    _tokens[task_id] = _source.set(AuditEntrySource.TASK)


@task_postrun.connect
def _leave_task_source(task_id=None, **_kwargs) -> None:
    from monitoring.context import _source

    token = _tokens.pop(task_id, None)
    if token is not None:
        _source.reset(token)
