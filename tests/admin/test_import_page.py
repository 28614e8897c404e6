"""The manifest import page: preview from the import service's dry run, then confirm."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from releases.exporting import export_release
from releases.models import EnvironmentDeployment, Release, RepositoryPin

from ..releases.manifests import RELEASE_1_4, import_text

pytestmark = pytest.mark.django_db
IMPORT = reverse("admin:releases_release_import")

# Three mistakes in three places: each is reported with its path and line.
BAD = (
    RELEASE_1_4.replace('tag: "v2.6.1"', 'tag: "v2.6.1 final"')
    .replace('namespace: "prod-v1.4"', 'namespace: "prod v1.4"')
    .replace('    package_version: "1.4.2"\n', '    package_version: "1.4.2"\n    colour: "red"\n')
)


def confirm(client: Client, preview: Any) -> Any:
    hidden = {
        name: preview.content.decode().split(f'name="{name}" value="')[1].split('"')[0]
        for name in ("payload", "name", "revision")
    }
    return client.post(IMPORT, {**hidden, "_confirm": "Confirm import"})


def test_an_uploaded_manifest_is_previewed_writes_nothing_then_is_imported_on_confirm(
    team: Client,
):
    upload = SimpleUploadedFile("v1.4.yaml", RELEASE_1_4.encode())

    preview = team.post(IMPORT, {"file": upload, "_preview": "Preview"})

    assert preview.status_code == 200
    result = preview.context["result"]
    assert (result.action, result.dry_run) == ("created", True)
    page = preview.content.decode()
    assert "release 1.4 (created with 3 pins)" in page
    assert "fogpy, fogpy_utils, chempipe-plugins" in page
    assert not Release.objects.exists()

    done = confirm(team, preview)

    release = Release.objects.get()
    assert done.status_code == 302
    assert done["Location"] == reverse("admin:releases_release_change", args=[release.pk])
    assert release.source == "v1.4.yaml" and release.pins.count() == 3
    record = release.history.get()
    assert (record.history_user.username, record.history_change_reason) == (
        "émilie",
        "imported from v1.4.yaml",
    )


def test_a_pasted_change_is_previewed_as_a_diff(team: Client):
    import_text(RELEASE_1_4)
    text = (
        RELEASE_1_4.replace('tag: "v2.6.1"', 'tag: "v2.6.2"')
        .replace('"2.6.1"', '"2.6.2"')
        .replace('  - name: "chempipe-plugins"', '  - name: "chempipe-plugins-gone"')
    )

    preview = team.post(IMPORT, {"text": text, "_preview": "Preview"})

    page = preview.content.decode()
    assert preview.context["result"].action == "updated"
    assert "pin fogpy: tag" in page and "→ v2.6.2" in page
    assert "chempipe-plugins-gone" in page and "pins removed" in page
    assert RepositoryPin.objects.get(repository__name="fogpy").tag == "v2.6.1"
    confirm(team, preview)
    assert RepositoryPin.objects.get(repository__name="fogpy").tag == "v2.6.2"


def test_a_bad_manifest_shows_every_located_error_and_writes_nothing(team: Client):
    import_text(RELEASE_1_4)
    before = export_release("1.4"), RepositoryPin.history.count()

    response = team.post(
        IMPORT,
        {"file": SimpleUploadedFile("v1.4\u202elmay.yaml", BAD.encode()), "_preview": "Preview"},
    )

    assert response.status_code == 200
    errors = response.context["errors"]
    located = {(error.path, error.line) for error in errors}
    assert {
        ("repositories[0].tag", 10),
        ("environments.production.namespace", 7),
        ("repositories[1].colour", 18),
    } == located, errors
    page = response.content.decode()
    assert "nothing was written" in page
    assert "repositories[0].tag (line 10)" in page
    assert f"{response.context['source']}: refused" in page
    # A name that would print reversed cannot reorder the page (Django drops the character,
    # display_path would escape it).
    assert response.context["source"].isprintable() and "\u202e" not in page
    assert (export_release("1.4"), RepositoryPin.history.count()) == before
    assert "payload" not in page  # nothing to confirm


def test_a_release_changed_since_the_preview_is_previewed_again(team: Client):
    import_text(RELEASE_1_4)
    preview = team.post(
        IMPORT, {"text": RELEASE_1_4.replace('"prod-v1.4"', '"prod-v1.4b"'), "_preview": "Preview"}
    )
    import_text(RELEASE_1_4.replace('"Production release"', '"edited meanwhile"'), source="x.yaml")

    again = confirm(team, preview)

    assert again.status_code == 200 and "changed since the preview" in again.content.decode()
    assert EnvironmentDeployment.objects.get().namespace == "prod-v1.4"


def test_an_empty_form_asks_for_a_manifest(team: Client):
    response = team.post(IMPORT, {"_preview": "Preview"})

    assert "Choose a manifest file or paste one." in response.content.decode()


def test_a_viewer_cannot_import(viewer: Client):
    assert viewer.get(IMPORT).status_code == 403
    assert viewer.post(IMPORT, {"text": RELEASE_1_4, "_preview": "Preview"}).status_code == 403
    assert not Release.objects.exists()
