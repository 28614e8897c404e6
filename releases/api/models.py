"""API tokens: a service account per pipeline, its key stored only as a SHA-256 hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

# Keys look like ``rr_<prefix>_<secret>``: the prefix finds the row, the hash proves the key.
KEY_PREFIX = "rr_"
PREFIX_BYTES = 6
SECRET_BYTES = 32
# last_used_at is written at most once per this interval, not on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
# A token found is kept in the cache (Redis in production) this long, so that a request costs
# no query to authenticate. Any save or delete of the token or its user replaces the entry at
# once (and again when its transaction commits) by a mark that sends lookups to the database
# for FORGET_SECONDS, longer than any request takes between its query and filling the entry.
TOKEN_CACHE_SECONDS = 60 * 60
FORGET_SECONDS = 30
_FORGOTTEN = "forgotten"


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

    #: Set by :meth:`find`: whether a use of the token was noted within the last minute.
    use_noted = False

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
        """The active token whose key this is, else ``None``: from the cache (no query), or
        one query. Only tokens that were found are cached, under the hash of their key."""
        return cls.find_with(key, ())[0]

    @classmethod
    def find_with(
        cls, key: str, along: Sequence[str]
    ) -> tuple[ApiToken | None, dict[str, Any] | None]:
        """:meth:`find`, and the cache's values under the keys ``along`` read in the same
        round trip (a dictionary without the keys not found; ``None`` if the key is not even
        shaped as a token's, so the cache was not asked)."""
        parts = key.split("_", 2)
        if len(parts) != 3 or f"{parts[0]}_" != KEY_PREFIX:
            return None, None
        digest = hash_key(key)
        # One round trip for the token, the mark of its last use and what the view reads.
        mine = [_cache_key(digest), _used_key(digest)]
        found = cache.get_many([*mine, *along])
        also = {name: found[name] for name in along if name in found}
        cached = found.get(_cache_key(digest))
        if isinstance(cached, ApiToken) and hmac.compare_digest(cached.key_hash, digest):
            cached.use_noted = _used_key(digest) in found
            return cached, also
        token = (
            cls.objects.active()
            .select_related("user")
            .filter(prefix=parts[1], user__is_active=True)
            .first()
        )
        if token is None or not hmac.compare_digest(token.key_hash, digest):
            return None, also
        if cached is None:  # not while a change of the token or its user is being made
            cache.add(_cache_key(digest), token, TOKEN_CACHE_SECONDS)
        token.use_noted = _used_key(digest) in found
        return token, also

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])

    def record_use(self, now: dt.datetime | None = None) -> None:
        """Note the use, at most once per :data:`LAST_USED_RESOLUTION`: a mark in the cache
        (read with the token by :meth:`find`) says the use was noted within it."""
        if getattr(self, "use_noted", False):
            return
        now = now or timezone.now()
        self.last_used_at = now
        type(self).objects.filter(pk=self.pk).update(last_used_at=now)
        cache.set(_used_key(self.key_hash), True, LAST_USED_RESOLUTION.total_seconds())


def _cache_key(key_hash: str) -> str:
    return f"api-token:{key_hash}"


def _used_key(key_hash: str) -> str:
    return f"api-token-used:{key_hash}"


def forget(key_hashes: list[str]) -> None:
    """Stop serving these tokens from the cache: now, and again when the transaction commits
    (a request that read the token before the change cannot fill the entry in between)."""

    def mark() -> None:
        cache.set_many({_cache_key(h): _FORGOTTEN for h in key_hashes}, FORGET_SECONDS)

    if key_hashes:
        mark()
        transaction.on_commit(mark)


@receiver(post_save, sender=ApiToken, dispatch_uid="releases.api.token_saved")
@receiver(post_delete, sender=ApiToken, dispatch_uid="releases.api.token_deleted")
def token_changed(sender: Any, instance: ApiToken, **kwargs: Any) -> None:
    if not kwargs.get("created"):
        forget([instance.key_hash])


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="releases.api.user_saved")
@receiver(post_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="releases.api.user_deleted")
def user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A user deactivated, renamed or deleted: its token (if any) is looked up again."""
    if kwargs.get("update_fields") == frozenset({"last_login"}):
        return  # a login (sessions only: a token's account has no password)
    forget(list(ApiToken.objects.filter(user_id=instance.pk).values_list("key_hash", flat=True)))
