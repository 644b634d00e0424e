"""The monitoring center's web pages: sign-in, the home map, and the coordinators' page of
partner API tokens."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.generic import TemplateView, View

from zones.choices import PostKind
from zones.selectors import post_list, settlement_list, zone_list
from zones.views import map_config, zone_rows

from .choices import ObserverRole, PartnerTokenScopes
from .forms import LoginForm
from .models import MonitoringCenter, PartnerToken
from .permissions import RoleRequiredMixin
from .selectors import observer_for_user
from .services import partner_token_issue, partner_token_revoke


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class HomeView(RoleRequiredMixin, TemplateView):
    """The zones on a map (areas as layers, posts as markers) and the list of zones."""

    template_name = "monitoring/home.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        zones = list(zone_list())
        posts = list(post_list())
        settlements = list(settlement_list())
        rows = zone_rows(zones, posts, now)
        context.update(
            now=now,
            rows=rows,
            stats={
                "zones": len(zones),
                "in_force": sum(1 for row in rows if row.in_force),
                "observation_posts": sum(p.kind == PostKind.OBSERVATION_POST for p in posts),
                "checkpoints": sum(p.kind == PostKind.CHECKPOINT for p in posts),
                "settlements": len(settlements),
            },
            map_config=map_config(zones=zones, posts=posts, settlements=settlements, moment=now),
        )
        return context


# --- Partner API tokens (coordinators) -------------------------------------------------------


def partner_accounts(center: MonitoringCenter) -> QuerySet:
    """The active partner accounts of a center, by username."""
    return (
        get_user_model()
        .objects.filter(
            observer__center=center,
            observer__role=ObserverRole.PARTNER,
            observer__is_active=True,
        )
        .order_by("username")
    )


def partner_tokens_of(center: MonitoringCenter) -> QuerySet[PartnerToken]:
    """Every token of the center's partner accounts (active, expired, revoked), newest first."""
    return PartnerToken.objects.filter(user__observer__center=center).select_related(
        "user", "created_by", "revoked_by"
    )


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
        help_text="Write lets the tool start summary compilations (and later writes).",
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


class PartnerTokenListView(RoleRequiredMixin, TemplateView):
    """The center's partner tokens, a form to issue one and a revoke button on each."""

    allowed_roles = (ObserverRole.COORDINATOR,)
    template_name = "monitoring/token_list.html"

    @property
    def center(self) -> MonitoringCenter:
        return observer_for_user(self.request.user).center

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        tokens = list(partner_tokens_of(self.center))
        context.update(
            center=self.center,
            now=now,
            rows=[(token, token.state(now)) for token in tokens],
            form=kwargs.get("form") or PartnerTokenForm(center=self.center),
        )
        return context

    def post(self, request, *args, **kwargs):
        """Issue a token and show its secret, this once."""
        form = PartnerTokenForm(request.POST, center=self.center)
        if form.is_valid():
            try:
                token, secret = partner_token_issue(
                    partner_user=form.cleaned_data["partner"],
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    expires_at=form.expires_at(),
                    actor=request.user,
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                response = self.response_class(
                    request=request,
                    template=["monitoring/token_issued.html"],
                    context={"token": token, "secret": secret, "center": self.center},
                    using=self.template_engine,
                    status=201,
                )
                # The secret must not linger in any cache, nor come back with "back".
                response["Cache-Control"] = "no-store"
                return response
        return self.render_to_response(self.get_context_data(form=form), status=400)


class PartnerTokenRevokeView(RoleRequiredMixin, View):
    """Revoke a token (POST); a coordinator of another center gets 403."""

    allowed_roles = (ObserverRole.COORDINATOR,)
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        token = get_object_or_404(PartnerToken.objects.select_related("user"), pk=kwargs["pk"])
        try:
            token = partner_token_revoke(token=token, actor=request.user)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(
                request,
                f"Token {token.prefix}… ({token.name}) of {token.user.get_username()} is "
                "revoked: it is refused from now on.",
            )
        return redirect("monitoring:token_list")
