"""Celery shells over :mod:`releases.validation.runs`: carry out runs, validate live releases."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task

from . import runs

logger = logging.getLogger(__name__)


class ValidationTask(Task):
    """Marks its runs failed when it fails for good (retries used up, killed by the hard
    time limit, or an error the service did not expect)."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        run_ids = list(args[0] if args else kwargs.get("run_ids", ()))
        try:
            runs.fail_runs(
                run_ids,
                f"the validation task failed: {type(exc).__name__}: {exc}",
                task_id=task_id,
            )
        except Exception:
            logger.exception("could not mark validation runs %s failed", run_ids)


@shared_task(
    bind=True,
    base=ValidationTask,
    name="releases.validation.execute_runs",
    autoretry_for=runs.TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
    acks_late=True,
)
def execute_validation_runs(self: Task, run_ids: list[int]) -> dict[str, str]:
    """Carry out these validation runs (idempotent: finished runs are left alone)."""
    return {str(run.pk): run.state for run in runs.execute_runs(run_ids)}


@shared_task(name="releases.validation.validate_live_releases")
def validate_live_releases() -> list[int]:
    """Queue a run of every live release (the beat schedule's task)."""
    return [run.pk for run in runs.validate_live_releases()]


@shared_task(name="releases.validation.recover_stale_runs")
def recover_stale_runs() -> list[int]:
    """Send again the runs whose worker died or whose task never came (every 30 s)."""
    return runs.recover_stale_runs()
