"""Releases, the pins that make them up, and where they are deployed.

Every save and delete of these models is reported to :mod:`releases.changes` (through
:mod:`releases.signals`), which bumps the release's ``revision`` once per batch of changes.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from registry.models import Environment, Repository
from registry.validators import validate_git_tag, validate_git_url

from .manifests.model import ManifestRejected
from .manifests.reader import parse_metadata_json
from .manifests.rules import NAMESPACE_RE, VERSION_RE
from .querysets import ChangeReportingQuerySet, ReleaseQuerySet
from .stored_values import TracksStoredValues

# The metadata keys stored in columns of their own when their value is a string.
METADATA_COLUMNS = ("notes", "changelog_url")


class Release(TracksStoredValues):
    """A product version ("1.4") pinned to a tag, commit and package version per repository."""

    version = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(VERSION_RE, "Letters, digits, '.', '_', '+' and '-'.")],
    )
    # Optional fields keep "absent" (NULL) apart from "empty" so that exports say what the
    # imported manifest said, no more.
    created_at = models.DateTimeField(null=True, blank=True, help_text="As the manifest states it.")
    created_by = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    notes = models.TextField(null=True, blank=True)  # noqa: DJ001
    changelog_url = models.CharField(max_length=500, null=True, blank=True)  # noqa: DJ001
    metadata_extra = models.TextField(  # noqa: DJ001
        "other metadata",
        null=True,
        blank=True,
        help_text="The rest of the manifest's metadata mapping as JSON text, verbatim and in "
        "order; empty when the manifest has no metadata.",
    )
    findings = models.JSONField(
        default=list, blank=True, help_text="Release-level findings of the last import."
    )
    source = models.CharField(
        max_length=500, blank=True, help_text="Where the last import came from."
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    revision = models.PositiveBigIntegerField(
        default=0,
        editable=False,
        help_text="Bumped once by every batch of changes to the release, its pins or "
        "deployments (releases.changes); what a client compares, as an ETag.",
    )
    # The revision is not history: it is bumped by an UPDATE that leaves no record.
    history = HistoricalRecords(excluded_fields=["revision"])

    objects = ReleaseQuerySet.as_manager()

    tracked_fields = (
        "version",
        "created_at",
        "created_by",
        "notes",
        "changelog_url",
        "metadata_extra",
        "findings",
    )

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(version__length__gt=0), name="release_version_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.version

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The revision is only ever bumped in the database (releases.changes): an instance
        # loaded before another batch must not write its older number back.
        if not self._state.adding and kwargs.get("update_fields") is None and self.pk is not None:
            deferred = self.get_deferred_fields()
            kwargs["update_fields"] = [
                field.attname
                for field in self._meta.concrete_fields
                if not field.primary_key
                and field.attname != "revision"
                and field.attname not in deferred
            ]
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.metadata_extra:
            try:
                parse_metadata_json(self.metadata_extra)
            except ManifestRejected as exc:
                messages = [f"{e.path}: {e.message}" if e.path else e.message for e in exc.errors]
                raise ValidationError({"metadata_extra": messages}) from None

    @property
    def metadata(self) -> dict[str, Any] | None:
        """The manifest's metadata mapping, rebuilt: notes, changelog_url, then the rest.

        ``notes`` and ``changelog_url`` have columns of their own when they are strings; any
        other value of theirs (``notes: null``) is kept with the rest in ``metadata_extra``.
        """
        if self.metadata_extra is None and self.notes is None and self.changelog_url is None:
            return None
        rest: dict[str, Any] = json.loads(self.metadata_extra or "{}")
        data: dict[str, Any] = {}
        for key in METADATA_COLUMNS:
            column = getattr(self, key)
            if column is not None:
                data[key] = column
            elif key in rest:
                data[key] = rest[key]
        data.update((key, value) for key, value in rest.items() if key not in data)
        return data

    def set_metadata(self, metadata: dict[str, Any] | None) -> None:
        """Store a manifest's metadata mapping: string notes and changelog URL in their
        columns, everything else verbatim and in order as JSON text."""
        if metadata is None:
            self.notes = self.changelog_url = self.metadata_extra = None
            return
        columns = {
            key: metadata[key] for key in METADATA_COLUMNS if isinstance(metadata.get(key), str)
        }
        self.notes = columns.get("notes")
        self.changelog_url = columns.get("changelog_url")
        rest = {key: value for key, value in metadata.items() if key not in columns}
        self.metadata_extra = json.dumps(rest, ensure_ascii=False)


class ValidationState(models.TextChoices):
    UNCHECKED = "unchecked", "not checked"
    VALID = "valid", "valid"
    WARNING = "warning", "warnings"
    INVALID = "invalid", "invalid"
    UNREACHABLE = "unreachable", "repository unreachable"


class DeploymentStatus(models.TextChoices):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress", "in progress"
    DEPLOYED = "deployed"
    FAILED = "failed"
    RETIRED = "retired"


# A release is live in an environment while its deployment there is in progress or deployed
# (CONTRACT §3); planned, failed and retired ones are not.
LIVE_STATUSES = (DeploymentStatus.IN_PROGRESS, DeploymentStatus.DEPLOYED)


class RepositoryPin(TracksStoredValues):
    """One repository of a release: its tag, commit and package version.

    Its ``validation_state`` is derived from its ``findings`` (:mod:`releases.pin_state`) on
    every save; neither they nor ``validated_at`` are edited by hand. A pin belongs to one
    release for life.
    """

    ValidationState = ValidationState

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="pins")
    repository = models.ForeignKey(Repository, on_delete=models.PROTECT, related_name="pins")
    position = models.PositiveIntegerField(default=0, help_text="Order in the manifest.")
    tag = models.CharField(max_length=255, validators=[validate_git_tag])
    commit_sha = models.CharField("commit SHA", max_length=255, null=True, blank=True)  # noqa: DJ001
    package_version = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    url = models.CharField(
        "git URL",
        max_length=500,
        blank=True,
        validators=[validate_git_url],
        help_text="As the manifest gives it; empty = the repository's.",
    )
    depends_on = models.ManyToManyField(
        "self", through="PinDependency", symmetrical=False, related_name="required_by", blank=True
    )
    # Not editable: no form (admin or other) offers them; releases.pin_state derives them.
    validation_state = models.CharField(
        max_length=16,
        choices=ValidationState.choices,
        default=ValidationState.UNCHECKED,
        editable=False,
    )
    findings = models.JSONField(
        default=list, blank=True, editable=False, help_text="Findings about this pin."
    )
    validated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Backport safety (releases.validation): set by releases.pin_state on every write path.
    previous_commit_sha = models.CharField(  # noqa: DJ001
        "previous commit SHA",
        max_length=255,
        null=True,
        blank=True,
        editable=False,
        help_text="The commit this pin held before its commit last changed.",
    )
    history = HistoricalRecords()
    objects = ChangeReportingQuerySet.as_manager()

    tracked_fields = (
        "repository_id",
        "position",
        "tag",
        "commit_sha",
        "package_version",
        "url",
        "validation_state",
        "findings",
        "validated_at",
    )

    class Meta:
        ordering = ["release", "position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["release", "repository"], name="pin_unique_repository_per_release"
            ),
            models.CheckConstraint(condition=models.Q(tag__length__gt=0), name="pin_tag_not_empty"),
            models.CheckConstraint(
                condition=models.Q(validation_state__in=ValidationState.values),
                name="pin_validation_state_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.repository.name} {self.tag}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        from .pin_state import reset_online_results_if_moved_on, state_of

        if self.moved_to_another_release():
            raise PinMoved(PinMoved.message)
        reset_online_results_if_moved_on(self)
        self.validation_state = state_of(
            self.findings, checked_online=self.validated_at is not None
        )
        super().save(*args, **kwargs)

    def validate_constraints(self, exclude: Any = None) -> None:
        # Django checks a CheckConstraint with a query (in a savepoint) per row: three queries
        # per pin of a release page. A tag is required by its field and the state is derived,
        # so only the uniqueness is left to check here (the database still enforces all).
        super().validate_constraints(exclude={*(exclude or ()), "tag", "validation_state"})

    def moved_to_another_release(self) -> bool:
        stored = self.stored_values()
        return bool(stored and "release_id" in stored and stored["release_id"] != self.release_id)

    def clean(self) -> None:
        if self.moved_to_another_release():
            raise ValidationError({"release": PinMoved.message})


class PinMoved(ValueError):
    """A pin belongs to one release for life: its dependencies and history are that
    release's."""

    message = "A pin belongs to one release for life; add a pin to the other release instead."


class PinDependency(TracksStoredValues):
    """``pin`` depends on ``depends_on``, another pin of the same release."""

    pin = models.ForeignKey(
        RepositoryPin, on_delete=models.CASCADE, related_name="dependency_links"
    )
    depends_on = models.ForeignKey(
        RepositoryPin, on_delete=models.CASCADE, related_name="dependent_links"
    )
    position = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()
    objects = ChangeReportingQuerySet.as_manager()

    tracked_fields = ("pin_id", "depends_on_id", "position")

    class Meta:
        ordering = ["pin", "position", "pk"]
        verbose_name_plural = "pin dependencies"
        constraints = [
            models.UniqueConstraint(fields=["pin", "depends_on"], name="pin_dependency_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.pin} -> {self.depends_on}"

    def clean(self) -> None:
        if self.pin_id and self.depends_on_id and self.pin.release_id != self.depends_on.release_id:
            raise ValidationError(
                {"depends_on": "A pin can only depend on pins of the same release."}
            )


class EnvironmentDeployment(TracksStoredValues):
    """A release deployed (or planned) in an environment, in its own namespace.

    One per release and environment; several releases may be live in one environment at once.
    """

    Status = DeploymentStatus

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="deployments")
    environment = models.ForeignKey(
        Environment, on_delete=models.PROTECT, related_name="deployments"
    )
    namespace = models.CharField(
        max_length=100,
        validators=[RegexValidator(NAMESPACE_RE, "Letters, digits, '.', '_' and '-'.")],
    )
    deployed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DEPLOYED)
    # The manifest wrote its status (even the default one), so an export writes it back.
    status_explicit = models.BooleanField(default=False, editable=False)
    position = models.PositiveIntegerField(default=0, help_text="Order in the manifest.")
    history = HistoricalRecords()
    objects = ChangeReportingQuerySet.as_manager()

    tracked_fields = (
        "release_id",
        "environment_id",
        "namespace",
        "deployed_at",
        "status",
        "status_explicit",
        "position",
    )

    class Meta:
        ordering = ["release", "position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["release", "environment"], name="deployment_unique_environment_per_release"
            ),
            models.CheckConstraint(
                condition=models.Q(namespace__length__gt=0), name="deployment_namespace_not_empty"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=DeploymentStatus.values),
                name="deployment_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.release_id} in {self.environment_id} ({self.namespace})"

    def validate_constraints(self, exclude: Any = None) -> None:
        # As for pins: the fields' own validation covers these check constraints.
        super().validate_constraints(exclude={*(exclude or ()), "namespace", "status"})


from .api.models import ApiToken  # noqa: E402,F401
from .gitops.models import ManifestSource, ManifestSync  # noqa: E402,F401
from .notion.models import NotionChange, NotionPage  # noqa: E402,F401
from .promotion.models import (  # noqa: E402,F401
    FreezeWindow,
    PromotionApproval,
    PromotionOverride,
    PromotionPolicy,
)
from .validation.models import ValidationRun  # noqa: E402,F401
