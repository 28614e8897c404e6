"""Model saves and deletes report to the open change batch (:mod:`releases.changes`).

Bulk writes send no signal: their writers report to the batch themselves. Saves of the
catalogue (``registry.models``) report too: a repository or environment renamed changes the
manifest of every release that names it, and a repository's new ``git_url`` or
``package_name`` makes the online results of its pins meaningless.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record
from simple_history.utils import bulk_update_with_history

from registry.models import Environment, Repository

from . import changes
from .models import EnvironmentDeployment, PinDependency, Release, RepositoryPin, TracksStoredValues
from .pin_state import reset_online_results, state_of


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
    stored = instance.stored_values() or {}
    action = _action(instance, created)
    if action is None:
        return
    with changes.reporting() as batch:
        before = stored.get("repository_id")
        if not created and before not in (None, instance.repository_id):
            # Another repository: the entry under the old name is gone, one under the new
            # name is new (see ReleaseChange).
            batch.pin_row(instance.release_id, before, "deleted")
            action = "created"
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
        release_id = stored.get("release_id", instance.release_id)
        environment_id = stored.get("environment_id", instance.environment_id)
        if not created and (release_id, environment_id) != (
            instance.release_id,
            instance.environment_id,
        ):
            # Moved to another release or environment: gone under the old one, new under the
            # new one (see ReleaseChange).
            batch.deployment_row(release_id, environment_id, "deleted")
            action = "created"
        batch.deployment_row(instance.release_id, instance.environment_id, action)


@receiver(
    post_delete, sender=EnvironmentDeployment, dispatch_uid="releases.changes.deployment_deleted"
)
def deployment_deleted(sender: Any, instance: EnvironmentDeployment, **kwargs: Any) -> None:
    with changes.reporting() as batch:
        batch.deployment_row(instance.release_id, instance.environment_id, "deleted")


# --- the catalogue ------------------------------------------------------------------------


@receiver(pre_save, sender=Repository, dispatch_uid="releases.changes.repository_saving")
@receiver(pre_save, sender=Environment, dispatch_uid="releases.changes.environment_saving")
def catalogue_saving(
    sender: Any, instance: Repository | Environment, raw: bool, **kwargs: Any
) -> None:
    """A row saved over a stored one without having been loaded (``Repository(pk=1,
    name=...)``): read what it replaces, so that the save knows what it changes."""
    if raw or instance.pk is None:
        return
    if instance.stored_values() is None:
        fields = [field.attname for field in sender._meta.concrete_fields]
        values = sender._default_manager.filter(pk=instance.pk).values_list(*fields).first()
        if values is not None:
            instance._stored = (fields, values)


@receiver(post_save, sender=Repository, dispatch_uid="releases.changes.repository_saved")
def repository_saved(
    sender: Any, instance: Repository, created: bool, raw: bool, **kwargs: Any
) -> None:
    if raw or created:
        return
    stored = instance.stored_values() or {}
    changed = instance.changed_fields() or set()
    if not changed:
        return
    pins = RepositoryPin.objects.filter(repository_id=instance.pk)
    with changes.reporting() as batch:
        if "name" in changed:
            renamed = changes.RowChanges(created=(instance.name,), deleted=(stored["name"],))
            for release_id in set(pins.values_list("release_id", flat=True)):
                batch.report(release_id, pins=renamed, recheck=True)
        if changed & {"git_url", "package_name"}:
            # The online checks ran against the old URL (pins without a URL of their own) or
            # asked the package index about the old package name (every pin).
            subjects = pins if "package_name" in changed else pins.filter(url="")
            reset = []
            for pin in subjects:
                before = (pin.findings, pin.validation_state, pin.validated_at)
                reset_online_results(pin)
                pin.validation_state = state_of(pin.findings, checked_online=False)
                if (pin.findings, pin.validation_state, pin.validated_at) != before:
                    reset.append(pin)
                if "name" not in changed:
                    batch.pin_row(pin.release_id, pin.repository_id, "changed")
            if reset:
                bulk_update_with_history(
                    reset,
                    RepositoryPin,
                    ["findings", "validation_state", "validated_at"],
                    **changes.history_defaults(),
                )


@receiver(post_save, sender=Environment, dispatch_uid="releases.changes.environment_saved")
def environment_saved(
    sender: Any, instance: Environment, created: bool, raw: bool, **kwargs: Any
) -> None:
    if raw or created:
        return
    stored = instance.stored_values() or {}
    if "name" not in (instance.changed_fields() or set()):
        return
    renamed = changes.RowChanges(created=(instance.name,), deleted=(stored["name"],))
    deployments = EnvironmentDeployment.objects.filter(environment_id=instance.pk)
    with changes.reporting() as batch:
        for release_id in set(deployments.values_list("release_id", flat=True)):
            batch.report(release_id, deployments=renamed, recheck=True)


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
