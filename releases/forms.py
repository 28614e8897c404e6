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

from .models import EnvironmentDeployment


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


class EnvironmentDeploymentForm(KeepsStoredValuesForm):
    def _post_clean(self) -> None:
        super()._post_clean()
        instance: EnvironmentDeployment = self.instance
        # A status set by hand is meant: the export writes it, even the default one.
        if "status" in self.changed_data:
            instance.status_explicit = True
