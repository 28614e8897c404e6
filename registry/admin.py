from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import Environment, Repository


@admin.register(Repository)
class RepositoryAdmin(SimpleHistoryAdmin):
    list_display = ["name", "git_url", "package_name"]
    search_fields = ["name", "git_url", "package_name"]


@admin.register(Environment)
class EnvironmentAdmin(SimpleHistoryAdmin):
    list_display = ["name", "display_order"]
    list_editable = ["display_order"]
    search_fields = ["name"]
