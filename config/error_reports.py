"""What Django's debug page and error reports (the admins' e-mail) may show of a secret.

Django hides settings whose name looks secret (``*_TOKEN``, ``*_SECRET``, ``PASSWORD``...),
but not the password inside a URL-shaped value (``REDIS_URL``, ``CELERY_BROKER_URL``, a cache
``LOCATION``, ``DATABASE_URL`` in the environment that runserver copies into
``request.META``), nor ``REGISTRY_GIT_CREDENTIALS``. This filter hides those too, keeping the
rest of each URL (scheme, user, host, port, path) for whoever debugs.
"""

import re
from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

# The password of a URL as urllib and redis-py split it: from the first ":" of the user info
# to the last "@" of the network location (a password may contain "@"). The scheme's length is
# bounded so that a long local variable (a whole manifest) is scanned in linear time.
URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]{0,31}://[^:/?#@\s]*:)[^/?#\s]*@", re.I)
# Deeper values are shown as they are (settings and locals of this project nest far less).
MAX_DEPTH = 8


class SecretHidingFilter(SafeExceptionReporterFilter):
    """Django's filter, plus credentials by name and passwords inside URLs anywhere."""

    # Django's names (API, AUTH, TOKEN, KEY, SECRET, PASS, ...) and REGISTRY_GIT_CREDENTIALS.
    hidden_settings = re.compile(
        f"{SafeExceptionReporterFilter.hidden_settings.pattern}|CREDENTIAL", flags=re.I
    )

    def without_url_passwords(self, value: Any, depth: int = 0) -> Any:
        """``value`` with the password of every URL in it replaced, nested ones too.

        Only plain strings, dicts, lists and tuples are rebuilt (a NamedTuple such as
        GitCredential keeps the repr that hides its token), and only a few levels deep, so a
        local variable that contains itself cannot break the report.
        """
        if isinstance(value, str):
            return URL_PASSWORD.sub(rf"\g<head>{self.cleansed_substitute}@", value)
        if depth >= MAX_DEPTH:
            return value
        if type(value) is dict:
            return {key: self.without_url_passwords(item, depth + 1) for key, item in value.items()}
        if type(value) in (list, tuple):
            return type(value)(self.without_url_passwords(item, depth + 1) for item in value)
        return value

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        # Settings, request.META and cookies all pass through here; dicts and lists recurse
        # back into it, so nested URLs (CACHES' LOCATION) are reached as well.
        return self.without_url_passwords(super().cleanse_setting(key, value))

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        # Local variables are shown by name, and a local holding a broker or database URL is
        # common; its password is of no use to whoever debugs. (Django hides more only for
        # functions marked @sensitive_variables.)
        return [
            (name, self.without_url_passwords(value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
