"""Celery's entry point for this app (``autodiscover_tasks`` imports ``releases.tasks``).

Tasks are thin shells that live beside the services they call (``releases/<concern>/tasks.py``);
each is imported here so that the worker registers it.
"""

from .gitops.tasks import run_manifest_sync  # noqa: F401
from .notion.tasks import send_release_changes, sweep_notion_changes  # noqa: F401
from .validation.tasks import execute_validation_runs, validate_live_releases  # noqa: F401
