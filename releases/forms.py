"""Admin forms that change only what the user changed.

A browser posts every field back as text: an empty string where the row holds ``NULL``, a
time without its microseconds, CRLF line ends, no trailing blanks once Django has stripped
them. Saved as posted, an untouched release would export differently. So a field the user did
not change keeps the value the row holds, whatever the form would have made of it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import FieldDoesNotExist
from django.utils.html import format_html
from django.utils.safestring import SafeString

from registry.models import Repository

from .models import EnvironmentDeployment, RepositoryPin
from .promotion.forms import PromotionGateForm


def _same_text(posted: Any, stored: Any) -> bool:
    return (
        isinstance(posted, str)
        and isinstance(stored, str)
        and posted.replace("\r\n", "\n") == stored.replace("\r\n", "\n")
    )


class KeepsStoredValuesForm(forms.ModelForm):
    """A model form that leaves the fields the user did not change as they are stored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            # Blanks around a value are data (a manifest may hold them), not a typing slip.
            if isinstance(field, forms.CharField):
                field.strip = False

    def _post_clean(self) -> None:
        if not self.instance._state.adding:
            changed = set(self.changed_data)
            for name in list(self.cleaned_data):
                try:
                    model_field = self.instance._meta.get_field(name)
                except FieldDoesNotExist:
                    continue
                # Relations are posted as ids, which lose nothing.
                if model_field.is_relation or not model_field.concrete:
                    continue
                stored = getattr(self.instance, model_field.attname)
                if name not in changed or _same_text(self.cleaned_data[name], stored):
                    self.cleaned_data[name] = stored
        super()._post_clean()  # type: ignore[misc]


class EnvironmentDeploymentForm(PromotionGateForm, KeepsStoredValuesForm):
    def _post_clean(self) -> None:
        super()._post_clean()
        instance: EnvironmentDeployment = self.instance
        # A status set by hand is meant: the export writes it, even the default one.
        if "status" in self.changed_data:
            instance.status_explicit = True


class _Shown(forms.Widget):
    """Shows a stored value as text: nothing to pick, nothing posted, no query to render."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        return format_html('<span class="pin-repository">{}</span>', self.text)


class _StoredRepository(forms.Field):
    """A stored pin's repository: fixed (a pin keeps its repository) and known without a
    query, where a choice field would load the whole list, or one query per row."""

    def __init__(self, repository: Repository) -> None:
        super().__init__(disabled=True, required=False, widget=_Shown(repository.name))
        self.repository = repository

    def clean(self, value: Any) -> Repository:
        return self.repository


class PinInlineForm(KeepsStoredValuesForm):
    """A row of a release's pin table: new rows pick a repository, stored rows show theirs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance: RepositoryPin = self.instance
        if "position" in self.fields:
            self.fields["position"].label = "#"  # a narrow column: the table fits the window
        if instance.pk is not None and "repository" in self.fields:
            label = self.fields["repository"].label
            self.fields["repository"] = _StoredRepository(instance.repository)
            self.fields["repository"].label = label

    def _get_validation_exclusions(self) -> set[str]:
        exclusions: set[str] = super()._get_validation_exclusions()  # type: ignore[misc]
        # A stored pin keeps its repository, so its (release, repository) pair is already
        # unique: no query per row to check it again.
        if self.instance.pk is not None:
            exclusions.add("repository")
        return exclusions


class ManifestImportForm(forms.Form):
    """A manifest to import: an uploaded file or pasted YAML/JSON text."""

    file = forms.FileField(required=False, help_text="A release manifest, YAML or JSON.")
    text = forms.CharField(
        required=False,
        strip=False,
        label="or paste the manifest",
        widget=forms.Textarea(attrs={"rows": 14, "cols": 100, "spellcheck": "false"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("file") and not data.get("text", "").strip():
            raise forms.ValidationError("Choose a manifest file or paste one.")
        if data.get("file") and data.get("text", "").strip():
            raise forms.ValidationError("Choose a file or paste a manifest, not both.")
        return data


class CloneForm(forms.Form):
    version = forms.CharField(
        label="new version", max_length=64, help_text="The version the copy is stored as."
    )


class CompareForm(forms.Form):
    left = forms.CharField(label="release", max_length=64)
    right = forms.CharField(label="compared with", max_length=64)


class AsOfForm(forms.Form):
    as_of = forms.DateTimeField(
        label="as of",
        required=False,
        help_text="A past moment (YYYY-MM-DD HH:MM, server time zone); empty = now.",
    )
