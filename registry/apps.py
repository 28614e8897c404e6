from django.apps import AppConfig


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
    verbose_name = "Catalogue"

    def ready(self) -> None:
        from . import lookups  # noqa: F401 - registers ``__any_of``
