"""The Notion outbox in the admin: what is queued, what failed and why (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .models import NotionChange, NotionPage


@admin.register(NotionChange)
class NotionChangeAdmin(admin.ModelAdmin):
    list_display = ["__str__", "state", "attempts", "next_attempt_at", "last_error", "queued_at"]
    list_filter = ["state"]
    search_fields = ["version", "repository", "last_error"]
    actions = ["retry_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Retry the selected changes now")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[NotionChange]) -> None:
        from .receivers import enqueue

        count = queryset.update(next_attempt_at=timezone.now())
        for release_id in sorted(set(queryset.values_list("release_id", flat=True))):
            enqueue(release_id)
        self.message_user(request, f"{count} change(s) queued for Notion.", messages.SUCCESS)


@admin.register(NotionPage)
class NotionPageAdmin(admin.ModelAdmin):
    list_display = ["registry_key", "page_id", "sent_at"]
    search_fields = ["registry_key", "page_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
