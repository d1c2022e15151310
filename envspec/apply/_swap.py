"""Swapping a finished environment into place, and cleaning up after applies that died.

The new environment is built at a staging path beside the prefix, so the swap is a rename on
one filesystem. A venv records its own path in its scripts (shebangs, ``activate``) and, from
Python 3.11, ``pyvenv.cfg``'s ``command``: :func:`retarget` rewrites the staging path to the
prefix in those files before the swap. Then:

- no prefix yet: one ``rename`` — the environment appears whole or not at all;
- a prefix: Linux's ``renameat2(RENAME_EXCHANGE)`` exchanges the two directories in one step;
  where that is missing, two renames (old away, new in), and :func:`recover` puts the old one
  back if a crash fell between them.

:func:`prefix_lock` keeps two applies off one prefix (an advisory ``flock``); holding it, any
staging directory beside the prefix belongs to an apply that died, and :func:`recover` removes
it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from ._errors import ApplyError
from ._layout import bin_dir, leftovers, lock_path, new_sibling

__all__ = ["prefix_lock", "recover", "remove_tree", "retarget", "swap_in"]

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_TEXT_LIMIT = 1 << 20


@contextlib.contextmanager
def prefix_lock(prefix: Path) -> Iterator[None]:
    """Hold the apply lock of ``prefix``; raise :class:`ApplyError` when another apply does."""
    path = lock_path(prefix)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+b")  # noqa: SIM115 - held for the whole block
    try:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock; the staging names are unique anyway
            yield
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            raise ApplyError(
                f"another aienv apply is working on {prefix}", code="prefix-busy",
                hint="wait for it to finish, then run aienv apply again",
            ) from e
        yield
    finally:
        handle.close()


def remove_tree(path: Path) -> None:
    """Remove a directory tree (or a link or file), also when parts of it are read-only."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return

    def force(function, name, _exc):  # type: ignore[no-untyped-def]
        with contextlib.suppress(OSError):
            os.chmod(name, 0o700)
            function(name)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=force)
    else:
        shutil.rmtree(path, onerror=force)


def recover(prefix: Path) -> list[str]:
    """Clean up after applies that died (call with :func:`prefix_lock` held): put back an old
    environment a crash left between the two renames of a swap, remove staging directories and
    old environments. Returns one note per thing done."""
    notes = []
    olds = leftovers(prefix, "old")
    if olds and not prefix.exists() and not prefix.is_symlink():
        os.rename(olds[0], prefix)
        notes.append(f"restored the previous environment at {prefix} (an apply stopped in the middle of its swap)")
        olds = olds[1:]
    for path in leftovers(prefix, "stage"):
        remove_tree(path)
        notes.append(f"removed {path.name}, a partial environment left by an apply that was killed")
    for path in olds:
        remove_tree(path)
        notes.append(f"removed {path.name}, a replaced environment an earlier apply could not delete")
    return notes


def retarget(stage: Path, prefix: Path) -> int:
    """Rewrite ``stage``'s path to ``prefix`` in the files of a venv that name it (the scripts
    in ``bin``, ``pyvenv.cfg``). Returns how many files changed."""
    old, new = os.fsencode(str(stage)), os.fsencode(str(prefix))
    files = [stage / "pyvenv.cfg"]
    scripts = bin_dir(stage)
    if scripts.is_dir():
        files += sorted(p for p in scripts.iterdir() if p.is_file() and not p.is_symlink())
    changed = 0
    for path in files:
        try:
            if path.stat().st_size > _TEXT_LIMIT:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if old not in data:
            continue
        mode = path.stat().st_mode
        tmp = path.with_name(path.name + ".aienv-tmp")
        tmp.write_bytes(data.replace(old, new))
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, path)
        changed += 1
    return changed


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(str(a)), _AT_FDCWD, os.fsencode(str(b)), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # an old kernel or a filesystem without exchange
    raise OSError(code, os.strerror(code), str(b))


def swap_in(stage: Path, prefix: Path) -> Path | None:
    """Put the environment at ``stage`` at ``prefix``. Returns where the previous environment
    now is (to be removed), or None when there was none."""
    if not prefix.exists() and not prefix.is_symlink():
        os.rename(stage, prefix)
        return None
    if _exchange(stage, prefix):
        return stage
    old = new_sibling(prefix, "old")
    os.rename(prefix, old)
    os.rename(stage, prefix)
    return old
