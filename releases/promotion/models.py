"""Promotion policies per environment, their freeze windows, approvals and overrides."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from registry.models import Environment

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class PromotionPolicy(models.Model):
    """What a release must have done before it may go live in ``environment``."""

    environment = models.OneToOneField(
        Environment, on_delete=models.CASCADE, related_name="promotion_policy"
    )
    upstream = models.ManyToManyField(
        Environment,
        related_name="downstream_policies",
        blank=True,
        verbose_name="upstream environments",
        help_text="Environments the release must have been live in (in progress or deployed) "
        "first.",
    )
    soak_time = models.DurationField(
        default=dt.timedelta(0),
        help_text="How long the release must have been live in each upstream environment "
        "(e.g. '1 00:00:00' for a day).",
    )
    require_valid_pins = models.BooleanField(
        default=False,
        help_text="Every pin must have been validated without errors (valid or warnings); "
        "invalid and never checked pins block.",
    )
    unreachable_blocks = models.BooleanField(
        default=False, help_text="A pin whose repository could not be reached blocks."
    )
    required_approvals = models.PositiveSmallIntegerField(
        default=0, help_text="Approvals needed before a deployment may be recorded; 0 = none."
    )
    approval_group = models.ForeignKey(
        Group,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Only approvals of this group's members count (empty: anyone's).",
    )
    history = HistoricalRecords(m2m_fields=[upstream])

    class Meta:
        verbose_name_plural = "promotion policies"
        ordering = ["environment__display_order", "environment__name"]

    def __str__(self) -> str:
        return f"policy of {self.environment.name}"

    def clean(self) -> None:
        if self.required_approvals and self.approval_group_id is None:
            raise ValidationError(
                {"approval_group": "Choose the group whose members' approvals count."}
            )


class FreezeWindow(models.Model):
    """A time when nothing may go live: one-off (``starts_at``..``ends_at``) or recurring
    (on ``weekdays`` at ``start_time`` for ``duration``, in ``time_zone``)."""

    policy = models.ForeignKey(
        PromotionPolicy, on_delete=models.CASCADE, related_name="freeze_windows"
    )
    name = models.CharField(max_length=200)
    starts_at = models.DateTimeField(null=True, blank=True, help_text="One-off: start.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="One-off: end.")
    weekdays = models.CharField(
        max_length=40,
        blank=True,
        help_text="Recurring: days it starts on, e.g. 'fri,sat' (mon..sun).",
    )
    start_time = models.TimeField(null=True, blank=True, help_text="Recurring: local start.")
    duration = models.DurationField(
        null=True, blank=True, help_text="Recurring: how long, e.g. '10:00:00'."
    )
    time_zone = models.CharField(
        max_length=64, default="UTC", help_text="Recurring: an IANA time zone (Europe/Berlin)."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["policy", "name", "pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def recurring(self) -> bool:
        return bool(self.weekdays)

    def day_numbers(self) -> tuple[int, ...]:
        return tuple(
            WEEKDAYS.index(day.strip().lower()[:3])
            for day in self.weekdays.split(",")
            if day.strip()
        )

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.weekdays:
            try:
                self.day_numbers()
            except ValueError:
                errors["weekdays"] = "Days as mon, tue, wed, thu, fri, sat, sun, comma-separated."
            if self.start_time is None:
                errors["start_time"] = "A recurring window needs a start time."
            if not self.duration or self.duration <= dt.timedelta(0):
                errors["duration"] = "A recurring window needs a positive duration."
            try:
                zoneinfo.ZoneInfo(self.time_zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                errors["time_zone"] = f"{self.time_zone!r} is not an IANA time zone."
        elif self.starts_at is None or self.ends_at is None:
            errors["starts_at"] = "Give a start and an end, or weekdays for a recurring window."
        elif self.ends_at <= self.starts_at:
            errors["ends_at"] = "The end must come after the start."
        if errors:
            raise ValidationError(errors)


class PromotionApproval(models.Model):
    """``user`` approves deploying ``release`` to ``environment`` with the pins it had then
    (``pins_digest``); one per user and pinned content. When the pins change, the approval
    stays (the audit trail) but no longer counts; it counts again if they change back."""

    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="promotion_approvals"
    )
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField()
    comment = models.CharField(max_length=500, blank=True)
    pins_digest = models.CharField(
        "pins digest",
        max_length=64,
        default="",
        editable=False,
        help_text="SHA-256 of the release's pins when approved (repository, tag, commit, "
        "package version, URL, depends_on): the approval counts while they are the same.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["release", "environment", "approved_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["release", "environment", "user", "pins_digest"],
                name="promotion_approval_once_per_user_and_pins",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} approves {self.release} for {self.environment}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.pins_digest:  # given without one (the admin, a shell): the pins as they are
            from .pinned import current_digests

            self.pins_digest = current_digests([self.release_id])[self.release_id]
        super().save(*args, **kwargs)


class PromotionOverride(models.Model):
    """A deployment recorded although the policy refused it: who, why, and what was unmet."""

    release = models.ForeignKey(
        "releases.Release", on_delete=models.CASCADE, related_name="promotion_overrides"
    )
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.CharField(max_length=200, blank=True)
    reason = models.TextField()
    rules = models.JSONField(default=list, help_text="The rules unmet when it was recorded.")
    source = models.CharField(max_length=500, blank=True)
    recorded_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        permissions = [
            ("override_promotion", "Can record a deployment its promotion policy refuses")
        ]

    def __str__(self) -> str:
        return f"override for {self.release} in {self.environment}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment.name,
            "by": self.actor,
            "reason": self.reason,
            "recorded_at": self.recorded_at.isoformat().replace("+00:00", "Z"),
            "source": self.source,
            "rules": self.rules,
        }
