"""What the Notion sync keeps: the changes still to send (the outbox) and the pages it made.

Neither has a foreign key to a release: a deleted release's changes and pages must outlive it,
so that its pages go to the trash.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.db.models import Count, Max, Q

# The release's own page (in Product Versions) has no repository.
RELEASE_PAGE = ""


class NotionChange(models.Model):
    """An object whose latest state must reach Notion: a pin (by release and repository) or a
    release (``repository == ""``). One row per object: a new change of a queued object
    renews its ``token``, and the sender deletes the row only if the token is the one it read
    before sending (so a change made during a send is sent next time)."""

    class State(models.TextChoices):
        PENDING = "pending"
        FAILED = "failed"

    release_id = models.PositiveBigIntegerField()
    repository = models.CharField(max_length=255, blank=True)
    version = models.CharField(max_length=64, help_text="The release's version when queued.")
    token = models.UUIDField(default=uuid.uuid4)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    queued_at = models.DateTimeField()
    # A sender working on the release holds its release row until then (a killed worker's
    # claim runs out).
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["release_id", "repository"]
        constraints = [
            models.UniqueConstraint(
                fields=["release_id", "repository"], name="notion_change_one_per_object"
            ),
        ]
        indexes = [models.Index(fields=["next_attempt_at"], name="notion_change_due")]

    def __str__(self) -> str:
        return f"{self.version}:{self.repository}" if self.repository else self.version


class NotionPage(models.Model):
    """A page the sync made, and a hash of the values it last sent there."""

    release_id = models.PositiveBigIntegerField()
    repository = models.CharField(max_length=255, blank=True)
    registry_key = models.CharField(max_length=400)
    page_id = models.CharField(max_length=64)
    sent_hash = models.CharField(max_length=64)
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["release_id", "repository"]
        constraints = [
            models.UniqueConstraint(
                fields=["release_id", "repository"], name="notion_page_one_per_object"
            ),
        ]

    def __str__(self) -> str:
        return self.registry_key


def mirror_state(release_id: int) -> dict[str, Any]:
    """How far Notion is behind one release: its pages there, changes waiting, changes failed
    (with the last error), and when a page of it was last sent. Two queries."""
    changes = NotionChange.objects.filter(release_id=release_id).aggregate(
        pending=Count("pk", filter=Q(state=NotionChange.State.PENDING)),
        failed=Count("pk", filter=Q(state=NotionChange.State.FAILED)),
        last_error=Max("last_error", filter=Q(state=NotionChange.State.FAILED)),
    )
    pages = NotionPage.objects.filter(release_id=release_id).aggregate(
        pages=Count("pk"), last_sent=Max("sent_at")
    )
    return {**changes, **pages}


# The change hook's receiver is connected when the models are loaded.
from . import receivers  # noqa: E402,F401
