"""The small workflow forms of the report page: a transition and a corroboration link.

They only parse the input; the rules (who may, which move, a comment where one is needed,
a stale copy) are the services' (``incidents/services/reports.py``).
"""

from __future__ import annotations

from django import forms

from .choices import ReportStatus


class ReportTransitionForm(forms.Form):
    to_status = forms.ChoiceField(choices=ReportStatus.choices, label="Action")
    revision = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    comment = forms.CharField(required=False, max_length=4000, widget=forms.Textarea)


class ReportLinkForm(forms.Form):
    other = forms.UUIDField(label="Report")
    note = forms.CharField(required=False, max_length=2000, label="Note")
