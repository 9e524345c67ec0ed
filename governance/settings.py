"""Settings for modelgov, driven by the environment.

One module for every environment (no production.py): what differs between the demo,
the test suite and production comes from environment variables. Secrets may also be
given as files (``NAME_FILE``), as container orchestrators mount them.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_DEMO_SECRET_KEY = "demo-only-insecure-key-never-use-in-production-8f3a1c7e2b9d4f6a0e5c"


def envbool(name: str, default: bool = False) -> bool:
    """Read a boolean: 1/true/yes/on are true, 0/false/no/off/empty are false."""
    value = os.environ.get(name)
    if value is None:
        return default
    value = value.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean, not {value!r}")


def envint(name: str, default: int) -> int:
    """Read an integer, failing loudly on a malformed value."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc


def envlist(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated list."""
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def envrate(name: str, default: str) -> str:
    """Read a throttle rate, ``N/s``, ``N/m``, ``N/h`` or ``N/d`` (DRF's form)."""
    value = (os.environ.get(name) or default).strip()
    number, _, period = value.partition("/")
    if not number.isdigit() or period[:1] not in {"s", "m", "h", "d"}:
        raise ImproperlyConfigured(
            f"{name} must be a rate like 20/s, 600/m, 1000/h or 10000/d, not {value!r}"
        )
    return value


def envsecret(name: str, default: str | None = None) -> str | None:
    """Read a secret from ``NAME`` or from the file named by ``NAME_FILE``."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text(encoding="utf-8").strip()
    return os.environ.get(name, default)


DEBUG = envbool("DJANGO_DEBUG", False)

SECRET_KEY = envsecret("DJANGO_SECRET_KEY") or ""
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) must be set when "
            "DJANGO_DEBUG is off; the demo-only fallback key is refused outside DEBUG."
        )
    SECRET_KEY = _DEMO_SECRET_KEY
elif SECRET_KEY == _DEMO_SECRET_KEY and not DEBUG:
    raise ImproperlyConfigured(
        "The demo-only secret key cannot be used with DEBUG off."
    )

ALLOWED_HOSTS = envlist(
    "DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_celery_beat",
    # Counts failed password attempts for the lockout (ADR 0021).
    "axes",
    "governance.apps.GovernanceConfig",
    "registry.apps.RegistryConfig",
    "audits.apps.AuditsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "governance.security_headers.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "governance.middleware.RequestIdMiddleware",
    "governance.middleware.DatabaseBusyMiddleware",
    "governance.api.boundary.JSONBodyMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as axes asks. It answers only for a request axes flagged as locked out;
    # the lockout service hands axes requests of its own, so the login forms answer
    # (ADR 0021).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "governance.urls"
WSGI_APPLICATION = "governance.wsgi.application"
ASGI_APPLICATION = "governance.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "governance.templating.SafeDjangoTemplates",
        "NAME": "django",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "governance.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL")
        or f"sqlite:///{BASE_DIR / 'var' / 'modelgov.sqlite3'}",
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's SQLite: take the write lock when a transaction begins (two writers
    # queue instead of one failing on upgrade, "database is locked") and wait for it
    # up to DATABASE_SQLITE_TIMEOUT seconds; a wait that still times out is a 503
    # with Retry-After (governance.middleware.DatabaseBusyMiddleware). ADR 0020.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": envint("DATABASE_SQLITE_TIMEOUT", 20),
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Caches: the API throttles count in the default cache. Local memory is per process:
# a deployment with several processes (gunicorn workers, hosts) needs the shared
# cache, MODELGOV_CACHE_URL=redis://host:6379/1 (docs/operations.md).
_CACHE_URL = os.environ.get("MODELGOV_CACHE_URL", "")
if _CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _CACHE_URL,
        }
    }
elif _CACHE_URL in ("", "locmem://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(
        f"MODELGOV_CACHE_URL must be redis://, rediss:// or locmem://, not {_CACHE_URL!r}"
    )

# Sign-in lockout (django-axes, ADR 0021): after MODELGOV_LOCKOUT_FAILURES failed
# passwords (sign-ins and signature passwords alike) for one account, or from one
# address, further attempts are refused, even with the right password, until an
# administrator unlocks (admin or `manage.py unlock_account`), or, if set, after
# MODELGOV_LOCKOUT_COOLOFF_MINUTES. Attempts are counted in the database.
# The only backend: Django's ModelBackend behind the lockout.
AUTHENTICATION_BACKENDS = ["governance.auth_backends.LockoutBackend"]
AXES_FAILURE_LIMIT = envint("MODELGOV_LOCKOUT_FAILURES", 5)
# Per account and per address (REMOTE_ADDR); per account only where the address is
# unknown, or with MODELGOV_LOCKOUT_PER_ADDRESS=0 (a proxy that hides the clients'
# addresses would otherwise lock everyone behind it at once).
MODELGOV_LOCKOUT_PER_ADDRESS = envbool("MODELGOV_LOCKOUT_PER_ADDRESS", True)
AXES_LOCKOUT_PARAMETERS = "governance.services.lockout.lockout_parameters"
AXES_HANDLER = "governance.auth_backends.LockoutHandler"
_COOLOFF_MINUTES = envint("MODELGOV_LOCKOUT_COOLOFF_MINUTES", 0)
AXES_COOLOFF_TIME = (
    timedelta(minutes=_COOLOFF_MINUTES) if _COOLOFF_MINUTES > 0 else None
)
# A successful sign-in clears that account's own failures (governance.auth_backends);
# axes' reset would also clear every failure from the same address.
AXES_RESET_ON_SUCCESS = False
# Sign-ins are on the record as audit events and refusals; no second access log.
AXES_DISABLE_ACCESS_LOG = True
# The admin of attempts is governance's, whose unlock is an audit event.
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "var" / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "var" / "media"))
MEDIA_URL = "media/"
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

# Security: strict by default, relaxed only by DEBUG for the local demo.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = envint("DJANGO_SESSION_COOKIE_AGE", 8 * 3600)
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = envbool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = envbool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = envint("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = envbool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
if envbool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy on every response, in the demo as in production (ADR 0023):
# scripts and styles only from files served by this site, so no inline script, no
# inline style, no eval; monitoring charts are inline <svg> elements styled by
# attributes, so images need no data: source. Only Swagger UI widens img-src.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
# Browser features the application never uses, switched off for its pages.
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "governance.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "governance.permissions.TokenScopePermission",
    ],
    "DEFAULT_RENDERER_CLASSES": ["governance.api.boundary.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["governance.api.boundary.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "governance.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Per token, per signed-in user, per address (ADR 0021); ingest keys on the
    # ingest endpoints have their own, higher rate. A throttled call gets 429 with
    # Retry-After.
    "DEFAULT_THROTTLE_CLASSES": [
        "governance.api.throttling.TokenRateThrottle",
        "governance.api.throttling.SessionUserRateThrottle",
        "governance.api.throttling.AddressRateThrottle",
    ],
    # The address of an anonymous call is REMOTE_ADDR, never a client's
    # X-Forwarded-For.
    "NUM_PROXIES": 0,
    "DEFAULT_THROTTLE_RATES": {
        "token": envrate("MODELGOV_THROTTLE_TOKEN", "20/s"),
        "ingest": envrate("MODELGOV_THROTTLE_INGEST", "200/s"),
        "user": envrate("MODELGOV_THROTTLE_USER", "10/s"),
        "anon": envrate("MODELGOV_THROTTLE_ANON", "60/m"),
    },
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

SPECTACULAR_SETTINGS = {
    "TITLE": "modelgov API",
    "DESCRIPTION": (
        "Model-risk governance: inventory, versions with lineage, model cards, "
        "documentation templates, approvals, the promotion gate and the audit ledger."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the installed sidecar package, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The input boundary's 400/413/415 on every write (ADR 0019).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "governance.api.boundary.declare_boundary_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "MaterialityLevelEnum": "registry.choices.MaterialityLevel",
        "ModelStatusEnum": "registry.choices.ModelStatus",
        "VersionStatusEnum": "registry.choices.VersionStatus",
    },
}

# Celery: a real broker in production and in its integration tests; the demo runs
# tasks in-process (CELERY_TASK_ALWAYS_EAGER=1, set by `make demo`).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 360)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "expire-approvals": {
        "task": "governance.release_requests_expire_due",
        "schedule": envint("MODELGOV_EXPIRY_CHECK_SECONDS", 300),
    },
    # Where no `manage.py ledger_sequencer` process runs, beat drains the ledger
    # queue (MODELGOV_SEQUENCER_BEAT_SECONDS=0 turns this off).
    **(
        {
            "sequence-ledger": {
                "task": "audits.ledger_sequence",
                "schedule": envint("MODELGOV_SEQUENCER_BEAT_SECONDS", 2),
            }
        }
        if envint("MODELGOV_SEQUENCER_BEAT_SECONDS", 2) > 0
        else {}
    ),
    # Counts sequenced entries into the monitoring rollups (the sequencer also does
    # when idle); MODELGOV_ROLLUP_BEAT_SECONDS=0 turns this off.
    **(
        {
            "monitoring-rollup": {
                "task": "audits.monitoring_rollup",
                "schedule": envint("MODELGOV_ROLLUP_BEAT_SECONDS", 10),
            }
        }
        if envint("MODELGOV_ROLLUP_BEAT_SECONDS", 10) > 0
        else {}
    ),
}

EMAIL_BACKEND = os.environ.get(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "modelgov@localhost")
EMAIL_HOST = os.environ.get("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = envint("DJANGO_EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("DJANGO_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = envsecret("DJANGO_EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = envbool("DJANGO_EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = envint("DJANGO_EMAIL_TIMEOUT", 10)

# modelgov's own settings.
MODELGOV_ORGANISATION = os.environ.get("MODELGOV_ORGANISATION", "Demo Bank plc")
# EU AI Act Annex III high-risk obligations: the date moved once (Digital Omnibus);
# it is a setting, not a constant (DOMAIN.md section 0).
MODELGOV_EU_AI_ACT_HIGH_RISK_FROM = os.environ.get(
    "MODELGOV_EU_AI_ACT_HIGH_RISK_FROM", "2027-12-02"
)
MODELGOV_TOKEN_DEFAULT_TTL_DAYS = envint("MODELGOV_TOKEN_DEFAULT_TTL_DAYS", 365)
# No token may be issued to live longer (API, pages, commands); the default is capped
# by it.
MODELGOV_TOKEN_MAX_TTL_DAYS = envint("MODELGOV_TOKEN_MAX_TTL_DAYS", 365)

# Prediction ingest: predictions older than this (or more than 5 minutes in the
# future) are refused; past this many entries waiting for the sequencer the API
# answers 503 with Retry-After.
MODELGOV_INGEST_MAX_AGE_HOURS = envint("MODELGOV_INGEST_MAX_AGE_HOURS", 168)
MODELGOV_INGEST_MAX_OUTSTANDING = envint("MODELGOV_INGEST_MAX_OUTSTANDING", 200_000)
# Deployment environments the gate knows; anything else is denied.
MODELGOV_ENVIRONMENTS = envlist("MODELGOV_ENVIRONMENTS", ["staging", "production"])
# Kubernetes namespace -> environment for the admission webhook, as
# "ns1=production,ns2=staging"; a namespace not listed is denied (fail closed).
MODELGOV_NAMESPACE_ENVIRONMENTS = {
    namespace.strip(): environment.strip()
    for namespace, _, environment in (
        item.partition("=") for item in envlist("MODELGOV_NAMESPACE_ENVIRONMENTS", [])
    )
    if namespace.strip() and environment.strip()
}
# Strict admission, per environment ("production"; empty: off): in namespaces mapped
# to these environments the webhook denies operations other than CREATE/UPDATE and
# workloads that name no model (a Deployment without modelgov.io/ annotations).
MODELGOV_ADMISSION_STRICT = envlist("MODELGOV_ADMISSION_STRICT", [])
if set(MODELGOV_ADMISSION_STRICT) - set(MODELGOV_ENVIRONMENTS):
    # A misspelt environment would silently leave strict admission off.
    raise ImproperlyConfigured(
        f"MODELGOV_ADMISSION_STRICT names {MODELGOV_ADMISSION_STRICT}, but the "
        f"environments are {MODELGOV_ENVIRONMENTS} (MODELGOV_ENVIRONMENTS)"
    )
# Ed25519 private key (PEM) that signs approval attestations; from a file in
# production. Without it, DEBUG (demo) uses a key generated into var/, and
# production refuses to sign.
MODELGOV_ATTESTATION_KEY = envsecret("MODELGOV_ATTESTATION_KEY") or ""
# Optional webhook that receives workflow notifications (JSON POST).
MODELGOV_NOTIFY_WEBHOOK_URL = os.environ.get("MODELGOV_NOTIFY_WEBHOOK_URL", "")
# Refused attempts by one account or one address that alert the administrators:
# this many (0: never) within this many minutes (docs/user-guide/audit-trail.md).
MODELGOV_REFUSAL_ALERT_THRESHOLD = envint("MODELGOV_REFUSAL_ALERT_THRESHOLD", 5)
MODELGOV_REFUSAL_ALERT_WINDOW_MINUTES = envint(
    "MODELGOV_REFUSAL_ALERT_WINDOW_MINUTES", 15
)
# The prediction ledger (docs/operations.md, "Detection"). Its origin line and the
# Ed25519 private key (PEM) that signs its checkpoints; without a key the
# attestation key signs. The signer keeps the last checkpoint it signed in
# MODELGOV_LEDGER_SIGNER_STATE (a file on its own disk; empty: the database is its
# memory) and exports every checkpoint to a witness directory on separate storage
# (MODELGOV_LEDGER_WITNESS_DIR; empty: no witness).
MODELGOV_LEDGER_ORIGIN = os.environ.get("MODELGOV_LEDGER_ORIGIN", "modelgov/ledger")
MODELGOV_LEDGER_KEY = envsecret("MODELGOV_LEDGER_KEY") or ""
# The matching public key (PEM): fsck and the witness need nothing else, so they can
# run where the private key is not. Empty: derived from the private key.
MODELGOV_LEDGER_PUBLIC_KEY = envsecret("MODELGOV_LEDGER_PUBLIC_KEY") or ""
MODELGOV_LEDGER_SIGNER_STATE = os.environ.get("MODELGOV_LEDGER_SIGNER_STATE", "")
MODELGOV_LEDGER_WITNESS_DIR = os.environ.get("MODELGOV_LEDGER_WITNESS_DIR", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {
        "handlers": ["console"],
        "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO"),
    },
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # WeasyPrint logs every stylesheet it parses (also its own, on import).
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
