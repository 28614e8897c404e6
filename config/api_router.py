"""The REST API's router, mounted at ``/api/``; apps register their viewsets here."""

from rest_framework.routers import DefaultRouter

app_name = "api"

router = DefaultRouter()

urlpatterns = router.urls
