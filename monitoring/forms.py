"""Web forms of the monitoring app."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from .choices import PartnerTokenScopes
from .models import MonitoringCenter, Observer
from .selectors import partner_accounts
from .services import observer_errors


class LoginForm(AuthenticationForm):
    """Django's sign-in form with the browser hints a login page should carry."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(
            {"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        )
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})


class TwoFactorCodeForm(forms.Form):
    """The code of the second factor: six digits from the authenticator app or, when signing
    in, one of the one-time backup codes."""

    code = forms.CharField(
        label="Code",
        max_length=16,
        strip=True,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autocapitalize": "none",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split()).lower()
        if not (code.isascii() and code.isalnum()):
            raise ValidationError("Enter the code as shown: digits, or letters and digits.")
        return code


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


class PartnerAccountField(forms.ModelChoiceField):
    def label_from_instance(self, user) -> str:
        full = user.get_full_name()
        return f"{user.get_username()} ({full})" if full else user.get_username()


class PartnerTokenForm(forms.Form):
    """Issue a token: for which partner account, what for, what it may do, until when."""

    partner = PartnerAccountField(queryset=None, label="Partner account")
    name = forms.CharField(
        max_length=100, label="Name", help_text="What the token is for, e.g. “UNOCHA sync”."
    )
    scopes = forms.ChoiceField(
        choices=PartnerTokenScopes.choices,
        initial=PartnerTokenScopes.READ,
        widget=forms.RadioSelect,
        label="Scopes",
        help_text="Write lets the tool file, import and submit its own reports, attach files, "
        "link reports and start summary compilations; read only reads.",
    )
    expires_on = forms.DateField(
        required=False,
        label="Expires on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional: the token stops working at the end of that day (center time).",
    )

    #: the service's field names → this form's
    SERVICE_FIELDS = {"partner_user": "partner", "expires_at": "expires_on"}

    def __init__(self, *args, center: MonitoringCenter, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.center = center
        self.fields["partner"].queryset = partner_accounts(center)

    def clean_expires_on(self):
        day = self.cleaned_data.get("expires_on")
        if day is not None and day >= date.max:
            raise ValidationError("Choose a day before 31 December 9999.", code="invalid")
        return day

    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return datetime.combine(
            day + timedelta(days=1), time(0), tzinfo=ZoneInfo(self.center.time_zone)
        )

    def add_service_errors(self, error: ValidationError) -> None:
        for field, messages_ in error.message_dict.items():
            name = self.SERVICE_FIELDS.get(field, field)
            for message in messages_:
                self.add_error(name if name in self.fields else None, message)
