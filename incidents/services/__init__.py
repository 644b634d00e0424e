"""Every write of the incidents app, one module per subject: ``reports`` (filing, editing,
the workflow, corroboration, attachments, reclassification) and ``summaries`` (the daily
summaries: compile, publish, staleness). Import from here: ``from incidents.services import
report_create``."""

from .reports import (
    CLOSED,
    DETAILS,
    EDITABLE,
    NEEDS_COMMENT,
    TRANSITIONS,
    StaleEditError,
    attachment_add,
    attachment_content_type,
    attachment_name_clean,
    corroboration_link,
    report_create,
    report_reclassify,
    report_reference_next,
    report_transition,
    report_update,
    reports_reclassify,
)

__all__ = [
    "CLOSED",
    "DETAILS",
    "EDITABLE",
    "NEEDS_COMMENT",
    "TRANSITIONS",
    "StaleEditError",
    "attachment_add",
    "attachment_content_type",
    "attachment_name_clean",
    "corroboration_link",
    "report_create",
    "report_reclassify",
    "report_reference_next",
    "report_transition",
    "report_update",
    "reports_reclassify",
]
