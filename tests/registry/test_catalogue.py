"""The catalogue applies the manifest's rules to names typed in a form or the admin."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from registry.models import Repository


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["fogpy", "openstack/nova", "gitlab-org/quality/triage-ops", "a/" + "b" * 253]
)
def test_a_repository_named_as_its_git_host_spells_it_is_valid_and_stored(name):
    repository = Repository(name=name)
    repository.full_clean()
    repository.save()
    assert Repository.objects.get(name=name).name == name


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("openstack//nova", "'openstack//nova' is not a valid repository name: empty segment"),
        ("openstack/../nova", "'openstack/../nova' is not a valid repository name: segment '..'"),
        ("org/-x", "'org/-x' is not a valid repository name: segment '-x' starts with '-'"),
        ("open stack", "'open stack' is not a valid repository name: whitespace (' ')"),
    ],
)
def test_a_bad_name_is_refused_with_the_manifests_words(name, message):
    with pytest.raises(ValidationError) as caught:
        Repository(name=name).full_clean()
    (error,) = caught.value.message_dict["name"]
    assert error.startswith(message)


@pytest.mark.django_db
def test_a_name_over_255_characters_is_refused():
    with pytest.raises(ValidationError) as caught:
        Repository(name="a/" + "b" * 254).full_clean()
    assert "name" in caught.value.message_dict
    assert any("256" in message for message in caught.value.message_dict["name"])


@pytest.mark.django_db
def test_the_name_column_holds_255_characters():
    columns = {
        column.name: column
        for column in connection.introspection.get_table_description(
            connection.cursor(), Repository._meta.db_table
        )
    }
    if connection.vendor == "postgresql":
        assert columns["name"].display_size == 255  # varchar(255)
    assert Repository._meta.get_field("name").max_length == 255
