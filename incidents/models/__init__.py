"""Observers' reports: one common record (``Report``) with a detail per kind."""

from .details import (
    CASUALTY_GROUPS,
    AccessIncident,
    CargoLine,
    CheckpointDetail,
    ConvoyDetail,
    ConvoyRouteStop,
    ConvoyStage,
    ViolationDetail,
)
from .report import Attachment, CorroborationLink, Report, ReportCounter, ReportTransition

__all__ = [
    "CASUALTY_GROUPS",
    "AccessIncident",
    "Attachment",
    "CargoLine",
    "CheckpointDetail",
    "ConvoyDetail",
    "ConvoyRouteStop",
    "ConvoyStage",
    "CorroborationLink",
    "Report",
    "ReportCounter",
    "ReportTransition",
    "ViolationDetail",
]
