"""Mounted at ``hooks/git`` by config/urls.py."""

from django.urls import path

from .webhook import push_webhook

urlpatterns = [path("", push_webhook, name="git-push-webhook")]
