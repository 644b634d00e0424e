"""The report pages, in three modules: filing (observers), review (coordinators, and the
report page and map everybody shares) and the daily summaries."""

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
from .summaries import (
    SummaryCompileView,
    SummaryDetailView,
    SummaryDownloadView,
    SummaryListView,
    SummaryMapDataView,
    SummaryPrintView,
    SummaryPublishView,
    SummaryStateView,
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
    "SummaryCompileView",
    "SummaryDetailView",
    "SummaryDownloadView",
    "SummaryListView",
    "SummaryMapDataView",
    "SummaryPrintView",
    "SummaryPublishView",
    "SummaryStateView",
]
