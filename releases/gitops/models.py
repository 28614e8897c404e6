"""Where each release's manifest came from in the IaC repository, and each sync's report."""

from __future__ import annotations

from typing import Any

from django.db import models


class ManifestSource(models.Model):
    """The file of the IaC repository a version was last synced from.

    ``blob_sha`` is the content last imported (``branch``, ``commit``, ``path`` where it was
    read): a sync reads a file only when the chosen blob differs. ``rejected_blob_sha`` and
    ``rejection`` (branch, commit, path, errors) remember a file that was refused, so that an
    unchanged broken file is reported again without being read again.
    """

    version = models.CharField(max_length=64, unique=True)
    release = models.OneToOneField(
        "releases.Release",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="manifest_source",
    )
    repository_url = models.CharField(max_length=500, blank=True)
    branch = models.CharField(max_length=255, blank=True)
    commit = models.CharField(
        max_length=64, blank=True, help_text="The branch's commit the file was read at."
    )
    path = models.CharField(max_length=500, blank=True)
    blob_sha = models.CharField(max_length=64, blank=True, help_text="The imported content.")
    rejected_blob_sha = models.CharField(max_length=64, blank=True)
    rejection = models.JSONField(
        default=dict, blank=True, help_text="Where that content was and why it was refused."
    )
    revision = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="The release's revision when the sync last wrote or checked it: a higher one "
        "means the release was changed in the registry since.",
    )
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["version"]

    def __str__(self) -> str:
        return f"{self.version}: {self.branch}@{self.commit[:12]}:{self.path}"


class ManifestSync(models.Model):
    """One run of the repository sync: queued (at most one at a time), running, done or
    failed, with its report (what each file did, rejections, conflicts, removed files)."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    trigger = models.CharField(max_length=32, help_text="command, schedule or webhook")
    repository_url = models.CharField(max_length=500, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    branches = models.JSONField(default=dict, blank=True, help_text="branch -> commit read")
    counts = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-queued_at", "-pk"]
        constraints = [
            # A push while a sync waits adds nothing: the waiting one will read it.
            models.UniqueConstraint(
                fields=["state"],
                condition=models.Q(state="queued"),
                name="manifest_sync_one_queued",
            ),
        ]

    def __str__(self) -> str:
        return f"sync #{self.pk} ({self.state})"

    def summary(self) -> dict[str, Any]:
        return {"id": self.pk, "state": self.state, "counts": self.counts}


# The beat entry follows the settings after every migrate (the Procfile's release step).
def _connect_schedule() -> None:
    from django.db.models.signals import post_migrate

    from .schedule import ensure_schedule_after_migrate

    post_migrate.connect(ensure_schedule_after_migrate, dispatch_uid="releases.gitops.schedule")


_connect_schedule()
