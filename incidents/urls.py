"""The report pages: filing and editing (``views/filing.py``), review, the report page and
the map (``views/review.py``), the daily summaries (``views/summaries.py``)."""

from django.urls import path

from . import views

app_name = "incidents"

urlpatterns = [
    # Filing (observers): new report per kind, one's own reports, editing, attachments.
    path("new/<str:kind>/", views.ReportCreateView.as_view(), name="report_new"),
    path("mine/", views.MyReportsView.as_view(), name="report_mine"),
    path("<uuid:uuid>/edit/", views.ReportEditView.as_view(), name="report_edit"),
    path("<uuid:uuid>/attachments/", views.AttachmentAddView.as_view(), name="attachment_add"),
    path(
        "<uuid:uuid>/attachments/<int:pk>/",
        views.AttachmentDownloadView.as_view(),
        name="attachment_download",
    ),
    # Review (coordinators) and everyone's view of a report they may see.
    path("", views.ReportListView.as_view(), name="report_list"),
    path("review/", views.ReviewQueueView.as_view(), name="review_queue"),
    path("map/", views.ReportMapView.as_view(), name="report_map"),
    path("map/data/", views.ReportMapDataView.as_view(), name="report_map_data"),
    path("<uuid:uuid>/", views.ReportDetailView.as_view(), name="report_detail"),
    path("<uuid:uuid>/transition/", views.ReportTransitionView.as_view(), name="report_transition"),
    path("<uuid:uuid>/link/", views.ReportLinkView.as_view(), name="report_link"),
    # Daily summaries: a center's reporting days; the summary of one day (ISO date).
    path("summaries/", views.SummaryListView.as_view(), name="summary_list"),
    path(
        "summaries/<str:center>/<str:day>/",
        views.SummaryDetailView.as_view(),
        name="summary_detail",
    ),
    path(
        "summaries/<str:center>/<str:day>/print/",
        views.SummaryPrintView.as_view(),
        name="summary_print",
    ),
    path(
        "summaries/<str:center>/<str:day>/state/",
        views.SummaryStateView.as_view(),
        name="summary_state",
    ),
    path(
        "summaries/<str:center>/<str:day>/map/",
        views.SummaryMapDataView.as_view(),
        name="summary_map_data",
    ),
    path(
        "summaries/<str:center>/<str:day>/download.<str:fmt>",
        views.SummaryDownloadView.as_view(),
        name="summary_download",
    ),
    path(
        "summaries/<str:center>/<str:day>/compile/",
        views.SummaryCompileView.as_view(),
        name="summary_compile",
    ),
    path(
        "summaries/<str:center>/<str:day>/publish/",
        views.SummaryPublishView.as_view(),
        name="summary_publish",
    ),
]
