"""Celery shells of the manifests sync (the service is :mod:`releases.gitops.sync`)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="releases.gitops.run_manifest_sync", ignore_result=True)
def run_manifest_sync(run_id: int | None = None) -> None:
    """Run the queued sync ``run_id`` (the webhook's), or a new one (the beat schedule's).
    Idempotent: a run another worker already took is left alone."""
    from .sync import run_sync

    run_sync(run_id, trigger="schedule")
