"""What the zones app tells others, without knowing them.

``classification_changed`` is sent by the zone services when something the classifier
answers from has changed (a zone's lines, terms or suspensions, a security or excluded
area): records classified earlier may now classify differently. ``since`` is the earliest
moment affected (``None``: any). The incidents app listens and re-checks its reports in a
Celery task (``incidents.tasks.reports_reclassify``).
"""

from django.dispatch import Signal

classification_changed = Signal()  # kwargs: since (datetime | None)
