"""The import service: create, update to match the file, keep what the file does not own."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from registry.models import Environment, Repository
from releases import changes
from releases.exporting import export_release, release_to_manifest
from releases.importing import import_manifests, is_conflict
from releases.manifests import ManifestRejected, dump_manifest, parse_manifest
from releases.models import EnvironmentDeployment, PinDependency, Release, RepositoryPin

from .manifests import RELEASE_1_4, import_text

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    models = [Release, RepositoryPin, PinDependency, EnvironmentDeployment, Repository, Environment]
    result = {model.__name__: model._default_manager.count() for model in models}
    for model in models:
        result[f"history:{model.__name__}"] = model.history.count()  # type: ignore[attr-defined]
    return result


def test_first_import_creates_the_release_with_history_naming_the_file():
    result = import_text(RELEASE_1_4)

    assert result.action == "created"
    release = Release.objects.get(version="1.4")
    assert [pin.repository.name for pin in release.pins.order_by("position")] == [
        "fogpy",
        "fogpy_utils",
        "chempipe-plugins",
    ]
    fogpy = release.pins.get(repository__name="fogpy")
    assert [dep.repository.name for dep in fogpy.depends_on.all()] == ["fogpy_utils"]
    assert release.deployments.get().namespace == "prod-v1.4"
    assert release.notes == "Production release"
    assert release.metadata == {"notes": "Production release", "ticket": "REL-140"}
    reasons = {record.history_change_reason for record in RepositoryPin.history.all()}
    assert reasons == {"imported from manifests/v1.4.yaml"}
    assert release.history.get().history_change_reason == "imported from manifests/v1.4.yaml"
    assert export_release("1.4") == dump_manifest(parse_manifest(RELEASE_1_4))


def test_reimporting_the_same_file_changes_nothing():
    import_text(RELEASE_1_4)
    before = counts()

    result = import_text(RELEASE_1_4)

    assert result.action == "unchanged"
    assert result.diff.summary() == "unchanged"
    assert counts() == before


def test_update_adds_changes_removes_and_reorders_pins():
    import_text(RELEASE_1_4)
    edited = (
        RELEASE_1_4.replace('tag: "v2.6.1"', 'tag: "v2.6.2"')
        .replace('package_version: "2.6.1"', 'package_version: "2.6.2"')
        .replace(
            '  - name: "chempipe-plugins"\n    tag: "v3.1.0"\n'
            '    commit_sha: "0123456789abcdef0123456789abcdef01234567"\n'
            '    package_version: "3.1.0"\n    depends_on: ["fogpy"]\n',
            '  - name: "ML_model_dockers"\n    tag: "v1.4.2"\n    commit_sha: null\n',
        )
    )

    result = import_text(edited, source="manifests/release-1.4/v1.4.yaml")

    assert result.action == "updated"
    assert result.diff.changed_pins == {
        "fogpy": {"tag": ("v2.6.1", "v2.6.2"), "package_version": ("2.6.1", "2.6.2")}
    }
    assert result.diff.added_pins == ["ML_model_dockers"]
    assert result.diff.removed_pins == ["chempipe-plugins"]
    assert "fogpy tag v2.6.1 -> v2.6.2" in result.diff.summary()
    assert export_release("1.4") == dump_manifest(parse_manifest(edited))
    # The removed pin and its dependency link leave a deletion record naming the file.
    removed = RepositoryPin.history.filter(history_type="-").get()
    assert removed.repository.name == "chempipe-plugins"
    assert removed.history_change_reason == "imported from manifests/release-1.4/v1.4.yaml"
    assert PinDependency.history.filter(history_type="-").count() == 1
    fogpy_changes = RepositoryPin.history.filter(repository__name="fogpy").order_by(
        "history_date", "history_id"
    )
    assert [record.history_type for record in fogpy_changes] == ["+", "~"]
    assert [record.tag for record in fogpy_changes] == ["v2.6.1", "v2.6.2"]


def test_reordering_and_dependency_changes_round_trip():
    import_text(RELEASE_1_4)
    reordered = parse_manifest(RELEASE_1_4)
    repos = list(reordered.repositories)
    repos[0], repos[2] = repos[2], repos[0]
    repos[0] = replace(repos[0], depends_on=("fogpy", "fogpy_utils"))
    repos[2] = replace(repos[2], depends_on=())
    manifest = replace(reordered, repositories=tuple(repos))

    result = import_text(dump_manifest(manifest))

    assert result.diff.reordered
    assert set(result.diff.changed_pins) == {"chempipe-plugins", "fogpy"}
    assert export_release("1.4") == dump_manifest(manifest)


def test_deployments_recorded_elsewhere_are_kept_and_exported_after_the_files():
    import_text(RELEASE_1_4)
    release = Release.objects.get(version="1.4")
    qa = Environment.objects.create(name="qa", display_order=5)
    EnvironmentDeployment.objects.create(
        release=release, environment=qa, namespace="qa-v1.4", position=7
    )
    with_staging = RELEASE_1_4.replace(
        '    namespace: "prod-v1.4"\n',
        '    namespace: "prod-v1.4"\n  staging:\n    deployed_at: "2025-01-18T09:00:00Z"\n'
        '    namespace: "staging-v1.4"\n',
    )

    result = import_text(with_staging)

    assert result.diff.added_environments == ["staging"]
    assert result.diff.removed_environments == []
    exported = parse_manifest(export_release("1.4"))
    assert list(exported.environments) == ["production", "staging", "qa"]
    assert exported.environments["qa"].namespace == "qa-v1.4"


def test_deployment_fields_from_the_file_replace_stored_ones():
    import_text(RELEASE_1_4)
    failed = RELEASE_1_4.replace(
        '    namespace: "prod-v1.4"\n', '    namespace: "prod-v1.4b"\n    status: "failed"\n'
    )

    result = import_text(failed)

    assert result.diff.changed_environments == {
        "production": {"namespace": ("prod-v1.4", "prod-v1.4b"), "status": ("deployed", "failed")}
    }
    deployment = EnvironmentDeployment.objects.get()
    assert (deployment.namespace, deployment.status) == ("prod-v1.4b", "failed")


def test_dry_run_reports_the_diff_and_writes_nothing():
    import_text(RELEASE_1_4)
    before = counts()
    edited = RELEASE_1_4.replace('tag: "v1.4.2"', 'tag: "v1.4.3"').replace('"1.4.2"', '"1.4.3"')

    result = import_text(edited, dry_run=True)

    assert result.action == "updated"
    assert result.diff.changed_pins["fogpy_utils"]["tag"] == ("v1.4.2", "v1.4.3")
    assert counts() == before
    assert RepositoryPin.objects.get(repository__name="fogpy_utils").tag == "v1.4.2"


def test_dry_run_of_a_new_release_creates_no_catalogue_rows():
    result = import_text(RELEASE_1_4, dry_run=True)

    assert result.action == "created"
    assert all(value == 0 for value in counts().values())


def test_findings_are_stored_per_pin_and_strict_refuses_them():
    bad_sha = RELEASE_1_4.replace("abc123def4567890abc123def4567890abc123de", "not-a-sha")

    with pytest.raises(ManifestRejected) as rejected:
        import_text(bad_sha, strict=True)
    assert rejected.value.errors[0].path == "repositories[0].commit_sha"
    assert Release.objects.count() == 0

    result = import_text(bad_sha)
    assert [finding.code for finding in result.findings] == ["sha-malformed"]
    pin = RepositoryPin.objects.get(repository__name="fogpy")
    assert pin.validation_state == RepositoryPin.ValidationState.INVALID
    assert pin.findings[0]["code"] == "sha-malformed"
    assert RepositoryPin.objects.get(repository__name="fogpy_utils").findings == []


def test_a_changed_pin_loses_its_earlier_validation_result():
    import_text(RELEASE_1_4)
    # As an online validation leaves them.
    RepositoryPin.objects.update(
        validation_state=RepositoryPin.ValidationState.VALID, validated_at=timezone.now()
    )

    import_text(RELEASE_1_4.replace('tag: "v3.1.0"', 'tag: "v3.1.1"').replace('"3.1.0"', '"3.1.1"'))

    states = dict(RepositoryPin.objects.values_list("repository__name", "validation_state"))
    assert states == {"fogpy": "valid", "fogpy_utils": "valid", "chempipe-plugins": "unchecked"}
    changed = RepositoryPin.objects.get(repository__name="chempipe-plugins")
    assert changed.validated_at is None


def test_the_importing_user_is_recorded_in_history():
    user = get_user_model().objects.create_user("release-bot")

    import_text(RELEASE_1_4, user=user)

    assert Release.history.get().history_user == user
    assert {record.history_user for record in RepositoryPin.history.all()} == {user}


def test_metadata_extra_keys_keep_their_order_and_types():
    text = RELEASE_1_4.replace(
        '  ticket: "REL-140"\n',
        '  zeta: 1\n  alpha: [true, null, 2.5, {"b": "x", "a": "y"}]\n  changelog_url: "https://example.invalid/c"\n',
    )

    import_text(text)

    metadata = Release.objects.get().metadata
    assert metadata is not None
    assert list(metadata) == ["notes", "changelog_url", "zeta", "alpha"]
    assert metadata["alpha"] == [True, None, 2.5, {"b": "x", "a": "y"}]
    assert list(metadata["alpha"][3]) == ["b", "a"]


@pytest.mark.parametrize("new_value", ["true", "1.0", '"1"'])
def test_a_metadata_value_of_another_type_is_a_change(new_value: str):
    import_text(RELEASE_1_4.replace('  ticket: "REL-140"\n', "  flag: 1\n"))

    result = import_text(RELEASE_1_4.replace('  ticket: "REL-140"\n', f"  flag: {new_value}\n"))

    assert result.action == "updated"
    assert "metadata changed" in result.diff.summary()
    expected = {"true": True, "1.0": 1.0, '"1"': "1"}[new_value]
    stored = Release.objects.get().metadata
    assert stored is not None
    assert type(stored["flag"]) is type(expected)
    assert stored["flag"] == expected


def test_metadata_key_order_is_a_change_but_notes_first_is_not():
    two_keys = RELEASE_1_4.replace('  ticket: "REL-140"\n', "  a: 1\n  b: 2\n")
    import_text(two_keys)

    swapped = import_text(two_keys.replace("  a: 1\n  b: 2\n", "  b: 2\n  a: 1\n"))
    assert swapped.action == "updated"
    notes_last = two_keys.replace('  notes: "Production release"\n', "").replace(
        "  b: 2\n", '  b: 2\n  notes: "Production release"\n'
    )
    import_text(two_keys)
    assert import_text(notes_last).action == "unchanged"


def test_environment_order_is_a_change_and_comes_back_out():
    two = RELEASE_1_4.replace(
        '    namespace: "prod-v1.4"\n',
        '    namespace: "prod-v1.4"\n  staging:\n    namespace: "staging-v1.4"\n',
    )
    import_text(two)
    staging_first = dump_manifest(
        replace(
            parse_manifest(two),
            environments=dict(reversed(list(parse_manifest(two).environments.items()))),
        )
    )

    result = import_text(staging_first)

    assert result.diff.environments_reordered
    assert export_release("1.4") == staging_first


def test_deployments_not_in_the_file_are_named_as_kept():
    two = RELEASE_1_4.replace(
        '    namespace: "prod-v1.4"\n',
        '    namespace: "prod-v1.4"\n  staging:\n    namespace: "staging-v1.4"\n',
    )
    import_text(two)

    result = import_text(RELEASE_1_4)

    assert result.action == "unchanged"
    assert result.diff.summary() == "unchanged (kept 1 deployment not in the file: staging)"


def test_online_findings_of_unchanged_pins_survive_a_reimport():
    import_text(RELEASE_1_4)
    online = {"code": "tag-missing", "severity": "error", "path": "", "message": "no such tag"}
    RepositoryPin.objects.filter(repository__name="fogpy").update(
        findings=[online], validation_state="invalid", validated_at=timezone.now()
    )
    RepositoryPin.objects.filter(repository__name="fogpy_utils").update(
        validation_state="valid", validated_at=timezone.now()
    )
    # Change another pin, and make fogpy_utils part of a cycle.
    edited = RELEASE_1_4.replace('tag: "v3.1.0"', 'tag: "v3.1.1"').replace('"3.1.0"', '"3.1.1"')
    edited = edited.replace(
        '    package_version: "1.4.2"\n',
        '    package_version: "1.4.2"\n    depends_on: ["fogpy"]\n',
    )

    import_text(edited)

    fogpy = RepositoryPin.objects.get(repository__name="fogpy")
    assert [finding["code"] for finding in fogpy.findings] == ["dependency-cycle", "tag-missing"]
    assert fogpy.validation_state == "invalid"
    utils = RepositoryPin.objects.get(repository__name="fogpy_utils")
    assert (utils.findings, utils.validation_state) == ([], "valid")

    # Once the cycle is gone again, the online finding is all that is left.
    import_text(RELEASE_1_4.replace('tag: "v3.1.0"', 'tag: "v3.1.1"').replace('"3.1.0"', '"3.1.1"'))
    fogpy.refresh_from_db()
    assert fogpy.findings == [online]


def test_a_long_source_path_is_kept_whole_in_history():
    # CI checkouts are deep: /home/runner/work/<repo>/<repo>/deploy/manifests/v1.4.yaml
    source = "/home/runner/work/" + "infrastructure-as-code/" * 6 + "manifests/v1.4.yaml"

    import_text(RELEASE_1_4, source=source)

    assert Release.history.get().history_change_reason == f"imported from {source}"
    assert Release.objects.get().source == source


def test_release_level_findings_are_stored_on_the_release():
    early = RELEASE_1_4.replace(
        'deployed_at: "2025-01-20T14:30:00Z"', 'deployed_at: "2025-01-01T00:00:00Z"'
    )

    result = import_text(early)

    assert [finding.code for finding in result.findings] == ["deployed-before-created"]
    stored = Release.objects.get().findings
    assert [(f["code"], f["severity"], f["path"]) for f in stored] == [
        ("deployed-before-created", "warning", "environments.production.deployed_at")
    ]
    assert all(pin.findings == [] for pin in RepositoryPin.objects.all())

    import_text(RELEASE_1_4)
    assert Release.objects.get().findings == []


def test_metadata_notes_of_another_type_round_trip_through_the_database():
    manifest = parse_manifest(RELEASE_1_4)
    odd = replace(
        manifest, metadata={"notes": None, "ticket": "REL-140", "changelog_url": 7, "z": [1]}
    )

    import_manifests([("v1.4.yaml", odd)])

    release = Release.objects.get()
    assert (release.notes, release.changelog_url) == (None, None)
    assert release.metadata == {"notes": None, "changelog_url": 7, "ticket": "REL-140", "z": [1]}
    assert list(release.metadata) == ["notes", "changelog_url", "ticket", "z"]
    assert export_release("1.4") == dump_manifest(odd)
    assert import_manifests([("again.yaml", odd)])[0].action == "unchanged"
    # A string again goes back to its column.
    import_text(RELEASE_1_4)
    release.refresh_from_db()
    assert (release.notes, release.metadata) == (
        "Production release",
        {"notes": "Production release", "ticket": "REL-140"},
    )


def test_an_explicit_status_is_stored_and_given_back():
    manifest = parse_manifest(RELEASE_1_4)
    entry = manifest.environments["production"]
    # The codec marks a status the file wrote (releases/manifests, issue 5).
    object.__setattr__(entry, "status_explicit", True)

    import_manifests([("v1.4.yaml", manifest)])

    assert EnvironmentDeployment.objects.get().status_explicit is True
    exported = release_to_manifest(Release.objects.with_manifest_data().get())
    assert getattr(exported.environments["production"], "status_explicit", True) is True


def test_a_new_environment_after_one_at_the_top_of_the_display_order_range():
    Environment.objects.create(name="last", display_order=2_147_483_647)
    two = RELEASE_1_4.replace(
        '    namespace: "prod-v1.4"\n',
        '    namespace: "prod-v1.4"\n  staging:\n    namespace: "staging-v1.4"\n',
    )

    result = import_text(two)

    assert result.action == "created"
    orders = dict(Environment.objects.values_list("name", "display_order"))
    assert orders == {"last": 2_147_483_647, "production": 2_147_483_647, "staging": 2_147_483_647}


def test_only_a_racing_create_of_the_release_is_a_conflict():
    Release.objects.create(version="1.4")
    Repository.objects.create(name="fogpy")
    errors = {}
    for name, action in {
        "release version": lambda: Release.objects.bulk_create([Release(version="1.4")]),
        "repository name": lambda: Repository.objects.bulk_create([Repository(name="fogpy")]),
        "empty tag": lambda: RepositoryPin.objects.bulk_create(
            [RepositoryPin(release=Release.objects.get(), repository_id=1, tag="")]
        ),
    }.items():
        with pytest.raises(IntegrityError) as raised, transaction.atomic():
            action()
        errors[name] = is_conflict(raised.value)

    assert errors == {"release version": True, "repository name": False, "empty tag": False}


def test_any_other_integrity_error_is_raised_with_its_cause_not_called_a_conflict():
    def faulty_receiver(sender: object, change: object, **kwargs: object) -> None:
        Environment.objects.bulk_create([Environment(name="production")])  # already there

    changes.release_changed.connect(faulty_receiver, dispatch_uid="faulty")
    try:
        with pytest.raises(IntegrityError, match=r"(?i)unique"):
            import_text(RELEASE_1_4)
    finally:
        changes.release_changed.disconnect(dispatch_uid="faulty")
    assert Release.objects.count() == 0


@pytest.mark.django_db
def test_times_with_any_rfc3339_offset_are_stored_and_exported_in_utc():
    # RFC 3339 allows offsets up to ±23:59; PostgreSQL stores none beyond ±15:59.
    text = RELEASE_1_4.replace("2025-01-15T10:00:00Z", "2025-01-16T03:05:00+17:05").replace(
        "2025-01-20T14:30:00Z", "2025-01-20T00:30:00-14:00"
    )
    assert import_text(text).action == "created"

    exported = export_release("1.4")
    assert 'created_at: "2025-01-15T10:00:00Z"' in exported
    assert 'deployed_at: "2025-01-20T14:30:00Z"' in exported
    assert import_text(text).action == "unchanged"
