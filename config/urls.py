"""Top-level URLs: web pages, the admin, the REST API under /api/v1/ and its schema and docs."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from monitoring.views import HomeView, LoginView, TwoFactorView

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/two-factor/", TwoFactorView.as_view(), name="two_factor"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("", include("monitoring.urls")),
    path("zones/", include("zones.urls")),
    path("reports/", include("incidents.urls")),
]

# A database that cannot be reached answers 503 (monitoring/outage.py); anything else, 500.
handler500 = "monitoring.outage.server_error"
