"""Where a pin's repository lives, and whether the registry may go there.

:func:`pin_url` picks the URL (the pin's own, the repository's, else the template);
:func:`checked_url` refuses, before any process runs, every URL that is not a plain
``scheme://host[:port]/path`` of an allowed scheme and host: ``ext::`` and other remote helpers,
``file://`` and local paths, anything starting with ``-``, credentials in the URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import RemoteRefused
from .policy import SUPPORTED_SCHEMES, GitPolicy

_URL_RE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<path>[^?#]*)"
    r"(?P<rest>[?#].*)?",
    re.DOTALL,
)
_HOST_PORT_RE = re.compile(
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.?|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?"
)
# ``<transport>::<address>`` makes git run ``git-remote-<transport>``; ``ext::`` runs a command.
_HELPER_RE = re.compile(r"[A-Za-z0-9+.-]*::")
_SCP_RE = re.compile(r"[^/:]+:")
_UNSAFE_CHAR_RE = re.compile(r"[\x00-\x20\x7f\\]")
_TEMPLATE_FIELD = "{name}"


@dataclass(frozen=True)
class RemoteUrl:
    """A URL that passed the policy: the text as given, and its parts (lower case)."""

    url: str
    scheme: str
    host: str
    port: int | None

    @property
    def origin(self) -> str:
        """``scheme://host[:port]/``, the key of git's per-URL config (``http.<url>.*``)."""
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{self.host}{port}/"


def pin_url(
    name: str, *, url: str | None = None, git_url: str | None = None, template: str | None = None
) -> str | None:
    """The URL to list a pin's tags from: the pin's ``url``, else the repository's ``git_url``,
    else ``template`` with ``{name}`` replaced by the whole name (``group/subgroup/project``
    keeps its slashes); ``None`` when there is none of these.
    """
    if url:
        return url
    if git_url:
        return git_url
    if not template:
        return None
    if _TEMPLATE_FIELD not in template:
        raise ValueError("REGISTRY_GIT_URL_TEMPLATE must contain {name}")
    # str.replace, not str.format: other braces stay literal and nothing is evaluated.
    return template.replace(_TEMPLATE_FIELD, name)


def checked_url(url: str, policy: GitPolicy) -> RemoteUrl:
    """``url`` parsed, or :class:`RemoteRefused` saying why the registry will not contact it."""
    shown = _shown(url)
    if not url:
        raise RemoteRefused("(no URL)", "there is no URL to contact")
    if url.startswith("-"):
        raise RemoteRefused(shown, "a URL must not start with '-' (git would read an option)")
    if _HELPER_RE.match(url):
        raise RemoteRefused(
            shown, "remote-helper URLs such as 'ext::' are refused: they run local commands"
        )
    if _UNSAFE_CHAR_RE.search(url):
        raise RemoteRefused(shown, "a URL must not contain whitespace, control characters or '\\'")
    match = _URL_RE.fullmatch(url)
    if match is None:
        if _SCP_RE.match(url) and not url.startswith(("/", ".", "~")):
            raise RemoteRefused(
                shown, "scp-like 'host:path' URLs are not supported; write https://host/path"
            )
        raise RemoteRefused(shown, "a local path is not a remote URL; write https://host/path")
    scheme = match["scheme"].lower()
    if scheme == "file":
        raise RemoteRefused(shown, "file:// URLs (local repositories) are refused")
    allowed = sorted(policy.allowed_schemes & SUPPORTED_SCHEMES)
    if scheme not in allowed:
        raise RemoteRefused(
            shown, f"the scheme {scheme!r} is not allowed (allowed: {', '.join(allowed) or 'none'})"
        )
    authority = match["authority"]
    if "@" in authority:
        raise RemoteRefused(
            shown,
            "credentials must not be written into the URL; give them per host through "
            "REGISTRY_GIT_CREDENTIALS",
        )
    parts = _HOST_PORT_RE.fullmatch(authority)
    if parts is None or (parts["port"] is not None and not 0 < int(parts["port"]) < 65536):
        raise RemoteRefused(shown, "the URL has no valid host")
    host = parts["host"].lower().rstrip(".")
    if host not in policy.allowed_hosts:
        raise RemoteRefused(
            shown,
            f"the host {host!r} is not allowed "
            f"(allowed: {', '.join(sorted(policy.allowed_hosts)) or 'none'})",
        )
    if match["rest"]:
        raise RemoteRefused(shown, "a git URL has no query or fragment ('?', '#')")
    path = match["path"]
    segments = [segment for segment in path.split("/") if segment]
    if not segments or any(segment in (".", "..") for segment in segments):
        raise RemoteRefused(shown, "the URL's path must name a repository (no '.' or '..')")
    port = int(parts["port"]) if parts["port"] is not None else None
    return RemoteUrl(url=url, scheme=scheme, host=host, port=port)


def _shown(url: str) -> str:
    """The URL as a message may show it: credentials before an '@' and control characters
    replaced, and cut to a readable length."""
    match = _URL_RE.fullmatch(url)
    if match and "@" in match["authority"]:
        host = match["authority"].rpartition("@")[2]
        url = f"{match['scheme']}://***@{host}{match['path']}{match['rest'] or ''}"
    elif match is None and "@" in url:
        url = "***@" + url.rpartition("@")[2]
    url = _UNSAFE_CHAR_RE.sub(lambda m: "\\" if m[0] == "\\" else "?", url)
    return url if len(url) <= 200 else url[:199] + "…"
