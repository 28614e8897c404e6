"""Pins across releases as a table: CSV, XLSX, YAML and JSON through django-import-export.

A row is one pin, found by its release version and repository name (a pin never changes
release). Rows are saved one by one through ``RepositoryPin.save`` (field validators, the
derived pin state, history) inside one ``changes.batch(changes.ADMIN, user=...)``: one
revision and change report per release touched. The preview is the same import rolled back,
its batch discarded. An empty cell is an absent value (``None``): a table has no other way to
say it.
"""

from __future__ import annotations

from typing import Any

from import_export import fields, resources
from import_export.formats import base_formats
from import_export.widgets import CharWidget, ForeignKeyWidget

from registry.models import Repository

from .. import changes
from ..models import Release, RepositoryPin

FORMATS = [base_formats.CSV, base_formats.XLSX, base_formats.YAML, base_formats.JSON]


class _Discard(Exception):
    """Leaves the change batch without reporting: a preview, or an import with errors."""


class _Named(ForeignKeyWidget):
    """A release by its version, a repository by its name; an unknown one is a located
    error of its cell."""

    def __init__(self, model: Any, field: str, noun: str) -> None:
        super().__init__(model, field)
        self.noun = noun

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        try:
            return super().clean(value, row, **kwargs)
        except self.model.DoesNotExist:
            raise ValueError(f"no {self.noun} {value!r} is stored") from None


class PinResource(resources.ModelResource):
    release = fields.Field(
        attribute="release", column_name="release", widget=_Named(Release, "version", "release")
    )
    repository = fields.Field(
        attribute="repository",
        column_name="repository",
        widget=_Named(Repository, "name", "repository"),
    )
    commit_sha = fields.Field(
        attribute="commit_sha", column_name="commit_sha", widget=CharWidget(allow_blank=False)
    )
    package_version = fields.Field(
        attribute="package_version",
        column_name="package_version",
        widget=CharWidget(allow_blank=False),
    )
    validation_state = fields.Field(
        attribute="validation_state", column_name="validation_state", readonly=True
    )

    class Meta:
        model = RepositoryPin
        fields = (
            "release",
            "repository",
            "position",
            "tag",
            "commit_sha",
            "package_version",
            "url",
            "validation_state",
        )
        export_order = fields
        import_id_fields = ("release", "repository")
        clean_model_instances = True  # the model's validators: tag and URL rules
        skip_unchanged = True
        report_skipped = True

    def get_queryset(self) -> Any:
        return RepositoryPin.objects.select_related("release", "repository").order_by(
            "release__version", "position", "pk"
        )

    def import_data(self, dataset: Any, dry_run: bool = False, **kwargs: Any) -> Any:
        outcome: list[Any] = []
        try:
            with changes.batch(changes.ADMIN, user=kwargs.get("user")):
                result = super().import_data(dataset, dry_run=dry_run, **kwargs)
                outcome.append(result)
                # import-export has rolled its own transaction back; the batch must not
                # report (nor bump revisions for) what was not written.
                if dry_run or result.has_errors() or result.has_validation_errors():
                    raise _Discard
        except _Discard:
            pass
        return outcome[0]
