"""``/api/releases/{version}/promotion/{environment}`` (the gate) and its ``approvals/``."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from releases.api.parsers import raw_body, read_tree
from releases.api.serializers import DetailSerializer
from releases.api.views import READ_ERRORS, ApiView, get_release
from releases.api.writes import source_of, who

from ..models import Release
from . import gate
from .approvals import ApprovalRefused, approval_item, approve
from .models import PromotionApproval
from .pinned import current_digests

#: The header a write carries to record a deployment its policy refuses (with the
#: ``releases.override_promotion`` permission): the reason, stored with the override.
OVERRIDE_HEADER = "Promotion-Override-Reason"


class RuleSerializer(serializers.Serializer):
    rule = serializers.CharField()
    ok = serializers.BooleanField()
    message = serializers.CharField()


class VerdictSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    release = serializers.CharField()
    environment = serializers.CharField()
    rules = RuleSerializer(many=True)


class ApprovalSerializer(serializers.Serializer):
    release = serializers.CharField(read_only=True)
    environment = serializers.CharField(read_only=True)
    user = serializers.CharField(read_only=True)
    approved_at = serializers.DateTimeField(read_only=True)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=500)
    pins_digest = serializers.CharField(
        read_only=True, help_text="SHA-256 of the release's pins the approval was given for."
    )
    current = serializers.BooleanField(
        read_only=True,
        help_text="Given for the pins the release has now: only these count; the others are "
        "kept for the record.",
    )


class PromotionGate(ApiView):
    """May the release go live in the environment now? Every rule of its policy, with
    ``allowed`` true only when all hold. A write recording it anyway gets 409 with the same
    rules, unless it carries a ``Promotion-Override-Reason`` header and the caller holds the
    override permission."""

    queryset = Release.objects.none()  # for the schema: the views read through services

    @extend_schema(responses={200: VerdictSerializer, **READ_ERRORS})
    def get(self, request: Request, version: str, environment: str) -> Response:
        return Response(gate.check(get_release(version), environment).as_dict())


class PromotionApprovals(ApiView):
    """Approvals of deploying the release to the environment, each for the pins it was given
    for (``current``: the pins as they are, so it counts); POST gives yours for the pins as
    they are (one per user and pins; only members of the policy's group may)."""

    queryset = PromotionApproval.objects.none()
    serializer_class = ApprovalSerializer

    @extend_schema(responses={200: ApprovalSerializer(many=True), **READ_ERRORS})
    def get(self, request: Request, version: str, environment: str) -> Response:
        release = get_release(version)
        approvals = (
            PromotionApproval.objects.filter(release=release, environment__name=environment)
            .select_related("release", "environment", "user")
            .order_by("approved_at", "pk")
        )
        digest = current_digests([release.pk])[release.pk]
        return Response([approval_item(approval, digest) for approval in approvals])

    @extend_schema(
        request=ApprovalSerializer,
        responses={
            201: ApprovalSerializer,
            200: OpenApiResponse(
                ApprovalSerializer, description="You had approved these pins already."
            ),
            403: OpenApiResponse(DetailSerializer, description="Not allowed to approve."),
            **READ_ERRORS,
        },
    )
    def post(self, request: Request, version: str, environment: str) -> Response:
        release = get_release(version)
        tree, _plain = (
            read_tree(raw_body(request.data), source_of(request)) if request.body else ({}, set())
        )
        body = ApprovalSerializer(data=tree if isinstance(tree, dict) else {})
        body.is_valid(raise_exception=True)
        user, _actor = who(request)
        if user is None:
            raise Http404
        try:
            approval, created = approve(
                release, environment, user, comment=body.validated_data.get("comment", "")
            )
        except ApprovalRefused as exc:
            raise PermissionDenied(str(exc)) from None
        return Response(
            approval_item(approval, approval.pins_digest),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
