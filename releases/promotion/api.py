"""``/api/releases/{version}/promotion/{environment}`` (the gate) and its ``approvals/``."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from releases.api.errors import PreconditionFailed
from releases.api.parsers import raw_body, read_tree
from releases.api.serializers import DetailSerializer
from releases.api.views import ERRORS, IF_MATCH, READ_ERRORS, ApiView, get_release, with_etag
from releases.api.writes import matches, source_of, who

from ..models import Release
from . import gate
from .approvals import ApprovalRefused, PinsChanged, approval_item, approve
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
    pins_digest = serializers.CharField(
        allow_null=True,
        help_text="SHA-256 of the release's pins as they are, which an approval is for: send "
        "it with yours (null: the policy asks for no approvals).",
    )


class PinsChangedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    pins_digest = serializers.CharField(
        required=False,
        help_text="The digest of the release's pins now, when they are not the ones the "
        "approval says were reviewed.",
    )


class ApprovalSerializer(serializers.Serializer):
    release = serializers.CharField(read_only=True)
    environment = serializers.CharField(read_only=True)
    user = serializers.CharField(read_only=True)
    approved_at = serializers.DateTimeField(read_only=True)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=500)
    pins_digest = serializers.RegexField(
        r"^[0-9a-fA-F]{64}$",
        required=False,
        help_text="SHA-256 of the release's pins the approval was given for. In a POST "
        "(optional): the digest of the pins you reviewed, as the gate shows it; if the "
        "release's pins are not those any more, 412 and nothing is recorded.",
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
        release = get_release(version)
        return with_etag(Response(gate.check(release, environment).as_dict()), release.revision)


class PromotionApprovals(ApiView):
    """Approvals of deploying the release to the environment, each for the pins it was given
    for (``current``: the pins as they are, so it counts); POST gives yours for the pins as
    they are (one per user and pins; only members of the policy's group may). A POST may say
    which pins you reviewed (``pins_digest``, as the gate shows it) and carry the release's
    ``ETag`` in ``If-Match``: when the pins, or the release, changed since, it gets 412 and
    records nothing."""

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
        return with_etag(
            Response([approval_item(approval, digest) for approval in approvals]),
            release.revision,
        )

    @extend_schema(
        request=ApprovalSerializer,
        parameters=[IF_MATCH],
        responses={
            201: ApprovalSerializer,
            200: OpenApiResponse(
                ApprovalSerializer, description="You had approved these pins already."
            ),
            400: ERRORS[400],
            403: OpenApiResponse(DetailSerializer, description="Not allowed to approve."),
            412: OpenApiResponse(
                PinsChangedSerializer,
                description="The pins are not the ones you reviewed (pins_digest), or the "
                "release changed since you read it (If-Match); nothing recorded.",
            ),
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
        if not matches(request.headers.get("If-Match"), release.revision):
            raise PreconditionFailed()
        try:
            approval, created = approve(
                release,
                environment,
                user,
                comment=body.validated_data.get("comment", ""),
                reviewed=body.validated_data.get("pins_digest"),
            )
        except ApprovalRefused as exc:
            raise PermissionDenied(str(exc)) from None
        except PinsChanged as exc:
            raise PreconditionFailed({"detail": str(exc), "pins_digest": exc.current}) from None
        return with_etag(
            Response(
                approval_item(approval, approval.pins_digest),
                status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            ),
            release.revision,
        )
