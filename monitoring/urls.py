"""Pages of the monitoring app. The home map and the login and logout pages are routed in
``config/urls.py`` under the global names ``home``, ``login`` and ``logout`` that the
settings (LOGIN_URL, LOGIN_REDIRECT_URL) refer to."""

app_name = "monitoring"

urlpatterns: list = []
