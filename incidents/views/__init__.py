"""The report pages, in two modules: filing (observers) and review (coordinators, and the
report page and map everybody shares)."""

from .filing import (
    AttachmentAddView,
    AttachmentDownloadView,
    MyReportsView,
    ReportCreateView,
    ReportEditView,
)
from .review import (
    ReportDetailView,
    ReportLinkView,
    ReportListView,
    ReportMapDataView,
    ReportMapView,
    ReportTransitionView,
    ReviewQueueView,
)

__all__ = [
    "AttachmentAddView",
    "AttachmentDownloadView",
    "MyReportsView",
    "ReportCreateView",
    "ReportDetailView",
    "ReportEditView",
    "ReportLinkView",
    "ReportListView",
    "ReportMapDataView",
    "ReportMapView",
    "ReportTransitionView",
    "ReviewQueueView",
]
