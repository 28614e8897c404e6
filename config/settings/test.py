"""pytest: SQLite in memory unless DATABASE_URL says otherwise (CI sets PostgreSQL)."""

import os

# Tests take their settings from the real environment only: a developer's .env (their own
# database, Redis or tokens for `make run`) must neither be used by the suite nor decide
# whether a test passes. Set here, before base.py reads it; processes the tests start inherit
# it too.
os.environ.setdefault("DJANGO_READ_DOT_ENV_FILE", "false")

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env(
    "DJANGO_SECRET_KEY",
    default="test-only-secret-key-Qm3Zt8Vb1Xn6Lc4Hs9Rk2Wd7Fp5Jy0Ga",
)
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

# Hashing passwords properly is slow by design; tests do not need that.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Serve static files straight from the apps (no collectstatic), so the admin is styled for
# browser tests and WhiteNoise does not warn about a missing STATIC_ROOT.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
