"""The database itself refuses what the models forbid: every uniqueness and choice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from registry.models import Environment, Repository
from releases.manifests import DEPLOYMENT_STATUSES
from releases.models import (
    DeploymentStatus,
    EnvironmentDeployment,
    PinDependency,
    Release,
    RepositoryPin,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows() -> dict[str, Any]:
    release = Release.objects.create(version="1.4")
    other = Release.objects.create(version="1.3")
    repo = Repository.objects.create(name="fogpy")
    utils = Repository.objects.create(name="fogpy_utils")
    env = Environment.objects.create(name="production")
    pin = RepositoryPin.objects.create(release=release, repository=repo, tag="v1")
    return {
        "release": release,
        "other": other,
        "repo": repo,
        "utils": utils,
        "env": env,
        "pin": pin,
        "other_pin": RepositoryPin.objects.create(release=other, repository=utils, tag="v1"),
        "pin2": RepositoryPin.objects.create(release=release, repository=utils, tag="v2"),
    }


VIOLATIONS: dict[str, Callable[[dict[str, Any]], object]] = {
    "duplicate release version": lambda r: Release.objects.create(version="1.4"),
    "empty release version": lambda r: Release.objects.create(version=""),
    "duplicate repository name": lambda r: Repository.objects.create(name="fogpy"),
    "empty repository name": lambda r: Repository.objects.create(name=""),
    "duplicate environment name": lambda r: Environment.objects.create(name="production"),
    "second pin of a repository in one release": lambda r: RepositoryPin.objects.create(
        release=r["release"], repository=r["repo"], tag="v9"
    ),
    "empty tag": lambda r: RepositoryPin.objects.create(
        release=r["other"], repository=r["repo"], tag=""
    ),
    "unknown validation state": lambda r: RepositoryPin.objects.filter(pk=r["pin"].pk).update(
        validation_state="great"
    ),
    "duplicate dependency": lambda r: [
        PinDependency.objects.create(pin=r["pin"], depends_on=r["pin2"]) for _ in range(2)
    ],
    "second deployment of a release in one environment": lambda r: [
        EnvironmentDeployment.objects.create(
            release=r["release"], environment=r["env"], namespace=n
        )
        for n in ("a", "b")
    ],
    "unknown deployment status": lambda r: EnvironmentDeployment.objects.create(
        release=r["release"], environment=r["env"], namespace="prod", status="done"
    ),
    "empty namespace": lambda r: EnvironmentDeployment.objects.create(
        release=r["release"], environment=r["env"], namespace=""
    ),
}


@pytest.mark.parametrize("case", list(VIOLATIONS))
def test_the_database_refuses(rows: dict[str, Any], case: str):
    with pytest.raises(IntegrityError), transaction.atomic():
        VIOLATIONS[case](rows)


def test_several_releases_live_side_by_side_in_one_environment(rows: dict[str, Any]):
    for release, namespace in ((rows["release"], "prod-v1.4"), (rows["other"], "prod-v1.3")):
        EnvironmentDeployment.objects.create(
            release=release, environment=rows["env"], namespace=namespace
        )

    live = rows["env"].deployments.filter(status=DeploymentStatus.DEPLOYED)
    assert sorted(live.values_list("namespace", flat=True)) == ["prod-v1.3", "prod-v1.4"]


def test_deployment_statuses_are_the_manifest_formats():
    assert tuple(DeploymentStatus.values) == DEPLOYMENT_STATUSES


def test_a_pin_depends_only_on_pins_of_its_own_release(rows: dict[str, Any]):
    link = PinDependency(pin=rows["pin"], depends_on=rows["other_pin"])

    with pytest.raises(ValidationError) as refused:
        link.full_clean()
    assert "same release" in str(refused.value)


def test_other_metadata_must_be_a_json_object(rows: dict[str, Any]):
    release = rows["release"]
    for text, message in (
        ("[1, 2]", "must be a JSON object (a mapping), not a list"),
        ("{nope", "not valid JSON"),
        ('{"ratio": NaN}', "ratio: the number NaN cannot be kept exactly"),
        ('{"big": 1e999}', "big: the number 1e999 cannot be kept exactly"),
        ('{"a": 1, "a": 2}', "a: duplicate key 'a'"),
    ):
        release.metadata_extra = text
        with pytest.raises(ValidationError) as refused:
            release.full_clean()
        assert message in str(refused.value)


def test_metadata_is_rebuilt_with_notes_and_changelog_first():
    release = Release(
        version="2.0",
        notes="n",
        changelog_url="https://example.invalid/c",
        metadata_extra='{"z": 1, "a": [true]}',
    )

    assert release.metadata == {
        "notes": "n",
        "changelog_url": "https://example.invalid/c",
        "z": 1,
        "a": [True],
    }
    assert list(release.metadata) == ["notes", "changelog_url", "z", "a"]
    assert Release(version="2.1").metadata is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tag", "v1.0 final", "is not a valid git tag name"),
        ("tag", "-rf", "is not a valid git tag name"),
        ("url", "https://token@github.com/org/a.git", "credentials must not be written"),
        ("url", "not a url", "is not a git URL"),
    ],
)
def test_pin_fields_follow_the_manifest_rules(
    rows: dict[str, Any], field: str, value: str, message: str
):
    pin = rows["pin"]
    setattr(pin, field, value)

    with pytest.raises(ValidationError) as refused:
        pin.full_clean()

    assert message in str(refused.value.message_dict[field])
    assert "token@" not in str(refused.value)


def test_repository_git_url_refuses_credentials(rows: dict[str, Any]):
    repo = rows["repo"]
    repo.git_url = "https://user:secret@github.com/org/fogpy.git"

    with pytest.raises(ValidationError) as refused:
        repo.full_clean()
    assert "secret" not in str(refused.value)
