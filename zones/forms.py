"""Forms for zones and what lies in them (used by the admin).

Each form shows the services' rules next to the field they concern (``service_errors``),
so that an administrator sees "this point is outside the zone" under the latitude rather
than a failed save.
"""

from __future__ import annotations

from itertools import pairwise

from django import forms
from django.core.exceptions import ValidationError

from monitoring.forms import ServiceValidatedForm

from .choices import Governorate, SecurityAreaDerivation
from .models import Post, SecurityArea, Zone
from .services import post_location_errors, zone_boundary_at


class ZoneAdminForm(ServiceValidatedForm):
    governorates = forms.MultipleChoiceField(
        choices=Governorate.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The governorates the zone covers, wholly or in part.",
    )

    class Meta:
        model = Zone
        fields = "__all__"


class PostAdminForm(ServiceValidatedForm):
    class Meta:
        model = Post
        fields = "__all__"

    def service_errors(self) -> dict[str, list[str]]:
        return post_location_errors(self.instance)


class SecurityAreaAdminForm(ServiceValidatedForm):
    """A drawn area needs its lines; a derived band is computed from the zone's border."""

    class Meta:
        model = SecurityArea
        fields = "__all__"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "geometry" in self.fields:
            self.fields["geometry"].required = False
            self.fields["geometry"].help_text = (
                "Draw the band for a drawn area. For a derived area leave it: the band is "
                "computed from the zone's border and the width when saved."
            )

    def clean(self):
        cleaned = super().clean()
        derivation = cleaned.get("derivation")
        if (
            derivation == SecurityAreaDerivation.DRAWN
            and not cleaned.get("geometry")
            and "geometry" not in self.errors
        ):
            self.add_error(
                "geometry", "Draw the area, or choose a band derived from the zone border."
            )
        return cleaned

    def service_errors(self) -> dict[str, list[str]]:
        area = self.instance
        if area.derivation != SecurityAreaDerivation.BUFFERED:
            return {}
        if not area.width_km or area.width_km <= 0:
            return {"width_km": ["A derived security area needs a positive width in km."]}
        if zone_boundary_at(zone=area.zone, moment=area.valid_from) is None:
            return {
                "valid_from": [
                    f"{area.zone} has no boundary in force on this date to derive the band from."
                ]
            }
        return {}


class ZoneTermFormSet(forms.BaseInlineFormSet):
    """Terms of one zone may not overlap, among the rows of the form as in the database."""

    def clean(self) -> None:
        super().clean()
        periods = []
        for form in self.forms:
            if not form.has_changed() and form.instance.pk is None:
                continue
            data = getattr(form, "cleaned_data", None) or {}
            if data.get("starts_at"):
                periods.append((data["starts_at"], data.get("ends_at"), form))
        periods.sort(key=lambda item: item[0])
        for (_, end, _), (start, _, later) in pairwise(periods):
            if end is None or start < end:
                later.add_error("starts_at", "This term overlaps another term of the zone.")


class ZoneBoundaryAddFormSet(forms.BaseInlineFormSet):
    """New boundary revisions; a zone created in the admin needs its first lines."""

    def clean(self) -> None:
        super().clean()
        if not self.instance._state.adding:
            return
        filled = [f for f in self.forms if f.has_changed() and getattr(f, "cleaned_data", None)]
        if not filled:
            raise ValidationError("A new zone needs its lines: add its first boundary revision.")
