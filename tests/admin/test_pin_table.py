"""Pins across releases to and from CSV, XLSX, YAML and JSON (django-import-export), with its
preview and confirm steps, through the model's rules and one change batch."""

from __future__ import annotations

import io
import json
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from registry.models import Repository
from releases.exporting import export_release
from releases.models import Release, RepositoryPin
from releases.workbench.pin_table import PinResource

from ..admin_forms import form_data
from ..releases.manifests import RELEASE_1_4, generated_manifest, import_text

pytestmark = pytest.mark.django_db
IMPORT = reverse("admin:releases_repositorypin_import")
CONFIRM = reverse("admin:releases_repositorypin_process_import")


def preview(client: Client, csv: str) -> Any:
    upload = SimpleUploadedFile("pins.csv", csv.encode(), content_type="text/csv")
    return client.post(IMPORT, {"resource": "0", "format": "0", "import_file": upload})


def confirm(client: Client, page: Any) -> Any:
    data = form_data(page.content.decode())
    data.pop("csrfmiddlewaretoken", None)
    return client.post(CONFIRM, {k: v for k, v in data.items() if k != "import_file"})


def test_an_edited_table_is_previewed_then_written_as_one_change_of_each_release(team: Client):
    import_text(RELEASE_1_4)
    import_text(generated_manifest(3, "2.0"), source="v2.0.yaml")
    Repository.objects.create(name="pytroll/satpy")
    revisions = dict(Release.objects.values_list("version", "revision"))
    csv = PinResource().export().csv
    edited = (
        csv.replace("1.4,fogpy,0,v2.6.1,", "1.4,fogpy,0,v2.6.2,").replace(",2.6.1,", ",2.6.2,")
        + f"1.4,pytroll/satpy,3,v0.9.1,{'f' * 40},0.9.1,,\r\n"
    )

    shown = preview(team, edited)

    assert shown.status_code == 200
    result = shown.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert (result.totals["update"], result.totals["new"]) == (1, 1)
    assert RepositoryPin.objects.get(repository__name="fogpy").tag == "v2.6.1"
    assert dict(Release.objects.values_list("version", "revision")) == revisions

    done = confirm(team, shown)

    assert done.status_code == 302
    fogpy = RepositoryPin.objects.get(repository__name="fogpy")
    assert (fogpy.tag, fogpy.package_version) == ("v2.6.2", "2.6.2")
    assert "pytroll/satpy" in export_release("1.4")
    after = dict(Release.objects.values_list("version", "revision"))
    assert after == {"1.4": revisions["1.4"] + 1, "2.0": revisions["2.0"]}
    record = fogpy.history.order_by("-history_date").first()
    assert (record.history_user.username, record.history_change_reason) == ("émilie", "admin")


def test_an_unchanged_table_changes_nothing(team: Client):
    import_text(RELEASE_1_4)
    before = export_release("1.4"), Release.objects.get().revision

    done = confirm(team, preview(team, PinResource().export().csv))

    assert done.status_code == 302
    assert (export_release("1.4"), Release.objects.get().revision) == before


def test_bad_rows_are_shown_with_their_line_and_nothing_is_written(team: Client):
    import_text(RELEASE_1_4)
    before = export_release("1.4"), RepositoryPin.history.count()
    csv = PinResource().export().csv.replace("v2.6.1", "v2.6.1 final") + (
        "9.9,fogpy,0,v1.0.0,,,,\r\n"
    )

    shown = preview(team, csv)

    result = shown.context["result"]
    invalid = {row.number: row.error_dict for row in result.invalid_rows}
    assert "is not a valid git tag name" in str(invalid[1]["tag"])
    # The release is how the row is found: an unknown one is an error of line 4.
    errors = {number: [str(e.error) for e in found] for number, found in result.row_errors()}
    assert errors == {4: ["no release '9.9' is stored"]}
    assert 'name="import_file_name"' not in shown.content.decode()  # nothing to confirm
    assert (export_release("1.4"), RepositoryPin.history.count()) == before


def test_pins_export_as_xlsx_yaml_and_json():
    import_text(RELEASE_1_4)
    dataset = PinResource().export()

    sheet = openpyxl.load_workbook(io.BytesIO(dataset.xlsx)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("release", "repository", "position", "tag")
    assert rows[1][:2] == ("1.4", "fogpy")
    assert yaml.safe_load(dataset.yaml)[2]["repository"] == "chempipe-plugins"
    assert json.loads(dataset.json)[0]["commit_sha"] == "abc123def4567890abc123def4567890abc123de"


def test_a_viewer_may_export_pins_but_not_import_them(viewer: Client):
    import_text(RELEASE_1_4)

    assert viewer.get(IMPORT).status_code == 403
    assert viewer.get(reverse("admin:releases_repositorypin_export")).status_code == 200
