"""Filters of the release list (django-filter)."""

from __future__ import annotations

import django_filters
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from releases.models import EnvironmentDeployment, Release, RepositoryPin, ValidationState

#: Worst first: a release's overall validation is its worst pin's state.
STATE_ORDER = ("invalid", "unreachable", "warning", "unchecked", "valid")


def with_validation_counts(queryset: QuerySet[Release]) -> QuerySet[Release]:
    """Each release annotated with ``pin_count`` and ``n_<state>`` for every pin state (one
    GROUP BY in the same query)."""
    counts = {
        f"n_{state}": Count("pins", filter=Q(pins__validation_state=state))
        for state in ValidationState.values
    }
    return queryset.annotate(pin_count=Count("pins"), **counts)


def overall_state(counts: dict[str, int]) -> str:
    """The release's state from its pins' counts; ``unchecked`` for a release without pins."""
    for state in STATE_ORDER[:-1]:
        if counts.get(state):
            return state
    return "valid" if counts.get("valid") else "unchecked"


class ReleaseFilter(django_filters.FilterSet):
    repository = django_filters.CharFilter(
        method="by_repository", help_text="Releases pinning this repository (org/name)."
    )
    tag = django_filters.CharFilter(method="by_tag", help_text="Releases with a pin at this tag.")
    environment = django_filters.CharFilter(
        method="by_environment", help_text="Releases with a deployment in this environment."
    )
    validation = django_filters.ChoiceFilter(
        choices=ValidationState.choices,
        method="by_validation",
        help_text="The release's overall state: its worst pin's (invalid, unreachable, "
        "warning, unchecked, then valid).",
    )

    class Meta:
        model = Release
        fields: list[str] = []

    def by_repository(
        self, queryset: QuerySet[Release], name: str, value: str
    ) -> QuerySet[Release]:
        pins = RepositoryPin.objects.filter(release=OuterRef("pk"), repository__name=value)
        return queryset.filter(Exists(pins))

    def by_tag(self, queryset: QuerySet[Release], name: str, value: str) -> QuerySet[Release]:
        return queryset.filter(
            Exists(RepositoryPin.objects.filter(release=OuterRef("pk"), tag=value))
        )

    def by_environment(
        self, queryset: QuerySet[Release], name: str, value: str
    ) -> QuerySet[Release]:
        deployments = EnvironmentDeployment.objects.filter(
            release=OuterRef("pk"), environment__name=value
        )
        return queryset.filter(Exists(deployments))

    def by_validation(
        self, queryset: QuerySet[Release], name: str, value: str
    ) -> QuerySet[Release]:
        queryset = with_validation_counts(queryset)
        # Worse states absent, this one present (all pins, for "valid").
        worse = STATE_ORDER[: STATE_ORDER.index(value)]
        condition = Q(**{f"n_{state}": 0 for state in worse})
        if value == "valid":
            condition &= Q(n_valid__gt=0)
        else:
            condition &= Q(**{f"n_{value}__gt": 0})
        return queryset.filter(condition)
