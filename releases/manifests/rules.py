"""The rules a manifest's values follow, shared by the reader and the catalogue.

Names, versions, environments, namespaces, git tags and URLs, timestamps and the reader's
limits. Pure Python: the catalogue's models and validators import this module (never the
reader's internals), so a form, the admin and an import refuse the same values with the same
words.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Protocol

# --- limits -----------------------------------------------------------------------------------

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 32
# A document this broken is reported by its first errors and a count of the rest.
MAX_ERRORS = 100
# Alias expansion may add at most this many nodes (keys and values) beyond the document's own:
# a shared block of 30 keys reused a thousand times, but not a "billion laughs". What aliases
# build is also held to the size limit (characters, and the canonical export).
MAX_ALIAS_EXPANSION = 100_000
# Numbers longer than this are refused (quote them): no manifest needs them, and Python refuses
# to print integers beyond 4,300 digits anyway.
MAX_NUMBER_DIGITS = 100
MAX_TEXT = 255
MAX_REPOSITORY_NAME = 255

# --- names and tokens -------------------------------------------------------------------------

VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}\Z")
VERSION_RULE = (
    "use letters, digits, '.', '_', '+' and '-' (at most 64), starting with a letter or digit"
)
ENVIRONMENT_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,62}\Z")
ENVIRONMENT_RULE = "letters, digits, '_' and '-', starting with a letter or digit"
NAMESPACE_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,99}\Z")
NAMESPACE_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit"

# A repository name as git hosts spell it: ``fogpy``, ``openstack/nova``, GitLab's
# ``group/subgroup/project``.
REPOSITORY_NAME_RULE = (
    "segments of letters, digits, '.', '_' and '-' joined by '/' (at most "
    f"{MAX_REPOSITORY_NAME} characters)"
)
_SEGMENT_CHARACTER = re.compile(r"[0-9A-Za-z._-]")
_WHITESPACE = re.compile(r"\s")


def repository_name_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a repository name, in a few words; ``None`` if nothing.

    The words name the exact fault ("empty segment", "segment '..' is not allowed"), so that a
    user sees what to change without reading the rule.
    """
    if not value:
        return "a repository name must not be empty"
    if len(value) > MAX_REPOSITORY_NAME:
        return f"is {len(value)} characters long; at most {MAX_REPOSITORY_NAME} are allowed"
    problem = _name_fault(value)
    if problem is None:
        return None
    return f"{value!r} is not a valid repository name: {problem}"


def _name_fault(value: str) -> str | None:
    space = _WHITESPACE.search(value)
    if space:
        return f"whitespace ({space.group()!r}) is not allowed"
    for segment in value.split("/"):
        if not segment:
            return "empty segment (a '/' at the start or end, or '//')"
        if segment in (".", ".."):
            return f"segment {segment!r} is not allowed"
        if segment.startswith("-"):
            return f"segment {segment!r} starts with '-'"
        for character in segment:
            if not _SEGMENT_CHARACTER.fullmatch(character):
                return f"{character!r} is not allowed; use {REPOSITORY_NAME_RULE}"
    return None


def last_segment(name: str) -> str:
    """``nova`` for ``openstack/nova``: the name a project's own tags (``nova-1.2.3``) use."""
    return name.rpartition("/")[2]


# --- git --------------------------------------------------------------------------------------

URL_RE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#\s]*)(?P<rest>[^\s]*)"
)
# scp-like ``git@host:org/repo.git``: a user name but never a password, no "@" in the path.
SCP_URL_RE = re.compile(
    r"(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^\s@]+)"
)
# Only ssh carries a user name in the URL (``ssh://git@host/...``); anything else in front of an
# "@" is a credential.
USER_SCHEMES = ("ssh", "git+ssh", "ssh+git")
# git check-ref-format, the parts that matter for a tag a user types.
BAD_TAG_RE = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|\.lock$|^-|^/|/$|\.$|^@$")


def git_url_problem(value: str) -> tuple[str, str] | None:
    """Why ``value`` is not an acceptable git URL, as ``(code, message)``; ``None`` if it is.

    Credentials are refused in every form and never repeated in the message.
    """
    credentials = (
        "credentials must not be written into the URL; give them per host through "
        "REGISTRY_GIT_CREDENTIALS"
    )
    match = URL_RE.fullmatch(value)
    if match:
        userinfo, _, host = match["authority"].rpartition("@")
        if "@" in match["authority"] and (
            ":" in userinfo or match["scheme"].lower() not in USER_SCHEMES
        ):
            return "credentials", credentials
        if not host and match["scheme"].lower() != "file":
            return "format", f"{redact_url(value)!r} has no host"
        return None
    if SCP_URL_RE.fullmatch(value):
        return None
    if "@" in value:
        return "credentials", credentials
    return "format", f"{value!r} is not a git URL (scheme://host/path or user@host:path)"


def git_tag_problem(value: str) -> str | None:
    """Why ``value`` is not a valid git tag name; ``None`` if it is."""
    if not value or BAD_TAG_RE.search(value):
        return f"{value!r} is not a valid git tag name"
    return None


def redact_url(url: str) -> str:
    """The URL with anything before an "@" in its authority replaced by ``***``."""
    match = URL_RE.fullmatch(url)
    if match and "@" in match["authority"]:
        host = match["authority"].rpartition("@")[2]
        return f"{match['scheme']}://***@{host}{match['rest']}"
    return url


# --- times ------------------------------------------------------------------------------------

RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)


class ErrorSink(Protocol):
    """Where a located error goes (the reader's collector)."""

    def error(self, path: str, message: str, code: str = "invalid") -> None: ...


def timestamp_problem(value: str) -> tuple[dt.datetime | None, str | None]:
    """``(time, None)`` for an RFC 3339 time with an offset, else ``(None, why not)``."""
    match = RFC3339_RE.fullmatch(value)
    if not match:
        return None, (
            f'{value!r} is not an RFC 3339 time with an offset, e.g. "2025-01-15T10:00:00Z"'
        )
    if match.group(7) and len(match.group(7)) > 6:
        return None, f"{value!r} has more than microsecond precision"
    try:
        parsed = dt.datetime.fromisoformat(value.upper().replace(" ", "T").replace("Z", "+00:00"))
    except ValueError as exc:
        return None, f"{value!r} is not a valid time: {exc}"
    try:
        # Stored and written in UTC: a time that has no UTC equivalent (year 1 or 9999 with an
        # offset) cannot be kept, nor compared with another. The same instant in UTC from here
        # on: RFC 3339 allows offsets up to ±23:59, PostgreSQL stores none beyond ±15:59.
        return parsed.astimezone(dt.UTC), None
    except OverflowError:
        return None, f"{value!r} is out of range once converted to UTC"


def parse_timestamp(value: str, path: str, out: ErrorSink | None = None) -> dt.datetime | None:
    """Parse an RFC 3339 timestamp with an offset (at most microsecond precision); on a bad one
    report it to ``out`` at ``path`` and return ``None``."""
    parsed, problem = timestamp_problem(value)
    if problem is not None and out is not None:
        out.error(path, problem, "format")
    return parsed
