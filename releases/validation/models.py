"""A validation run: one release's pins checked against the git hosts, as a row first.

The row exists (``queued``) before its Celery task is enqueued, so a client can poll it from
the moment it asked (``POST /api/releases/{v}/validate`` answers with its id). Its fields are
what CONTRACT §3 shows for ``GET /api/validation-runs/{id}/``, so a serializer maps them as
they are.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from releases.models import Release, ValidationState

# Connects the receivers that install the beat schedule (after migrate, at beat start).
from . import schedule  # noqa: F401


class RunState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# The states, once (``ValidationState.values`` builds its list again on every use).
_STATES = tuple(ValidationState.values)


def empty_counts() -> dict[str, int]:
    """Pins per state, every state present (0 when none)."""
    return dict.fromkeys(_STATES, 0)


class ValidationRun(models.Model):
    """queued -> running -> done | failed, with who asked, when, and each pin's result.

    ``results`` is a list, in manifest order, of ``{"repository", "path", "state", "commit",
    "findings"}``: ``path`` is ``repositories[i]``, ``state`` the pin's state after the run,
    ``commit`` the full SHA the pin's tag resolves to on the remote (``None`` when the remote
    was not listed or has no such tag), ``findings`` every finding of the pin (offline ones
    from the import, online ones from this run), each ``{"code", "severity", "path",
    "message"}``.
    """

    State = RunState

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="validation_runs")
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.QUEUED)
    requested_by = models.CharField(
        max_length=200, blank=True, help_text="A user name, an API token's name or 'schedule'."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=empty_counts, blank=True, help_text="Pins per state.")
    results = models.JSONField(default=list, blank=True, help_text="Each pin's result.")
    # A digest of ``results`` (their JSON, keys sorted) on the run that wrote them: a later
    # run of the release with the same results (nothing changed, the common case) copies
    # them from this one in the database instead of sending and parsing them again, and
    # keeps no digest of its own (releases.validation.runs._finish).
    results_digest = models.CharField(max_length=64, blank=True, editable=False)
    error = models.TextField(blank=True, help_text="Why the run failed.")
    task_id = models.CharField(max_length=64, blank=True)
    # A run asked for while another run of its release was validating it: it ends ``done``
    # without results of its own; the other run's are the release's (see releases.validation.runs).
    superseded_by = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # a partial index below: few runs are superseded
        help_text="The run of the same release that was already validating it.",
    )
    # Bookkeeping for runs whose worker died (releases.validation.runs.recover_stale_runs):
    # when the run's task was last sent, or its worker last said it was alive; and which
    # execution owns a running run (only that one may record its results).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempt = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-queued_at", "-pk"]
        indexes = [
            models.Index(fields=["release", "state"], name="validationrun_release_state"),
            # Partial: a finished run (nearly all of them) is in neither, so finishing a run
            # writes two index entries fewer.
            models.Index(
                fields=["heartbeat_at"],
                condition=models.Q(state__in=(RunState.QUEUED, RunState.RUNNING)),
                name="validationrun_unfinished",
            ),
            models.Index(
                fields=["superseded_by"],
                condition=models.Q(superseded_by__isnull=False),
                name="validationrun_superseded_by",
            ),
            # Partial: only the runs that wrote their results have a digest.
            models.Index(
                fields=["results_digest"],
                condition=~models.Q(results_digest=""),
                name="validationrun_results_digest",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=RunState.values), name="validationrun_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"validation run #{self.pk} of {self.release_id} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in (RunState.DONE, RunState.FAILED)

    @property
    def superseded(self) -> bool:
        return self.superseded_by_id is not None

    @property
    def outcome(self) -> str:
        """The state as people read it: ``done`` for a run superseded by another is
        ``superseded by run #N``."""
        if self.state == RunState.DONE and self.superseded_by_id is not None:
            return f"superseded by run #{self.superseded_by_id}"
        return str(self.state)

    @property
    def errors_found(self) -> bool:
        """Whether the run failed or any pin is invalid or unreachable."""
        counts: dict[str, Any] = self.counts or {}
        return self.state == RunState.FAILED or bool(
            counts.get(ValidationState.INVALID) or counts.get(ValidationState.UNREACHABLE)
        )
