"""Settings shared by every environment; values come from environment variables.

``local``, ``test`` and ``production`` start from here. See the settings table in README.md.
"""

import warnings
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from config.environment import GitCredential, git_credentials, positive_number, public_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

# A .env file is read when present (real environment variables win); it is never required.
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=True) and (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

# GENERAL
# ------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# DATABASES
# ------------------------------------------------------------------------------
# An empty DATABASE_URL counts as unset (production then refuses to start).
with warnings.catch_warnings():
    # django-environ warns of a URL it cannot read by printing what it parsed, password
    # included; the check below says what is wrong instead.
    warnings.simplefilter("ignore")
    DATABASES = {
        "default": env.db_url_config(
            env.str("DATABASE_URL", default="").strip() or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
        )
    }
if not DATABASES["default"].get("ENGINE"):
    # Not repeated in the message: the URL may hold a password.
    raise ImproperlyConfigured(
        "DATABASE_URL is not a database URL such as postgres://user:password@host:5432/registry "
        "or sqlite:///path/to/db.sqlite3"
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's SQLite backend with the real bound-parameter limit, so bulk writes batch as
    # they do on PostgreSQL (constant query counts for imports).
    DATABASES["default"]["ENGINE"] = "config.sqlite_backend"
    # Writers queue at BEGIN (for up to 20 s) instead of failing with "database is locked"
    # when two of them try to upgrade their read locks at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
    # Opening a SQLite file costs nothing; persistent connections would only pin file handles.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False

# URLS
# ------------------------------------------------------------------------------
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
# A release page posts about eight fields per pin: 10,000 lets the admin save releases of
# about 1,200 pins (Django's default of 1,000 stops at about 120).
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

# APPS
# ------------------------------------------------------------------------------
DJANGO_APPS = [
    "releases.admin_site.RegistryAdminConfig",  # django.contrib.admin, branded
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
THIRD_PARTY_APPS = [
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "simple_history",
    "django_celery_beat",
]
LOCAL_APPS = [
    "registry",
    "releases",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

# AUTHENTICATION
# ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# MIDDLEWARE
# ------------------------------------------------------------------------------
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records who made a change in the history tables.
    "simple_history.middleware.HistoryRequestMiddleware",
]

# STATIC
# ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# TEMPLATES
# ------------------------------------------------------------------------------
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SECURITY
# ------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
# Debug pages and error reports (the admins' e-mail) hide every secret setting, including the
# password inside URL-shaped ones (REDIS_URL, CELERY_BROKER_URL, CACHES, DATABASE_URL in the
# environment that runserver copies into request.META).
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.error_reports.SecretHidingFilter"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# LOGGING
# ------------------------------------------------------------------------------
# One line per record on stderr, key=value, so a log shipper can parse it without a schema.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {
            "format": (
                "time=%(asctime)s level=%(levelname)s logger=%(name)s "
                "process=%(process)d message=%(message)s"
            ),
        },
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "line",
        },
    },
    "root": {"handlers": ["stderr"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    # Django's default config gives "django" a console handler of its own under DEBUG; drop it
    # so each record is written once, in the format above.
    "loggers": {"django": {"handlers": [], "propagate": True}},
}

# CACHES AND CELERY
# ------------------------------------------------------------------------------
REDIS_URL: str | None = env("REDIS_URL", default=None) or None
# Seconds the cache waits for Redis to connect, and for each answer: a Redis that hangs makes
# reads misses (answered from the database) rather than hanging requests.
REGISTRY_CACHE_TIMEOUT_SECONDS: float = positive_number(
    env.str("REGISTRY_CACHE_TIMEOUT_SECONDS", default="").strip() or "1",
    "REGISTRY_CACHE_TIMEOUT_SECONDS",
)

CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {
        "default": {
            # Redis's RedisCache, with reads answered as misses while Redis is away or hangs.
            "BACKEND": "config.cache.ForgivingRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": REGISTRY_CACHE_TIMEOUT_SECONDS,
                "socket_timeout": REGISTRY_CACHE_TIMEOUT_SECONDS,
            },
        },
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    # No Redis: a single process on a laptop. Tasks run in-process when enqueued.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "release-registry",
        },
    }
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = "cache+memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    # In-process tasks are part of the command or request that ran them: a line per task
    # ("Task ... succeeded") and kombu's note about the in-memory broker's missing host name
    # would only bury what the command says.
    LOGGING["loggers"].update(  # type: ignore[attr-defined]
        {
            "celery.app.trace": {"level": "WARNING"},
            "kombu.connection": {"level": "ERROR"},
        }
    )
# In-process tasks suit a laptop; production sets this, and /healthz then reports 503 without
# a broker.
REGISTRY_REQUIRE_BROKER: bool = False
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = 60 * 60 * 24
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task is acknowledged after it ran, so a worker that dies mid-task leaves it queued;
# tasks are idempotent for that reason. One message at a time per worker process.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# DJANGO REST FRAMEWORK
# ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous request then gets 401 with "WWW-Authenticate: Token".
    "DEFAULT_AUTHENTICATION_CLASSES": (
        "releases.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ),
    "DEFAULT_PERMISSION_CLASSES": ("releases.api.permissions.TokenScope",),
    "DEFAULT_THROTTLE_CLASSES": ("releases.api.throttling.TokenRateThrottle",),
    "EXCEPTION_HANDLER": "releases.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ("django_filters.rest_framework.DjangoFilterBackend",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Release Registry API",
    "DESCRIPTION": "Releases, repository pins, deployments and their validation.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["releases.api.permissions.TokenScope"],
    "SCHEMA_PATH_PREFIX": "/api/",
    "ENUM_NAME_OVERRIDES": {
        "DeploymentStatusEnum": "releases.models.DeploymentStatus",
        "ValidationStateEnum": "releases.models.ValidationState",
        "ValidationRunStateEnum": "releases.validation.models.RunState",
    },
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the sidecar package: /api/docs/ works without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# HISTORY
# ------------------------------------------------------------------------------
# Change reasons name the file an import came from; paths are longer than 100 characters.
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# RELEASE REGISTRY
# ------------------------------------------------------------------------------
# Git validation: where pins without a url live, and which remotes may be contacted.
REGISTRY_GIT_URL_TEMPLATE: str | None = env("REGISTRY_GIT_URL_TEMPLATE", default=None) or None
REGISTRY_GIT_ALLOWED_HOSTS: list[str] = env.list(
    "REGISTRY_GIT_ALLOWED_HOSTS", default=["github.com", "gitlab.com", "bitbucket.org"]
)
REGISTRY_GIT_ALLOWED_SCHEMES: list[str] = env.list(
    "REGISTRY_GIT_ALLOWED_SCHEMES", default=["https"]
)
REGISTRY_GIT_TIMEOUT: int = env.int("REGISTRY_GIT_TIMEOUT", default=20)
# Per-host git credentials for the validator, "host=user:token,host2=user:token", read as
# {host: GitCredential(user, token)}: never in a manifest's URL (the importer refuses those),
# never in a log line (GitCredential's repr hides the token), hidden on error pages.
REGISTRY_GIT_CREDENTIALS: dict[str, GitCredential] = git_credentials(
    env.str("REGISTRY_GIT_CREDENTIALS", default="")
)
# A PyPI-compatible JSON API root; unset means no package index check.
REGISTRY_PACKAGE_INDEX_URL: str | None = env("REGISTRY_PACKAGE_INDEX_URL", default=None) or None
# Cron expression (minute hour day-of-month month day-of-week) for scheduled validation.
REGISTRY_VALIDATION_SCHEDULE: str = env("REGISTRY_VALIDATION_SCHEDULE", default="0 * * * *")
REGISTRY_MANIFEST_MAX_BYTES: int = env.int("REGISTRY_MANIFEST_MAX_BYTES", default=5 * 1024 * 1024)
# The IaC repository whose manifests/ folder is mirrored.
REGISTRY_MANIFESTS_REPO_URL: str | None = env("REGISTRY_MANIFESTS_REPO_URL", default=None) or None
REGISTRY_MANIFESTS_REPO_BRANCHES: list[str] = env.list(
    "REGISTRY_MANIFESTS_REPO_BRANCHES", default=["main", "release/*"]
)
# Shared secret of the git push webhook; unset means the webhook is off.
REGISTRY_WEBHOOK_SECRET: str | None = env("REGISTRY_WEBHOOK_SECRET", default=None) or None
# The registry's own address, for links in Notion and messages (no trailing "/"); unset means
# no links.
REGISTRY_PUBLIC_URL: str | None = public_url(env.str("REGISTRY_PUBLIC_URL", default=""))

# Notion sync: without a token, changes still queue but nothing is sent.
NOTION_TOKEN: str | None = env("NOTION_TOKEN", default=None) or None
NOTION_RELEASE_VIEWS_DATABASE_ID: str | None = (
    env("NOTION_RELEASE_VIEWS_DATABASE_ID", default=None) or None
)
NOTION_PRODUCT_VERSIONS_DATABASE_ID: str | None = (
    env("NOTION_PRODUCT_VERSIONS_DATABASE_ID", default=None) or None
)
NOTION_BASE_URL: str = env("NOTION_BASE_URL", default="https://api.notion.com")
# Requests per second to Notion, one budget shared by every worker (Notion allows about 3).
NOTION_REQUESTS_PER_SECOND: float = positive_number(
    env.str("NOTION_REQUESTS_PER_SECOND", default="").strip() or "3", "NOTION_REQUESTS_PER_SECOND"
)

# API
# ------------------------------------------------------------------------------
# Requests per API token (DRF throttle syntax, "<n>/second|minute|hour|day"); empty = no limit.
REGISTRY_API_THROTTLE_RATE: str = env.str("REGISTRY_API_THROTTLE_RATE", default="1200/minute")

# GIT-BACKED MANIFESTS
# ------------------------------------------------------------------------------
# The folder of the IaC repository (REGISTRY_MANIFESTS_REPO_URL) holding v<version>.yaml files.
REGISTRY_MANIFESTS_REPO_FOLDER: str = env.str("REGISTRY_MANIFESTS_REPO_FOLDER", default="manifests")
# Cron expression (minute hour day-of-month month day-of-week, UTC) of the scheduled sync.
REGISTRY_MANIFESTS_SYNC_SCHEDULE: str = env.str(
    "REGISTRY_MANIFESTS_SYNC_SCHEDULE", default="*/5 * * * *"
)

# VALIDATION RUNS (issue 6: pins checked against the git hosts, on demand and on a schedule)
# ------------------------------------------------------------------------------
# Where the cached blobless clones for the backport check live (default: a folder in the
# system's temporary directory), and how long a first clone may take (default: ten times
# REGISTRY_GIT_TIMEOUT).
REGISTRY_GIT_CACHE_DIR: str | None = env("REGISTRY_GIT_CACHE_DIR", default=None) or None
REGISTRY_GIT_CLONE_TIMEOUT: float | None = (
    positive_number(env.str("REGISTRY_GIT_CLONE_TIMEOUT"), "REGISTRY_GIT_CLONE_TIMEOUT")
    if env.str("REGISTRY_GIT_CLONE_TIMEOUT", default="").strip()
    else None
)
# Seconds for one answer of the package index.
REGISTRY_PACKAGE_INDEX_TIMEOUT: float = positive_number(
    env.str("REGISTRY_PACKAGE_INDEX_TIMEOUT", default="").strip() or "10",
    "REGISTRY_PACKAGE_INDEX_TIMEOUT",
)
# How many remotes one run lists at once.
REGISTRY_VALIDATION_CONCURRENCY: int = env.int("REGISTRY_VALIDATION_CONCURRENCY", default=8)
# Seconds a validation task may take before its runs are marked failed (the soft limit; the
# worker kills it a minute later).
REGISTRY_VALIDATION_TIME_LIMIT: int = env.int("REGISTRY_VALIDATION_TIME_LIMIT", default=15 * 60)

# NOTION
# ------------------------------------------------------------------------------
# A change that could not be sent is retried after NOTION_BACKOFF_SECONDS, doubling up to
# NOTION_BACKOFF_MAX_SECONDS; after NOTION_MAX_ATTEMPTS it is marked failed (still retried).
NOTION_BACKOFF_SECONDS: float = env.float("NOTION_BACKOFF_SECONDS", default=30.0)
NOTION_BACKOFF_MAX_SECONDS: float = env.float("NOTION_BACKOFF_MAX_SECONDS", default=3600.0)
NOTION_MAX_ATTEMPTS: int = env.int("NOTION_MAX_ATTEMPTS", default=8)
# How long a sender's hold on a release lasts unrenewed: a running sender renews it every third
# of it (before its requests), a failing one gives it up, and a killed worker's runs out after
# it. Keep it above Notion's request timeout (30 s): one request must not outlast it.
NOTION_CLAIM_SECONDS: float = env.float("NOTION_CLAIM_SECONDS", default=60.0)
# First wait between the attempts of one request (5xx, timeout), doubling.
NOTION_RETRY_BASE_SECONDS: float = env.float("NOTION_RETRY_BASE_SECONDS", default=1.0)
# The sweeper re-sends what is due (pending, or failed and past its backoff).
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "notion-sweep": {"task": "releases.notion.sweep", "schedule": 60.0},
}

# Environment diff and "what changed" (issue 12): commits listed per pin before "and N more".
REGISTRY_CHANGES_MAX_COMMITS: int = env.int("REGISTRY_CHANGES_MAX_COMMITS", default=50)

# REQUEST IDS AND LOG FORMAT (issue 11: production stack)
# ------------------------------------------------------------------------------
# Every request gets an id (the caller's X-Request-ID, else a new one), answered in the same
# header and put on every log record. DJANGO_LOG_FORMAT: "line" (key=value, the default
# locally) or "json" (one object per line, the default in production).
MIDDLEWARE.insert(0, "config.request_logs.RequestIdMiddleware")
LOGGING["filters"] = {"request_id": {"()": "config.request_logs.RequestIdFilter"}}
LOGGING["formatters"]["line"]["format"] = (  # type: ignore[index]
    "time=%(asctime)s level=%(levelname)s logger=%(name)s process=%(process)d "
    "request_id=%(request_id)s message=%(message)s"
)
LOGGING["formatters"]["json"] = {"()": "config.request_logs.JsonFormatter"}  # type: ignore[index]
LOGGING["handlers"]["stderr"]["filters"] = ["request_id"]  # type: ignore[index]
LOG_FORMAT: str = env.str("DJANGO_LOG_FORMAT", default="line")
if LOG_FORMAT not in LOGGING["formatters"]:  # type: ignore[operator]
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be line or json, not {LOG_FORMAT!r}")
LOGGING["handlers"]["stderr"]["formatter"] = LOG_FORMAT  # type: ignore[index]

# API (issue 7): this process's memory in front of the shared cache, for what is kept under a
# release's revision (rendered manifests, list entries: releases/revision_cache.py). Keys are
# exact, so a worker's copy is never stale; the oldest third goes when MAX_ENTRIES is reached
# (a list entry is about 1 KB, a manifest of 1,000 pins about 180 KB).
CACHES["local"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "release-registry-revisions",
    "OPTIONS": {"MAX_ENTRIES": 1000},
}

# VALIDATION RUNS: dead workers (releases.validation.runs.recover_stale_runs)
# ------------------------------------------------------------------------------
# A running validation run says it is alive every REGISTRY_VALIDATION_HEARTBEAT seconds; one
# silent (or queued, its task never come) for REGISTRY_VALIDATION_STALE_AFTER seconds is sent
# again by the beat task installed every REGISTRY_VALIDATION_RECOVERY_EVERY seconds.
REGISTRY_VALIDATION_HEARTBEAT: float = env.float("REGISTRY_VALIDATION_HEARTBEAT", default=20.0)
REGISTRY_VALIDATION_STALE_AFTER: float = env.float("REGISTRY_VALIDATION_STALE_AFTER", default=60.0)
REGISTRY_VALIDATION_RECOVERY_EVERY: int = env.int("REGISTRY_VALIDATION_RECOVERY_EVERY", default=30)

# CELERY ON REDIS: REDELIVERY AND RECONNECTION (the production stack, tests/stack/)
# ------------------------------------------------------------------------------
# A message held by a worker that died comes back to the queue after this many seconds (kombu's
# default is an hour). Live workers re-stamp what they hold (config.celery_app), so a task that
# runs longer than this is not handed to a second worker. The sweep for such messages runs every
# 10 s (kombu's default throttle would make it every 100 s).
REGISTRY_BROKER_VISIBILITY_TIMEOUT: int = env.int("REGISTRY_BROKER_VISIBILITY_TIMEOUT", default=60)
# A broker that hangs (accepts connections, answers nothing: a failover, a half-open
# connection) fails a command after BROKER_SOCKET_TIMEOUT seconds instead of never (kombu passes
# redis-py no timeout unless told): a save's enqueue gives up (the outbox and the sweeper keep
# the work), a worker reconnects. Above the 1 s BRPOP poll, which must not time out.
BROKER_SOCKET_TIMEOUT = 5
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": REGISTRY_BROKER_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
    "socket_connect_timeout": BROKER_SOCKET_TIMEOUT,
    "socket_timeout": BROKER_SOCKET_TIMEOUT,
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": REGISTRY_BROKER_VISIBILITY_TIMEOUT}
# A result read or stored against a Redis that is away or hangs fails fast instead of hanging
# (Celery's default read timeout is 120 s).
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = BROKER_SOCKET_TIMEOUT
CELERY_REDIS_SOCKET_TIMEOUT = BROKER_SOCKET_TIMEOUT
CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = 30
