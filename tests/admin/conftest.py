"""People of the admin: a superuser, a platform-team member and a viewer (the groups the
migration creates), and the example releases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"


def member(django_user_model: Any, name: str, group: str | None) -> Any:
    user = django_user_model.objects.create_user(name, f"{name}@example.invalid", "pw")
    user.is_staff = True
    user.save()
    if group is not None:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def staff(client: Client, django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.invalid", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def team(client: Client, django_user_model: Any) -> Client:
    client.force_login(member(django_user_model, "émilie", "platform team"))
    return client


@pytest.fixture
def viewer(client: Client, django_user_model: Any) -> Client:
    client.force_login(member(django_user_model, "auditor", "viewer"))
    return client


@pytest.fixture
def examples() -> None:
    with open("/dev/null", "w") as quiet:
        call_command("import_manifest", str(EXAMPLES), stdout=quiet)
