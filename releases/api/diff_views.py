"""Two environments side by side, and the commits a release brings (CONTRACT §3). Thin shells
over :mod:`releases.environment_diff` and :mod:`releases.what_changed`."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from registry.models import Environment
from releases.environment_diff import (
    UnknownEnvironment,
    diff_environments,
    environment_diff_data,
)
from releases.manifests import Finding, ManifestRejected
from releases.models import Release
from releases.what_changed import UnknownSince, what_changed, what_changed_data

from .serializers import LiveReleaseSerializer
from .views import QUERY_ERRORS, ApiView, moment

# --- for the schema ----------------------------------------------------------------------------


class DiffSideSerializer(serializers.Serializer):
    name = serializers.CharField()
    at = serializers.DateTimeField()
    releases = LiveReleaseSerializer(many=True)
    newest = serializers.CharField(allow_null=True, help_text="The newest live release.")


class PinValuesSerializer(serializers.Serializer):
    tag = serializers.CharField()
    commit_sha = serializers.CharField(allow_null=True)
    package_version = serializers.CharField(allow_null=True)
    url = serializers.CharField(allow_null=True)
    depends_on = serializers.ListField(child=serializers.CharField())


class PinDifferenceSerializer(serializers.Serializer):
    repository = serializers.CharField()
    status = serializers.ChoiceField(choices=["added", "removed", "changed"])
    changed = serializers.ListField(child=serializers.CharField(), help_text="Fields that differ.")
    a = PinValuesSerializer(allow_null=True)
    b = PinValuesSerializer(allow_null=True)


class EnvironmentDiffSerializer(serializers.Serializer):
    a = DiffSideSerializer()
    b = DiffSideSerializer()
    only_in_a = LiveReleaseSerializer(many=True)
    only_in_b = LiveReleaseSerializer(many=True)
    in_both = serializers.ListField(child=serializers.CharField())
    pins = PinDifferenceSerializer(
        many=True, help_text="Pins of a's newest live release that differ in b's."
    )
    same_pins = serializers.IntegerField()
    compared = serializers.BooleanField(help_text="False when either side runs nothing.")


class CommitSerializer(serializers.Serializer):
    sha = serializers.CharField()
    subject = serializers.CharField()
    author = serializers.CharField()
    date = serializers.DateTimeField()


class PinSideSerializer(serializers.Serializer):
    tag = serializers.CharField()
    commit_sha = serializers.CharField(allow_null=True)


class PinCommitsSerializer(serializers.Serializer):
    repository = serializers.CharField()
    status = serializers.ChoiceField(
        choices=[
            "added",
            "removed",
            "same",
            "forward",
            "backwards",
            "diverged",
            "unrelated",
            "no-commit",
            "missing",
            "unreachable",
        ]
    )
    old = PinSideSerializer(allow_null=True)
    new = PinSideSerializer(allow_null=True)
    commits = CommitSerializer(
        many=True,
        help_text="Newest first, at most `limit`; for `backwards`, the commits taken away.",
    )
    total = serializers.IntegerField()
    more = serializers.IntegerField(help_text="Commits not listed (beyond `limit`).")
    left_behind = serializers.IntegerField(help_text="`diverged`: the old pin's commits dropped.")
    message = serializers.CharField(allow_blank=True)


class SinceSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["release", "environment"])
    name = serializers.CharField()
    release = serializers.CharField(allow_null=True)


class WhatChangedSerializer(serializers.Serializer):
    version = serializers.CharField()
    since = SinceSerializer()
    limit = serializers.IntegerField()
    pins = PinCommitsSerializer(many=True)


def _at(name: str, side: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        OpenApiTypes.DATETIME,
        description=f"An RFC 3339 moment for {side}; default: `at`, else now.",
    )


AT_BOTH = OpenApiParameter(
    "at", OpenApiTypes.DATETIME, description="An RFC 3339 moment for both sides; default: now."
)
SINCE = OpenApiParameter(
    "since",
    OpenApiTypes.STR,
    required=True,
    description=(
        "A release version, or an environment: then the newest release live there now "
        "(other than this one). A version is looked up first."
    ),
)


# --- views -------------------------------------------------------------------------------------


class EnvironmentDiff(ApiView):
    """Environment ``a`` against ``b``, each now or at a past moment: the releases live in one
    and not the other, and pin by pin how their newest live releases differ."""

    queryset = Environment.objects.none()  # for the schema: the views read through services

    @extend_schema(
        parameters=[AT_BOTH, _at("a_at", "environment a"), _at("b_at", "environment b")],
        responses={200: EnvironmentDiffSerializer, **QUERY_ERRORS},
    )
    def get(self, request: Request, name: str, other: str) -> Response:
        both = moment(request)
        a_at, b_at = moment(request, "a_at") or both, moment(request, "b_at") or both
        try:
            diff = diff_environments(name, other, a_at=a_at, b_at=b_at)
        except UnknownEnvironment as exc:
            raise Http404(str(exc)) from None
        return Response(environment_diff_data(diff))


class ReleaseChanges(ApiView):
    """Per pin, the commits between the pin in ``since`` (a release, or the newest release
    live in an environment) and this release's, from the cached clones."""

    queryset = Release.objects.none()  # for the schema: the views read through services

    @extend_schema(parameters=[SINCE], responses={200: WhatChangedSerializer, **QUERY_ERRORS})
    def get(self, request: Request, version: str) -> Response:
        since = request.query_params.get("since", "")
        if not since:
            message = "required: a release version or an environment"
            raise ManifestRejected("since", [Finding("required", "error", "since", message)])
        try:
            changes = what_changed(version, since)
        except Release.DoesNotExist:
            raise Http404(f"No release {version}.") from None
        except UnknownSince as exc:
            raise ManifestRejected(
                "since", [Finding("unknown", "error", "since", str(exc))]
            ) from None
        return Response(what_changed_data(changes))
