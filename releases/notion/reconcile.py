"""``sync_notion --full``: compare every page with the registry, report the drift, repair it.

The registry's state is read from the database, Notion's by paginated queries of each data
source (100 pages a request); a page the sync made but that is not among the live ones is
retrieved to tell "trashed by hand" from "missing". Drift:

- ``missing``: no page for a pin or release; repaired by creating it;
- ``stale``: a page whose properties differ from the registry's (named in the detail);
  repaired by updating them (properties the registry does not own are left alone);
- ``trashed``: a page moved to the trash by hand; repaired by restoring and updating it;
- ``orphaned``: a page whose ``Registry key`` names no pin or release (deleted, or a second
  page of one); repaired by moving it to the trash;
- ``property``: a property missing from a data source; repaired by adding it.

Nothing is written with ``dry_run``. Unchanged pages cost no write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from ..models import Release
from .client import Notion, NotionRefused, NotionUnavailable
from .mapping import (
    differences,
    digest,
    environment_names,
    load_release,
    pin_key,
    pin_properties,
    release_properties,
    versions_schema,
    views_schema,
)
from .models import RELEASE_PAGE, NotionPage
from .sync import Workspace, data_source_of, key_filter, page_key, query_pages, workspace


@dataclass(frozen=True)
class Drift:
    kind: str
    key: str
    detail: str = ""


@dataclass
class Report:
    drift: list[Drift] = field(default_factory=list)
    repaired: int = 0
    failed: list[str] = field(default_factory=list)
    checked: int = 0


@dataclass
class _Target:
    """One page the registry wants."""

    release_id: int
    repository: str
    key: str
    properties: dict[str, Any]


class Reconciler:
    def __init__(
        self,
        notion: Notion,
        *,
        versions: Iterable[str] | None = None,
        dry_run: bool = False,
        step: Callable[[str], None] | None = None,
    ) -> None:
        self.notion = notion
        self.versions = sorted(set(versions)) if versions else None
        self.dry_run = dry_run
        self.step = step or (lambda item: None)
        self.report = Report()

    def run(self) -> Report:
        ws = self.schema()
        releases = Release.objects.order_by("version")
        if self.versions is not None:
            releases = releases.filter(version__in=self.versions)
        snapshots = [s for r in releases.values_list("pk", flat=True) if (s := load_release(r))]
        records = {
            (p.release_id, p.repository): p
            for p in NotionPage.objects.filter(release_id__in=[s.id for s in snapshots])
        }
        release_pages: dict[int, str | None] = {}
        if ws.versions is not None:
            wanted = [
                _Target(s.id, RELEASE_PAGE, s.version, release_properties(s)) for s in snapshots
            ]
            found = self.reconcile(ws.versions, wanted, records, prefix=False)
            release_pages = {s.id: found.get(s.version) for s in snapshots}
        wanted = [
            _Target(
                s.id,
                pin.repository,
                pin_key(s.version, pin.repository),
                pin_properties(
                    s,
                    pin,
                    ws.environments,
                    release_pages.get(s.id),
                    related=ws.versions is not None,
                ),
            )
            for s in snapshots
            for pin in s.pins.values()
        ]
        self.reconcile(ws.views, wanted, records, prefix=True)
        return self.report

    # --- the schema --------------------------------------------------------------------

    def schema(self) -> Workspace:
        if not self.dry_run:
            return workspace(self.notion, refresh=True)
        from django.conf import settings

        environments = environment_names()
        versions = None
        if settings.NOTION_PRODUCT_VERSIONS_DATABASE_ID:
            versions = data_source_of(self.notion, settings.NOTION_PRODUCT_VERSIONS_DATABASE_ID)
            self.missing_properties(versions, versions_schema(environments))
        views = data_source_of(self.notion, str(settings.NOTION_RELEASE_VIEWS_DATABASE_ID))
        self.missing_properties(views, views_schema(environments, versions))
        return Workspace(views, versions, environments)

    def missing_properties(self, source: str, wanted: dict[str, Any]) -> None:
        current = self.notion.call(
            "retrieve data source", self.notion.client.data_sources.retrieve, source
        )
        for name in wanted:
            if name not in current.get("properties", {}):
                self.report.drift.append(Drift("property", name, f"missing from {source}"))

    # --- pages -------------------------------------------------------------------------

    def live_pages(self, source: str, *, prefix: bool) -> dict[str, list[dict[str, Any]]]:
        """The data source's live pages by registry key (only those of ``versions``)."""
        filter = None
        if self.versions is not None:
            keys = [f"{v}:" if prefix else v for v in self.versions]
            parts = [key_filter(k, prefix=prefix) for k in keys]
            filter = parts[0] if len(parts) == 1 else {"or": parts}
        pages: dict[str, list[dict[str, Any]]] = {}
        for page in query_pages(self.notion, source, filter):
            key = page_key(page)
            if key:  # a page without a key is not the registry's
                pages.setdefault(key, []).append(page)
        return pages

    def reconcile(
        self,
        source: str,
        wanted: list[_Target],
        records: dict[tuple[int, str], NotionPage],
        *,
        prefix: bool,
    ) -> dict[str, str | None]:
        """Bring ``source`` in line with ``wanted``; the page id of each key."""
        pages = self.live_pages(source, prefix=prefix)
        found: dict[str, str | None] = {}
        for target in wanted:
            self.step(target.key)
            self.report.checked += 1
            record = records.get((target.release_id, target.repository))
            candidates = pages.pop(target.key, [])
            page = next(
                (p for p in candidates if record and p["id"] == record.page_id),
                candidates[0] if candidates else None,
            )
            for extra in candidates:
                if extra is not page:
                    self.orphan(target.key, extra["id"], "a second page for the key")
            try:
                found[target.key] = self.one(source, target, record, page)
            except (NotionRefused, NotionUnavailable) as exc:
                self.report.failed.append(f"{target.key}: {exc}")
                found[target.key] = page["id"] if page else None
        for key, leftovers in pages.items():
            for page in leftovers:
                self.orphan(key, page["id"], "no such pin or release in the registry")
        return found

    def one(
        self,
        source: str,
        target: _Target,
        record: NotionPage | None,
        page: dict[str, Any] | None,
    ) -> str | None:
        if page is None and record is not None:
            try:
                page = self.notion.call(
                    "retrieve page", self.notion.client.pages.retrieve, record.page_id
                )
            except NotionRefused as exc:
                if exc.status != 404:
                    raise
                page = None
            if page is not None and page.get("in_trash"):
                self.report.drift.append(Drift("trashed", target.key, "moved to the trash"))
                return self.update(target, page["id"], restore=True)
            page = None
        if page is None:
            self.report.drift.append(Drift("missing", target.key))
            return self.create(source, target)
        stale = differences(target.properties, page)
        if stale:
            self.report.drift.append(Drift("stale", target.key, ", ".join(stale)))
            return self.update(target, page["id"])
        if not self.dry_run and (
            record is None
            or record.page_id != page["id"]
            or record.sent_hash != digest(target.properties)
        ):
            self.remember(target, page["id"])
        return str(page["id"])

    # --- repairs -----------------------------------------------------------------------

    def create(self, source: str, target: _Target) -> str | None:
        if self.dry_run:
            return None
        page = self.notion.call(
            "create page",
            self.notion.client.pages.create,
            parent={"type": "data_source_id", "data_source_id": source},
            properties=target.properties,
            retry=False,
        )
        self.remember(target, page["id"])
        self.report.repaired += 1
        return str(page["id"])

    def update(self, target: _Target, page_id: str, *, restore: bool = False) -> str:
        if self.dry_run:
            return page_id
        self.notion.call(
            "update page",
            self.notion.client.pages.update,
            page_id,
            properties=target.properties,
            in_trash=False,
        )
        self.remember(target, page_id)
        self.report.repaired += 1
        return page_id

    def orphan(self, key: str, page_id: str, why: str) -> None:
        self.report.drift.append(Drift("orphaned", key, why))
        if self.dry_run:
            return
        try:
            self.notion.call("trash page", self.notion.client.pages.update, page_id, in_trash=True)
        except (NotionRefused, NotionUnavailable) as exc:
            self.report.failed.append(f"{key}: {exc}")
            return
        NotionPage.objects.filter(page_id=page_id).delete()
        self.report.repaired += 1

    def remember(self, target: _Target, page_id: str) -> None:
        NotionPage.objects.update_or_create(
            release_id=target.release_id,
            repository=target.repository,
            defaults={
                "registry_key": target.key,
                "page_id": page_id,
                "sent_hash": digest(target.properties),
                "sent_at": timezone.now(),
            },
        )


def reconcile(
    notion: Notion,
    *,
    versions: Iterable[str] | None = None,
    dry_run: bool = False,
    step: Callable[[str], None] | None = None,
) -> Report:
    """Compare every page with the registry; repair the drift unless ``dry_run``."""
    return Reconciler(notion, versions=versions, dry_run=dry_run, step=step).run()
