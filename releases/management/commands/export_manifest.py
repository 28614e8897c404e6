"""``export_manifest [VERSION...] [--all] [--format yaml|json] [--output-dir DIR]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from releases.exporting import UnknownRelease, export_release, export_to_directory
from releases.history import manifest_as_of
from releases.management.base import RegistryCommand
from releases.manifests import dump_manifest, format_timestamp, parse_timestamp
from releases.manifests.files import FolderWriteFailed, WrittenFile, display_path, escape_text


class Command(RegistryCommand):
    help = (
        "Export stored releases as canonical manifests: one version to stdout, or files "
        "DIR/v<version>.<format> with --output-dir. A folder export writes nothing outside "
        "DIR: each file goes to a temporary name in DIR and is renamed into place once all are "
        "written, replacing (never following) a symbolic link of the same name; if writing "
        "fails, the message says what was written (normally nothing). Exit 0 ok, 1 unknown "
        "version or not writable, 2 usage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("versions", nargs="*", metavar="VERSION")
        parser.add_argument("--all", action="store_true", help="Every stored release.")
        parser.add_argument("--format", choices=["yaml", "json"], default="yaml")
        parser.add_argument("--output-dir", type=Path, metavar="DIR")
        parser.add_argument(
            "--as-of",
            metavar="TIME",
            help="RFC 3339 time: the release as the registry held it then (one version).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        versions: list[str] = options["versions"]
        directory: Path | None = options["output_dir"]
        if options["all"] and versions:
            raise CommandError("give versions or --all, not both", returncode=2)
        if not options["all"] and not versions:
            raise CommandError("give at least one version, or --all", returncode=2)
        if options["as_of"] is not None:
            self.export_as_of(versions, options)
            return
        try:
            if directory is None:
                if options["all"] or len(versions) > 1:
                    raise CommandError("several releases need --output-dir DIR", returncode=2)
                self.stdout.write(export_release(versions[0], options["format"]), ending="")
                return
            written = export_to_directory(
                directory, None if options["all"] else versions, options["format"]
            )
        except UnknownRelease as exc:
            raise CommandError(escape_text(str(exc)), returncode=1) from None
        except FolderWriteFailed as exc:
            raise CommandError(str(exc), returncode=1) from None
        for file in written:
            self.stdout.write(self.describe(file))
        self.stdout.write(f"exported {len(written)} manifest(s) to {display_path(directory)}")

    def describe(self, file: WrittenFile) -> str:
        if file.replaced_link is None:
            return display_path(file.path)
        # Said out loud: the folder held a link here, and now holds the file itself.
        return f"{display_path(file.path)} (replaced a symbolic link to {file.replaced_link})"

    def export_as_of(self, versions: list[str], options: dict[str, Any]) -> None:
        if options["all"] or len(versions) != 1 or options["output_dir"] is not None:
            raise CommandError("--as-of takes exactly one version, written to stdout", returncode=2)
        when = parse_timestamp(options["as_of"], "--as-of")
        if when is None:
            raise CommandError(
                f"--as-of {options['as_of']!r} is not an RFC 3339 time with an offset, "
                'e.g. "2025-03-02T12:00:00Z"',
                returncode=2,
            )
        manifest = manifest_as_of(versions[0], when)
        if manifest is None:
            raise CommandError(
                f"release {escape_text(versions[0])} did not exist at {format_timestamp(when)}",
                returncode=1,
            )
        self.stdout.write(dump_manifest(manifest, options["format"]), ending="")
