"""Settings for ceasefire-monitor.

Everything is read from the environment (12-factor). With no environment at all the
project runs in its embedded default: debug on, SQLite under ``var/`` and a Celery
broker on the local disk, so ``make run`` works on a bare machine. Every variable is
listed in the README's configuration table.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


DEBUG = env_bool("DJANGO_DEBUG", True)

# Where the embedded default keeps its database, broker queue, media and beat schedule.
VAR_DIR = Path(os.environ.get("CEASEFIRE_VAR_DIR", BASE_DIR / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)  # a fresh clone has none; SQLite needs it

_DEV_SECRET_KEY = "django-insecure-embedded-default-do-not-use-in-production"  # noqa: S105
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off "
            "(production refuses to start with a default key)."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "config.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "leaflet",
    "django_htmx",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "monitoring",
    "zones",
    "incidents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed its second factor.
    "django_otp.middleware.OTPMiddleware",
    # Coordinators and administrators reach nothing but the two-factor pages until then.
    "monitoring.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "monitoring.middleware.AuditSourceMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "monitoring.context_processors.observer",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# --- Database -----------------------------------------------------------------------
# Embedded default: SQLite in var/, in WAL mode, with IMMEDIATE transactions and a busy
# timeout so that concurrent writers (web, worker, beat) wait instead of failing with
# "database is locked". DATABASE_URL=postgres://... switches to PostgreSQL.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(VAR_DIR / "db.sqlite3")),
            # Tests use a file, not memory, so that a Celery worker process started by a
            # test sees what the test committed (pytest-xdist adds a suffix per worker).
            "TEST": {"NAME": os.environ.get("SQLITE_TEST_PATH", str(VAR_DIR / "test-db.sqlite3"))},
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA busy_timeout=30000;"
                ),
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Cache --------------------------------------------------------------------------------
# Per process, in memory, by default (the embedded default: one machine). CACHE_URL=redis://
# host:6379/1 shares it between every gunicorn worker on every machine, so that the partner
# API's rate limit counts each token once, not once per worker (docs/operations.md).
CACHE_URL = os.environ.get("CACHE_URL", "").strip()
if CACHE_URL:
    if urlsplit(CACHE_URL).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(
            f"CACHE_URL must be a redis://, rediss:// or unix:// URL, got {CACHE_URL!r}"
        )
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
        }
    }

# --- Logins: throttling and the second factor (docs/security.md) -------------------------------
# django-axes counts failed logins per (username, client IP): after CEASEFIRE_LOGIN_FAILURE_LIMIT
# failures that pair is refused for CEASEFIRE_LOGIN_COOLOFF_MINUTES, even with the right
# password, while the same user from anywhere else still logs in (a guesser cannot lock a real
# user out). Every failure and every successful login is recorded (admin: Axes).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("CEASEFIRE_LOGIN_FAILURE_LIMIT", 5)
_cooloff_minutes = env_int("CEASEFIRE_LOGIN_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = timedelta(minutes=_cooloff_minutes)
if AXES_FAILURE_LIMIT < 1 or _cooloff_minutes < 1:
    raise ImproperlyConfigured(
        "CEASEFIRE_LOGIN_FAILURE_LIMIT and CEASEFIRE_LOGIN_COOLOFF_MINUTES must be at least 1"
    )
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# The client's address: REMOTE_ADDR, or behind CEASEFIRE_TRUSTED_PROXIES reverse proxies the
# address the outermost of them saw (X-Forwarded-For, counted from the right: a client can
# prepend anything, not append). The partner API's rate limit counts the same way.
TRUSTED_PROXIES = env_int("CEASEFIRE_TRUSTED_PROXIES", 0)
if TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured(
        f"CEASEFIRE_TRUSTED_PROXIES must be 0 or more, got {TRUSTED_PROXIES}"
    )
AXES_CLIENT_IP_CALLABLE = "monitoring.security.client_ip"
# Roles that must pass a second factor (TOTP, or a one-time backup code) on the web and in
# session calls to the API; staff accounts (the admin site) always must. "none": no role.
TWO_FACTOR_ROLES = frozenset(
    env_list("CEASEFIRE_TWO_FACTOR_ROLES", ["coordinator", "administrator"])
) - {"none"}
_unknown_roles = TWO_FACTOR_ROLES - {"observer", "coordinator", "partner", "administrator"}
if _unknown_roles:
    raise ImproperlyConfigured(
        f"CEASEFIRE_TWO_FACTOR_ROLES names unknown roles: {', '.join(sorted(_unknown_roles))}"
    )
OTP_TOTP_ISSUER = os.environ.get("CEASEFIRE_TWO_FACTOR_ISSUER", "ceasefire-monitor")

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------
# Every asset (Leaflet, htmx, API docs) is served by the app itself: no CDN anywhere.
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", VAR_DIR / "media"))
# Report attachments: the largest file accepted, and the types allowed (decided by the
# file's content, never by its name): JPEG, PNG and WebP photos, PDF documents.
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
ATTACHMENT_CONTENT_TYPES = env_list(
    "ATTACHMENT_CONTENT_TYPES", ["image/jpeg", "image/png", "image/webp", "application/pdf"]
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- REST framework and the schema --------------------------------------------------------
# Partner API tokens are throttled per token: PARTNER_TOKEN_RATE requests per second, minute,
# hour or day ("600/min"). The counts live in the default cache: per process unless CACHE_URL
# points at a shared one.
PARTNER_TOKEN_RATE = os.environ.get("PARTNER_TOKEN_RATE", "").strip() or "600/min"
if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", PARTNER_TOKEN_RATE):
    raise ImproperlyConfigured(
        f"PARTNER_TOKEN_RATE must be <number>/<s|min|hour|day>, got {PARTNER_TOKEN_RATE!r}"
    )
# What a center shares with partner accounts (their API, feed and exports): reports in these
# statuses, comma-separated, of submitted, verified, disputed; published summaries always.
PARTNER_REPORT_STATUSES = tuple(
    sorted(
        {
            status.strip()
            for status in os.environ.get("CEASEFIRE_PARTNER_REPORT_STATUSES", "verified").split(",")
            if status.strip()
        }
    )
)
if not PARTNER_REPORT_STATUSES or set(PARTNER_REPORT_STATUSES) - {
    "submitted",
    "verified",
    "disputed",
}:
    raise ImproperlyConfigured(
        "CEASEFIRE_PARTNER_REPORT_STATUSES must list some of submitted, verified, disputed; "
        f"got {os.environ.get('CEASEFIRE_PARTNER_REPORT_STATUSES')!r}"
    )
# The change feed keeps tombstones (withdrawals from the partners' view) this many days; a
# partner whose cursor is older must copy everything again (docs/api.md#the-change-feed).
CHANGE_TOMBSTONE_DAYS = env_int("CEASEFIRE_TOMBSTONE_DAYS", 90)
if CHANGE_TOMBSTONE_DAYS < 1:
    raise ImproperlyConfigured(
        f"CEASEFIRE_TOMBSTONE_DAYS must be at least 1, got {CHANGE_TOMBSTONE_DAYS}"
    )
# A POST's Idempotency-Key is remembered this many hours (a retry within them gets the first
# response again).
IDEMPOTENCY_KEY_HOURS = env_int("CEASEFIRE_IDEMPOTENCY_KEY_HOURS", 24)
if IDEMPOTENCY_KEY_HOURS < 1:
    raise ImproperlyConfigured(
        f"CEASEFIRE_IDEMPOTENCY_KEY_HOURS must be at least 1, got {IDEMPOTENCY_KEY_HOURS}"
    )
REST_FRAMEWORK = {
    # A partner tool's token first (Authorization: Token/Bearer <secret>), then the browser's
    # session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "monitoring.authentication.PartnerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "monitoring.permissions.HasMonitoringRole",
        "monitoring.permissions.TokenHasScope",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "monitoring.authentication.PartnerTokenRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {"partner": PARTNER_TOKEN_RATE},
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "NUM_PROXIES": TRUSTED_PROXIES,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ceasefire-monitor API",
    "DESCRIPTION": (
        "Records of a ceasefire monitoring center: de-escalation zones, security and "
        "excluded areas, posts, settlements, parties, centers and agreements."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs pages need a profile, like every API endpoint.
    "SERVE_PERMISSIONS": ["monitoring.permissions.HasMonitoringRole"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No online validator badge: Swagger UI would fetch it from validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation documents its error responses (400, 401, 403, 404, 429, ...) with
    # their bodies: config/schema.py, docs/api-errors.md.
    "DEFAULT_GENERATOR_CLASS": "config.schema.SchemaGenerator",
    # Operation ids and tags from the path after the version: "zones_list", tag "zones".
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # One stable enum name per choice set (fields such as "status" and "kind" recur with
    # different choices across models, and GeoJSON's "type" with different constants).
    "ENUM_NAME_OVERRIDES": {
        "PartyKindEnum": "monitoring.choices.PartyKind",
        "AgreementSignatoryRoleEnum": "monitoring.choices.AgreementSignatoryRole",
        "GovernorateEnum": "zones.choices.Governorate",
        "ZoneStatusEnum": "zones.choices.ZoneStatus",
        "ZoneTermKindEnum": "zones.choices.ZoneTermKind",
        "SecurityAreaDerivationEnum": "zones.choices.SecurityAreaDerivation",
        "PostKindEnum": "zones.choices.PostKind",
        "PostStatusEnum": "zones.choices.PostStatus",
        "SettlementReconciliationStatusEnum": "zones.choices.SettlementReconciliationStatus",
        "ReportKindEnum": "incidents.choices.ReportKind",
        "ReportStatusEnum": "incidents.choices.ReportStatus",
        "ReportPlacePrecisionEnum": "incidents.choices.ReportPlacePrecision",
        "ReportTimePrecisionEnum": "incidents.choices.ReportTimePrecision",
        "ReportSourceEnum": "incidents.choices.ReportSource",
        "ReportConfidenceEnum": "incidents.choices.ReportConfidence",
        "ViolationCategoryEnum": "incidents.choices.ViolationCategory",
        "ConvoyOperationEnum": "incidents.choices.ConvoyOperation",
        "ConvoyStatusEnum": "incidents.choices.ConvoyStatus",
        "CargoCategoryEnum": "incidents.choices.CargoCategory",
        "CargoUnitEnum": "incidents.choices.CargoUnit",
        "CheckpointStatusEnum": "incidents.choices.CheckpointStatus",
        "AccessIncidentKindEnum": "incidents.choices.AccessIncidentKind",
        "SummaryVersionStatusEnum": "incidents.choices.SummaryVersionStatus",
        "DailySummaryStateEnum": ["not_compiled", "draft", "published"],
        "AuditEntrySourceEnum": "monitoring.choices.AuditEntrySource",
        "AuditEntryActionEnum": "monitoring.choices.AuditEntryAction",
        "GeoJSONFeatureTypeEnum": ["Feature"],
        "GeoJSONFeatureCollectionTypeEnum": ["FeatureCollection"],
        "GeoJSONMultiPolygonTypeEnum": ["MultiPolygon"],
        "GeoJSONPointTypeEnum": ["Point"],
    },
}

# --- Maps ---------------------------------------------------------------------------------
# Tiles: none by default (no internet at run time); the map draws the zones on a plain
# background. MAP_TILE_URL can point at a tile server the center runs itself.
MAP_TILE_URL = os.environ.get("MAP_TILE_URL", "")
LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (34.8, 38.5),
    "DEFAULT_ZOOM": 7,
    "MIN_ZOOM": 5,
    "MAX_ZOOM": 16,
    "TILES": [("Tiles", MAP_TILE_URL, {"attribution": ""})] if MAP_TILE_URL else [],
    "RESET_VIEW": False,
}

# --- Celery -------------------------------------------------------------------------------
# Embedded default: kombu's filesystem transport under var/celery, which web, worker and
# beat on one machine share. CELERY_BROKER_URL=redis://... switches to Redis.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
# Short timeouts on a network broker: filing a report must never hang on a broker that is
# down (a publish gives up after about 2 s; monitoring.queueing then stops trying for 30 s).
BROKER_NETWORK_TRANSPORT_OPTIONS = {
    "socket_timeout": 2,
    "socket_connect_timeout": 2,
    "max_retries": 1,
}
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "store_processed": False,
        # Exchange bindings (kombu's default is "control" in the current directory).
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
    # kombu creates none of these folders itself.
    for _folder in ("queue", "processed", "control"):
        (VAR_DIR / "celery" / _folder).mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = dict(BROKER_NETWORK_TRANSPORT_OPTIONS)
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# How often beat sweeps the daily summaries (seconds): the day that just closed, stale ones,
# and whatever a broker outage left undone. The tests shorten it.
SUMMARY_SWEEP_SECONDS = env_int("CEASEFIRE_SUMMARY_SWEEP_SECONDS", 5 * 60)
if SUMMARY_SWEEP_SECONDS < 1:
    raise ImproperlyConfigured(
        f"CEASEFIRE_SUMMARY_SWEEP_SECONDS must be at least 1, got {SUMMARY_SWEEP_SECONDS}"
    )
CELERY_BEAT_SCHEDULE = {
    # Add extension records to zones whose agreement extends automatically, so that
    # "was this zone in force at T?" keeps its answer as terms roll over.
    "zones-extend-terms": {
        "task": "zones.tasks.zones_extend_terms",
        "schedule": 60 * 60,
    },
    # Daily summaries: compile the reporting day that just closed at each center (shortly
    # after its cut-off), every stale summary (a late or changed report), and any recent
    # day with reports but no summary (what a broker outage left undone).
    "summaries-sweep": {
        "task": "incidents.tasks.summaries_sweep",
        "schedule": SUMMARY_SWEEP_SECONDS,
    },
    # The change feed: number rows no reader has numbered yet, end the retention of old
    # tombstones, forget old idempotency keys.
    "changes-maintain": {
        "task": "monitoring.tasks.changes_maintain",
        "schedule": 60 * 60,
    },
    # The audit log's hash chain: seal the entries written since the last run; an entry is
    # protected from then on, so at most about a minute after it is written
    # (docs/security.md#audit-chain).
    "audit-chain-seal": {
        "task": "monitoring.tasks.audit_chain_seal_task",
        "schedule": 60,
    },
}

# --- Security (production passes `manage.py check --deploy --fail-level WARNING`) -----------
# docs/security.md. Debug (the embedded default, `make run`, the tests) serves plain http on
# localhost; production (DJANGO_DEBUG off) is https only: secure cookies, HSTS, a redirect.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# The CSRF cookie stays readable by our own scripts (htmx sends it back as a header).
CSRF_COOKIE_HTTPONLY = False
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
# Behind a reverse proxy that ends TLS, the header it sets on https requests, as
# "Header-Name: value". Production's default suits gunicorn on 127.0.0.1 behind a proxy that
# sets (or overwrites) X-Forwarded-Proto; "off" when the app itself terminates TLS. Never
# trust a header that clients can send through the proxy unchanged.
_proxy_ssl_header = os.environ.get(
    "DJANGO_SECURE_PROXY_SSL_HEADER", "off" if DEBUG else "X-Forwarded-Proto: https"
).strip()
if _proxy_ssl_header.lower() not in {"", "off", "none"}:
    _header, _, _value = _proxy_ssl_header.partition(":")
    if not _header.strip() or not _value.strip():
        raise ImproperlyConfigured(
            "DJANGO_SECURE_PROXY_SSL_HEADER must be 'Header-Name: value' or 'off', "
            f"got {_proxy_ssl_header!r}"
        )
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _header.strip().upper().replace("-", "_"), _value.strip())

# Content-Security-Policy (django-csp), in debug too: every script and style is a file of
# ours; data for scripts travels in json_script elements (not executed). The nonce is put in
# the header only on a page that asks for one: the API docs (Swagger UI's init script, the
# <style> elements Redoc writes; templates/drf_spectacular/).
_img_src = [SELF, "data:"]
_tile = urlsplit(MAP_TILE_URL)
if _tile.scheme in {"http", "https"} and _tile.netloc:
    _img_src.append(f"{_tile.scheme}://{_tile.netloc}")
# Redoc (drf-spectacular-sidecar's bundle) writes two <style> elements as it loads, before it
# can be handed the nonce: they are allowed by their hashes (the empty one, and its base
# CSS). A new sidecar release may change the second; tests/browser/test_csp.py tells.
REDOC_STYLE_HASHES = [
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE, *REDOC_STYLE_HASHES],
        # Redoc's search index runs in a Web Worker made from a blob: of its own bundle.
        "worker-src": [SELF, "blob:"],
        "img-src": _img_src,
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes tells every sign-in at INFO; the attempts are in its tables (admin: Axes),
        # failures and lockouts still log at WARNING.
        "axes": {"level": "WARNING"},
    },
}

# Demo accounts (created by `manage.py demo_accounts`, debug only) share this password.
DEMO_PASSWORD = os.environ.get("CEASEFIRE_DEMO_PASSWORD", "ceasefire-demo")
