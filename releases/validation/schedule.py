"""The beat schedule of validation: every live release, on ``REGISTRY_VALIDATION_SCHEDULE``.

The project's beat runs django_celery_beat's ``DatabaseScheduler``, so the schedule is a
``PeriodicTask`` row with a ``CrontabSchedule``. :func:`install_schedule` makes the row match
the setting, idempotently; it runs after ``migrate`` and when beat starts, so changing the
setting and restarting beat changes the schedule. An operator who disabled the task in the
admin keeps it disabled. :func:`install_recovery` does the same for the task that sends again
the runs whose worker died (every 30 seconds).
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab
from celery.signals import beat_init
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.signals import post_migrate

PERIODIC_TASK_NAME = "validate live releases"
TASK_NAME = "releases.validation.validate_live_releases"
RECOVERY_TASK_NAME = "recover validation runs"
RECOVERY_TASK = "releases.validation.recover_stale_runs"
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def parse_cron(expression: str) -> dict[str, str]:
    """``"0 * * * *"`` as crontab fields (minute hour day-of-month month day-of-week);
    ImproperlyConfigured naming the setting when it is not such an expression."""
    parts = expression.split()
    if len(parts) != len(CRON_FIELDS):
        raise ImproperlyConfigured(
            f"REGISTRY_VALIDATION_SCHEDULE must be a cron expression of five fields "
            f"(minute hour day-of-month month day-of-week), such as '0 * * * *', "
            f"not {expression!r}"
        )
    fields = dict(zip(CRON_FIELDS, parts, strict=True))
    try:
        crontab(**fields)
    except (ValueError, IndexError) as error:
        raise ImproperlyConfigured(
            f"REGISTRY_VALIDATION_SCHEDULE {expression!r} is not a valid cron expression: {error}"
        ) from None
    return fields


def install_schedule(expression: str | None = None, *, using: str = DEFAULT_DB_ALIAS) -> Any:
    """Create or update the periodic task that validates live releases; returns it."""
    from django_celery_beat.models import CrontabSchedule

    fields = parse_cron(expression or settings.REGISTRY_VALIDATION_SCHEDULE)
    schedule, _ = CrontabSchedule.objects.using(using).get_or_create(
        **fields, timezone=settings.CELERY_TIMEZONE
    )
    return _periodic_task(
        PERIODIC_TASK_NAME,
        TASK_NAME,
        "Validates every release that is live somewhere (REGISTRY_VALIDATION_SCHEDULE).",
        crontab=schedule,
        using=using,
    )


def install_recovery(*, using: str = DEFAULT_DB_ALIAS) -> Any:
    """Create or update the periodic task that sends again the runs whose worker died
    (:func:`releases.validation.runs.recover_stale_runs`), every
    ``REGISTRY_VALIDATION_RECOVERY_EVERY`` seconds (default 30); returns it."""
    from django_celery_beat.models import IntervalSchedule

    every = int(getattr(settings, "REGISTRY_VALIDATION_RECOVERY_EVERY", 30))
    interval, _ = IntervalSchedule.objects.using(using).get_or_create(
        every=every, period=IntervalSchedule.SECONDS
    )
    return _periodic_task(
        RECOVERY_TASK_NAME,
        RECOVERY_TASK,
        "Sends again the validation runs whose worker died or whose task never came.",
        interval=interval,
        using=using,
    )


def _periodic_task(
    name: str,
    task_name: str,
    description: str,
    *,
    crontab: Any = None,
    interval: Any = None,
    using: str,
) -> Any:
    """The periodic task ``name`` running ``task_name`` on ``crontab`` or ``interval``: created,
    or brought back to that schedule (the other one cleared) when it was changed."""
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.using(using).filter(name=name).first()
    if task is None:
        return PeriodicTask.objects.using(using).create(
            name=name, task=task_name, crontab=crontab, interval=interval, description=description
        )
    wanted = (getattr(crontab, "pk", None), getattr(interval, "pk", None), task_name)
    if (task.crontab_id, task.interval_id, task.task) != wanted:
        task.crontab = crontab
        task.interval = interval
        task.task = task_name
        task.save(using=using)
    return task


def _beat_tables_exist(using: str) -> bool:
    return "django_celery_beat_periodictask" in connections[using].introspection.table_names()


def install_after_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    if getattr(sender, "label", None) == "releases" and _beat_tables_exist(using):
        install_schedule(using=using)
        install_recovery(using=using)


def install_at_beat_start(sender: Any = None, **kwargs: Any) -> None:
    install_schedule()
    install_recovery()


post_migrate.connect(install_after_migrate, dispatch_uid="releases.validation.schedule")
beat_init.connect(install_at_beat_start, dispatch_uid="releases.validation.schedule", weak=False)
