"""Web forms of the monitoring app."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from .models import Observer
from .services import observer_errors


class LoginForm(AuthenticationForm):
    """Django's sign-in form with the browser hints a login page should carry."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(
            {"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        )
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})


class ServiceValidatedForm(forms.ModelForm):
    """A model form that also asks the service layer what it would refuse.

    ``full_clean`` runs the model's own checks; ``service_errors`` adds the rules that live
    in services (a post outside its zone, an observer outside its center, ...), so that the
    admin shows them next to their field instead of failing at save time.
    """

    def service_errors(self) -> dict[str, list[str]]:
        return {}

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        for field, messages in self.service_errors().items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)


class ObserverAdminForm(ServiceValidatedForm):
    """The admin's observer form: ``observer_save``'s rules show next to their fields."""

    class Meta:
        model = Observer
        fields = ["user", "role", "delegation", "center", "assigned_zones", "is_active"]

    def service_errors(self) -> dict[str, list[str]]:
        zones = self.cleaned_data.get("assigned_zones") or []
        return observer_errors(observer=self.instance, assigned_zones=zones)
