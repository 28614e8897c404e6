"""API tokens: a service account per pipeline, its key stored only as a SHA-256 hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import ClassVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone

# Keys look like ``rr_<prefix>_<secret>``: the prefix finds the row, the hash proves the key.
KEY_PREFIX = "rr_"
PREFIX_BYTES = 6
SECRET_BYTES = 32
# last_used_at is written at most once per this interval, not on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def hash_key(key: str) -> str:
    """SHA-256 of a key: enough for a random 256-bit secret (no password stretching needed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class TokenNameTaken(ValueError):
    """A token, or a user account, already has that name."""


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A pipeline's credential: a service account (``user``, named like the token) and a scope.

    The key is shown once, when it is created (:meth:`create_token`); only its hash is kept.
    Revoked tokens stay (with their user) so that history keeps naming who made a change.
    """

    class Scope(models.TextChoices):
        READ = "read", "read"
        WRITE = "write", "read and write"

    name = models.CharField(max_length=150, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="api_token",
        help_text="The service account the token acts as; history names it.",
    )
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    prefix = models.CharField(max_length=32, unique=True, editable=False)
    key_hash = models.CharField("key hash (SHA-256)", max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(
        null=True, blank=True, help_text="Set to revoke the token; it is refused from then on."
    )

    objects: ClassVar[ApiTokenQuerySet] = ApiTokenQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering = ["name"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return self.name

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE

    @classmethod
    def create_token(cls, name: str, scope: str) -> tuple[ApiToken, str]:
        """A new token and its service account; returns the token and its key (never stored).

        Raises :class:`TokenNameTaken` when a token or a user already has ``name``.
        """
        if scope not in cls.Scope.values:
            raise ValueError(f"unknown scope {scope!r}; one of {', '.join(cls.Scope.values)}")
        user_model = get_user_model()
        with transaction.atomic():
            if cls.objects.filter(name=name).exists():
                raise TokenNameTaken(f"a token named {name!r} exists already")
            if user_model._default_manager.filter(username=name).exists():
                raise TokenNameTaken(f"a user named {name!r} exists already; choose another name")
            user = user_model._default_manager.create_user(username=name, password=None)
            user.first_name = "API token"
            user.save(update_fields=["first_name"])
            prefix = secrets.token_hex(PREFIX_BYTES)
            key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
            token = cls.objects.create(
                name=name, user=user, scope=scope, prefix=prefix, key_hash=hash_key(key)
            )
        return token, key

    @classmethod
    def find(cls, key: str) -> ApiToken | None:
        """The active token whose key this is, else ``None`` (one query)."""
        parts = key.split("_", 2)
        if len(parts) != 3 or f"{parts[0]}_" != KEY_PREFIX:
            return None
        token = (
            cls.objects.active()
            .select_related("user")
            .filter(prefix=parts[1], user__is_active=True)
            .first()
        )
        if token is None or not hmac.compare_digest(token.key_hash, hash_key(key)):
            return None
        return token

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])

    def record_use(self, now: dt.datetime | None = None) -> None:
        """Note the use, at most once per :data:`LAST_USED_RESOLUTION`."""
        now = now or timezone.now()
        if self.last_used_at is None or now - self.last_used_at >= LAST_USED_RESOLUTION:
            self.last_used_at = now
            type(self).objects.filter(pk=self.pk).update(last_used_at=now)
