"""Connects promotion to the writes: a deployment saved into a live status is noted in its
change batch, and every batch is checked when it ends (:mod:`.enforcement`, loaded then)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from .. import changes
from ..models import LIVE_STATUSES, EnvironmentDeployment
from .transitions import note_live


@receiver(post_save, sender=EnvironmentDeployment, dispatch_uid="releases.promotion.saved")
def deployment_saved(
    sender: Any, instance: EnvironmentDeployment, created: bool, raw: bool, **kwargs: Any
) -> None:
    if raw or instance.status not in LIVE_STATUSES:
        return
    stored = instance.stored_values() or {}
    was_live = (
        not created
        and stored.get("status") in LIVE_STATUSES
        and stored.get("environment_id") == instance.environment_id
        and stored.get("release_id") == instance.release_id
    )
    if not was_live:
        batch = changes.current()
        note_live(
            instance.release_id, instance.environment_id, batch.source if batch else changes.DIRECT
        )


@receiver(changes.batch_ending, dispatch_uid="releases.promotion.enforce")
def batch_ending(sender: Any, batch: changes.Batch, **kwargs: Any) -> None:
    from .enforcement import enforce  # the importer's module: loaded by the first write

    enforce(batch)
