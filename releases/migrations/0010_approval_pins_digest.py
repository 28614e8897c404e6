# Approvals bound to the pins they were given for (releases.promotion.pinned).

from collections import defaultdict

from django.conf import settings
from django.db import migrations, models

# Pure (no Django): the digest the code computes. It must keep giving the same digest for the
# same pins; changing it needs a migration of its own (tests/releases/promotion pin a value).
from releases.promotion.rules import PinnedContent, pins_digest


def current_pins_digest(apps, schema_editor):
    """Existing approvals stay valid: each is given the digest of its release's pins now."""
    approvals = apps.get_model("releases", "PromotionApproval")
    pins = apps.get_model("releases", "RepositoryPin")
    release_ids = set(approvals.objects.values_list("release_id", flat=True))
    rows = (
        pins.objects.filter(release_id__in=release_ids)
        .order_by("release_id", "position", "pk")
        .values_list(
            "release_id",
            "pk",
            "repository__name",
            "tag",
            "commit_sha",
            "package_version",
            "url",
            "dependency_links__depends_on__repository__name",
        )
    )
    found = defaultdict(dict)
    for release_id, pk, name, tag, commit, package, url, dependency in rows:
        pin = found[release_id].setdefault(pk, [name, tag, commit, package, url, []])
        if dependency is not None:
            pin[5].append(dependency)
    for release_id in release_ids:
        digest = pins_digest(
            PinnedContent(*pin[:5], tuple(pin[5])) for pin in found[release_id].values()
        )
        approvals.objects.filter(release_id=release_id).update(pins_digest=digest)


def newest_per_user(apps, schema_editor):
    """Back to one approval per user, release and environment: the newest of each is kept
    (the others, for earlier pins, would break the old constraint)."""
    approvals = apps.get_model("releases", "PromotionApproval")
    seen = set()
    stale = []
    rows = approvals.objects.order_by("-approved_at", "-pk").values_list(
        "pk", "release_id", "environment_id", "user_id"
    )
    for pk, *key in rows:
        if tuple(key) in seen:
            stale.append(pk)
        seen.add(tuple(key))
    approvals.objects.filter(pk__in=stale).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0002_repository_names_with_owners"),
        ("releases", "0009_validation_backports_recovery"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    # Backwards, the old constraint comes back last, once newest_per_user has left one
    # approval per user.
    operations = [
        migrations.RemoveConstraint(
            model_name="promotionapproval",
            name="promotion_approval_once_per_user",
        ),
        migrations.AddField(
            model_name="historicalpromotionapproval",
            name="pins_digest",
            field=models.CharField(
                default="",
                editable=False,
                help_text="SHA-256 of the release's pins when approved (repository, tag, commit, package version, URL, depends_on): the approval counts while they are the same.",
                max_length=64,
                verbose_name="pins digest",
            ),
        ),
        migrations.AddField(
            model_name="promotionapproval",
            name="pins_digest",
            field=models.CharField(
                default="",
                editable=False,
                help_text="SHA-256 of the release's pins when approved (repository, tag, commit, package version, URL, depends_on): the approval counts while they are the same.",
                max_length=64,
                verbose_name="pins digest",
            ),
        ),
        migrations.RunPython(current_pins_digest, newest_per_user),
        migrations.AddConstraint(
            model_name="promotionapproval",
            constraint=models.UniqueConstraint(
                fields=("release", "environment", "user", "pins_digest"),
                name="promotion_approval_once_per_user_and_pins",
            ),
        ),
    ]
