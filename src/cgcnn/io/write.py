"""Write files so that a crash never leaves a half-written one: temp file in the same folder, then rename.

Temporary files are named `.NAME.PID.XXXX.tmp`, so the next write into the folder can tell those of a killed
writer (its process is gone) from those of a writer still at work, and removes only the former. Files get the
user's umask, as any program's would. A full disk (or quota) is one clear error; the previous file stays.
Output paths are checked before any work starts: not a folder, not one of the command's inputs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from pathlib import Path

from ..config import PathLike
from ..errors import InputError

SKIPPED_HEADER = ["id", "file", "reason"]  # the list of crystals left out by --skip-bad
NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_orphaned_temporaries(folder: Path, name: str | None = None) -> None:
    """Temporary files in `folder` (of `name` only, if given) whose writing process is gone."""
    try:
        candidates = list(folder.glob(f".{name}.*.tmp" if name else ".*.tmp"))
    except OSError:
        return
    for path in candidates:
        match = TEMPORARY.match(path.name)
        if match and not process_alive(int(match["pid"])):
            path.unlink(missing_ok=True)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ensure_folder(folder: Path) -> None:
    """Create `folder` (and parents) or say in one line why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(folder, "is not a folder (a file is in the way)") from None
    except PermissionError:
        raise InputError(folder, "cannot create this folder (permission denied)") from None
    except OSError as exc:
        raise InputError(folder, f"cannot create this folder ({exc.strerror})") from None


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds. A symbolic
    link at `path` is written through (its target is replaced), as other Unix tools do."""
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    if path.is_dir():
        raise InputError(path, "is a folder; a file name is needed here")
    ensure_folder(path.parent)
    remove_orphaned_temporaries(path.parent, path.name)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    except PermissionError:
        raise InputError(path.parent, "cannot write in this folder (permission denied)") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise_if_full(exc, path)
        raise
    finally:
        tmp.unlink(missing_ok=True)


def raise_if_full(exc: OSError, path: Path) -> None:
    """A full disk or quota as one clear error naming the file being written."""
    if exc.errno in NO_SPACE:
        raise InputError(path, f"cannot write: {os.strerror(exc.errno)}; the previous file, if any, is "
                         "unchanged") from None


def write_text(path: PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_torch(obj: object, path: PathLike) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def write_csv(path: PathLike, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """A whole CSV file, atomically."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def write_skipped(path: PathLike, skipped: Sequence[Sequence]) -> Path:
    """The crystals left out, with their reasons; with none, a list left there by an earlier run is removed
    (it would describe other data)."""
    path = Path(path)
    if skipped:
        write_csv(path, SKIPPED_HEADER, skipped)
    else:
        path.unlink(missing_ok=True)
    return path


def output_file(out: PathLike, inputs: Iterable[PathLike] = (), option: str = "--out") -> Path:
    """Check an output file name before any work: not a folder, and not (through links) one of `inputs`,
    the files the command reads. Returns the path to write (a link's target)."""
    text = os.fspath(out)
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.is_dir():
        raise InputError(path, f"is a folder; {option} takes a file name")
    target = path.resolve()
    for item in inputs:
        if Path(item).resolve() == target:
            raise InputError(path, f"is an input of this command; {option} would overwrite it (nothing was written)")
    if target.parent.exists() and not target.parent.is_dir():
        raise InputError(target.parent, "is not a folder (a file is in the way)")
    return target if path.is_symlink() else path


def _drop_cut_line(path: Path, block: int = 1 << 16) -> None:
    """Truncate a file after its last line end (a line cut short by a kill is dropped), reading only its end."""
    with open(path, "rb+") as handle:
        end = handle.seek(0, os.SEEK_END)
        position = end
        while position > 0:
            start = max(0, position - block)
            handle.seek(start)
            found = handle.read(position - start).rfind(b"\n")
            if found >= 0:
                if start + found + 1 != end:
                    handle.truncate(start + found + 1)
                return
            position = start
        handle.truncate(0)


class ChunkedCsv:
    """A long CSV written chunk by chunk, each chunk whole, so that a killed run can be resumed.

    Rows go to PATH.partial; each `append` writes complete lines and syncs them to disk; `finish` renames
    the partial file onto PATH. The first lines (`head`: a comment and the header) say what the rows hold.
    `open(resume=...)` finds an earlier partial file (or, asked to resume, a finished PATH) with the same
    head, drops a line cut short by the kill, and returns the ids (first column) already written; with
    another head it starts over, or with resume=True refuses."""

    def __init__(self, path: PathLike, head: Sequence[str]) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.head = [line.rstrip("\n") for line in head]
        self.handle: Any = None

    def open(self, resume: bool | None = None) -> set[str]:
        """Start or continue; resume=None continues a matching partial file quietly, True insists."""
        ensure_folder(self.path.parent)
        remove_orphaned_temporaries(self.path.parent, self.path.name)
        written: set[str] = set()
        keep = False
        if self.partial.is_file() and resume is not False:
            written = self._written(self.partial, insist=bool(resume))
            keep = self._head_matches(self.partial)
        elif resume and self.path.is_file():  # a finished file, resumed: it becomes the partial one again
            written, keep = self._written(self.path, insist=True), True
            os.replace(self.path, self.partial)
        elif resume:
            raise InputError(self.path, "nothing to resume: neither this file nor its .partial exists")
        if not keep:
            self.partial.write_text("\n".join(self.head) + "\n")
        self.handle = open(self.partial, "a", newline="")
        return written

    def _head_matches(self, source: Path) -> bool:
        with open(source, newline="") as handle:
            return [handle.readline().rstrip("\n") for _ in self.head] == self.head

    def _written(self, source: Path, insist: bool) -> set[str]:
        import csv

        if not self._head_matches(source):
            if insist:
                raise InputError(source, "was written by another command (other model, columns or options): "
                                 "remove it, or run without --resume to start over")
            return set()
        _drop_cut_line(source)
        with open(source, newline="") as handle:  # row by row: a long run's file is never held whole
            rows = csv.reader(handle)
            for _ in self.head:
                next(rows, None)
            return {row[0] for row in rows if row}

    def append(self, rows: Iterable[Sequence]) -> None:
        import csv
        import io

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        self.handle.write(buffer.getvalue())
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def finish(self) -> Path:
        self.close()
        os.replace(self.partial, self.path)
        return self.path

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
