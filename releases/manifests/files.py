"""Where manifests are on disk: which files a list of paths names, reading them, writing them
into a folder, and how to print a path.

Pure Python, no Django.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .model import Finding, Manifest, ManifestRejected
from .reader import parse_manifest
from .rules import DEFAULT_MAX_BYTES

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def manifest_files(paths: Iterable[Path | str]) -> list[Path]:
    """Files named on the command line, folders expanded to their manifest entries.

    A folder contributes every entry named ``*.yaml``/``*.yml``/``*.json`` except hidden ones
    (editor and ``._`` resource-fork droppings, our own temporary files). Entries that cannot
    be read as a file (a dangling symbolic link, a link loop, a FIFO, a sub-folder) are kept,
    so that reading them reports them by name instead of leaving them out unnoticed. Raises
    ``OSError`` for an unreadable folder.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(
                    (
                        child
                        for child in path.iterdir()
                        if child.suffix.lower() in MANIFEST_SUFFIXES
                        and not child.name.startswith(".")
                    ),
                    key=lambda child: _natural(child.name),
                )
            )
        else:
            files.append(path)
    # A file named twice (or by a path and by its folder) is read once. realpath, unlike
    # Path.resolve() on Python 3.11, does not raise on a link loop.
    unique: dict[str, Path] = {}
    for file in files:
        unique.setdefault(os.path.realpath(file), file)
    return list(unique.values())


def display_path(path: Path | str) -> str:
    """The path as text that can be printed and stored, whatever the file name holds.

    Undecodable bytes are shown as ``\\xff``, control, format and separator characters as
    Python escapes (``\\n``, ``\\x1b``, ``\\u202e``) and a backslash as ``\\\\``: nothing in
    a name can move the cursor, colour a terminal, reorder the line or start a new log line,
    and two names never print alike.
    """
    return escape_text(os.fsdecode(path))


def escape_text(text: str) -> str:
    """Text that came from outside (a file name, an argument, an ``OSError`` message) made
    safe to print and store, as :func:`display_path` describes."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape_character(character) for character in text)


def _escape_character(character: str) -> str:
    if character == "\\":
        return "\\\\"
    if "\udc80" <= character <= "\udcff":
        # A byte that was not UTF-8, as os.fsdecode() carries it (surrogateescape).
        return f"\\x{ord(character) - 0xDC00:02x}"
    if character.isprintable():
        return character
    # Not printable: C0/C1 controls (newline, ESC), format characters such as the
    # bidirectional overrides, line and paragraph separators, unassigned code points.
    return ascii(character)[1:-1]


# --- reading ------------------------------------------------------------------------------------


def read_manifest(path: Path | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Manifest:
    """Read and parse one manifest file; its source is the path's :func:`display_path`.

    Raises :class:`ManifestRejected` naming the file when it cannot be read: a dangling
    symbolic link, a link loop, no permission, not a regular file (a folder, a FIFO: opened
    without blocking, never waited on), over ``max_bytes``, or not a valid manifest.
    """
    source = display_path(path)
    try:
        data = _read_regular_file(Path(path), max_bytes)
    except _Unreadable as exc:
        raise ManifestRejected(source, [Finding("unreadable", "error", "", exc.reason)]) from None
    except _TooLarge as exc:
        message = f"{exc.size} bytes is over the limit of {max_bytes}"
        raise ManifestRejected(source, [Finding("too-large", "error", "", message)]) from None
    return parse_manifest(data, source=source, max_bytes=max_bytes)


def read_manifests(
    files: Iterable[Path],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Callable[[str], None] | None = None,
) -> list[tuple[str, Manifest | ManifestRejected]]:
    """Read every file, in order: each one's printable name and its manifest or rejection, so
    that all can be reported. ``progress`` is called with each printable name before it is
    read."""
    outcomes: list[tuple[str, Manifest | ManifestRejected]] = []
    for path in files:
        source = display_path(path)
        if progress is not None:
            progress(source)
        try:
            outcomes.append((source, read_manifest(path, max_bytes=max_bytes)))
        except ManifestRejected as exc:
            outcomes.append((source, exc))
    return outcomes


class _Unreadable(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


_FILE_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def _read_regular_file(path: Path, max_bytes: int) -> bytes:
    # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused after fstat.
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _Unreadable(_open_failure(path, exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _FILE_KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise _Unreadable(f"not a manifest file: it is {kind}")
        if info.st_size > max_bytes:
            raise _TooLarge(info.st_size)
        chunks = []
        size = 0
        with os.fdopen(fd, "rb", closefd=False) as stream:
            # Read at most one byte past the limit: a file that grows while read is still held
            # to it.
            while chunk := stream.read(max_bytes + 1 - size):
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    raise _TooLarge(size)
        return b"".join(chunks)
    except OSError as exc:
        raise _Unreadable(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _open_failure(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "cannot read: symbolic link loop (too many levels of symbolic links)"
    if exc.errno == errno.ENOENT and path.is_symlink():
        try:
            target = display_path(os.readlink(path))
        except OSError:
            target = "?"
        return f"cannot read: dangling symbolic link (its target {target} does not exist)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "cannot read: permission denied"
    return f"cannot read: {escape_text(exc.strerror or str(exc))}"


# --- writing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrittenFile:
    """A file put into place; ``replaced_link`` is the target of the symbolic link that stood
    at its name (replaced by the file, never followed)."""

    path: Path
    replaced_link: str | None = None


class FolderWriteFailed(Exception):
    """Writing files into a folder failed at ``path``; ``written`` lists the files that were
    put into place before it (empty: nothing in the folder changed)."""

    def __init__(self, path: Path, reason: str, written: list[WrittenFile] | None = None) -> None:
        self.path = path
        self.reason = reason
        self.written = written or []
        super().__init__(path, reason)

    def __str__(self) -> str:
        where = display_path(self.path)
        if not self.written:
            return f"cannot write {where}: {self.reason}; nothing was written"
        done = ", ".join(display_path(file.path) for file in self.written)
        return f"cannot write {where}: {self.reason}; only these were written: {done}"


def write_files(directory: Path, contents: Mapping[str, str]) -> list[WrittenFile]:
    """Write ``{file name: text}`` into ``directory`` (created if missing), all or nothing as
    far as the file system allows.

    Nothing outside the folder is ever written: every text goes to a new hidden temporary
    file in the folder (created exclusively, so no existing file or link is opened), and only
    when all are written are they renamed over their names. ``rename`` replaces a symbolic
    link standing at a name instead of following it; the caller is told so. A reader of the
    folder sees each file old or new, never half-written. Raises :class:`FolderWriteFailed`:
    before the renames, with nothing changed and the temporary files removed; during them (a
    race with another writer), naming the files already in place.
    """
    for name in contents:
        if not name or "/" in name or name in (".", "..") or "\0" in name:
            raise ValueError(f"not a plain file name: {name!r}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise FolderWriteFailed(directory, "it is not a folder") from None
    except OSError as exc:
        raise FolderWriteFailed(directory, _reason(exc)) from None
    staged: list[tuple[Path, Path, str | None]] = []
    try:
        for name, text in contents.items():
            target = directory / name
            link = _check_target(target)
            staged.append((_write_temporary(directory, name, text), target, link))
    except BaseException:
        # A failure, or an interrupt (Ctrl-C): no temporary file stays behind.
        _remove([temporary for temporary, _, _ in staged])
        raise
    written: list[WrittenFile] = []
    for position, (temporary, target, link) in enumerate(staged):
        try:
            os.replace(temporary, target)
        except OSError as exc:
            _remove([temporary for temporary, _, _ in staged[position:]])
            raise FolderWriteFailed(target, _reason(exc), written) from None
        written.append(WrittenFile(target, link))
    _sync_directory(directory)
    return written


def _check_target(target: Path) -> str | None:
    """What stands at ``target``: a symbolic link's target (to be replaced), or nothing; a
    folder there is refused before anything is written."""
    try:
        info = target.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FolderWriteFailed(target, _reason(exc)) from None
    if stat.S_ISLNK(info.st_mode):
        try:
            return display_path(os.readlink(target))
        except OSError:
            return "?"
    if stat.S_ISDIR(info.st_mode):
        raise FolderWriteFailed(target, "a folder has that name")
    return None


def _write_temporary(directory: Path, name: str, text: str) -> Path:
    data = text.encode("utf-8")
    # O_EXCL | O_NOFOLLOW: a new file of our own, never something already there. Mode 0o666
    # lets the umask decide the permissions, as for any file the user creates.
    flags = (
        os.O_WRONLY
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_CLOEXEC", 0)
    )
    while True:
        temporary = directory / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(temporary, flags, 0o666)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise FolderWriteFailed(directory / name, _reason(exc)) from None
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as exc:
        _remove([temporary])
        raise FolderWriteFailed(directory / name, _reason(exc)) from None
    return temporary


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _sync_directory(directory: Path) -> None:
    # The renames survive a crash only once the folder itself is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _reason(exc: OSError) -> str:
    return escape_text(exc.strerror or str(exc))


def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part
    )
