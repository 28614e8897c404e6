"""API writes to one release: serialised by a row lock, refused on a stale ``If-Match``.

Every write view runs its service (the importer, :mod:`releases.edits`, a delete) inside
:func:`locked_release`: one change batch attributed to the API and the token, the release's
row locked for the whole transaction (two pipelines take turns instead of losing an update),
and the ``If-Match`` precondition checked under that lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rest_framework.request import Request

from releases import changes
from releases.models import Release
from releases.promotion.transitions import overriding

from .errors import PreconditionFailed
from .models import ApiToken


def etag(revision: int) -> str:
    """The release's ``ETag``: its revision, bumped by every change batch."""
    return f'"{revision}"'


def matches(if_match: str | None, revision: int | None) -> bool:
    """Whether an ``If-Match`` header allows a write to a release at ``revision`` (``None``:
    the release does not exist). No header allows everything."""
    if if_match is None:
        return True
    tags = [tag.strip() for tag in if_match.split(",") if tag.strip()]
    if revision is None:
        return False  # "*" and any tag ask for an existing release
    if "*" in tags:
        return True
    return any(tag.removeprefix("W/").strip('"') == str(revision) for tag in tags)


def who(request: Request) -> tuple[Any, str]:
    """The user to record and the actor's name: the token's, or the session user's."""
    token = request.auth if isinstance(request.auth, ApiToken) else None
    user = request.user if request.user.is_authenticated else None
    actor = token.name if token is not None else (user.get_username() if user else "")
    return user, actor


def source_of(request: Request) -> str:
    """Where a change came from, for history: ``api PUT /api/releases/1.4/manifest``."""
    return f"{changes.API} {request.method} {request.path}"[:500]


@contextmanager
def locked_release(version: str, request: Request) -> Iterator[Release | None]:
    """Open the API's change batch, lock ``version``'s row and check ``If-Match``.

    Yields the release (``None`` when it does not exist yet); raises
    :class:`PreconditionFailed` when ``If-Match`` names another revision.
    """
    user, actor = who(request)
    reason = request.headers.get("Promotion-Override-Reason")
    # The override outlives the batch: it is read when the batch ends.
    with overriding(reason), changes.batch(changes.API, user=user, actor=actor) as batch:
        release = Release.objects.select_for_update().filter(version=version).first()
        if not matches(
            request.headers.get("If-Match"), release.revision if release is not None else None
        ):
            raise PreconditionFailed()
        if release is not None:
            # The release's change is the API's (named by the token), not the importer's.
            batch.report(release.pk, version=release.version)
        yield release
    # Committed. The answer's ETag is the revision this write made: read from the table now,
    # it could be a later write's, and a client sending it back in If-Match would overwrite a
    # change it never saw.
    made = [change.revision for change in batch.announced if change.version == version]
    # Nothing changed: the revision the lock found.
    found = release.revision if release is not None else None
    request._written_revision = made[-1] if made else found  # type: ignore[attr-defined]


def check_precondition(version: str, request: Request) -> Release | None:
    """``If-Match`` without a lock, for a dry run (which writes nothing)."""
    release = Release.objects.filter(version=version).first()
    if not matches(
        request.headers.get("If-Match"), release.revision if release is not None else None
    ):
        raise PreconditionFailed()
    return release


def current_revision(version: str) -> int | None:
    return Release.objects.filter(version=version).values_list("revision", flat=True).first()


def written_revision(request: Request, version: str) -> int | None:
    """The revision the write of ``request`` (made in :func:`locked_release`) left ``version``
    at: its ``ETag``."""
    if hasattr(request, "_written_revision"):
        revision: int | None = request._written_revision
        return revision
    return current_revision(version)
