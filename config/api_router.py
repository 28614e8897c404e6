"""The REST API's routes, mounted at ``/api/`` (CONTRACT §3): :mod:`releases.api.urls`."""

from releases.api.urls import urlpatterns

app_name = "api"

__all__ = ["app_name", "urlpatterns"]
