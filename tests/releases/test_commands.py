"""The manifest commands as a user runs them: output, files and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from releases.manifests import dump_manifest, parse_manifest
from releases.models import Release, RepositoryPin
from tests.processes import manage

from .manifests import RELEASE_1_4

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "manifests"


def run(*args: str, **kwargs) -> tuple[str, str]:
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_import_prints_one_line_per_file_and_a_summary(tmp_path: Path):
    (tmp_path / "v1.4.yaml").write_text(RELEASE_1_4)

    out, err = run("import_manifest", str(tmp_path))
    assert out.splitlines()[0] == f"{tmp_path}/v1.4.yaml: 1.4 created (3 pins, 1 deployment)"
    assert out.splitlines()[-1] == "imported 1 manifest(s): 1 created, 0 updated, 0 unchanged"
    assert err == ""  # no progress line when the output is not a terminal

    (tmp_path / "v1.4.yaml").write_text(
        RELEASE_1_4.replace('"v1.4.2"', '"v1.4.3"').replace('"1.4.2"', '"1.4.3"')
    )
    out, _ = run("import_manifest", str(tmp_path / "v1.4.yaml"), "--dry-run")
    assert (
        "1.4 would be updated: fogpy_utils tag v1.4.2 -> v1.4.3; "
        "fogpy_utils package_version 1.4.2 -> 1.4.3" in out
    )
    assert out.splitlines()[-1].endswith("nothing written (dry run)")
    assert RepositoryPin.objects.get(repository__name="fogpy_utils").tag == "v1.4.2"

    out, _ = run("import_manifest", str(tmp_path / "v1.4.yaml"))
    assert "1.4 updated: fogpy_utils tag v1.4.2 -> v1.4.3" in out
    out, _ = run("import_manifest", str(tmp_path / "v1.4.yaml"))
    assert "1.4 unchanged" in out


@pytest.mark.django_db
def test_import_usage_errors_exit_2(tmp_path: Path):
    with pytest.raises(CommandError) as missing:
        run("import_manifest", str(tmp_path / "nope.yaml"))
    assert missing.value.returncode == 2
    assert "nope.yaml" in str(missing.value)
    with pytest.raises(CommandError) as empty:
        run("import_manifest", str(tmp_path))
    assert empty.value.returncode == 2


@pytest.mark.django_db
def test_export_one_version_to_stdout_and_the_folder_layout(tmp_path: Path):
    run("import_manifest", str(EXAMPLES))

    out, _ = run("export_manifest", "1.3")
    assert out == (EXAMPLES / "v1.3.yaml").read_text()
    out, _ = run("export_manifest", "1.4", "--format", "json")
    assert out == (EXAMPLES / "json" / "v1.4.json").read_text()

    out, _ = run("export_manifest", "--all", "--output-dir", str(tmp_path / "manifests"))
    written = sorted(path.name for path in (tmp_path / "manifests").iterdir())
    assert written == sorted(path.name for path in EXAMPLES.glob("*.yaml"))
    for path in EXAMPLES.glob("*.yaml"):
        assert (tmp_path / "manifests" / path.name).read_text() == path.read_text()
    assert out.splitlines()[-1] == f"exported 4 manifest(s) to {tmp_path / 'manifests'}"


@pytest.mark.django_db
def test_export_unknown_version_exits_1_and_usage_exits_2(tmp_path: Path):
    run("import_manifest", str(EXAMPLES / "v1.3.yaml"))
    with pytest.raises(CommandError) as unknown:
        run("export_manifest", "1.3", "7.7", "--output-dir", str(tmp_path))
    assert unknown.value.returncode == 1
    assert "7.7" in str(unknown.value)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(CommandError) as usage:
        run("export_manifest", "--all")
    assert usage.value.returncode == 2
    with pytest.raises(CommandError) as usage:
        run("export_manifest")
    assert usage.value.returncode == 2


def test_validate_reports_findings_and_exit_codes(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(RELEASE_1_4)
    bad = tmp_path / "bad.yaml"
    bad.write_text(RELEASE_1_4.replace('package_version: "2.6.1"', 'package_version: "2.7.0"'))

    out, _ = run("validate_manifest", str(good))
    assert out.splitlines() == [f"{good}: 1.4 ok", "checked 1 manifest(s): 0 with errors"]

    with pytest.raises(CommandError) as failed:
        run("validate_manifest", str(good), str(bad), "--format", "json")
    assert failed.value.returncode == 1


def test_validate_json_output_lists_located_findings(tmp_path: Path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(RELEASE_1_4.replace('package_version: "2.6.1"', 'package_version: "2.7.0"'))
    broken = tmp_path / "broken.yaml"
    broken.write_text(RELEASE_1_4.replace('tag: "v1.4.2"', "tga: v1.4.2"))

    with pytest.raises(CommandError):
        call_command("validate_manifest", str(bad), str(broken), "--format", "json")
    reports = json.loads(capsys.readouterr().out)

    assert reports[0]["findings"][0]["code"] == "version-mismatch"
    assert reports[0]["findings"][0]["path"] == "repositories[0].package_version"
    assert reports[1]["rejected"] is True
    paths = {finding["path"] for finding in reports[1]["findings"]}
    assert {"repositories[1].tga", "repositories[1].tag"} <= paths


def test_validate_manifest_needs_no_database(tmp_path: Path):
    path = tmp_path / "v1.4.yaml"
    path.write_text(RELEASE_1_4)
    env = dict(
        os.environ,
        DATABASE_URL="postgres://nobody@127.0.0.1:9/none",
        DJANGO_SETTINGS_MODULE="config.settings.test",
    )

    done = manage(env, "validate_manifest", str(path))

    assert done.returncode == 0, done.stderr
    assert f"{path}: 1.4 ok" in done.stdout


def test_validate_manifest_exit_code_from_the_shell(tmp_path: Path):
    path = tmp_path / "v1.4.yaml"
    path.write_text("version: 1.10\nrepositories: []\n")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.test")

    done = manage(env, "validate_manifest", str(path), str(tmp_path / "missing.yaml"))
    assert done.returncode == 2
    done = manage(env, "validate_manifest", str(path))
    assert done.returncode == 1
    assert "1.10" in done.stdout and 'quote it ("1.10")' in done.stdout


@pytest.mark.django_db
def test_a_folder_with_a_bad_file_writes_nothing(tmp_path: Path):
    (tmp_path / "v1.yaml").write_text(RELEASE_1_4)
    (tmp_path / "v2.yaml").write_text(
        RELEASE_1_4.replace('"1.4"', '"1.5"').replace('fogpy_utils"]', 'fogpy_util"]')
    )

    with pytest.raises(CommandError) as rejected:
        run("import_manifest", str(tmp_path))

    assert rejected.value.returncode == 1
    assert Release.objects.count() == 0


@pytest.mark.django_db
def test_folders_skip_hidden_files_and_other_suffixes(tmp_path: Path):
    (tmp_path / "v1.4.yaml").write_text(RELEASE_1_4)
    (tmp_path / "._v1.4.yaml").write_bytes(b"\x00\x05\x16\x07 resource fork")
    (tmp_path / ".v1.5.yaml.3f2a9c.tmp").write_text("half-writ")
    (tmp_path / "notes.txt").write_text("not a manifest")

    out, _ = run("import_manifest", str(tmp_path))

    assert out.splitlines()[-1] == "imported 1 manifest(s): 1 created, 0 updated, 0 unchanged"


def test_a_fifo_named_on_the_command_line_is_a_usage_error(tmp_path: Path):
    os.mkfifo(tmp_path / "v9.yaml")

    with pytest.raises(CommandError) as fifo:
        run("validate_manifest", str(tmp_path / "v9.yaml"))

    assert fifo.value.returncode == 2
    assert str(fifo.value) == f"not a file or folder: {tmp_path}/v9.yaml"


@pytest.mark.django_db
def test_export_into_a_path_that_is_a_file_exits_1_with_a_message(tmp_path: Path):
    run("import_manifest", str(EXAMPLES / "v1.3.yaml"))
    blocker = tmp_path / "manifests"
    blocker.write_text("in the way")

    with pytest.raises(CommandError) as failed:
        run("export_manifest", "--all", "--output-dir", str(blocker))

    assert failed.value.returncode == 1
    assert str(failed.value) == (f"cannot write {blocker}: it is not a folder; nothing was written")
    assert blocker.read_text() == "in the way"


def test_progress_shows_on_a_terminal_only(tmp_path: Path):
    import pty

    for version in ("1.1", "1.2", "1.3"):
        (tmp_path / f"v{version}.yaml").write_text(RELEASE_1_4.replace('"1.4"', f'"{version}"'))
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.test")
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "manage.py", "validate_manifest", str(tmp_path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=60,
            check=False,
        )
        os.close(follower)
        terminal = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: all read
                break
            if not chunk:
                break
            terminal += chunk
    finally:
        os.close(leader)

    assert done.returncode == 0
    assert f"checking [3/3] {tmp_path}/v1.3.yaml".encode() in terminal
    assert b"\x1b[31" not in terminal  # progress is not painted as an error
    # Piped, the same run prints results and a summary, no progress.
    assert "[3/3]" not in done.stdout
    assert done.stdout.splitlines()[-1] == "checked 3 manifest(s): 0 with errors"


@pytest.mark.django_db
def test_piped_imports_of_a_folder_show_no_progress(tmp_path: Path):
    for version in ("1.1", "1.2", "1.3"):
        (tmp_path / f"v{version}.yaml").write_text(RELEASE_1_4.replace('"1.4"', f'"{version}"'))

    out, err = run("import_manifest", str(tmp_path))

    assert err == ""
    assert len(out.splitlines()) == 4


@pytest.mark.django_db
def test_only_new_leaves_stored_releases_alone(tmp_path: Path):
    run("import_manifest", str(EXAMPLES))
    RepositoryPin.objects.filter(release__version="1.3", repository__name="fogpy").update(
        tag="v2.5.3"
    )

    out, _ = run("import_manifest", str(EXAMPLES), "--only-new")

    assert f"{EXAMPLES}/v1.3.yaml: 1.3 skipped (already stored)" in out
    assert out.splitlines()[-1] == (
        "imported 4 manifest(s): 0 created, 0 updated, 0 unchanged, 4 skipped (already stored)"
    )
    pin = RepositoryPin.objects.get(release__version="1.3", repository__name="fogpy")
    assert pin.tag == "v2.5.3"


@pytest.mark.django_db
def test_strict_reports_every_refused_file(tmp_path: Path):
    for version in ("2.0", "3.0"):
        bad = RELEASE_1_4.replace('"1.4"', f'"{version}"').replace(
            "abc123def4567890abc123def4567890abc123de", "not-a-sha"
        )
        (tmp_path / f"v{version}.yaml").write_text(bad)

    with pytest.raises(CommandError) as refused:
        run("import_manifest", str(tmp_path), "--strict")

    assert str(refused.value) == "2 of 2 manifest(s) rejected; nothing was written"
    assert Release.objects.count() == 0


def test_validate_refuses_two_files_with_one_version_like_import_does(tmp_path: Path, capsys):
    (tmp_path / "v1.5.yaml").write_text(RELEASE_1_4.replace('"1.4"', '"1.5"'))
    (tmp_path / "v1.6.yaml").write_text(RELEASE_1_4.replace('"1.4"', '"1.5"'))

    with pytest.raises(CommandError) as failed:
        call_command("validate_manifest", str(tmp_path))

    assert failed.value.returncode == 1
    out = capsys.readouterr().out
    assert f"{tmp_path}/v1.6.yaml: rejected" in out
    assert f"version: error: version '1.5' is also in {tmp_path}/v1.5.yaml [duplicate]" in out


@pytest.mark.django_db
def test_json_folder_export_names_files_like_the_iac_repository(tmp_path: Path):
    run("import_manifest", str(EXAMPLES))

    run("export_manifest", "1.2", "1.4", "--format", "json", "--output-dir", str(tmp_path / "m"))

    assert sorted(path.name for path in (tmp_path / "m").iterdir()) == ["v1.2.json", "v1.4.json"]
    exported = (tmp_path / "m" / "v1.4.json").read_text()
    assert exported == (EXAMPLES / "json" / "v1.4.json").read_text()


@pytest.mark.django_db
def test_export_of_an_unknown_version_creates_no_folder(tmp_path: Path):
    run("import_manifest", str(EXAMPLES / "v1.3.yaml"))

    with pytest.raises(CommandError):
        run("export_manifest", "1.3", "9.9", "--output-dir", str(tmp_path / "new"))

    assert not (tmp_path / "new").exists()


def test_import_exit_codes_from_the_shell(tmp_path: Path):
    database = f"sqlite:///{tmp_path / 'shell.sqlite3'}"
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.test", DATABASE_URL=database)
    assert manage(env, "migrate", "-v0").returncode == 0
    good = tmp_path / "v1.4.yaml"
    good.write_text(RELEASE_1_4)
    bad = tmp_path / "v1.5.yaml"
    bad.write_text(RELEASE_1_4.replace('"1.4"', '"1.5"').replace('tag: "v1.4.2"', "tga: v1"))

    refused = manage(env, "import_manifest", str(good), str(bad))
    assert refused.returncode == 1
    assert f"{bad}: repositories[1].tga (line 15): error: unknown key 'tga'" in refused.stderr
    assert manage(env, "import_manifest", str(tmp_path / "nope.yaml")).returncode == 2
    assert manage(env, "import_manifest", str(good)).returncode == 0
    exported = manage(env, "export_manifest", "1.4")
    assert (exported.returncode, exported.stdout) == (0, dump_manifest(parse_manifest(RELEASE_1_4)))
    assert manage(env, "export_manifest", "1.5").returncode == 1


@pytest.mark.django_db
def test_a_file_name_that_is_not_utf8_imports(tmp_path: Path):
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/v1.4-\xff.yaml"))
    odd.write_text(RELEASE_1_4)
    # A second undecodable name must not be confused with the first.
    Path(os.fsdecode(bytes(tmp_path) + b"/v1.5-\xfe.yaml")).write_text(
        RELEASE_1_4.replace('"1.4"', '"1.5"')
    )

    out, _ = run("import_manifest", str(tmp_path))

    assert "v1.4-\\xff.yaml: 1.4 created" in out
    assert "v1.5-\\xfe.yaml: 1.5 created" in out
    assert Release.objects.get(version="1.4").source.endswith("v1.4-\\xff.yaml")


@pytest.mark.django_db
def test_a_file_named_twice_is_imported_once(tmp_path: Path):
    path = tmp_path / "v1.4.yaml"
    path.write_text(RELEASE_1_4)

    out, _ = run("import_manifest", str(path), str(tmp_path), str(path))

    assert out.splitlines()[-1] == "imported 1 manifest(s): 1 created, 0 updated, 0 unchanged"


def test_a_dry_run_on_sqlite_neither_waits_for_nor_blocks_a_writer(tmp_path: Path):
    import sqlite3

    database = tmp_path / "shared.sqlite3"
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.test")
    env["DATABASE_URL"] = f"sqlite:///{database}"
    assert manage(env, "migrate", "-v0").returncode == 0
    (tmp_path / "v1.4.yaml").write_text(RELEASE_1_4)
    writer = sqlite3.connect(database, timeout=0)
    writer.execute("BEGIN IMMEDIATE")  # another process in the middle of an import
    try:
        dry = manage(env, "import_manifest", str(tmp_path / "v1.4.yaml"), "--dry-run")
    finally:
        writer.rollback()
        writer.close()

    assert dry.returncode == 0, dry.stderr
    assert "1.4 would be created" in dry.stdout


def test_validate_keeps_apart_files_whose_names_could_print_alike(tmp_path: Path, capsys):
    # One name holds the byte 0xff, the other the four characters "\xff": the first prints as
    # \xff, the second with its backslash escaped.
    Path(os.fsdecode(bytes(tmp_path) + b"/a\xff.yaml")).write_text(RELEASE_1_4)
    (tmp_path / "a\\xff.yaml").write_text("version: 1.10\nrepositories: []\n")

    with pytest.raises(CommandError):
        call_command("validate_manifest", str(tmp_path))

    out = capsys.readouterr().out
    assert f"{tmp_path}/a\\xff.yaml: 1.4 ok" in out.splitlines()
    assert f"{tmp_path}/a\\\\xff.yaml: rejected" in out.splitlines()
    assert out.splitlines()[-1] == "checked 2 manifest(s): 1 with errors"


# --- options are spelled out -------------------------------------------------------------------

PROJECT_COMMANDS = sorted(
    path.stem
    for path in (ROOT / "releases" / "management" / "commands").glob("*.py")
    if not path.stem.startswith("_")
)


def test_every_project_command_refuses_abbreviated_options():
    from django.core.management import load_command_class

    from releases.management.base import RegistryCommand

    assert PROJECT_COMMANDS == [
        "check_promotion",
        "create_api_token",
        "export_manifest",
        "import_manifest",
        "sync_manifests_repo",
        "sync_notion",
        "validate_manifest",
        "validate_releases",
    ]
    for name in PROJECT_COMMANDS:
        command = load_command_class("releases", name)
        assert isinstance(command, RegistryCommand), name
        assert command.create_parser("manage.py", name).allow_abbrev is False, name


@pytest.mark.parametrize(
    ("args", "unknown"),
    [
        (["import_manifest", "PATH", "--dry"], "--dry"),  # not --dry-run
        (["import_manifest", "PATH", "--only"], "--only"),  # not --only-new
        (["export_manifest", "1.4", "--form", "json"], "--form"),  # not --format
        (["export_manifest", "1.4", "--output", "DIR"], "--output"),  # not --output-dir
        (["validate_manifest", "PATH", "--form", "json"], "--form"),
        (["validate_manifest", "PATH", "--verb", "2"], "--verb"),  # not --verbosity
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else value,
)
def test_an_abbreviated_option_is_refused(tmp_path: Path, args: list[str], unknown: str):
    (tmp_path / "v1.4.yaml").write_text(RELEASE_1_4)
    args = [str(tmp_path / "v1.4.yaml") if arg == "PATH" else arg for arg in args]
    args = [str(tmp_path / "out") if arg == "DIR" else arg for arg in args]

    with pytest.raises(CommandError) as refused:
        run(*args)

    assert str(refused.value).startswith(f"Error: unrecognized arguments: {unknown}")
    assert not (tmp_path / "out").exists()


def test_an_abbreviated_option_exits_2_from_the_shell(tmp_path: Path):
    (tmp_path / "v1.4.yaml").write_text(RELEASE_1_4)
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )

    done = manage(env, "import_manifest", str(tmp_path / "v1.4.yaml"), "--dry")

    assert done.returncode == 2
    assert "error: unrecognized arguments: --dry" in done.stderr
    assert done.stdout == ""  # nothing was read, nothing imported


# --- validate_manifest needs no database -------------------------------------------------------


def test_validate_manifest_loads_no_database_service(tmp_path: Path):
    """The command and the report service import neither the models' services nor a database
    connection: run as a script against a database that does not exist."""
    path = tmp_path / "v1.4.yaml"
    path.write_text(RELEASE_1_4)
    script = f"""
import sys, django
django.setup()
from django.core.management import call_command
from django.db import connections
try:
    call_command("validate_manifest", {str(path)!r})
finally:
    loaded = sorted(m for m in ("releases.importing", "releases.exporting", "releases.history")
                    if m in sys.modules)
    assert not loaded, f"validate_manifest loaded {{loaded}}"
    opened = [alias for alias in connections if connections[alias].connection is not None]
    assert not opened, f"validate_manifest opened {{opened}}"
"""
    env = dict(
        os.environ,
        DATABASE_URL="postgres://nobody@127.0.0.1:9/no_such_database",
        DJANGO_SETTINGS_MODULE="config.settings.test",
    )

    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert f"{path}: 1.4 ok" in done.stdout


def test_the_validity_report_is_pure_python():
    script = (
        "import sys; import releases.manifests.report; "
        "django = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')); "
        "assert not django, django"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_validity_report_of_uploaded_texts():
    from releases.manifests.report import validate_texts

    report = validate_texts(
        [
            ("v1.4.yaml", RELEASE_1_4),
            (
                "copy.json",
                json.dumps({"version": "1.4", "repositories": [{"name": "a", "tag": "v1"}]}),
            ),
            (
                "bad\n.yaml",
                RELEASE_1_4.replace('"2.6.1"\n', '"2.7.0"\n', 1).replace('"1.4"', '"1.5"'),
            ),
        ]
    )

    assert report.as_dict() == {
        "valid": False,
        "checked": 3,
        "failed": 2,
        "documents": [
            {
                "file": "v1.4.yaml",
                "version": "1.4",
                "rejected": False,
                "valid": True,
                "findings": [],
            },
            {
                "file": "copy.json",
                "version": None,
                "rejected": True,
                "valid": False,
                "findings": [
                    {
                        "code": "duplicate",
                        "severity": "error",
                        "path": "version",
                        "message": "version '1.4' is also in v1.4.yaml",
                    }
                ],
            },
            {
                "file": "bad\\n.yaml",
                "version": "1.5",
                "rejected": False,
                "valid": False,
                "findings": [
                    {
                        "code": "version-mismatch",
                        "severity": "error",
                        "path": "repositories[0].package_version",
                        "message": report.documents[2].findings[0].message,
                    }
                ],
            },
        ],
    }
    assert "2.7.0" in report.documents[2].findings[0].message
