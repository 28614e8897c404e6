"""Per-host git credentials, handed to git through its config environment only.

``REGISTRY_GIT_CREDENTIALS`` maps a host to ``user:token`` (HTTP Basic, what GitHub's
``x-access-token:<token>`` and GitLab's ``oauth2:<token>`` expect) or to a bare token (sent as
``Bearer``). The secret becomes an ``http.<scheme>://<host>/.extraHeader`` value in
``GIT_CONFIG_VALUE_<n>``: never a URL, an argument, a log line or a message. The environment
of a process is readable only by its own user, unlike its command line. Headers go over https
only (plain http just to a server on this machine, for tests).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping


class GitCredentials:
    """Secrets per host name (lower case). ``repr`` and ``str`` never show a secret."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self._secrets = {
            host.strip().lower(): secret.strip()
            for host, secret in (secrets or {}).items()
            if host.strip() and secret.strip()
        }

    @classmethod
    def parse(cls, text: str) -> GitCredentials:
        """Read ``host=user:token,host2=token``; an entry without ``=`` is an error (its text
        is not repeated, it may be a secret)."""
        secrets: dict[str, str] = {}
        for position, entry in enumerate(text.split(","), start=1):
            if not entry.strip():
                continue
            host, sep, secret = entry.partition("=")
            if not sep or not host.strip() or not secret.strip():
                raise ValueError(
                    f"REGISTRY_GIT_CREDENTIALS entry {position} is not host=user:token"
                )
            secrets[host] = secret
        return cls(secrets)

    @property
    def hosts(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def authorization(self, host: str) -> str | None:
        """The ``Authorization`` header value for ``host``, ``None`` without credentials."""
        secret = self._secrets.get(host.lower())
        if secret is None:
            return None
        if ":" in secret:
            return "Basic " + base64.b64encode(secret.encode()).decode("ascii")
        return f"Bearer {secret}"

    def redact(self, text: str) -> str:
        """``text`` with every secret (and its Basic encoding) replaced by ``***``: for git's
        own error output, which should never carry one, before it is shown anywhere."""
        for secret in self._secret_forms():
            text = text.replace(secret, "***")
        return text

    def _secret_forms(self) -> Iterable[str]:
        for host, secret in self._secrets.items():
            yield secret
            _user, _, token = secret.partition(":")
            if token:
                yield token
            header = self.authorization(host)
            if header is not None:
                yield header.split(" ", 1)[1]

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __repr__(self) -> str:
        return f"GitCredentials(hosts={sorted(self._secrets)!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GitCredentials) and other._secrets == self._secrets

    def __hash__(self) -> int:
        return hash(frozenset(self._secrets.items()))
