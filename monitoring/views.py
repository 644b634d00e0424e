"""The monitoring center's web pages: sign-in, the home map, and the coordinators' page of
partner API tokens."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.generic import TemplateView, View

from zones.choices import PostKind
from zones.selectors import post_list, settlement_list, zone_list
from zones.views import map_config, zone_rows

from .choices import ObserverRole
from .forms import LoginForm, PartnerTokenForm
from .models import MonitoringCenter, PartnerToken
from .permissions import RoleRequiredMixin
from .selectors import observer_for_user, partner_tokens_of
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
