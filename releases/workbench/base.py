"""What every model admin of the registry shares.

Every view that writes runs in one change batch (:mod:`releases.changes`, source "admin"):
a release saved with its pins and deployments is one change and one revision. Forms change
only what the user changed (:mod:`releases.forms`); pin states are derived, never edited.
"""

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from simple_history.admin import SimpleHistoryAdmin

from .. import changes
from ..forms import KeepsStoredValuesForm
from ..manifests import ManifestRejected

# Derived from findings by releases.pin_state: shown, never edited.
PIN_STATE_FIELDS = ["validation_state", "findings", "validated_at"]


def admin_batch(request: HttpRequest) -> AbstractContextManager[Any]:
    if request.method == "POST":
        return changes.batch(changes.ADMIN, user=request.user)
    return nullcontext()


def promotion_refused(request: HttpRequest, refused: ManifestRejected) -> HttpResponse:
    """A save the promotion gate refused when its batch ended (the forms ask it first, so
    this is a write that no form checked): nothing was written; say why, on the same page."""
    from ..promotion.enforcement import PromotionRefused  # the importer's module

    if not isinstance(refused, PromotionRefused):
        raise refused
    for rejection in refused.rejections:
        for error in rejection.errors:
            messages.error(request, f"Not saved: {error.path}: {error.message}")
    return HttpResponseRedirect(request.get_full_path())


class ReportsChangesAdmin(SimpleHistoryAdmin):
    """Runs each writing view (add, change, delete, list actions, history revert) in one
    change batch."""

    form = KeepsStoredValuesForm

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            with admin_batch(request):
                response: HttpResponse = super().changeform_view(
                    request, object_id, form_url, extra_context
                )
        except ManifestRejected as refused:
            return promotion_refused(request, refused)
        return response

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        with admin_batch(request):
            response: HttpResponse = super().delete_view(request, object_id, extra_context)
        return response

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        with admin_batch(request):
            response: HttpResponse = super().changelist_view(request, extra_context)
        return response

    def history_form_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            with admin_batch(request):
                response: HttpResponse = super().history_form_view(request, *args, **kwargs)
        except ManifestRejected as refused:
            return promotion_refused(request, refused)
        return response
