"""Model-field validators that apply the manifest codec's rules to forms and the admin."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from releases.manifests.rules import git_tag_problem, git_url_problem, repository_name_problem


def validate_git_tag(value: str) -> None:
    problem = git_tag_problem(value)
    if problem is not None:
        raise ValidationError(problem)


def validate_git_url(value: str) -> None:
    problem = git_url_problem(value)
    if problem is not None:
        raise ValidationError(problem[1])


def validate_repository_name(value: str) -> None:
    """A repository name as git hosts spell it (``openstack/nova``), by the manifest's rule."""
    problem = repository_name_problem(value)
    if problem is not None:
        raise ValidationError(problem, code="invalid")
