from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "releases"
    verbose_name = "Releases"

    def ready(self) -> None:
        # Connects the receivers that report model saves and deletes to releases.changes.
        from . import change_stamp, signals  # noqa: F401
        from .promotion import receivers  # noqa: F401 - the promotion gate on every write
