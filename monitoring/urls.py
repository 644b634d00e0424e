"""Pages of the monitoring app. The home map and the login and logout pages are routed in
``config/urls.py`` under the global names ``home``, ``login`` and ``logout`` that the
settings (LOGIN_URL, LOGIN_REDIRECT_URL) refer to. Coordinators issue and revoke partner
API tokens at ``/tokens/``."""

from django.urls import path

from . import views

app_name = "monitoring"

urlpatterns = [
    path("tokens/", views.PartnerTokenListView.as_view(), name="token_list"),
    path("tokens/<int:pk>/revoke/", views.PartnerTokenRevokeView.as_view(), name="token_revoke"),
]
