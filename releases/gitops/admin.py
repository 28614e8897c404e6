"""Read-only admin pages of the manifests sync: each release's source and each run's report."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ManifestSource, ManifestSync


class ReadOnly(admin.ModelAdmin):
    """Written by the sync only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ManifestSource)
class ManifestSourceAdmin(ReadOnly):
    list_display = ("version", "branch", "short_commit", "path", "rejected", "synced_at")
    list_select_related = ("release",)
    search_fields = ("version", "path", "branch", "commit")
    list_filter = ("branch",)

    @admin.display(description="commit")
    def short_commit(self, source: ManifestSource) -> str:
        return source.commit[:12]

    @admin.display(boolean=True)
    def rejected(self, source: ManifestSource) -> bool:
        return bool(source.rejected_blob_sha)


@admin.register(ManifestSync)
class ManifestSyncAdmin(ReadOnly):
    list_display = ("pk", "state", "trigger", "queued_at", "finished_at", "counts")
    list_filter = ("state", "trigger")
