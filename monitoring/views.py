"""The monitoring center's web pages: sign-in, the home map, and the coordinators' page of
partner API tokens."""

from __future__ import annotations

import logging
from base64 import b32encode
from typing import Any
from urllib.parse import urlencode

import django_otp
import qrcode
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.generic import TemplateView, View
from qrcode.image.svg import SvgPathImage

from zones.choices import PostKind
from zones.selectors import post_list, settlement_list, zone_list
from zones.views import map_config, zone_rows

from .choices import ObserverRole
from .forms import LoginForm, PartnerTokenForm, TwoFactorCodeForm
from .models import MonitoringCenter, PartnerToken
from .permissions import RoleRequiredMixin
from .security import two_factor_required
from .selectors import observer_for_user, partner_tokens_of, two_factor_devices
from .services import (
    partner_token_issue,
    partner_token_revoke,
    two_factor_confirm,
    two_factor_enrolment,
)

logger = logging.getLogger(__name__)


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True
    # Django's form views take PUT as POST; a login form is POSTed only.
    http_method_names = ["get", "post", "head", "options"]

    def get_success_url(self) -> str:
        """Straight on to the second factor for the accounts that still need one."""
        url = super().get_success_url()
        user = self.request.user
        # Right after the password, ``login()`` has put the plain user (never verified) here.
        verified = getattr(user, "is_verified", None)
        if two_factor_required(user) and not (verified and verified()):
            return f"{reverse('two_factor')}?{urlencode({'next': url})}"
        return url


class TwoFactorView(LoginRequiredMixin, View):
    """The second factor of coordinators, administrators and staff: at the first sign-in, set
    up an authenticator app (scan, confirm with a code, keep the backup codes); afterwards,
    enter its code (or a backup code) after the password."""

    template_name = "registration/two_factor.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and (
            request.user.is_verified() or not two_factor_required(request.user)
        ):
            return redirect(self.next_url())
        return super().dispatch(request, *args, **kwargs)

    def next_url(self) -> str:
        url = self.request.POST.get("next") or self.request.GET.get("next") or ""
        if url and url_has_allowed_host_and_scheme(
            url, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        ):
            return url
        return resolve_url(settings.LOGIN_REDIRECT_URL)

    def get(self, request):
        return self.render(TwoFactorCodeForm())

    def post(self, request):
        form = TwoFactorCodeForm(request.POST)
        totp, backup = two_factor_devices(request.user)
        if not form.is_valid():
            return self.render(form, status=400, setting_up=totp is None)
        code = form.cleaned_data["code"]
        if totp is None:
            device = two_factor_enrolment(user=request.user)
            codes = two_factor_confirm(device=device, code=code, actor=request.user)
            if codes is None:
                form.add_error("code", self.refusal(device))
                return self.render(form, status=400, setting_up=True)
            self.verified(device)
            return render(
                request,
                "registration/two_factor_backup_codes.html",
                {"codes": codes, "next": self.next_url()},
            )
        device = None
        for candidate in (totp, backup):
            if candidate is not None and candidate.verify_is_allowed()[0]:
                device = django_otp.verify_token(request.user, candidate.persistent_id, code)
                if device is not None:
                    break
        if device is None:
            logger.warning("wrong second-factor code for %s", request.user.get_username())
            form.add_error("code", self.refusal(totp))
            return self.render(form, status=400, setting_up=False)
        self.verified(device)
        return redirect(self.next_url())

    def verified(self, device) -> None:
        # A new session key for the raised privilege (as a login does).
        self.request.session.cycle_key()
        django_otp.login(self.request, device)
        logger.info("second factor passed by %s", self.request.user.get_username())

    def refusal(self, device) -> str:
        allowed, details = device.verify_is_allowed()
        if not allowed and details and details.get("locked_until"):
            wait = max(1, int((details["locked_until"] - timezone.now()).total_seconds()) + 1)
            return f"Too many wrong codes: try again in {wait} seconds."
        return "That code is not right. Enter the current code from your authenticator app."

    def render(self, form, status: int = 200, *, setting_up: bool | None = None):
        if setting_up is None:
            setting_up = two_factor_devices(self.request.user)[0] is None
        context = {"form": form, "next": self.next_url(), "setting_up": setting_up}
        if setting_up:
            device = two_factor_enrolment(user=self.request.user)
            context.update(
                secret=b32encode(device.bin_key).decode(),
                qr_svg=mark_safe(  # noqa: S308 - our own SVG of our own otpauth: URL
                    qrcode.make(device.config_url, image_factory=SvgPathImage).to_string(
                        encoding="unicode"
                    )
                ),
            )
        return render(self.request, self.template_name, context, status=status)


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
