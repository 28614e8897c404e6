"""The beat schedule: one periodic task from REGISTRY_VALIDATION_SCHEDULE, live releases only."""

from __future__ import annotations

import pytest
from celery.signals import beat_init
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from config.celery_app import app
from releases.validation.models import ValidationRun
from releases.validation.runs import live_releases, validate_live_releases
from releases.validation.schedule import PERIODIC_TASK_NAME, TASK_NAME, install_schedule

from .runs_world import Pin, store

pytestmark = pytest.mark.django_db


def the_task() -> PeriodicTask:
    return PeriodicTask.objects.select_related("crontab").get(name=PERIODIC_TASK_NAME)


def cron(task: PeriodicTask) -> str:
    c = task.crontab
    return f"{c.minute} {c.hour} {c.day_of_month} {c.month_of_year} {c.day_of_week}"


def test_migrate_installs_the_hourly_default(settings) -> None:
    # The test database was migrated with the default setting.
    task = the_task()
    assert cron(task) == "0 * * * *"
    assert task.task == TASK_NAME and task.enabled
    assert str(task.crontab.timezone) == "UTC"
    app.loader.import_default_modules()  # what a worker does at start (autodiscovery)
    assert TASK_NAME in app.tasks


def test_a_changed_setting_changes_the_schedule_without_new_rows(settings) -> None:
    settings.REGISTRY_VALIDATION_SCHEDULE = "*/15 6-18 * * mon-fri"

    install_schedule()
    install_schedule()

    assert cron(the_task()) == "*/15 6-18 * * mon-fri"
    assert PeriodicTask.objects.filter(task=TASK_NAME).count() == 1
    assert CrontabSchedule.objects.filter(minute="*/15").count() == 1


def test_beat_start_and_migrate_apply_the_setting(settings) -> None:
    settings.REGISTRY_VALIDATION_SCHEDULE = "30 2 * * *"
    beat_init.send(sender=None)
    assert cron(the_task()) == "30 2 * * *"

    settings.REGISTRY_VALIDATION_SCHEDULE = "45 3 * * *"
    call_command("migrate", "releases", verbosity=0)
    assert cron(the_task()) == "45 3 * * *"


def test_a_task_disabled_by_an_operator_stays_disabled(settings) -> None:
    PeriodicTask.objects.filter(name=PERIODIC_TASK_NAME).update(enabled=False)
    settings.REGISTRY_VALIDATION_SCHEDULE = "5 * * * *"

    install_schedule()

    task = the_task()
    assert (task.enabled, cron(task)) == (False, "5 * * * *")


@pytest.mark.parametrize("expression", ["hourly", "0 * * *", "61 * * * *", "0 * * * * *"])
def test_a_bad_expression_is_refused_naming_the_setting(expression: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="REGISTRY_VALIDATION_SCHEDULE"):
        install_schedule(expression)
    assert cron(the_task()) == "0 * * * *"


def test_only_releases_live_somewhere_are_validated(
    settings, django_capture_on_commit_callbacks
) -> None:
    settings.REGISTRY_GIT_URL_TEMPLATE = None
    pin = [Pin("pytroll/fogpy", "v2.6.1", None, "2.6.1")]
    store("1.1", pin, environments={"production": "retired", "staging": "failed"})
    store("1.2", pin, environments={"production": "deployed", "staging": "deployed"})
    store("1.3", pin, environments={"staging": "in_progress"})
    store("1.4", pin, environments={"staging": "planned"})
    store("1.5", pin)

    assert [release.version for release in live_releases()] == ["1.2", "1.3"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        runs = validate_live_releases()

    assert [(run.release.version, run.requested_by, run.state) for run in runs] == [
        ("1.2", "schedule", "queued"),
        ("1.3", "schedule", "queued"),
    ]
    assert ValidationRun.objects.count() == 2
    assert len(callbacks) == 1
