"""Rows that remember the values they were loaded with, so that a save knows what it changes.

Used by the release models and by the catalogue they point at (``registry.models``), whose
renames change the releases that name them (:mod:`releases.signals`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, ClassVar

from django.db import models


class TracksStoredValues(models.Model):
    """Remembers the values a row was loaded with, so that a save knows what it changes.

    Saves and deletes outside any :func:`releases.changes.batch` run as a batch of their own,
    so that a cascade (a release with its pins) is reported, and bumps the revision, once.
    """

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        from . import changes

        with changes.batch_if_none():
            super().save(*args, **kwargs)
            self.remember_stored_values()

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        from . import changes

        with changes.batch_if_none():
            return super().delete(*args, **kwargs)

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any
    ) -> Any:
        instance = super().from_db(db, field_names, values, **kwargs)
        # The loaded tuple as is (cheap for a thousand rows); looked at only when saving.
        instance._stored = (field_names, values)
        return instance

    def stored_values(self) -> dict[str, Any] | None:
        """The values as loaded from the database; ``None`` for a row not loaded from it."""
        stored = self.__dict__.get("_stored")
        if stored is None:
            return None
        names, values = stored
        # Django passes attnames (``release_id``), the loaded subset when fields are deferred.
        return dict(zip(names, values, strict=True))

    def changed_fields(self, names: Iterable[str] | None = None) -> set[str] | None:
        """The attnames among ``names`` (default: every tracked one) whose value differs from
        the stored one; ``None`` when there is no stored row to compare with."""
        stored = self.stored_values()
        if stored is None:
            return None
        wanted = self.tracked_fields if names is None else tuple(names)
        return {name for name in wanted if name in stored and stored[name] != getattr(self, name)}

    # The fields whose change is a change of the release (the rest is bookkeeping).
    tracked_fields: ClassVar[tuple[str, ...]] = ()
    _stored: tuple[Collection[str], Collection[Any]]

    def remember_stored_values(self) -> None:
        """After a save: what is in the row now is what the next save compares with."""
        fields = self._meta.concrete_fields
        self._stored = ([f.attname for f in fields], [getattr(self, f.attname) for f in fields])
