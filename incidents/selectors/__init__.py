"""Every non-trivial read of the incidents app, one module per subject: ``reports`` (who
sees which report, corroboration) and ``summaries`` (reporting days, what a daily summary
holds). Import from here: ``from incidents.selectors import reports_visible_to``."""

from .reports import (
    CANDIDATE_RADIUS_KM,
    CANDIDATE_WINDOW,
    NOT_COUNTED,
    CorroborationState,
    EventSummary,
    corroboration_candidates,
    corroboration_state,
    corroboration_summaries,
    linked_ids,
    report_full_list,
    report_list,
    report_visibility_q,
    report_visible,
    reports_visible_to,
)

__all__ = [
    "CANDIDATE_RADIUS_KM",
    "CANDIDATE_WINDOW",
    "NOT_COUNTED",
    "CorroborationState",
    "EventSummary",
    "corroboration_candidates",
    "corroboration_state",
    "corroboration_summaries",
    "linked_ids",
    "report_full_list",
    "report_list",
    "report_visibility_q",
    "report_visible",
    "reports_visible_to",
]
