"""The monitoring center's web pages: sign-in and the home map."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.utils import timezone
from django.views.generic import TemplateView

from zones.choices import PostKind
from zones.selectors import post_list, settlement_list, zone_list
from zones.views import map_config, zone_rows

from .forms import LoginForm
from .permissions import RoleRequiredMixin


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
