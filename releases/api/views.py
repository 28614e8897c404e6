"""The API's views (CONTRACT §3). Thin: they read the request, call a service inside
:func:`~releases.api.writes.locked_release`, and answer with :mod:`.representations`."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from registry.models import Environment
from releases import change_stamp, changes
from releases.edits import edit_pin, record_deployment
from releases.exporting import UnknownRelease, export_of_revision, load_manifests, manifest_for
from releases.importing import import_manifest
from releases.manifests import (
    Finding,
    Manifest,
    ManifestRejected,
    diff_manifests,
    format_timestamp,
    parse_timestamp,
)
from releases.models import EnvironmentDeployment, Release, RepositoryPin
from releases.validation.models import ValidationRun
from releases.validation.runs import request_run

from . import serializers as docs
from .authentication import read_along_values
from .filters import ReleaseFilter
from .pagination import TOTAL, CountedPageNumberPagination, with_total
from .parsers import PARSERS, RawBody, raw_body, read_manifest, read_tree, tree_manifest
from .renderers import (
    ManifestJSONRenderer,
    ManifestText,
    ManifestYAMLRenderer,
    PageJSONRenderer,
)
from .representations import (
    READ_ONLY_PIN_KEYS,
    READ_ONLY_RELEASE_KEYS,
    deployment_item,
    deployments_queryset,
    evidence,
    list_rows,
    live_in_environments,
    pin_item,
    pins_queryset,
    release_detail,
    release_history,
    release_list_queryset,
    release_summaries,
    validation_run_item,
    validation_run_url,
)
from .writes import (
    etag,
    locked_release,
    previewed_release,
    source_of,
    who,
    written_revision,
)

T = TypeVar("T")

ERRORS = {
    400: OpenApiResponse(docs.ErrorsSerializer, description="Bad input: located errors."),
    401: OpenApiResponse(docs.DetailSerializer, description="No or invalid token."),
    403: OpenApiResponse(docs.DetailSerializer, description="A read token writing."),
    404: OpenApiResponse(docs.DetailSerializer, description="No such release."),
    409: OpenApiResponse(docs.ErrorsSerializer, description="Another write won a race."),
    412: OpenApiResponse(docs.DetailSerializer, description="Stale If-Match."),
    429: OpenApiResponse(docs.DetailSerializer, description="Too many requests for the token."),
}
READ_ERRORS = {code: ERRORS[code] for code in (401, 404, 429)}
QUERY_ERRORS = {code: ERRORS[code] for code in (400, 401, 404, 429)}
WRITE_ERRORS = {code: ERRORS[code] for code in (400, 401, 403, 404, 409, 412, 429)}
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The ETag you read; a write to a release changed since gets 412.",
)
DRY_RUN = OpenApiParameter(
    "dry_run", OpenApiTypes.BOOL, description="Answer with the diff only; write nothing."
)
STRICT = OpenApiParameter(
    "strict", OpenApiTypes.BOOL, description="Refuse a manifest with error findings."
)
AT = OpenApiParameter("at", OpenApiTypes.DATETIME, description="An RFC 3339 moment; default: now.")


def flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes", "on")


def with_etag(response: Response, revision: int | None) -> Response:
    if revision is not None:
        response["ETag"] = etag(revision)
    return response


def get_release(version: str) -> Release:
    release = Release.objects.filter(version=version).first()
    if release is None:
        raise Http404(f"No release {version}.")
    return release


def version_mismatch(source: str, version: str, found: str) -> ManifestRejected:
    message = f"{found!r} does not match the version in the URL, {version!r}"
    return ManifestRejected(source, [Finding("version-mismatch", "error", "version", message)])


class ApiView(GenericAPIView):
    parser_classes = PARSERS
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]


class StampedReads(ApiView):
    """GETs answered from what this worker kept under the change stamp
    (:mod:`releases.change_stamp`): no query while no change has committed since. The stamp
    is read with the API token, in one round trip to Redis."""

    @property
    def cache_keys_read_along(self) -> tuple[str, ...]:
        return (change_stamp.KEY,) if self.request.method == "GET" else ()

    def stamped(self, key: str, build: Callable[[], T]) -> T:
        """What ``build()`` returns, kept under the stamp taken before it ran and ``key``."""
        stamp = change_stamp.current(read_along_values(self.request))
        if stamp is not None:
            kept: T | None = change_stamp.kept(stamp, key)
            if kept is not None:
                return kept
        value = build()
        if stamp is not None:
            change_stamp.keep(stamp, key, value)
        return value


class ReleaseWriting(ApiView):
    """Reads a release body (the manifest's tree, read-only keys ignored) and writes it."""

    def body_manifest(self, version: str | None, *, partial: bool = False) -> Manifest:
        source = source_of(self.request)
        tree, plain_paths = read_tree(raw_body(self.request.data), source)
        if isinstance(tree, dict):
            tree = {k: v for k, v in tree.items() if k not in READ_ONLY_RELEASE_KEYS}
            repositories = tree.get("repositories")
            if isinstance(repositories, list):
                tree["repositories"] = [
                    {k: v for k, v in entry.items() if k not in READ_ONLY_PIN_KEYS}
                    if isinstance(entry, dict)
                    else entry
                    for entry in repositories
                ]
            if partial and version is not None:
                tree = merge_patch(stored_tree(version), tree)
            if version is not None:
                tree.setdefault("version", version)
        manifest = tree_manifest(tree, plain_paths, source)
        if version is not None and manifest.version != version:
            raise version_mismatch(source, version, manifest.version)
        return manifest

    def write(self, version: str, manifest: Manifest, *, create_only: bool = False) -> Any:
        request = self.request
        source = source_of(request)
        user, _actor = who(request)
        strict = flag(request, "strict")
        if flag(request, "dry_run"):
            with previewed_release(version, request) as release:
                if create_only and release is not None:
                    raise exists(source, version)
                return import_manifest(
                    manifest, source=source, user=user, dry_run=True, strict=strict
                )
        with locked_release(version, request) as release:
            if create_only and release is not None:
                raise exists(source, version)
            return import_manifest(manifest, source=source, user=user, strict=strict)

    def release_response(self, version: str, created: bool) -> Response:
        data = release_detail(version, self.request)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return with_etag(Response(data, status=code), data["revision"])


def exists(source: str, version: str) -> ManifestRejected:
    message = f"release {version} exists; PUT /api/releases/{version}/ replaces it"
    return ManifestRejected(source, [Finding("exists", "error", "version", message)])


def stored_tree(version: str) -> dict[str, Any]:
    from releases.manifests import manifest_to_tree

    try:
        return manifest_to_tree(manifest_for(version))
    except UnknownRelease:
        raise Http404(f"No release {version}.") from None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: mappings merge key by key, ``null`` removes a key, anything
    else (lists included) replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class ReleaseList(StampedReads, ReleaseWriting):
    """Releases, newest first; create one from a manifest body."""

    filterset_class = ReleaseFilter
    pagination_class = CountedPageNumberPagination
    renderer_classes = [PageJSONRenderer, BrowsableAPIRenderer]

    def get_queryset(self) -> QuerySet[Release]:
        return release_list_queryset()

    def filtered(self) -> bool:
        return any(name in self.request.query_params for name in ReleaseFilter.base_filters)

    @property
    def page_sql_key(self) -> str | None:
        """Unfiltered, the page's query is the same for every request (but for its slice), so
        the pagination compiles it once (:func:`.pagination.page_rows`)."""
        return None if self.filtered() else "release-list"

    def filter_queryset(self, queryset: QuerySet[Any, Any]) -> QuerySet[Any, Any]:
        # Without a filter parameter django-filter would only build and validate an empty form.
        if not self.filtered():
            return queryset
        return super().filter_queryset(queryset)

    @extend_schema(responses={200: docs.ReleaseSummarySerializer(many=True), **QUERY_ERRORS})
    def get(self, request: Request) -> Response:
        # What pipelines and dashboards poll (the list, or what is in an environment) is kept
        # under the change stamp, filtered or not. The page's links hold the request's host
        # and its filters, so the whole URL is the key. A refused filter or page raises
        # while building: nothing is kept.
        def build() -> Any:
            if not self.filtered():
                return self.page(unfiltered_rows()).data
            rows = list_rows(with_total(self.filter_queryset(self.get_queryset())), TOTAL)
            return self.page(rows).data

        return Response(self.stamped(request.build_absolute_uri(), build))

    def page(self, rows: QuerySet[Any, Any]) -> Response:
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(release_summaries(list(page or []), self.request))

    @extend_schema(
        request=docs.ManifestSerializer,
        parameters=[DRY_RUN, STRICT],
        responses={201: docs.ReleaseSerializer, 200: docs.ImportResultSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        manifest = self.body_manifest(None)
        result = self.write(manifest.version, manifest, create_only=True)
        if result.dry_run:
            return Response(result.as_dict())
        return self.release_response(manifest.version, created=True)


@functools.cache
def unfiltered_rows() -> QuerySet[Any, Any]:
    """The unfiltered list's rows, built once: a queryset is a template that slicing copies,
    and this one's SQL is compiled once too (:attr:`ReleaseList.page_sql_key`)."""
    return list_rows(with_total(release_list_queryset()), TOTAL)


class ReleaseDetail(ReleaseWriting):
    """One release: its manifest tree with validation, revision and links."""

    queryset = Release.objects.none()  # for the schema: the views read through services

    @extend_schema(responses={200: docs.ReleaseSerializer, **READ_ERRORS})
    def get(self, request: Request, version: str) -> Response:
        try:
            data = release_detail(version, request)
        except Release.DoesNotExist:
            raise Http404(f"No release {version}.") from None
        return with_etag(Response(data), data["revision"])

    @extend_schema(
        request=docs.ManifestSerializer,
        parameters=[IF_MATCH, DRY_RUN, STRICT],
        responses={
            200: docs.ReleaseSerializer,
            201: docs.ReleaseSerializer,
            **WRITE_ERRORS,
        },
    )
    def put(self, request: Request, version: str) -> Response:
        manifest = self.body_manifest(version)
        result = self.write(version, manifest)
        if result.dry_run:
            return Response(result.as_dict())
        return self.release_response(version, created=result.diff.created)

    @extend_schema(
        request=docs.ManifestPatchSerializer,
        parameters=[IF_MATCH, DRY_RUN, STRICT],
        responses={200: docs.ReleaseSerializer, **WRITE_ERRORS},
    )
    def patch(self, request: Request, version: str) -> Response:
        get_release(version)
        manifest = self.body_manifest(version, partial=True)
        result = self.write(version, manifest)
        if result.dry_run:
            return Response(result.as_dict())
        return self.release_response(version, created=False)

    @extend_schema(
        parameters=[IF_MATCH],
        responses={204: None, **{c: ERRORS[c] for c in (401, 403, 404, 412, 429)}},
    )
    def delete(self, request: Request, version: str) -> Response:
        with locked_release(version, request) as release:
            if release is None:
                raise Http404(f"No release {version}.")
            delete_release(release, source_of(request), who(request)[0])
        return Response(status=status.HTTP_204_NO_CONTENT)


def delete_release(release: Release, source: str, user: Any) -> None:
    """Delete the release (its pins and deployments with it) in the open change batch."""
    with changes.batch(changes.API, user=user):
        release._change_reason = f"deleted through {source}"  # type: ignore[attr-defined]
        release._history_user = user  # type: ignore[attr-defined]
        release.delete()


class ReleaseManifest(StampedReads):
    """The canonical manifest, JSON or YAML; PUT creates or replaces the release."""

    queryset = Release.objects.none()  # for the schema: the views read through services

    renderer_classes = [ManifestJSONRenderer, ManifestYAMLRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "yaml"]),
        ],
        responses={
            (200, "application/json"): docs.ManifestSerializer,
            (200, "application/yaml"): OpenApiTypes.STR,
            **READ_ERRORS,
        },
    )
    def get(self, request: Request, version: str) -> Response:
        format = "yaml" if request.accepted_renderer.format == "yaml" else "json"
        try:
            text, revision = self.stamped(
                f"manifest:{format}:{version}", lambda: export_of_revision(version, format)
            )
        except UnknownRelease:
            raise Http404(f"No release {version}.") from None
        return with_etag(Response(ManifestText(text)), revision)

    @extend_schema(
        request={
            "application/json": docs.ManifestSerializer,
            "application/yaml": OpenApiTypes.STR,
        },
        parameters=[IF_MATCH, DRY_RUN, STRICT],
        responses={
            200: docs.ImportResultSerializer,
            201: docs.ImportResultSerializer,
            **{c: ERRORS[c] for c in (400, 401, 403, 409, 412, 429)},
        },
    )
    def put(self, request: Request, version: str) -> Response:
        source = source_of(request)
        body: RawBody = raw_body(request.data)
        manifest = read_manifest(body, source)
        if manifest.version != version:
            raise version_mismatch(source, version, manifest.version)
        user, _actor = who(request)
        strict = flag(request, "strict")
        if flag(request, "dry_run"):
            with previewed_release(version, request):
                result = import_manifest(
                    manifest, source=source, user=user, dry_run=True, strict=strict
                )
            return Response(result.as_dict())
        with locked_release(version, request):
            result = import_manifest(manifest, source=source, user=user, strict=strict)
        code = status.HTTP_201_CREATED if result.diff.created else status.HTTP_200_OK
        return with_etag(
            Response(result.as_dict(), status=code), written_revision(request, version)
        )


class PinList(ApiView):
    """A release's pins in manifest order, with their validation state and findings."""

    queryset = RepositoryPin.objects.none()  # for the schema: the views read through services

    @extend_schema(responses={200: docs.PinSerializer(many=True), **READ_ERRORS})
    def get(self, request: Request, version: str) -> Response:
        release = get_release(version)
        page = self.paginate_queryset(pins_queryset(release))
        response = self.get_paginated_response([pin_item(pin) for pin in page or []])
        return with_etag(response, release.revision)


class PinDetail(ApiView):
    """One pin; PATCH changes its tag, commit, package version, URL or dependencies."""

    queryset = RepositoryPin.objects.none()  # for the schema: the views read through services

    @extend_schema(responses={200: docs.PinSerializer, **READ_ERRORS})
    def get(self, request: Request, version: str, repository: str) -> Response:
        release = get_release(version)
        pin = pins_queryset(release).filter(repository__name=repository).first()
        if pin is None:
            raise Http404(f"Release {version} has no pin of {repository}.")
        return with_etag(Response(pin_item(pin)), release.revision)

    @extend_schema(
        request=docs.PinPatchSerializer,
        parameters=[IF_MATCH],
        responses={200: docs.PinSerializer, **WRITE_ERRORS},
    )
    def patch(self, request: Request, version: str, repository: str) -> Response:
        source = source_of(request)
        tree, _plain = read_tree(raw_body(request.data), source)
        if not isinstance(tree, dict):
            message = "the body must be a mapping of pin fields"
            raise ManifestRejected(source, [Finding("type", "error", "", message)])
        fields = {
            k: v
            for k, v in tree.items()
            if k not in (*READ_ONLY_PIN_KEYS, "repository", "position")
        }
        user, actor = who(request)
        with locked_release(version, request) as release:
            if release is None:
                raise Http404(f"No release {version}.")
            try:
                edit_pin(release, repository, fields, source=source, user=user, actor=actor)
            except LookupError:
                raise Http404(f"Release {version} has no pin of {repository}.") from None
        release = get_release(version)
        pin = pins_queryset(release).get(repository__name=repository)
        return with_etag(Response(pin_item(pin)), written_revision(request, version))


class DeploymentList(ApiView):
    """Where a release is deployed (or planned), in manifest order."""

    queryset = (
        EnvironmentDeployment.objects.none()
    )  # for the schema: the views read through services

    @extend_schema(responses={200: docs.DeploymentSerializer(many=True), **READ_ERRORS})
    def get(self, request: Request, version: str) -> Response:
        release = get_release(version)
        page = self.paginate_queryset(deployments_queryset(release))
        response = self.get_paginated_response([deployment_item(d) for d in page or []])
        return with_etag(response, release.revision)


class DeploymentDetail(ApiView):
    """A release's deployment to one environment; PUT/PATCH record it (an unknown environment
    is created)."""

    queryset = (
        EnvironmentDeployment.objects.none()
    )  # for the schema: the views read through services

    @extend_schema(responses={200: docs.DeploymentSerializer, **READ_ERRORS})
    def get(self, request: Request, version: str, environment: str) -> Response:
        release = get_release(version)
        deployment = deployments_queryset(release).filter(environment__name=environment).first()
        if deployment is None:
            raise Http404(f"Release {version} has no deployment in {environment}.")
        return with_etag(Response(deployment_item(deployment)), release.revision)

    @extend_schema(
        request=docs.DeploymentInputSerializer,
        parameters=[IF_MATCH],
        responses={200: docs.DeploymentSerializer, 201: docs.DeploymentSerializer, **WRITE_ERRORS},
    )
    def put(self, request: Request, version: str, environment: str) -> Response:
        return self.record(request, version, environment, partial=False)

    @extend_schema(
        request=docs.DeploymentInputSerializer,
        parameters=[IF_MATCH],
        responses={200: docs.DeploymentSerializer, **WRITE_ERRORS},
    )
    def patch(self, request: Request, version: str, environment: str) -> Response:
        return self.record(request, version, environment, partial=True)

    def record(
        self, request: Request, version: str, environment: str, *, partial: bool
    ) -> Response:
        source = source_of(request)
        tree, _plain = read_tree(raw_body(request.data), source)
        if not isinstance(tree, dict):
            message = "the body must be a mapping: namespace, deployed_at, status"
            raise ManifestRejected(source, [Finding("type", "error", "", message)])
        fields = {k: v for k, v in tree.items() if k != "environment"}
        unknown = sorted(set(fields) - {"namespace", "deployed_at", "status"})
        if unknown:
            raise ManifestRejected(
                source,
                [
                    Finding(
                        "unknown-key",
                        "error",
                        key,
                        "unknown; one of namespace, deployed_at, status",
                    )
                    for key in unknown
                ],
            )
        user, actor = who(request)
        with locked_release(version, request) as release:
            if release is None:
                raise Http404(f"No release {version}.")
            existing = deployments_queryset(release).filter(environment__name=environment).first()
            if partial:
                if existing is None:
                    raise Http404(f"Release {version} has no deployment in {environment}.")
                current = deployment_item(existing)
                fields = {
                    key: fields.get(key, current[key])
                    for key in ("namespace", "deployed_at", "status")
                }
            record_deployment(
                release,
                environment,
                namespace=fields.get("namespace"),
                deployed_at=fields.get("deployed_at"),
                status=fields.get("status"),
                source=source,
                user=user,
                actor=actor,
            )
        release = get_release(version)
        deployment = deployments_queryset(release).get(environment__name=environment)
        code = status.HTTP_201_CREATED if existing is None else status.HTTP_200_OK
        return with_etag(
            Response(deployment_item(deployment), status=code), written_revision(request, version)
        )


class ReleaseDiff(ApiView):
    """Release ``a`` to release ``b``: pins added, removed and changed field by field."""

    queryset = Release.objects.none()  # for the schema: the views read through services

    @extend_schema(responses={200: docs.DiffSerializer, **READ_ERRORS})
    def get(self, request: Request, version: str, other: str) -> Response:
        try:
            old, new = (
                load_manifests([version, other])
                if version != other
                else [manifest_for(version)] * 2
            )
        except UnknownRelease as exc:
            raise Http404(str(exc)) from None
        data = diff_manifests(old, new).as_dict()
        data.update(old_version=version, new_version=other)
        return Response(data)


class ReleaseHistory(ApiView):
    """Every change of the release, its pins and deployments, newest first."""

    queryset = Release.objects.none()  # for the schema: the views read through services

    @extend_schema(responses={200: docs.HistoryEntrySerializer(many=True), **READ_ERRORS})
    def get(self, request: Request, version: str) -> Response:
        release = get_release(version)
        page = self.paginate_queryset(release_history(release))
        return with_etag(self.get_paginated_response(page), release.revision)


class ReleaseEvidence(ApiView):
    """The audit package: manifest, validation, deployment and change history, SHA-256."""

    queryset = Release.objects.none()  # for the schema: the views read through services

    @extend_schema(responses={200: docs.EvidenceSerializer, **READ_ERRORS})
    def get(self, request: Request, version: str) -> Response:
        release = get_release(version)
        return with_etag(Response(evidence(release, request)), release.revision)


def moment(request: Request, name: str = "at") -> Any:
    text = request.query_params.get(name)
    if not text:
        return None
    when = parse_timestamp(text, name)
    if when is None:
        message = "not an RFC 3339 time with an offset or Z, e.g. 2025-01-20T14:30:00Z"
        raise ManifestRejected(name, [Finding("format", "error", name, message)])
    # In UTC: PostgreSQL refuses offsets beyond ±15:59 that Python (and RFC 3339) allow.
    return when.astimezone(dt.UTC)


class EnvironmentList(ApiView):
    """Every environment and the releases live there (in progress or deployed)."""

    queryset = Environment.objects.none()  # for the schema: the views read through services

    @extend_schema(
        parameters=[AT], responses={200: docs.EnvironmentSerializer(many=True), **QUERY_ERRORS}
    )
    def get(self, request: Request) -> Response:
        data = live_in_environments(None, moment(request), timezone.now())
        page = self.paginate_queryset(data)
        return self.get_paginated_response(page)


class EnvironmentDetail(ApiView):
    """The releases live in one environment, side by side, now or ``?at=``."""

    queryset = Environment.objects.none()  # for the schema: the views read through services

    @extend_schema(parameters=[AT], responses={200: docs.EnvironmentSerializer, **QUERY_ERRORS})
    def get(self, request: Request, name: str) -> Response:
        if not Environment.objects.filter(name=name).exists():
            raise Http404(f"No environment {name}.")
        at, now = moment(request), timezone.now()
        # An environment created after ``at`` had nothing live then; the answer still says when.
        (data,) = live_in_environments([name], at, now) or [
            {"name": name, "at": format_timestamp(at or now), "releases": []}
        ]
        return Response(data)


class ReleaseValidate(ApiView):
    """Queue a validation run of the release against the git hosts; poll the run it answers."""

    queryset = Release.objects.none()  # for the schema: the views read through services

    @extend_schema(
        request=None,
        responses={
            202: OpenApiResponse(
                docs.RunRequestedSerializer,
                description="Queued; the Location header is the run's URL.",
            ),
            **{c: ERRORS[c] for c in (401, 403, 404, 429)},
        },
    )
    def post(self, request: Request, version: str) -> Response:
        user, actor = who(request)
        # The row is committed before its task is enqueued (on commit, by the service).
        with transaction.atomic():
            run = request_run(get_release(version), requested_by=actor, user=user)
        url = validation_run_url(request, run.pk)
        return Response(
            {"id": run.pk, "url": url, "state": run.state},
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": url},
        )


class ValidationRunDetail(ApiView):
    """One validation run: its state, who asked, when, and each pin's result."""

    queryset = ValidationRun.objects.none()  # for the schema: the views read through services

    @extend_schema(
        responses={
            200: docs.ValidationRunSerializer,
            404: OpenApiResponse(docs.DetailSerializer, description="No such run."),
            **{c: ERRORS[c] for c in (401, 429)},
        }
    )
    def get(self, request: Request, pk: int) -> Response:
        run = ValidationRun.objects.select_related("release").filter(pk=pk).first()
        if run is None:
            raise Http404(f"No validation run {pk}.")
        return Response(validation_run_item(run))


class ApiRoot(APIView):
    """The API's entry points."""

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(
            {
                "releases": reverse("api:release-list", request=request),
                "environments": reverse("api:environment-list", request=request),
                "schema": reverse("api-schema", request=request),
                "docs": reverse("api-docs", request=request),
            }
        )
