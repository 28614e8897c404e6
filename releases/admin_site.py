"""The admin site of the Release Registry: branded, Releases first, operations below.

Installed as ``RegistryAdminConfig`` in place of ``django.contrib.admin``, so ``admin.site``
(and every ``@admin.register``) is this site. No models are imported here: Django loads this
module while it builds the app registry.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest

# Apps in the order the platform team needs them; anything else follows, then operations.
APP_ORDER = ("releases", "registry", "auth")
# The day-to-day team never opens these: one box at the bottom.
OPERATIONS_APPS = ("django_celery_beat",)
# Within Releases, what the team works with most comes first.
MODEL_ORDER = {
    "Release": 0,
    "RepositoryPin": 1,
    "EnvironmentDeployment": 2,
    "PinDependency": 3,
}


class RegistryAdminSite(AdminSite):
    site_header = "Release Registry"
    site_title = "Release Registry"
    index_title = "Platform workbench"
    index_template = "admin/registry_index.html"

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        operations = [app for app in apps if app["app_label"] in OPERATIONS_APPS]
        rest = [app for app in apps if app["app_label"] not in OPERATIONS_APPS]
        rest.sort(
            key=lambda app: (
                APP_ORDER.index(app["app_label"]) if app["app_label"] in APP_ORDER else 99,
                app["name"],
            )
        )
        for app in rest:
            if app["app_label"] == "releases":
                app["models"].sort(
                    key=lambda model: (MODEL_ORDER.get(model["object_name"], 99), model["name"])
                )
        if operations:
            rest.append(
                {
                    "name": "Operations",
                    "app_label": "operations",
                    "app_url": "",
                    "has_module_perms": True,
                    "models": [model for app in operations for model in app["models"]],
                }
            )
        return rest


class RegistryAdminConfig(AdminConfig):
    default_site = "releases.admin_site.RegistryAdminSite"
