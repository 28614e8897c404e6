"""Celery's entry point for this app (``autodiscover_tasks`` imports ``releases.tasks``).

Tasks are thin shells that live beside the services they call (``releases/<concern>/tasks.py``);
each is imported here so that the worker registers it.
"""

from .notion.tasks import send_release_changes, sweep_notion_changes  # noqa: F401
