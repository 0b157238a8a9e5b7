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

from ..config import PathLike, __version__
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


def output_folder(path: PathLike, option: str, what: str) -> Path:
    """Before any work: an output folder's name is not that of an existing file, nor below one."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(path, f"is a file; {option} takes {what}")
    existing = next(parent for parent in path.absolute().parents if parent.exists())
    if not existing.is_dir():  # as output_file says of a file's folder
        raise InputError(existing, "is not a folder (a file is in the way)")
    return path


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
    if path.is_dir():
        raise InputError(path, f"is a folder; {option} takes a file name")
    if text.endswith(("/", os.sep)):
        raise InputError(text, f"ends with '/', as a folder's name does; {option} takes a file name")
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


def metadata_path(path: PathLike) -> Path:
    """A table's metadata sidecar, named by the W3C CSV on the Web convention: NAME-metadata.json."""
    path = Path(path)
    return path.with_name(path.name + "-metadata.json")


def table_metadata(header: Sequence[str], description: str, column_units: dict | None = None,
                   datatypes: dict | None = None, **extra: Any) -> dict:
    """The W3C CSV on the Web description of a table: what it holds (`description`), who made it and with
    which command, each column with its datatype (number unless `datatypes` says otherwise) and unit
    (`column_units`); `extra` entries are added as they are."""
    import sys

    units, datatypes = column_units or {}, {"id": "string", **(datatypes or {})}
    columns = [{"name": name, "titles": name, "datatype": datatypes.get(name, "number"),
                **({"unit": units[name]} if units.get(name) else {})} for name in header]
    return {"@context": "http://www.w3.org/ns/csvw", "dc:description": description,
            "dc:creator": f"cgcnn {__version__}", "dc:source": " ".join(["cgcnn", *sys.argv[1:]]),
            **extra, "tableSchema": {"columns": columns}}


def write_table_metadata(path: PathLike, metadata: dict) -> Path:
    """`metadata` (see table_metadata) as PATH-metadata.json beside the table at PATH."""
    import json

    sidecar = metadata_path(path)
    write_text(sidecar, json.dumps({**metadata, "url": Path(path).name}, indent=1, allow_nan=False) + "\n")
    return sidecar


def lock_file(path: Path, busy: str, subject: Path | None = None) -> Any:
    """`path` opened and locked (an advisory lock, released by the system if the process dies); while
    another process holds it, one error naming `subject` (default: the lock's folder): `busy` and who holds
    it. Retried if its owner removed the file meanwhile (another inode). The caller removes the file, then closes the handle."""
    import fcntl
    import socket
    import time

    while True:
        try:
            handle = open(path, "a+")
        except PermissionError:
            raise InputError(path.parent, "cannot write in this folder (permission denied)") from None
        except OSError as exc:
            raise InputError(path.parent, f"cannot write in this folder ({exc.strerror})") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise InputError(subject or path.parent, f"{busy} ({owner})") from None
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                handle.seek(0)
                handle.truncate()
                handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
                handle.flush()
                return handle
        except FileNotFoundError:
            pass
        handle.close()


def release_lock(path: Path, handle: Any) -> None:
    path.unlink(missing_ok=True)  # before unlocking: a waiter then finds the file gone and retries
    handle.close()


# what a difference in each fingerprint field means, for the error that refuses to mix two runs' rows
FINGERPRINT_FIELDS = {"model_sha256": "model file", "element_table_sha256": "element table",
                      "inputs_sha256": "input list (ids and files)", "block": "block of the inputs (--shard)",
                      "interval": "--interval", "columns": "columns"}


class ChunkedCsv:
    """A long CSV written chunk by chunk, each chunk whole, so that a killed run can be resumed.

    Rows go to PATH.partial; each `append` writes complete lines and syncs them to disk; `finish` writes the
    metadata sidecar (PATH-metadata.json) and renames the partial file onto PATH. The file is plain CSV, header
    first. While it is written, PATH is locked (.PATH.lock): a second writer gets one error. `metadata`
    holds a "fingerprint" of what makes the rows (model file, inputs, settings), stored beside the partial
    file too; `open(resume=...)` continues an earlier partial file (or, asked to resume, a finished PATH) only
    if its fingerprint is the same, drops a line cut short by the kill, and returns the ids (first column)
    already written. A partial file of another run is refused, never mixed in; resume=False starts over."""

    def __init__(self, path: PathLike, header: Sequence[str], metadata: dict) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.header = ",".join(header)
        self.metadata = metadata
        self.handle: Any = None
        self.lock: Any = None

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(f".{self.path.name}.lock")

    def open(self, resume: bool | None = None) -> set[str]:
        """Start or continue; resume=None continues a partial file of the same run, True insists."""
        ensure_folder(self.path.parent)
        self.lock = lock_file(self.lock_path, "another command is writing this file; wait for it to end "
                              "or choose another --out", subject=self.path)
        try:
            return self._open(resume)
        except BaseException:
            self.close()
            raise

    def _open(self, resume: bool | None) -> set[str]:
        remove_orphaned_temporaries(self.path.parent, self.path.name)
        if self.partial.is_file() and resume is not False and self._has_rows(self.partial):
            written = self._written(self.partial)
        elif resume and self.path.is_file():  # a finished file, resumed: it becomes the partial one again
            written = self._written(self.path)
            os.replace(metadata_path(self.path), metadata_path(self.partial))
            os.replace(self.path, self.partial)
        elif resume and not self.partial.is_file():
            raise InputError(self.path, "nothing to resume: neither this file nor its .partial exists")
        else:
            written = set()
            write_table_metadata(self.partial, self.metadata)
            self.partial.write_text(self.header + "\n")
        self.handle = open(self.partial, "ab", buffering=0)  # unbuffered: a failed write is undone whole
        return written

    def _has_rows(self, path: Path) -> bool:
        """Whether a partial file holds any row (one with none is replaced: there is nothing to lose)."""
        with open(path, "rb") as handle:
            handle.readline()
            return bool(handle.readline().strip())

    def abandon(self) -> None:
        """After a failed run that wrote no row: remove the partial file, so nothing is left behind."""
        self.close()
        if self.partial.is_file() and not self._has_rows(self.partial):
            self.partial.unlink(missing_ok=True)
            metadata_path(self.partial).unlink(missing_ok=True)

    def _mismatch(self, source: Path) -> str | None:
        """Why the rows in `source` are another run's, in words (None: they are this run's)."""
        import json

        try:
            theirs = json.loads(metadata_path(source).read_text())["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError):
            return f"no readable {metadata_path(source).name} says what made it"
        ours = self.metadata["fingerprint"]
        differences = [FINGERPRINT_FIELDS[k] for k in FINGERPRINT_FIELDS if k in ours and theirs.get(k) != ours[k]]
        with open(source, newline="") as handle:
            if handle.readline().rstrip("\n") != self.header and "columns" not in differences:
                differences.append("columns")
        return "different " + ", ".join(differences) if differences else None

    def _written(self, source: Path) -> set[str]:
        import csv

        mismatch = self._mismatch(source)
        if mismatch:
            raise InputError(source, f"holds rows of another run ({mismatch}); they are "
                             "never mixed: remove it (and its -metadata.json) to start over, or choose another --out")
        _drop_cut_line(source)
        with open(source, newline="") as handle:  # row by row: a long run's file is never held whole
            rows = csv.reader(handle)
            next(rows, None)
            return {row[0] for row in rows if row}

    def count(self, column: str, value: str) -> int:
        """Rows of the partial file whose `column` holds `value` (what the rows resumed contribute)."""
        import csv

        with open(self.partial, newline="") as handle:
            return sum(row.get(column) == value for row in csv.DictReader(handle))

    def append(self, rows: Iterable[Sequence]) -> None:
        import csv
        import io

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        data, start = buffer.getvalue().encode(), self.handle.seek(0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[self.handle.write(view):]
            os.fsync(self.handle.fileno())
        except OSError:  # a full disk or a file-size limit: the chunk is undone, the rows before it stay
            os.ftruncate(self.handle.fileno(), start)
            raise

    def finish(self) -> Path:
        """The finished file at PATH (see _publish), the partial one gone; the lock is released."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        self._publish()
        metadata_path(self.partial).unlink(missing_ok=True)
        self.close()
        return self.path

    def _publish(self) -> None:
        """The metadata beside PATH, then the rows onto PATH."""
        write_table_metadata(self.path, self.metadata)
        os.replace(self.partial, self.path)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        if self.lock is not None:
            release_lock(self.lock_path, self.lock)
            self.lock = None


class ChunkedParquet(ChunkedCsv):
    """A ChunkedCsv whose finished file is Parquet: rows gather in the CSV partial file (resumable, locked and
    checked as ever) and are converted when the run ends, the description in the file's key-value metadata
    (key "cgcnn") instead of a sidecar. A finished Parquet file is not continued."""

    def _open(self, resume: bool | None) -> set[str]:
        if resume and self.path.is_file() and not self.partial.is_file():
            raise InputError(self.path, "is a finished Parquet file: nothing to resume (remove it to predict again)")
        return super()._open(resume)

    def _publish(self) -> None:
        csv_to_parquet(self.partial, self.path, {**self.metadata, "url": self.path.name})
        self.partial.unlink()


def require_pyarrow(path: PathLike, instead: str = ".csv") -> None:
    """One clear error before any work when Parquet is asked for and pyarrow (an optional extra) is missing."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise InputError(path, f"writing .parquet needs pyarrow: pip install 'cgcnn[parquet]' (or write {instead})"
                         ) from None


PARQUET_KEY = "cgcnn"  # where a Parquet file we write keeps its description (key-value metadata)


def described_schema(schema: Any, metadata: dict) -> Any:
    """A pyarrow schema carrying `metadata` (see table_metadata) under PARQUET_KEY."""
    import json

    return schema.with_metadata({PARQUET_KEY: json.dumps(metadata, allow_nan=False)})


def csv_to_parquet(source: Path, path: Path, metadata: dict) -> None:
    """A CSV table (described by `metadata`, CSV-on-the-Web style) as a Parquet file at `path`, whole or not
    at all, read block by block; column types from the description (string, integer, number)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    kinds = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64()}
    types = {c["name"]: kinds[c["datatype"]] for c in metadata["tableSchema"]["columns"]}
    reader = pacsv.open_csv(source, convert_options=pacsv.ConvertOptions(column_types=types))
    schema = described_schema(reader.schema, metadata)
    with atomic_path(path) as tmp, pq.ParquetWriter(str(tmp), schema) as writer:
        for batch in reader:
            writer.write_table(pa.Table.from_batches([batch]).replace_schema_metadata(schema.metadata))
