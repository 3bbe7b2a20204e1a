"""Writing outputs without losing anything of the user's: a writer claims its path first, writes into a temporary
sibling, and renames the result into place only once it is complete.

- A path that does not exist, or an empty folder, is free.
- A path that holds simstats' own kind of output (a result folder, a figure folder, a report) is replaced only when
  the user asks (``force``; ``--force`` on the command line), and then only after the new output is complete: the
  old one stays intact until the swap.
- Anything else (a regular file where a folder would go, a folder of other files) is never replaced, ``force`` or
  not: simstats does not delete what it did not write.
- Two writers of one path take a lock on it, so their outputs cannot interleave.

>>> import tempfile
>>> from pathlib import Path
>>> d = Path(tempfile.mkdtemp())
>>> (d / "notes.txt").write_text("mine")
4
>>> claim_output(d / "notes.txt", ours=lambda p: False, what="result folder")  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
SimstatsError: .../notes.txt exists and is not a result folder: simstats does not replace it; choose another path
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from simstats.errors import SimstatsError


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def claim_output(path: str | Path, *, ours: Callable[[Path], bool], what: str, force: bool = False) -> Path:
    """Check that ``path`` may be written: free, or ``what`` simstats wrote (``ours(path)``) and ``force`` given.
    Raises :class:`SimstatsError` (one line) otherwise; returns the path."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise SimstatsError(f"{path} is a broken symbolic link: simstats does not replace it; choose another path")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():     # checked now, not after minutes of work
        raise SimstatsError(f"{path}: cannot write there, {parent} is a file, not a folder; choose another path")
    if not path.exists() or _is_empty_dir(path):
        return path
    if not ours(path):
        kind = "a folder" if path.is_dir() else "a file"
        raise SimstatsError(f"{path} exists and is not a {what} ({kind} simstats did not write): simstats does not "
                            "replace it; choose another path")
    if not force:
        raise SimstatsError(f"{path} already holds a {what}; pass --force to replace it (the old one stays until "
                            "the new one is complete)")
    return path


def temporary_sibling(path: Path, folder: bool) -> Path:
    """A new temporary file or folder beside ``path`` (same file system, so the final rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    if folder:
        tmp.mkdir()
    return tmp


def move_into_place(tmp: Path, path: Path) -> None:
    """Rename the complete ``tmp`` to ``path``; an existing ``path`` (already claimed) is moved aside first and
    deleted only after the new one is in place."""
    if not path.exists() or (path.is_dir() and _is_empty_dir(path) and tmp.is_file()):
        if path.is_dir():
            path.rmdir()
        os.replace(tmp, path)
        return
    if path.is_file() and tmp.is_file():
        os.replace(tmp, path)                      # atomic for files
        return
    old = path.with_name(f".{path.name}.{secrets.token_hex(6)}.old")
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(old, path)                      # put the old output back
        raise
    if old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)


def remove_temporary(tmp: Path) -> None:
    if tmp.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def output_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` for the time of a write (a lock file beside it, removed afterwards)."""
    import fcntl

    lock = path.with_name(f".{path.name}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(lock, "w")  # noqa: SIM115 (closed by the with below; opened here to catch its OSError)
    except OSError as e:                      # the folder cannot be made or written (permission, read-only disk)
        raise disk_error(path, e) from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SimstatsError(f"{path} is being written by another simstats process; wait for it or choose "
                                "another path") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            lock.unlink(missing_ok=True)


def disk_error(path: Path, e: OSError) -> SimstatsError:
    """One line for a failed write (disk full, no permission, ...)."""
    return SimstatsError(f"{path}: cannot write ({e.strerror or e}); nothing was written")


@contextlib.contextmanager
def writing(path: str | Path, *, ours: Callable[[Path], bool], what: str, force: bool = False,
            folder: bool = False) -> Iterator[Path]:
    """Claim ``path``, lock it, and yield a temporary sibling to write into; on success the temporary output is
    moved into place, on any failure (an exception, Ctrl-C) it is removed and ``path`` is untouched.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> with writing(d / "x.txt", ours=lambda p: True, what="report") as tmp:
    ...     _ = tmp.write_text("new")
    >>> (d / "x.txt").read_text()
    'new'
    """
    path = claim_output(path, ours=ours, what=what, force=force)
    with output_lock(path):
        claim_output(path, ours=ours, what=what, force=force)     # again: another writer may have finished
        try:
            tmp = temporary_sibling(path, folder)
        except OSError as e:
            raise disk_error(path, e) from None
        try:
            yield tmp
            move_into_place(tmp, path)
        except OSError as e:
            remove_temporary(tmp)
            raise disk_error(path, e) from None
        except BaseException:
            remove_temporary(tmp)
            raise


def write_text(path: str | Path, text: str, *, ours: Callable[[Path], bool], what: str, force: bool = False) -> Path:
    """Write ``text`` to ``path`` through :func:`writing`."""
    path = Path(path)
    with writing(path, ours=ours, what=what, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


__all__ = ["claim_output", "disk_error", "move_into_place", "output_lock", "remove_temporary", "temporary_sibling",
           "write_text", "writing"]
