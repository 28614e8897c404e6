"""The commands at the file system's edges: links, half-written folders, unreadable entries and
file names that would speak to the terminal."""

from __future__ import annotations

import json
import os
import resource
import signal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from releases.exporting import export_release
from releases.manifests.files import display_path, escape_text
from releases.models import Release
from tests.processes import manage

from .manifests import RELEASE_1_4, generated_manifest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "manifests"


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused(*args: str) -> tuple[CommandError, str]:
    """Run a command that must fail; the error and what it printed on stderr."""
    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(*args, stdout=StringIO(), stderr=err)
    return caught.value, err.getvalue()


def folder_state(folder: Path) -> dict[str, str]:
    """Every entry of a folder: a file's text, a link's target."""
    return {
        entry.name: f"-> {os.readlink(entry)}" if entry.is_symlink() else entry.read_text()
        for entry in folder.iterdir()
    }


# --- export: never outside the folder, never half-written -------------------------------------


@pytest.mark.django_db
def test_export_replaces_a_symbolic_link_in_the_folder_and_leaves_its_target_alone(tmp_path):
    run("import_manifest", str(EXAMPLES / "v1.4.yaml"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.yaml").write_text("not yours\n")
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "v1.4.yaml").symlink_to(outside / "precious.yaml")

    out, _ = run("export_manifest", "1.4", "--output-dir", str(folder))

    assert (outside / "precious.yaml").read_text() == "not yours\n"
    assert not (folder / "v1.4.yaml").is_symlink()
    assert (folder / "v1.4.yaml").read_text() == export_release("1.4")
    assert out.splitlines()[0] == (
        f"{folder}/v1.4.yaml (replaced a symbolic link to {outside}/precious.yaml)"
    )


@pytest.mark.django_db
def test_export_does_not_create_the_target_of_a_dangling_link(tmp_path):
    run("import_manifest", str(EXAMPLES / "v1.4.yaml"))
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "v1.4.yaml").symlink_to(tmp_path / "elsewhere.yaml")

    run("export_manifest", "1.4", "--output-dir", str(folder))

    assert not (tmp_path / "elsewhere.yaml").exists()
    assert (folder / "v1.4.yaml").read_text() == export_release("1.4")


@pytest.mark.django_db
def test_export_renames_a_new_file_into_place_instead_of_rewriting_the_old_one(tmp_path):
    # A hard link outside the folder shares the old file's contents: written in place, it
    # would change too; renamed over, it keeps the old text (and a reader of the old file
    # never sees a half-written one).
    run("import_manifest", str(EXAMPLES / "v1.4.yaml"))
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "v1.4.yaml").write_text("old\n")
    os.link(folder / "v1.4.yaml", tmp_path / "hard-link.yaml")

    run("export_manifest", "1.4", "--output-dir", str(folder))

    assert (tmp_path / "hard-link.yaml").read_text() == "old\n"
    assert (folder / "v1.4.yaml").read_text() == export_release("1.4")
    assert sorted(path.name for path in folder.iterdir()) == ["v1.4.yaml"]  # no temporary left


@pytest.mark.django_db
def test_exported_files_get_the_usual_permissions(tmp_path):
    run("import_manifest", str(EXAMPLES / "v1.4.yaml"))
    previous = os.umask(0o022)
    try:
        run("export_manifest", "1.4", "--output-dir", str(tmp_path))
    finally:
        os.umask(previous)

    assert (tmp_path / "v1.4.yaml").stat().st_mode & 0o777 == 0o644


@pytest.mark.django_db
def test_a_folder_in_the_way_of_one_file_writes_none_of_them(tmp_path):
    run("import_manifest", str(EXAMPLES))
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "v1.2.yaml").write_text("old\n")
    (folder / "v1.4.yaml").mkdir()

    error, _ = refused("export_manifest", "--all", "--output-dir", str(folder))

    assert error.returncode == 1
    assert str(error) == (
        f"cannot write {folder}/v1.4.yaml: a folder has that name; nothing was written"
    )
    assert sorted(path.name for path in folder.iterdir()) == ["v1.2.yaml", "v1.4.yaml"]
    assert (folder / "v1.2.yaml").read_text() == "old\n"


def _limit_file_size() -> None:
    # Files the process writes may not grow past 16 KiB: the disk "fills up" in the middle of
    # a folder export. SIGXFSZ ignored, so the write fails with EFBIG instead of killing it.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))


def test_a_folder_export_that_fails_half_way_writes_nothing_and_says_so(tmp_path):
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    big = tmp_path / "v9.0.yaml"
    big.write_text(generated_manifest(500, "9.0"))  # about 70 KiB written out
    for args in (["migrate", "-v0"], ["import_manifest", str(EXAMPLES), str(big)]):
        setup = manage(env, *args)
        assert setup.returncode == 0, setup.stderr
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "v1.2.yaml").write_text("old\n")

    done = manage(
        env, "export_manifest", "--all", "--output-dir", str(folder), preexec_fn=_limit_file_size
    )

    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"CommandError: cannot write {folder}/v9.0.yaml: File too large; nothing was written"
    )
    # The four small releases were written to temporary files before the big one failed;
    # none of them was put into place, and no temporary file is left behind.
    assert folder_state(folder) == {"v1.2.yaml": "old\n"}


# --- import: a folder entry that cannot be read is an error -----------------------------------


def _dangling(folder: Path) -> str:
    (folder / "v2.0.yaml").symlink_to(folder / "gone.yaml")
    return f"{folder}/v2.0.yaml: (document): error: cannot read: dangling symbolic link"


def _loop(folder: Path) -> str:
    (folder / "v2.0.yaml").symlink_to(folder / "v2.1.yaml")
    (folder / "v2.1.yaml").symlink_to(folder / "v2.0.yaml")
    return f"{folder}/v2.0.yaml: (document): error: cannot read: symbolic link loop"


def _fifo(folder: Path) -> str:
    os.mkfifo(folder / "v2.0.yaml")
    return f"{folder}/v2.0.yaml: (document): error: not a manifest file: it is a FIFO"


def _subfolder(folder: Path) -> str:
    (folder / "v2.0.yaml").mkdir()
    return f"{folder}/v2.0.yaml: (document): error: not a manifest file: it is a folder"


def _no_permission(folder: Path) -> str:
    if os.geteuid() == 0:
        pytest.skip("root reads a file without read permission; the other entries cover root")
    (folder / "v2.0.yaml").write_text(RELEASE_1_4.replace('"1.4"', '"2.0"'))
    (folder / "v2.0.yaml").chmod(0)
    return f"{folder}/v2.0.yaml: (document): error: cannot read: permission denied"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "make_entry",
    [_dangling, _loop, _fifo, _subfolder, _no_permission],
    ids=["dangling link", "link loop", "fifo", "folder", "no read permission"],
)
def test_a_folder_entry_that_cannot_be_read_refuses_the_import(tmp_path, make_entry):
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "v1.4.yaml").write_text(RELEASE_1_4)
    expected = make_entry(folder)

    error, err = refused("import_manifest", str(folder))

    assert error.returncode == 1
    assert str(error).endswith("rejected; nothing was written")
    assert any(line.startswith(expected) for line in err.splitlines()), err
    assert Release.objects.count() == 0
    # validate_manifest reports it the same way, as a rejected file.
    with pytest.raises(CommandError) as invalid:
        run("validate_manifest", str(folder))
    assert invalid.value.returncode == 1


def test_a_dangling_link_in_a_folder_is_named_by_validate(tmp_path, capsys):
    (tmp_path / "v1.4.yaml").write_text(RELEASE_1_4)
    (tmp_path / "v2.0.yaml").symlink_to(tmp_path / "gone.yaml")

    with pytest.raises(CommandError):
        call_command("validate_manifest", str(tmp_path))

    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{tmp_path}/v1.4.yaml: 1.4 ok",
        f"{tmp_path}/v2.0.yaml: rejected",
        f"  (document): error: cannot read: dangling symbolic link (its target "
        f"{tmp_path}/gone.yaml does not exist) [unreadable]",
        "checked 2 manifest(s): 1 with errors",
    ]


# --- names that would speak to the terminal ---------------------------------------------------

HOSTILE = "v1.4\n\x1b[2J\x1b[31mok.yaml"
HOSTILE_SHOWN = "v1.4\\n\\x1b[2J\\x1b[31mok.yaml"


@pytest.mark.django_db
def test_a_file_name_with_control_characters_is_printed_and_stored_escaped(tmp_path):
    (tmp_path / HOSTILE).write_text(RELEASE_1_4)

    out, err = run("import_manifest", str(tmp_path))

    assert "\x1b" not in out + err
    assert out.splitlines()[0] == f"{tmp_path}/{HOSTILE_SHOWN}: 1.4 created (3 pins, 1 deployment)"
    release = Release.objects.get()
    assert release.source == f"{tmp_path}/{HOSTILE_SHOWN}"
    reasons = set(Release.history.values_list("history_change_reason", flat=True))
    assert reasons == {f"imported from {tmp_path}/{HOSTILE_SHOWN}"}


def test_validate_escapes_file_names_in_text_and_json(tmp_path, capsys):
    (tmp_path / HOSTILE).write_text("version: 1.10\nrepositories: []\n")

    with pytest.raises(CommandError):
        call_command("validate_manifest", str(tmp_path))
    out = capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("validate_manifest", str(tmp_path), "--format", "json")
    (report,) = json.loads(capsys.readouterr().out)

    assert "\x1b" not in out
    assert out.splitlines()[0] == f"{tmp_path}/{HOSTILE_SHOWN}: rejected"
    assert report["file"] == f"{tmp_path}/{HOSTILE_SHOWN}"


def test_a_missing_path_with_control_characters_is_named_escaped(tmp_path):
    with pytest.raises(CommandError) as missing:
        run("validate_manifest", str(tmp_path / HOSTILE))

    assert str(missing.value) == f"no such file or folder: {tmp_path}/{HOSTILE_SHOWN}"


@pytest.mark.django_db
def test_export_escapes_the_folder_name_it_prints(tmp_path):
    run("import_manifest", str(EXAMPLES / "v1.4.yaml"))
    folder = tmp_path / "out\x1b[31m"

    out, _ = run("export_manifest", "1.4", "--output-dir", str(folder))

    assert "\x1b" not in out
    assert out.splitlines() == [
        f"{tmp_path}/out\\x1b[31m/v1.4.yaml",
        f"exported 1 manifest(s) to {tmp_path}/out\\x1b[31m",
    ]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("v1.4.yaml", "v1.4.yaml"),
        ("ünïcødé-v1.4.yaml", "ünïcødé-v1.4.yaml"),
        ("a\nb", "a\\nb"),
        ("a\rb\tc", "a\\rb\\tc"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("\x9bc", "\\x9bc"),  # the one-byte CSI of C1
        ("evil\u202egnp.yaml", "evil\\u202egnp.yaml"),  # right-to-left override
        ("line\u2028sep", "line\\u2028sep"),
        ("back\\slash", "back\\\\slash"),
        (os.fsdecode(b"bad-\xff.yaml"), "bad-\\xff.yaml"),
    ],
)
def test_display_path_escapes_what_would_act_on_a_terminal(name, shown):
    assert display_path(Path("/m") / name) == f"/m/{shown}"


def test_two_names_never_display_alike():
    names = [os.fsdecode(b"a\xff"), "a\\xff", "a\n", "a\\n", "a\\\\n"]
    assert len({display_path(name) for name in names}) == len(names)
    assert escape_text("plain") == "plain"
