"""Review pages (coordinators), the report page and the reports map.

Placeholder views until the review pages land; each answers 501.
"""

from django.http import HttpResponse
from django.views import View


class _Pending(View):
    def dispatch(self, request, *args, **kwargs):
        return HttpResponse("Not built yet.", status=501)


class ReportListView(_Pending):
    pass


class ReviewQueueView(_Pending):
    pass


class ReportMapView(_Pending):
    pass


class ReportMapDataView(_Pending):
    pass


class ReportDetailView(_Pending):
    pass


class ReportTransitionView(_Pending):
    pass


class ReportLinkView(_Pending):
    pass
