"""Filing pages (observers): new report per kind, my reports, editing, attachments.

Placeholder views until the filing pages land; each answers 501.
"""

from django.http import HttpResponse
from django.views import View


class _Pending(View):
    def dispatch(self, request, *args, **kwargs):
        return HttpResponse("Not built yet.", status=501)


class ReportCreateView(_Pending):
    pass


class MyReportsView(_Pending):
    pass


class ReportEditView(_Pending):
    pass


class AttachmentAddView(_Pending):
    pass


class AttachmentDownloadView(_Pending):
    pass
