"""The Celery application; settings come from Django's, under the ``CELERY_`` prefix."""

import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("release_registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds ``tasks.py`` in every installed app.
app.autodiscover_tasks()


@setup_logging.connect
def log_as_django_does(**_kwargs: Any) -> None:
    """Workers and beat log through Django's LOGGING (JSON lines with a request id in
    production) rather than in Celery's own format; the level is DJANGO_LOG_LEVEL."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
