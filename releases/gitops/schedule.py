"""The beat entry of the manifests sync, kept in django_celery_beat's tables.

``ensure_schedule`` runs after every ``migrate`` (the Procfile's release step), so a change of
``REGISTRY_MANIFESTS_SYNC_SCHEDULE`` or ``REGISTRY_MANIFESTS_REPO_URL`` takes effect on the
next deploy; it writes only when the entry differs, so beat is not told of a change for
nothing. Without a repository URL the entry exists but is disabled.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

TASK = "releases.gitops.run_manifest_sync"
NAME = "Sync manifests from the IaC repository"
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def cron_fields(expression: str) -> dict[str, str]:
    """``"*/5 * * * *"`` as CrontabSchedule's fields; ``ValueError`` naming the setting when
    it does not have five fields or celery cannot read one of them."""
    from celery.schedules import crontab

    parts = expression.split()
    if len(parts) != len(CRON_FIELDS):
        raise ValueError(
            f"REGISTRY_MANIFESTS_SYNC_SCHEDULE {expression!r} is not a cron expression of five "
            "fields (minute hour day-of-month month day-of-week)"
        )
    fields = dict(zip(CRON_FIELDS, parts, strict=True))
    try:
        crontab(**fields)
    except ValueError as exc:
        raise ValueError(f"REGISTRY_MANIFESTS_SYNC_SCHEDULE {expression!r}: {exc}") from None
    return fields


def ensure_schedule() -> Any:
    """Create or update the periodic task (idempotent); returns it."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    fields = cron_fields(settings.REGISTRY_MANIFESTS_SYNC_SCHEDULE)
    crontab, _ = CrontabSchedule.objects.get_or_create(**fields, timezone="UTC")
    enabled = bool(settings.REGISTRY_MANIFESTS_REPO_URL)
    task = PeriodicTask.objects.filter(name=NAME).first()
    if task is None:
        return PeriodicTask.objects.create(
            name=NAME, task=TASK, crontab=crontab, enabled=enabled, kwargs="{}"
        )
    wanted = {"task": TASK, "crontab_id": crontab.pk, "interval_id": None, "enabled": enabled}
    if any(getattr(task, key) != value for key, value in wanted.items()):
        for key, value in wanted.items():
            setattr(task, key, value)
        task.save()
    return task


def ensure_schedule_after_migrate(sender: Any, **kwargs: Any) -> None:
    """post_migrate receiver: once, after the releases app has migrated."""
    if getattr(sender, "label", None) != "releases":
        return
    ensure_schedule()
