"""The catalogue releases point at: repositories and environments."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Length
from simple_history.models import HistoricalRecords

from releases.manifests.rules import ENVIRONMENT_RE, MAX_REPOSITORY_NAME
from releases.stored_values import TracksStoredValues

from .validators import validate_git_url, validate_repository_name

# ``name__length__gt=0`` in the check constraints of this app and of releases.
models.CharField.register_lookup(Length)


class Repository(TracksStoredValues):
    """A git repository that release manifests pin (a rename or new URL is reported as a
    change of every release that pins it: ``releases.signals``)."""

    name = models.CharField(
        max_length=MAX_REPOSITORY_NAME,
        unique=True,
        validators=[validate_repository_name],
        help_text="As the git host spells it: fogpy, pytroll/fogpy, group/subgroup/project.",
    )
    git_url = models.CharField(
        "git URL",
        max_length=500,
        blank=True,
        validators=[validate_git_url],
        help_text="Where the validator fetches tags; empty = REGISTRY_GIT_URL_TEMPLATE.",
    )
    package_name = models.CharField(
        max_length=200,
        blank=True,
        help_text="The package on the index, when it differs from the name.",
    )
    history = HistoricalRecords()
    tracked_fields = ("name", "git_url", "package_name")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "repositories"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(name__length__gt=0), name="repository_name_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Environment(TracksStoredValues):
    """A place releases are deployed to (production, staging, ...)."""

    name = models.CharField(
        max_length=63,
        unique=True,
        validators=[RegexValidator(ENVIRONMENT_RE, "Letters, digits, '_' and '-'.")],
    )
    display_order = models.PositiveIntegerField(
        default=0, help_text="Columns of the deployment matrix."
    )
    history = HistoricalRecords()
    tracked_fields = ("name",)

    class Meta:
        ordering = ["display_order", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(name__length__gt=0), name="environment_name_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.name
