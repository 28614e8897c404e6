"""The shapes of the API's bodies, for the OpenAPI schema (drf-spectacular).

The views build their answers in :mod:`.representations` and read bodies with the manifest
codec (:mod:`.parsers`); these serializers document both and validate nothing themselves.
"""

from __future__ import annotations

from rest_framework import serializers

from releases.models import DeploymentStatus, ValidationState
from releases.validation.models import RunState


class ErrorSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="Where, e.g. repositories[2].tag; empty = the body.")
    message = serializers.CharField()
    code = serializers.CharField()
    line = serializers.IntegerField(required=False, help_text="YAML line, when known.")


class ErrorsSerializer(serializers.Serializer):
    errors = ErrorSerializer(many=True)  # type: ignore[assignment]


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class FindingSerializer(serializers.Serializer):
    code = serializers.CharField()
    severity = serializers.ChoiceField(choices=["error", "warning"])
    path = serializers.CharField(allow_blank=True)
    message = serializers.CharField()
    line = serializers.IntegerField(required=False)


class EnvironmentEntrySerializer(serializers.Serializer):
    namespace = serializers.CharField()
    deployed_at = serializers.DateTimeField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=DeploymentStatus.choices, required=False)


class RepositoryEntrySerializer(serializers.Serializer):
    name = serializers.CharField(help_text="As the git host spells it: org/name.")
    tag = serializers.CharField()
    commit_sha = serializers.CharField(allow_null=True, required=False)
    package_version = serializers.CharField(allow_null=True, required=False)
    url = serializers.CharField(required=False)
    depends_on = serializers.ListField(child=serializers.CharField(), required=False)


class ManifestSerializer(serializers.Serializer):
    """A release manifest (CONTRACT §1) as JSON."""

    version = serializers.CharField()
    created_at = serializers.DateTimeField(required=False)
    created_by = serializers.CharField(required=False)
    environments = serializers.DictField(child=EnvironmentEntrySerializer(), required=False)
    repositories = RepositoryEntrySerializer(many=True)
    metadata = serializers.DictField(required=False)


class ManifestPatchSerializer(ManifestSerializer):
    """A JSON merge patch (RFC 7386) of the manifest: given keys replace, null removes."""

    version = serializers.CharField(required=False)
    repositories = RepositoryEntrySerializer(many=True, required=False)


class ValidationSummarySerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=ValidationState.choices)
    pins = serializers.DictField(child=serializers.IntegerField(), help_text="Pins per state.")


class PinStateSerializer(RepositoryEntrySerializer):
    state = serializers.ChoiceField(choices=ValidationState.choices, read_only=True)
    findings = FindingSerializer(many=True, read_only=True)
    validated_at = serializers.DateTimeField(allow_null=True, read_only=True)


class ReleaseSerializer(ManifestSerializer):
    """The manifest tree plus read-only fields."""

    repositories = PinStateSerializer(many=True)
    revision = serializers.IntegerField(read_only=True, help_text="Also the ETag.")
    validation = ValidationSummarySerializer(read_only=True)
    findings = FindingSerializer(many=True, read_only=True)
    recorded_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    links = serializers.DictField(child=serializers.URLField(), read_only=True)


class DeploymentSerializer(serializers.Serializer):
    environment = serializers.CharField()
    namespace = serializers.CharField()
    deployed_at = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=DeploymentStatus.choices)


class DeploymentInputSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    deployed_at = serializers.DateTimeField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=DeploymentStatus.choices, required=False)


class ReleaseSummarySerializer(serializers.Serializer):
    version = serializers.CharField()
    created_at = serializers.DateTimeField(allow_null=True)
    created_by = serializers.CharField(allow_null=True)
    revision = serializers.IntegerField()
    pin_count = serializers.IntegerField()
    validation = ValidationSummarySerializer()
    environments = serializers.DictField(child=DeploymentSerializer())
    recorded_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    links = serializers.DictField(child=serializers.URLField())


class PinSerializer(serializers.Serializer):
    repository = serializers.CharField()
    position = serializers.IntegerField()
    tag = serializers.CharField()
    commit_sha = serializers.CharField(allow_null=True)
    package_version = serializers.CharField(allow_null=True)
    url = serializers.CharField(allow_null=True)
    depends_on = serializers.ListField(child=serializers.CharField())
    state = serializers.ChoiceField(choices=ValidationState.choices)
    findings = FindingSerializer(many=True)
    validated_at = serializers.DateTimeField(allow_null=True)


class PinPatchSerializer(serializers.Serializer):
    tag = serializers.CharField(required=False)
    commit_sha = serializers.CharField(required=False, allow_null=True)
    package_version = serializers.CharField(required=False, allow_null=True)
    url = serializers.CharField(required=False)
    depends_on = serializers.ListField(child=serializers.CharField(), required=False)


class ImportResultSerializer(serializers.Serializer):
    source = serializers.CharField()  # type: ignore[assignment]
    version = serializers.CharField()
    action = serializers.ChoiceField(choices=["created", "updated", "unchanged", "skipped"])
    dry_run = serializers.BooleanField()
    diff = serializers.DictField()
    findings = FindingSerializer(many=True)


class DiffSerializer(serializers.Serializer):
    old_version = serializers.CharField()
    new_version = serializers.CharField()
    version = serializers.CharField()
    created = serializers.BooleanField()
    changed = serializers.BooleanField()
    release = serializers.DictField()
    pins = serializers.DictField(help_text="added, removed, changed (field: {old, new})")
    environments = serializers.DictField()


class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=["release", "pin", "deployment"])
    name = serializers.CharField()
    action = serializers.ChoiceField(choices=["created", "changed", "deleted"])
    user = serializers.CharField(allow_null=True)
    token = serializers.CharField(allow_null=True)
    source = serializers.CharField(allow_blank=True)  # type: ignore[assignment]
    changes = serializers.DictField()


class LiveReleaseSerializer(serializers.Serializer):
    version = serializers.CharField()
    namespace = serializers.CharField()
    status = serializers.ChoiceField(choices=DeploymentStatus.choices)
    deployed_at = serializers.DateTimeField(allow_null=True)


class EnvironmentSerializer(serializers.Serializer):
    name = serializers.CharField()
    at = serializers.DateTimeField(allow_null=True)
    releases = LiveReleaseSerializer(many=True)


class EvidencePackageSerializer(serializers.Serializer):
    version = serializers.CharField()
    revision = serializers.IntegerField()
    manifest = ManifestSerializer()
    validation = serializers.ListField(child=serializers.DictField())
    deployments = HistoryEntrySerializer(many=True)
    changes = HistoryEntrySerializer(many=True)
    what_changed = serializers.ListField(
        child=serializers.DictField(),
        help_text="Per environment of the release: the commits since the newest other release "
        "live there (as GET /api/releases/{version}/changes/?since=<environment>).",
    )


class EvidenceSerializer(serializers.Serializer):
    sha256 = serializers.CharField(
        help_text="SHA-256 of `package` as JSON with sorted keys, no spaces, UTF-8."
    )
    package = EvidencePackageSerializer()


class RunRequestedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField(help_text="The run: GET it until its state is done or failed.")
    state = serializers.ChoiceField(choices=RunState.choices)


class RunFindingSerializer(serializers.Serializer):
    code = serializers.CharField()
    severity = serializers.ChoiceField(choices=["error", "warning"])
    path = serializers.CharField(allow_blank=True)
    message = serializers.CharField()


class RunResultSerializer(serializers.Serializer):
    repository = serializers.CharField()
    path = serializers.CharField(help_text="repositories[i]")
    state = serializers.ChoiceField(choices=ValidationState.choices)
    commit = serializers.CharField(
        allow_null=True, help_text="The full SHA the tag resolves to on the remote."
    )
    findings = RunFindingSerializer(many=True)


class ValidationRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    release = serializers.CharField(help_text="The release's version.")
    state = serializers.ChoiceField(choices=RunState.choices)
    requested_by = serializers.CharField(allow_blank=True)
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Pins per state.")
    results = RunResultSerializer(many=True)
    error = serializers.CharField(allow_blank=True, help_text="Why the run failed.")
    superseded_by = serializers.IntegerField(
        allow_null=True,
        help_text="Another run of the release was validating it when this one was asked for: "
        "this run is done with that run's results (or failed with it).",
    )
