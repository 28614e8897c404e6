"""Releases, the pins that make them up, and where they are deployed."""

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
from .querysets import ReleaseQuerySet


class Release(models.Model):
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
    history = HistoricalRecords()

    objects = ReleaseQuerySet.as_manager()

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(version__length__gt=0), name="release_version_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.version

    def clean(self) -> None:
        if self.metadata_extra:
            try:
                parse_metadata_json(self.metadata_extra)
            except ManifestRejected as exc:
                messages = [f"{e.path}: {e.message}" if e.path else e.message for e in exc.errors]
                raise ValidationError({"metadata_extra": messages}) from None

    @property
    def metadata(self) -> dict[str, Any] | None:
        """The manifest's metadata mapping, rebuilt: notes, changelog_url, then the rest."""
        if self.metadata_extra is None and self.notes is None and self.changelog_url is None:
            return None
        data: dict[str, Any] = {}
        if self.notes is not None:
            data["notes"] = self.notes
        if self.changelog_url is not None:
            data["changelog_url"] = self.changelog_url
        data.update(json.loads(self.metadata_extra or "{}"))
        return data


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


class RepositoryPin(models.Model):
    """One repository of a release: its tag, commit and package version."""

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
    validation_state = models.CharField(
        max_length=16, choices=ValidationState.choices, default=ValidationState.UNCHECKED
    )
    findings = models.JSONField(default=list, blank=True, help_text="Findings about this pin.")
    validated_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

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


class PinDependency(models.Model):
    """``pin`` depends on ``depends_on``, another pin of the same release."""

    pin = models.ForeignKey(
        RepositoryPin, on_delete=models.CASCADE, related_name="dependency_links"
    )
    depends_on = models.ForeignKey(
        RepositoryPin, on_delete=models.CASCADE, related_name="dependent_links"
    )
    position = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

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


class EnvironmentDeployment(models.Model):
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
    position = models.PositiveIntegerField(default=0, help_text="Order in the manifest.")
    history = HistoricalRecords()

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
