"""Benchmark of the manifest codec and the import/export services against plain floors.

Run from the project root: ``make bench`` or ``python bench/run.py [--repeat N] [--pins N]``.
Every figure is the best (minimum) of N repeats, in milliseconds. A ratio over its target is
reported, never turned into a failing exit status: this is a report, not a test.

The database is thrown away afterwards: a fresh SQLite file in a temporary directory, or, when
``BENCH_DATABASE_URL`` names a PostgreSQL server, a scratch database ``bench_<pid>`` created on
that server and dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import datetime as dt
import gc
import io
import json
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")
VERSION = "7.3.0"
UPDATED_SHARE = 10  # every 10th pin changes in the update measure: 10 %


# --- the manifest -------------------------------------------------------------------------------

_PREFIXES = (
    "fog", "chem", "sat", "geo", "ocean", "atmo", "radar", "lidar", "hydro", "climate", "grid",
    "orbit", "cloud", "aero", "terra", "snow", "solar", "wind", "flux", "ice",
)  # fmt: skip
_STEMS = (
    "py", "pipe", "kit", "core", "lib", "tools", "io", "calc", "sim", "view", "flow", "db",
)  # fmt: skip
_SUFFIXES = (
    "", "-plugins", "_utils", "-api", "-cli", "-readers", "-writers", "_dockers", "-schemas",
    "-workers", "-web", "_models", "-ingest", "-export", "-docs", "-client", "-server", "_ml",
)  # fmt: skip


def repository_names(count: int, rng: random.Random) -> list[str]:
    """Distinct, plausible repository names (``satpy-readers``, ``chemlib_utils``...)."""
    names = [p + s + x for p in _PREFIXES for s in _STEMS for x in _SUFFIXES]
    if count > len(names):
        names += [f"{name}-{n}" for n in range(2, count // len(names) + 2) for name in names]
    rng.shuffle(names)
    return names[:count]


def build_tree(pins: int, seed: int = 1) -> dict[str, Any]:
    """A release manifest as plain data, already in the contract's canonical form."""
    rng = random.Random(seed)
    names = repository_names(pins, rng)
    repositories = []
    for index, name in enumerate(names):
        major, minor, patch = rng.randint(0, 9), rng.randint(0, 30), rng.randint(0, 20)
        version = f"{major}.{minor}.{patch}"
        if rng.random() < 0.05:
            version += f"rc{rng.randint(1, 3)}"
        tag = f"{name}-{version}" if rng.random() < 0.1 else f"v{version}"
        entry: dict[str, Any] = {
            "name": name,
            "tag": tag,
            "commit_sha": None if rng.random() < 0.02 else f"{rng.getrandbits(160):040x}",
            # Containers and infrastructure repositories are not packages.
            "package_version": None if "docker" in name or rng.random() < 0.05 else version,
        }
        if rng.random() < 0.05:
            entry["url"] = f"https://gitlab.com/acme/{name}.git"
        if index >= 10 and rng.random() < 0.08:
            # Depends on earlier entries only: no cycles.
            entry["depends_on"] = rng.sample(names[:index], rng.randint(1, 3))
        repositories.append(entry)
    return {
        "version": VERSION,
        "created_at": "2025-03-10T09:30:00Z",
        "created_by": "platform-team",
        "environments": {
            "production": {"deployed_at": "2025-03-14T16:05:00Z", "namespace": "prod-v7-3"},
            "staging": {
                "deployed_at": "2025-03-11T08:00:00Z",
                "namespace": "staging-v7-3",
                "status": "in_progress",
            },
            "dev": {"namespace": "dev-v7-3"},
        },
        "repositories": repositories,
        "metadata": {
            "notes": "Quarterly platform release; rollout in waves.",
            "changelog_url": "https://github.com/acme/platform/releases/tag/v7.3.0",
            "ticket": "REL-1042",
            "approvers": ["alice", "bob"],
            "rollout": {"waves": 3, "canary": True},
        },
    }


def updated_tree(tree: dict[str, Any]) -> dict[str, Any]:
    """The same release with every ``UPDATED_SHARE``-th pin moved to a new patch version."""
    rng = random.Random(2)
    changed = copy.deepcopy(tree)
    for entry in changed["repositories"][::UPDATED_SHARE]:
        entry["tag"] = entry["tag"] + ".post1"
        if entry["package_version"] is not None:
            entry["package_version"] += ".post1"
        entry["commit_sha"] = f"{rng.getrandbits(160):040x}"
    return changed


# The input is rendered here rather than with releases.manifests.writer, so that the closing
# "export YAML == imported text" line checks the product's writer against an independent
# rendering of the seed's layout.
def _q(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _block(data: dict[str, Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for key, value in data.items():
        if isinstance(value, dict):
            out.append(f"{pad}{key}:")
            _block(value, indent + 2, out)
        elif isinstance(value, list):
            out.append(f"{pad}{key}:")
            out.extend(f"{pad}  - {_q(item)}" for item in value)
        else:
            out.append(f"{pad}{key}: {_q(value)}")


def to_yaml(tree: dict[str, Any]) -> str:
    """YAML text laid out like the seed manifests (strings double-quoted, blank-line groups)."""
    out: list[str] = []
    for key, value in tree.items():
        if key == "repositories":
            out += ["", "repositories:"]
            for index, entry in enumerate(value):
                if index:
                    out.append("")
                for position, (field, item) in enumerate(entry.items()):
                    lead = "  - " if position == 0 else "    "
                    if field == "depends_on":
                        out.append(f"{lead}depends_on: [{', '.join(_q(name) for name in item)}]")
                    else:
                        out.append(f"{lead}{field}: {_q(item)}")
        else:
            if key == "metadata":
                out.append("")
            _block({key: value}, 0, out)
    return "\n".join(out) + "\n"


# --- the database -------------------------------------------------------------------------------


def _where(url: str) -> str:
    """host:port/database of a URL, never its password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    """Point DATABASE_URL at a database of our own for the duration; yield its description."""
    server = os.environ.get("BENCH_DATABASE_URL")
    if not server:
        directory = tempfile.mkdtemp(prefix="bench-")
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
        try:
            yield f"SQLite, {Path(directory) / 'bench.sqlite3'}"
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return

    import psycopg
    from psycopg import sql

    parts = urlsplit(server)
    if parts.scheme not in POSTGRES_SCHEMES:
        raise SystemExit("BENCH_DATABASE_URL must be a postgres:// URL")
    name = f"bench_{os.getpid()}"
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    scratch = urlunsplit(parts._replace(path=f"/{name}"))
    os.environ["DATABASE_URL"] = scratch
    try:
        yield f"PostgreSQL, {_where(scratch)}"
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def database_and_git_folder() -> Iterator[tuple[str, Path]]:
    """For the benchmarks over git repositories: laptop settings without ``.env`` or a broker
    (tasks run in-process), a throwaway database and a temporary folder for the repositories;
    yields the database's description and the folder."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DJANGO_READ_DOT_ENV_FILE"] = "false"
    os.environ.pop("REDIS_URL", None)
    with throwaway_database() as where, tempfile.TemporaryDirectory(prefix="bench-git-") as tmp:
        yield where, Path(tmp)


class _Rollback(Exception):
    pass


@contextlib.contextmanager
def rolled_back() -> Iterator[None]:
    """A transaction that is always rolled back, so each repeat starts from the same rows."""
    from django.db import transaction

    with contextlib.suppress(_Rollback), transaction.atomic():
        yield
        raise _Rollback


# --- measuring ----------------------------------------------------------------------------------


def best_of(repeat: int, action: Callable[[], Any], *, rollback: bool = False) -> float:
    """The shortest of ``repeat`` runs of ``action``, in milliseconds."""
    times = []
    for _ in range(repeat):
        gc.collect()
        context = rolled_back() if rollback else contextlib.nullcontext()
        with context:
            start = time.perf_counter()
            action()
            times.append(time.perf_counter() - start)
    return min(times) * 1000


def count_queries(action: Callable[[], Any], *, rollback: bool = False) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    context = rolled_back() if rollback else contextlib.nullcontext()
    with context, CaptureQueriesContext(connection) as captured:
        action()
    return len(captured.captured_queries)


def profile(action: Callable[[], Any], *, rollback: bool, limit: int) -> str:
    profiler = cProfile.Profile()
    context = rolled_back() if rollback else contextlib.nullcontext()
    with context:
        profiler.enable()
        action()
        profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)
    return text.getvalue()


@dataclass
class Row:
    label: str
    ms: float
    floor_ms: float | None = None
    target: float | None = None
    queries: str = ""

    @property
    def ratio(self) -> float | None:
        return self.ms / self.floor_ms if self.floor_ms else None

    def verdict(self) -> str:
        if self.target is None or self.ratio is None:
            return ""
        return "ok" if self.ratio <= self.target else "over target"


def print_table(rows: list[Row]) -> None:
    width = max(len(row.label) for row in rows)
    header = (
        f"{'measure':<{width}} {'ms':>8} {'floor ms':>9} {'ratio':>7} {'target':>7}  "
        f"{'':<11} queries"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        floor = f"{row.floor_ms:9.1f}" if row.floor_ms is not None else f"{'':>9}"
        ratio = f"{row.ratio:6.2f}x" if row.ratio is not None else f"{'':>7}"
        target = f"<={row.target:g}x" if row.target is not None else ""
        print(
            f"{row.label:<{width}} {row.ms:8.1f} {floor} {ratio} {target:>7}  "
            f"{row.verdict():<11} {row.queries}".rstrip()
        )


# --- the benchmark ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs per measure; the best counts (5)"
    )
    parser.add_argument(
        "--pins", type=int, default=1000, help="repositories in the manifest (1000)"
    )
    parser.add_argument(
        "--profile",
        choices=("parse", "import", "reimport", "update", "export", "export-json"),
        action="append",
        default=[],
        help="also print a cProfile of one run of this measure (may be repeated)",
    )
    parser.add_argument(
        "--profile-limit", type=int, default=30, help="functions per profile listing"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.pins < 1:
        parser.error("--repeat and --pins must be at least 1")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    started = time.perf_counter()
    with throwaway_database() as where:
        run(args, where)
    print(f"\n(total {time.perf_counter() - started:.1f} s)")
    return 0


def run(args: argparse.Namespace, where: str) -> None:
    import django

    django.setup()

    import yaml
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from registry.models import Environment, Repository
    from releases.exporting import (
        export_release,
        load_manifests,
        load_releases,
        release_to_manifest,
    )
    from releases.importing import import_manifests
    from releases.manifests import check_manifest, dump_manifest, manifest_to_tree, parse_manifest
    from releases.models import EnvironmentDeployment, Release, RepositoryPin

    # DEBUG (on in the local settings) makes every query go through the debug cursor, which
    # formats the SQL of each statement; that would be timed too. CaptureQueriesContext turns
    # it back on for the query counts.
    settings.DEBUG = False
    call_command("migrate", verbosity=0, interactive=False)

    repeat = args.repeat
    tree = build_tree(args.pins)
    text = to_yaml(tree)
    update_text = to_yaml(updated_tree(tree))
    source = f"bench/v{VERSION}.yaml"

    manifest = parse_manifest(text, source=source, format="yaml")
    findings = check_manifest(manifest)
    assert yaml.load(text, Loader=yaml.CSafeLoader) == tree
    deps = sum(len(entry.get("depends_on", ())) for entry in tree["repositories"])
    print(
        f"Release Registry benchmark: {args.pins:,} pins ({deps} depends_on links, "
        f"{len(tree['environments'])} environments), YAML {len(text.encode()) / 1024:.0f} KiB, "
        f"{where}, best of {repeat}"
    )
    if findings:
        print(f"note: the generated manifest has {len(findings)} offline finding(s)")
    print()

    # -- the actions -----------------------------------------------------------------------

    def codec_parse() -> None:
        parse_manifest(text, source=source, format="yaml")

    def yaml_floor() -> None:
        yaml.load(text, Loader=yaml.CSafeLoader)

    def do_import(body: str = text) -> None:
        import_manifests([(source, parse_manifest(body, source=source, format="yaml"))])

    def floor_import() -> None:
        data = yaml.load(text, Loader=yaml.CSafeLoader)
        metadata = data.get("metadata") or {}
        extra = {k: v for k, v in metadata.items() if k not in ("notes", "changelog_url")}
        (release,) = Release.objects.bulk_create(
            [
                Release(
                    version=data["version"],
                    created_at=dt.datetime.fromisoformat(data["created_at"]),
                    created_by=data.get("created_by"),
                    notes=metadata.get("notes"),
                    changelog_url=metadata.get("changelog_url"),
                    metadata_extra=json.dumps(extra, ensure_ascii=False),
                    source=source,
                )
            ]
        )
        entries = data["repositories"]
        repositories = Repository.objects.bulk_create(
            [Repository(name=entry["name"], git_url=entry.get("url") or "") for entry in entries]
        )
        # Deployments need their environments; three rows, created here as the import does.
        environments = Environment.objects.bulk_create(
            [Environment(name=name, display_order=i) for i, name in enumerate(data["environments"])]
        )
        RepositoryPin.objects.bulk_create(
            [
                RepositoryPin(
                    release=release,
                    repository=repository,
                    position=position,
                    tag=entry["tag"],
                    commit_sha=entry["commit_sha"],
                    package_version=entry["package_version"],
                    url=entry.get("url") or "",
                )
                for position, (entry, repository) in enumerate(
                    zip(entries, repositories, strict=True)
                )
            ]
        )
        EnvironmentDeployment.objects.bulk_create(
            [
                EnvironmentDeployment(
                    release=release,
                    environment=environment,
                    namespace=entry["namespace"],
                    deployed_at=dt.datetime.fromisoformat(entry["deployed_at"])
                    if entry.get("deployed_at")
                    else None,
                    status=entry.get("status")
                    or ("deployed" if entry.get("deployed_at") else "planned"),
                    position=position,
                )
                for position, (entry, environment) in enumerate(
                    zip(data["environments"].values(), environments, strict=True)
                )
            ]
        )

    exported: dict[str, str] = {}

    def export(format: str = "yaml") -> None:
        exported[format] = export_release(VERSION, format)

    def export_through_models(format: str = "yaml") -> None:
        (release,) = load_releases([VERSION])
        dump_manifest(release_to_manifest(release), format)

    canonical_tree = manifest_to_tree(manifest)

    def read_rows() -> list[Any]:
        return list(
            RepositoryPin.objects.filter(release__version=VERSION)
            .order_by("position")
            .values("repository__name", "tag", "commit_sha", "package_version", "url")
        )

    def floor_export() -> None:
        read_rows()
        yaml.dump(canonical_tree, Dumper=yaml.CDumper, sort_keys=False)

    def floor_export_json() -> None:
        read_rows()
        json.dumps(canonical_tree, indent=2, ensure_ascii=False)

    # -- the measures ----------------------------------------------------------------------

    rows: list[Row] = []
    rows.append(
        Row(
            "codec parse YAML (vs CSafeLoader)",
            best_of(repeat, codec_parse),
            best_of(repeat, yaml_floor),
        )
    )

    # Into an empty database: every repeat is rolled back.
    import_q = count_queries(do_import, rollback=True)
    floor_q = count_queries(floor_import, rollback=True)
    rows.append(
        Row(
            "import new release (parse + import)",
            best_of(repeat, do_import, rollback=True),
            best_of(repeat, floor_import, rollback=True),
            target=3,
            queries=f"{import_q} (floor {floor_q})",
        )
    )

    profiles: dict[str, str] = {}
    wanted = set(args.profile)
    limit = args.profile_limit
    if "parse" in wanted:
        profiles["parse"] = profile(codec_parse, rollback=False, limit=limit)
    if "import" in wanted:
        profiles["import"] = profile(do_import, rollback=True, limit=limit)

    # The release stays stored from here on.
    do_import()
    assert Release.objects.count() == 1 and RepositoryPin.objects.count() == args.pins
    rows.append(
        Row(
            "re-import unchanged",
            best_of(repeat, do_import, rollback=True),
            queries=str(count_queries(do_import, rollback=True)),
        )
    )
    rows.append(
        Row(
            f"re-import, {100 // UPDATED_SHARE}% of pins changed",
            best_of(repeat, lambda: do_import(update_text), rollback=True),
            queries=str(count_queries(lambda: do_import(update_text), rollback=True)),
        )
    )

    export_q = count_queries(export)
    floor_export_q = count_queries(floor_export)
    rows.append(
        Row(
            "export YAML (export_release, vs values() + CDumper)",
            best_of(repeat, export),
            best_of(repeat, floor_export),
            target=1.2,
            queries=f"{export_q} (floor {floor_export_q})",
        )
    )
    rows.append(
        Row(
            "export JSON (export_release, vs values() + json.dumps)",
            best_of(repeat, lambda: export("json")),
            best_of(repeat, floor_export_json),
            target=2,
            queries=f"{count_queries(lambda: export('json'))} (floor {floor_export_q})",
        )
    )

    # The parts, for orientation (no target).
    (stored,) = load_manifests([VERSION])
    rows.append(
        Row(
            "  part: load_manifests (rows -> Manifest)",
            best_of(repeat, lambda: load_manifests([VERSION])),
        )
    )
    rows.append(
        Row(
            "  part: dump_manifest YAML (vs CDumper)",
            best_of(repeat, lambda: dump_manifest(stored, "yaml")),
            best_of(
                repeat, lambda: yaml.dump(canonical_tree, Dumper=yaml.CDumper, sort_keys=False)
            ),
        )
    )
    rows.append(
        Row(
            "  part: dump_manifest JSON (vs json.dumps)",
            best_of(repeat, lambda: dump_manifest(stored, "json")),
            best_of(repeat, lambda: json.dumps(canonical_tree, indent=2, ensure_ascii=False)),
        )
    )
    rows.append(Row("  part: values() query of the pins", best_of(repeat, read_rows)))
    # What the importer reads to compare with (model instances through prefetches), and what
    # exports took before they read plain rows.
    rows.append(
        Row(
            "  model path: load_releases + release_to_manifest + dump JSON",
            best_of(repeat, lambda: export_through_models("json")),
            best_of(repeat, floor_export_json),
            queries=str(count_queries(lambda: export_through_models("json"))),
        )
    )

    if "reimport" in wanted:
        profiles["reimport"] = profile(do_import, rollback=True, limit=limit)
    if "update" in wanted:
        profiles["update"] = profile(lambda: do_import(update_text), rollback=True, limit=limit)
    if "export" in wanted:
        profiles["export"] = profile(export, rollback=False, limit=limit)
    if "export-json" in wanted:
        profiles["export-json"] = profile(lambda: export("json"), rollback=False, limit=limit)

    print_table(rows)

    # -- sanity ----------------------------------------------------------------------------
    print()
    same = exported.get("yaml") == text
    print(
        f"export YAML == imported text: {'yes' if same else 'NO (see the first difference below)'}"
    )
    if not same:
        for number, (a, b) in enumerate(
            zip(text.splitlines(), exported["yaml"].splitlines(), strict=False), 1
        ):
            if a != b:
                print(f"  line {number}: in {a!r}\n  line {number}: out {b!r}")
                break
    print(f"database: {connection.vendor}; timings exclude the debug cursor (DEBUG off)")

    for name, listing in profiles.items():
        print(f"\n=== profile: {name} (one run) ===")
        print(listing)


if __name__ == "__main__":
    sys.exit(main())
