"""Production (Procfile): PostgreSQL, Redis, HTTPS behind a proxy. Secrets are required.

Fails closed: without any of DATABASE_URL, REDIS_URL, DJANGO_SECRET_KEY or
DJANGO_ALLOWED_HOSTS the process refuses to start (ImproperlyConfigured naming the variable)
instead of falling back to the laptop defaults of base.py (SQLite, in-process tasks).
"""

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from config.environment import required

from .base import *  # noqa: F403
from .base import DATABASES, LOGGING, STATIC_ROOT, env

SECRET_KEY = required("DJANGO_SECRET_KEY", "the key that signs sessions and tokens")
ALLOWED_HOSTS = [
    host.strip()
    for host in required("DJANGO_ALLOWED_HOSTS", "the host names this site answers to").split(",")
    if host.strip()
]
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS names no host (only commas).")
DEBUG = env.bool("DJANGO_DEBUG", default=False)

# base.py already built DATABASES, CACHES and the Celery URLs from these two variables; here
# they must have been given, and be of the right kind.
required(
    "DATABASE_URL", "the PostgreSQL database, e.g. postgres://user:password@host:5432/registry"
)
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    # Only the scheme is named: the rest of the URL may hold a password.
    raise ImproperlyConfigured(
        "DATABASE_URL must name a PostgreSQL database (postgres://...) in production, not a "
        f"{urlsplit(env.str('DATABASE_URL')).scheme!r} one (SQLite is for a laptop: one file on "
        "one machine, one writer at a time)."
    )
_redis_scheme = urlsplit(
    required("REDIS_URL", "the Celery broker and cache, e.g. redis://host:6379/0")
).scheme
if _redis_scheme not in {"redis", "rediss", "unix"}:
    raise ImproperlyConfigured(
        "REDIS_URL must be a redis://, rediss:// or unix:// URL in production, "
        f"not {_redis_scheme or 'schemeless'!r}"
    )
# Tasks go to the broker; /healthz reports 503 while it is unreachable.
REGISTRY_REQUIRE_BROKER = True

# SECURITY
# ------------------------------------------------------------------------------
# The platform's proxy terminates TLS and says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Load balancers probe the health check over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Secure-sessionid"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_NAME = "__Secure-csrftoken"
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# STATIC
# ------------------------------------------------------------------------------
# Hashed, compressed files served by WhiteNoise; needs `manage.py collectstatic` at build.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Where collectstatic writes and WhiteNoise reads (the Procfile's release step fills it).
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=STATIC_ROOT)

# LOGGING
# ------------------------------------------------------------------------------
# One JSON object per line, each with the request's id (base.py; DJANGO_LOG_FORMAT=line for
# key=value lines instead).
LOG_FORMAT = env.str("DJANGO_LOG_FORMAT", default="json")
if LOG_FORMAT not in LOGGING["formatters"]:  # type: ignore[operator]
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be line or json, not {LOG_FORMAT!r}")
LOGGING["handlers"]["stderr"]["formatter"] = LOG_FORMAT  # type: ignore[index]
