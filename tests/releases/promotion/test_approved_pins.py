"""An approval is for the pins it was given for: when the release's pins change (a commit, a
tag, a package version, a pin added or removed, a dependency), the approvals given before stay
on record but no longer count, on every write path, until the new pins are approved. A
validation run, a re-import of the same pins or their order in the manifest changes nothing."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from releases.exporting import export_release
from releases.models import EnvironmentDeployment, Release
from releases.promotion import gate
from releases.promotion.approvals import approve
from releases.promotion.models import PromotionApproval

from ..api.conftest import token_client
from .fleet import MANAGERS, SCENARIOS, production_manifest, sha, snapshot, validated
from .test_gate import run_check

pytestmark = pytest.mark.django_db

GATE = "/api/releases/1.5/promotion/production"
APPROVALS = GATE + "/approvals/"
STALE = "0 of 2 approvals from release managers; 2 approvals are for earlier pins (ana, bjørn)"

FOGPY_SHA = sha("pytroll/fogpyv1.5.0")
PLATFORM_API = (
    '  - name: "acme/platform-api"\n'
    '    tag: "v1.5.5"\n'
    f'    commit_sha: "{sha("acme/platform-apiv1.5.5")}"\n'
    '    package_version: "1.5.5"\n'
    "\n"
)


def added_pin(text: str) -> str:
    entry = (
        '  - name: "acme/billing"\n'
        '    tag: "v0.9.0"\n'
        f'    commit_sha: "{sha("acme/billing")}"\n'
        '    package_version: "0.9.0"\n'
        "\n"
    )
    return text.replace("metadata:\n", entry + "metadata:\n", 1)


#: Changes of 1.5's pins, made to its manifest.
CHANGES: dict[str, Callable[[str], str]] = {
    "a new commit SHA": lambda text: text.replace(FOGPY_SHA, sha("fogpy rebuilt")),
    # The same version by PEP 440 (no finding), another tag and another package version.
    "a new tag": lambda text: text.replace('tag: "v1.5.2"', 'tag: "1.5.2"'),
    "a new package version": lambda text: text.replace(
        'package_version: "1.5.3"', 'package_version: "1.5.3.0"'
    ),
    "a pin added": added_pin,
    "a pin removed": lambda text: text.replace(PLATFORM_API, ""),
    "a dependency added": lambda text: text.replace(
        'package_version: "1.5.0"\n',
        'package_version: "1.5.0"\n    depends_on: ["pytroll/satpy"]\n',
    ),
}


def changed_manifest(change: str, *, production: bool = False) -> str:
    text = production_manifest() if production else export_release("1.5")
    changed = CHANGES[change](text)
    assert changed != text
    return changed


def import_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "v1.5.yaml"
    path.write_text(text)
    out = StringIO()
    call_command("import_manifest", str(path), stdout=out, stderr=StringIO())
    return out.getvalue()


def refused_rules(response: Any) -> dict[str, str]:
    return {r["rule"]: r["message"] for r in response.json()["rules"] if not r["ok"]}


def release_bot(django_user_model: Any) -> Any:
    """A pipeline's token whose account is a release manager."""
    client = token_client("release-bot", "write")
    django_user_model.objects.get(username="release-bot").groups.add(
        Group.objects.get(name=MANAGERS)
    )
    return client


@pytest.mark.parametrize("change", list(CHANGES))
def test_approvals_of_earlier_pins_do_not_count_until_the_new_pins_are_approved(
    fleet: Any, change: str, tmp_path: Path, django_user_model: Any
):
    reader = token_client("dashboard", "read")
    assert reader.get(GATE).json()["allowed"] is True
    assert "1.5 updated" in import_file(tmp_path, changed_manifest(change))
    validated("1.5")  # only the approvals are left to stand in the way

    # The gate for pipelines, and check_promotion, name the approvals of earlier pins.
    answer = reader.get(GATE)
    assert answer.json()["allowed"] is False
    assert refused_rules(answer) == {"approvals": STALE}
    code, output = run_check("1.5", "production")
    assert code == 1
    assert f"REFUSED approvals: {STALE}" in output

    # Recording the deployment is refused, on the API and by import_manifest; nothing written.
    before = snapshot()
    refused = token_client("iac-pipeline", "write").put(
        "/api/releases/1.5/deployments/production/",
        {"namespace": "prod-v1.5", "status": "deployed"},
        format="json",
    )
    assert refused.status_code == 409, refused.content
    assert refused_rules(refused) == {"approvals": STALE}
    path = tmp_path / "v1.5-production.yaml"
    path.write_text(production_manifest())
    with pytest.raises(CommandError):
        call_command("import_manifest", str(path), stdout=StringIO(), stderr=StringIO())
    assert snapshot() == before

    # The earlier approvals stay on record, listed as not for the current pins.
    listed = reader.get(APPROVALS).json()
    assert [(a["user"], a["current"]) for a in listed] == [
        ("ana", False),
        ("bjørn", False),
        ("chen", False),
    ]

    # Approving the new pins: one counts, the other earlier one is still named.
    bot = release_bot(django_user_model)
    given = bot.post(APPROVALS, {"comment": "new pins checked"}, format="json")
    assert given.status_code == 201, given.content
    assert given.json()["current"] is True
    assert refused_rules(reader.get(GATE)) == {
        "approvals": "1 of 2 approvals from release managers (by release-bot); "
        "2 approvals are for earlier pins (ana, bjørn)"
    }
    again = bot.post(APPROVALS, {}, format="json")  # the same pins, the same person
    assert again.status_code == 200
    approve(Release.objects.get(version="1.5"), "production", fleet["people"]["ana"])
    assert reader.get(GATE).json()["allowed"] is True
    assert run_check("1.5", "production")[0] == 0
    assert "1.5 updated" in import_file(tmp_path, production_manifest())
    assert (
        EnvironmentDeployment.objects.get(
            release__version="1.5", environment__name="production"
        ).status
        == "deployed"
    )
    # Five approvals on record (ana twice), three of them for pins 1.5 no longer has.
    listed = reader.get(APPROVALS).json()
    assert [(a["user"], a["current"]) for a in listed] == [
        ("ana", False),
        ("bjørn", False),
        ("chen", False),
        ("release-bot", True),
        ("ana", True),
    ]
    assert PromotionApproval.history.filter(history_type="-").count() == 0


@pytest.mark.parametrize("path", ["API manifest", "import_manifest"])
def test_a_manifest_that_changes_a_pin_and_deploys_at_once_is_refused(
    fleet: Any, path: str, tmp_path: Path
):
    """The approved commit swapped for another in the very write that deploys it."""
    text = changed_manifest("a new commit SHA", production=True)
    before = snapshot()
    if path == "API manifest":
        response = token_client("iac-pipeline", "write").put(
            "/api/releases/1.5/manifest", data=text, content_type="application/yaml"
        )
        assert response.status_code == 409, response.content
        unmet = refused_rules(response)
    else:
        file = tmp_path / "v1.5.yaml"
        file.write_text(text)
        err = StringIO()
        with pytest.raises(CommandError):
            call_command("import_manifest", str(file), stdout=StringIO(), stderr=err)
        unmet = {
            line.split(": ")[4]: ": ".join(line.split(": ")[5:]).removesuffix(
                " [promotion-refused]"
            )
            for line in err.getvalue().splitlines()
            if "may not go live" in line
        }
    # A new commit is unchecked too (validation is the valid-pins rule's); the approvals
    # were for the old one.
    assert unmet["approvals"] == STALE
    assert set(unmet) == {"approvals", "valid-pins"}
    assert snapshot() == before
    assert Release.objects.get(version="1.5").pins.filter(commit_sha=FOGPY_SHA).exists()


def test_a_pin_edited_through_the_api_voids_the_approvals(fleet: Any):
    writer = token_client("iac-pipeline", "write")
    edited = writer.patch(
        "/api/releases/1.5/pins/pytroll/fogpy/",
        {"commit_sha": sha("fogpy rebuilt")},
        format="json",
    )
    assert edited.status_code == 200, edited.content
    validated("1.5")
    assert refused_rules(token_client("dashboard", "read").get(GATE)) == {"approvals": STALE}


def test_what_is_no_change_of_the_pins_keeps_the_approvals(fleet: Any, tmp_path: Path):
    reader = token_client("dashboard", "read")
    # A validation run finding a pin invalid, then valid again: the pins are the same.
    SCENARIOS["invalid pin"][0](fleet)
    assert set(refused_rules(reader.get(GATE))) == {"valid-pins"}
    validated("1.5")
    assert reader.get(GATE).json()["allowed"] is True
    # The same manifest imported again, and with its pins in another order.
    text = export_release("1.5")
    assert "1.5 unchanged" in import_file(tmp_path, text)
    reordered = text.replace(PLATFORM_API, "").replace(
        "repositories:\n", "repositories:\n" + PLATFORM_API, 1
    )
    assert "1.5 updated" in import_file(tmp_path, reordered)
    assert export_release("1.5").index("acme/platform-api") < export_release("1.5").index(
        "pytroll/fogpy"
    )
    validated("1.5")
    assert reader.get(GATE).json()["allowed"] is True
    assert all(a["current"] for a in reader.get(APPROVALS).json())


def test_approvals_count_again_when_the_pins_change_back(fleet: Any, tmp_path: Path):
    original = export_release("1.5")
    import_file(tmp_path, CHANGES["a new commit SHA"](original))
    validated("1.5")
    assert gate.check(Release.objects.get(version="1.5"), "production").unmet[0].message == STALE
    import_file(tmp_path, original)
    validated("1.5")
    assert gate.check(Release.objects.get(version="1.5"), "production").allowed


def test_the_admin_lists_which_approvals_are_for_the_current_pins(
    fleet: Any, tmp_path: Path, django_user_model: Any
):
    import_file(tmp_path, CHANGES["a new tag"](export_release("1.5")))
    bot = release_bot(django_user_model)
    assert bot.post(APPROVALS, {}, format="json").status_code == 201
    admin = django_user_model.objects.create_superuser("admin", "admin@example.invalid", "pw")
    client = Client()
    client.force_login(admin)

    page = client.get(reverse("admin:releases_promotionapproval_changelist"))

    assert page.status_code == 200
    changelist = page.context["cl"]
    rows = {str(a.user): changelist.model_admin.for_current_pins(a) for a in changelist.result_list}
    assert rows == {"ana": False, "bjørn": False, "chen": False, "release-bot": True}
    text = page.content.decode()
    assert "For the current pins" in text
    assert text.count('alt="False"') == 3 and text.count('alt="True"') == 1

    # An approval's page shows the digest and whether it is current.
    bots = PromotionApproval.objects.get(user__username="release-bot")
    detail = client.get(reverse("admin:releases_promotionapproval_change", args=[bots.pk]))
    assert detail.status_code == 200
    assert bots.pins_digest in detail.content.decode()

    # Approving the same pins twice in the admin is refused with a message, not an error.
    ana = fleet["people"]["ana"]
    ana.is_staff = True
    ana.is_superuser = True
    ana.save()
    client.force_login(ana)
    data = {
        "release": str(Release.objects.get(version="1.5").pk),
        "environment": str(fleet["policy"].environment_id),
        "_save": "Save",
    }
    url = reverse("admin:releases_promotionapproval_add")
    assert client.post(url, data).status_code == 302
    twice = client.post(url, data)
    assert twice.status_code == 200
    assert "You have approved these pins of 1.5 for production already." in twice.content.decode()
    assert PromotionApproval.objects.filter(user=ana).count() == 2


def listing_queries(client: Any) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(APPROVALS).status_code == 200
    return len(queries)


def admin_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("admin:releases_promotionapproval_changelist")).status_code == 200
    return len(queries)


def test_the_approval_listings_cost_the_same_queries_at_3_and_30_approvals(
    fleet: Any, django_user_model: Any, tmp_path: Path
):
    reader = token_client("dashboard", "read")
    reader.get("/api/")  # the token's first use is recorded once (last_used_at)
    admin = django_user_model.objects.create_superuser("admin", "admin@example.invalid", "pw")
    client = Client()
    client.force_login(admin)
    client.get(reverse("admin:index"))
    at_3 = (listing_queries(reader), admin_queries(client))
    managers = Group.objects.get(name=MANAGERS)
    release = Release.objects.get(version="1.5")
    import_file(tmp_path, CHANGES["a dependency added"](export_release("1.5")))
    for index in range(27):
        user = django_user_model.objects.create_user(f"manager-{index}")
        user.groups.add(managers)
        approve(release, "production", user)
    assert PromotionApproval.objects.count() == 30
    assert (listing_queries(reader), admin_queries(client)) == at_3


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_existing_approvals_valid_for_the_current_pins(
    django_user_model: Any,
) -> None:
    from django.db.migrations.executor import MigrationExecutor

    from releases.promotion.pinned import current_digests

    before = [("releases", "0009_validation_backports_recovery")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("releases")
    executor.migrate(before)
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps
        release = old.get_model("releases", "Release").objects.create(version="2.0")
        repositories = old.get_model("registry", "Repository")
        pins = old.get_model("releases", "RepositoryPin")
        fogpy = pins.objects.create(
            release=release,
            repository=repositories.objects.create(name="pytroll/fogpy"),
            tag="v2.0.0",
            commit_sha=sha("fogpy"),
            package_version="2.0.0",
        )
        satpy = pins.objects.create(
            release=release,
            repository=repositories.objects.create(name="pytroll/satpy"),
            tag="v2.0.1",
            position=1,
        )
        old.get_model("releases", "PinDependency").objects.create(pin=fogpy, depends_on=satpy)
        production = old.get_model("registry", "Environment").objects.create(name="production")
        users = old.get_model("auth", "User")
        for name in ("ana", "bjørn"):
            old.get_model("releases", "PromotionApproval").objects.create(
                release=release,
                environment=production,
                user=users.objects.create(username=name),
                approved_at=timezone.now(),
            )
    finally:
        MigrationExecutor(connection).migrate(latest)

    stored = Release.objects.get(version="2.0")
    digest = current_digests([stored.pk])[stored.pk]
    assert stored.pins.get(repository__name="pytroll/fogpy").depends_on.count() == 1
    assert sorted(PromotionApproval.objects.values_list("user__username", "pins_digest")) == [
        ("ana", digest),
        ("bjørn", digest),
    ]
    from releases.promotion.models import PromotionPolicy

    managers = Group.objects.create(name=MANAGERS)
    managers.user_set.add(*django_user_model.objects.all())
    PromotionPolicy.objects.create(
        environment_id=production.pk, required_approvals=2, approval_group=managers
    )
    assert gate.check(stored, "production").allowed

    # Back: one approval per user, as the old constraint wants (ana's newest kept).
    pin = stored.pins.get(repository__name="pytroll/satpy")
    pin.tag = "v2.0.2"
    pin.save()
    ana = django_user_model.objects.get(username="ana")
    newest, created = approve(stored, "production", ana)
    assert created
    MigrationExecutor(connection).migrate(before)
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps
        kept = old.get_model("releases", "PromotionApproval").objects.filter(user__username="ana")
        assert list(kept.values_list("pk", flat=True)) == [newest.pk]
    finally:
        MigrationExecutor(connection).migrate(latest)


def manager_token(name: str, django_user_model: Any) -> Any:
    """A write token whose account is a release manager."""
    client = token_client(name, "write")
    django_user_model.objects.get(username=name).groups.add(Group.objects.get(name=MANAGERS))
    return client


def test_an_approval_names_the_pins_reviewed_and_is_refused_when_they_changed(
    fleet: Any, tmp_path: Path, django_user_model: Any
):
    reader = token_client("dashboard", "read")
    read = reader.get(GATE)
    reviewed = read.json()["pins_digest"]
    assert len(reviewed) == 64 and read["ETag"]
    assert reader.get(APPROVALS)["ETag"] == read["ETag"]
    # The pins change while the approver reviews them.
    assert "1.5 updated" in import_file(tmp_path, changed_manifest("a new commit SHA"))
    current = reader.get(GATE).json()["pins_digest"]
    assert current != reviewed
    approvals = PromotionApproval.objects.count(), PromotionApproval.history.count()

    bot = manager_token("release-bot", django_user_model)
    stale = bot.post(APPROVALS, {"pins_digest": reviewed, "comment": "lgtm"}, format="json")

    assert stale.status_code == 412, stale.content
    assert stale.json()["pins_digest"] == current
    assert f"their digest is now {current}" in stale.json()["detail"]
    assert (PromotionApproval.objects.count(), PromotionApproval.history.count()) == approvals

    # The digest of the pins as they are is recorded with the approval, and counts.
    given = bot.post(APPROVALS, {"pins_digest": current.upper()}, format="json")
    assert given.status_code == 201, given.content
    assert (given.json()["pins_digest"], given.json()["current"]) == (current, True)
    assert given["ETag"] == reader.get(GATE)["ETag"]
    assert refused_rules(reader.get(GATE))["approvals"].startswith(
        "1 of 2 approvals from release managers (by release-bot)"
    )

    # A stale If-Match (the release's ETag, as for every write) is refused the same way.
    qa = manager_token("qa-bot", django_user_model)
    etag = reader.get(GATE)["ETag"]
    assert qa.post(APPROVALS, {}, format="json", HTTP_IF_MATCH='"1"').status_code == 412
    assert qa.post(APPROVALS, {"pins_digest": "e3b6"}, format="json").json() == {
        "errors": [
            {
                "path": "pins_digest",
                "message": "This value does not match the required pattern.",
                "code": "invalid",
            }
        ]
    }
    assert PromotionApproval.objects.filter(user__username="qa-bot").count() == 0
    ok = qa.post(APPROVALS, {"pins_digest": current}, format="json", HTTP_IF_MATCH=etag)
    assert ok.status_code == 201, ok.content


def signed_in_to_the_admin(fleet: Any, name: str) -> tuple[Any, Client]:
    """One of the fleet's people, made an admin user, and a client signed in as them."""
    person = fleet["people"][name]
    person.is_staff = person.is_superuser = True
    person.save()
    client = Client()
    client.force_login(person)
    return person, client


def test_the_admin_approval_is_refused_when_the_pins_reviewed_changed(fleet: Any, tmp_path: Path):
    ana, client = signed_in_to_the_admin(fleet, "ana")
    release = Release.objects.get(version="1.5")
    reviewed = gate.check(release, "production").pins_digest
    assert reviewed is not None
    url = reverse("admin:releases_promotionapproval_add")
    # A link can carry the digest of the pins its page showed.
    assert reviewed in client.get(url, {"reviewed_pins_digest": reviewed}).content.decode()
    import_file(tmp_path, CHANGES["a new tag"](export_release("1.5")))
    current = gate.check(release, "production").pins_digest
    data = {
        "release": str(release.pk),
        "environment": str(fleet["policy"].environment_id),
        "reviewed_pins_digest": reviewed,
        "_save": "Save",
    }

    stale = client.post(url, data)

    assert stale.status_code == 200
    assert stale.context["adminform"].form.errors == {
        "reviewed_pins_digest": [
            f"The pins of 1.5 are not the ones you reviewed (pins digest {reviewed}): "
            f"their digest is now {current}. Review them again; nothing was recorded."
        ]
    }
    assert PromotionApproval.objects.filter(user=ana).count() == 1  # the fleet's, for old pins
    assert client.post(url, {**data, "reviewed_pins_digest": current}).status_code == 302
    assert PromotionApproval.objects.filter(user=ana, pins_digest=current).count() == 1


def test_the_release_page_links_to_approving_its_pins_as_they_are(fleet: Any):
    ana, client = signed_in_to_the_admin(fleet, "ana")
    release = Release.objects.get(version="1.5")
    current = gate.check(release, "production").pins_digest
    assert current is not None
    PromotionApproval.objects.filter(user=ana, release=release).delete()  # withdrawn

    page = client.get(reverse("admin:releases_release_change", args=[release.pk]))
    link = re.search(
        r'<code>([0-9a-f]{64})</code> <a href="([^"]+)">Approve these pins</a>',
        page.content.decode(),
    )
    assert link is not None and link.group(1) == current
    form = client.get(html.unescape(link.group(2)))
    initial = form.context["adminform"].form.initial
    assert (str(initial["release"]), initial["reviewed_pins_digest"]) == (str(release.pk), current)

    answer = client.post(
        html.unescape(link.group(2)),
        {
            "release": str(release.pk),
            "environment": str(fleet["policy"].environment_id),
            "reviewed_pins_digest": initial["reviewed_pins_digest"],
            "_save": "Save",
        },
    )
    assert answer.status_code == 302, answer.context["adminform"].form.errors
    assert PromotionApproval.objects.filter(user=ana, pins_digest=current).count() == 1
