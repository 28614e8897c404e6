"""Model saves and deletes report to the open change batch (:mod:`releases.changes`).

Bulk writes send no signal: their writers report to the batch themselves.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record

from . import changes
from .models import EnvironmentDeployment, PinDependency, Release, RepositoryPin, TracksStoredValues


def _action(instance: TracksStoredValues, created: bool) -> changes.Action | None:
    if created:
        return "created"
    changed = instance.changed_fields()
    # Not loaded from the database (a hand-made instance saved over a row): say changed.
    return "changed" if changed is None or changed else None


@receiver(post_save, sender=Release, dispatch_uid="releases.changes.release_saved")
def release_saved(sender: Any, instance: Release, created: bool, raw: bool, **kwargs: Any) -> None:
    if raw:
        return  # loaddata
    action = _action(instance, created)
    if action is not None:
        with changes.reporting() as batch:
            batch.release_row(instance.pk, action, instance.version)


@receiver(post_delete, sender=Release, dispatch_uid="releases.changes.release_deleted")
def release_deleted(sender: Any, instance: Release, **kwargs: Any) -> None:
    with changes.reporting() as batch:
        batch.release_row(instance.pk, "deleted", instance.version)


@receiver(post_save, sender=RepositoryPin, dispatch_uid="releases.changes.pin_saved")
def pin_saved(
    sender: Any, instance: RepositoryPin, created: bool, raw: bool, **kwargs: Any
) -> None:
    if raw:
        return
    action = _action(instance, created)
    if action is not None:
        with changes.reporting() as batch:
            batch.pin_row(instance.release_id, instance.repository_id, action)


@receiver(post_delete, sender=RepositoryPin, dispatch_uid="releases.changes.pin_deleted")
def pin_deleted(sender: Any, instance: RepositoryPin, **kwargs: Any) -> None:
    with changes.reporting() as batch:
        batch.pin_row(instance.release_id, instance.repository_id, "deleted")


@receiver(post_save, sender=PinDependency, dispatch_uid="releases.changes.link_saved")
def link_saved(
    sender: Any, instance: PinDependency, created: bool, raw: bool, **kwargs: Any
) -> None:
    if raw:
        return
    stored = instance.stored_values() or {}
    if _action(instance, created) is not None:
        with changes.reporting() as batch:
            batch.dependency_row(instance.pin_id)
            # A link moved to another pin changes that pin's dependencies too.
            if stored.get("pin_id") not in (None, instance.pin_id):
                batch.dependency_row(stored["pin_id"])


@receiver(post_delete, sender=PinDependency, dispatch_uid="releases.changes.link_deleted")
def link_deleted(sender: Any, instance: PinDependency, **kwargs: Any) -> None:
    with changes.reporting() as batch:
        batch.dependency_row(instance.pin_id)


@receiver(post_save, sender=EnvironmentDeployment, dispatch_uid="releases.changes.deployment_saved")
def deployment_saved(
    sender: Any, instance: EnvironmentDeployment, created: bool, raw: bool, **kwargs: Any
) -> None:
    if raw:
        return
    stored = instance.stored_values() or {}
    action = _action(instance, created)
    if action is None:
        return
    with changes.reporting() as batch:
        before = stored.get("release_id")
        if before not in (None, instance.release_id):
            # Moved to another release: gone from the one, new in the other.
            batch.deployment_row(before, stored["environment_id"], "deleted")
            action = "created"
        batch.deployment_row(instance.release_id, instance.environment_id, action)


@receiver(
    post_delete, sender=EnvironmentDeployment, dispatch_uid="releases.changes.deployment_deleted"
)
def deployment_deleted(sender: Any, instance: EnvironmentDeployment, **kwargs: Any) -> None:
    with changes.reporting() as batch:
        batch.deployment_row(instance.release_id, instance.environment_id, "deleted")


@receiver(pre_create_historical_record, dispatch_uid="releases.changes.history_attributed")
def history_attributed(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    """A history record written by a model save inside a batch says where the change came
    from (``admin``, ``api``...), and who, as bulk writers' records already do."""
    found = changes.current()
    if found is None:
        return
    source, user, actor = found.attribution[-1]
    if not history_instance.history_change_reason:
        named = user is not None and actor == user.get_username()
        reason = source if named or not actor else f"{source} ({actor})"
        history_instance.history_change_reason = reason[:100]  # the column's length
    if history_instance.history_user_id is None and user is not None:
        history_instance.history_user = user
