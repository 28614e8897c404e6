"""The two groups of the admin: the platform team edits, viewers read."""

from typing import Any

from django.db import migrations

PLATFORM_TEAM = "platform team"
VIEWER = "viewer"
# (app, model) the groups work with. Celery's schedules and API tokens are operations: a
# superuser grants them.
MODELS = [
    ("releases", "release"),
    ("releases", "repositorypin"),
    ("releases", "pindependency"),
    ("releases", "environmentdeployment"),
    ("registry", "repository"),
    ("registry", "environment"),
    ("releases", "validationrun"),
    ("releases", "manifestsource"),
    ("releases", "manifestsync"),
    ("releases", "notionchange"),
    ("releases", "notionpage"),
]
ACTIONS = ("add", "change", "delete", "view")


def create_groups(apps: Any, schema_editor: Any) -> None:
    from django.contrib.auth.management import create_permissions

    # Permissions are made after all migrations ran; on a new database they do not exist
    # yet, so make them now (create_permissions skips those that exist).
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def permissions(actions: tuple[str, ...]) -> list[Any]:
        wanted = [(app, f"{action}_{model}") for app, model in MODELS for action in actions]
        found = {
            (p.content_type.app_label, p.codename): p
            for p in Permission.objects.select_related("content_type").filter(
                codename__in=[codename for _, codename in wanted]
            )
        }
        return [found[key] for key in wanted if key in found]

    team, _ = Group.objects.get_or_create(name=PLATFORM_TEAM)
    team.permissions.add(*permissions(ACTIONS))
    viewer, _ = Group.objects.get_or_create(name=VIEWER)
    viewer.permissions.add(*permissions(("view",)))


def remove_groups(apps: Any, schema_editor: Any) -> None:
    apps.get_model("auth", "Group").objects.filter(name__in=[PLATFORM_TEAM, VIEWER]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("registry", "0002_repository_names_with_owners"),
        ("releases", "0006_notion_sync"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
