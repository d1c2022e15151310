"""Where things are in a virtual environment and around the prefix apply manages.

Beside a prefix ``DIR/.venv`` apply keeps only hidden, clearly named siblings, all on the
same filesystem so that renames are atomic:

- ``DIR/..venv.aienv-stage``: a new environment being built (removed when the apply ends; one
  left by a killed apply is removed by the next). One name per prefix, not a fresh one per
  apply: the apply lock makes it exclusive, and uv caches what it learns about an interpreter
  by its path, so a second apply into the prefix does not pay uv's interpreter query (30 ms).
  Where there is no apply lock (Windows), ``-PID-RANDOM`` makes it unique;
- ``DIR/..venv.aienv-old-PID-RANDOM``: the previous environment during the two renames of a
  swap on systems without an atomic exchange (restored by the next apply if the second rename
  never happened);
- ``DIR/..venv.aienv-lock``: the lock file that keeps two applies off one prefix.

Inside the environment, ``aienv-applied.json`` records what was applied (the marker that makes
a re-apply a no-op, and tells an aienv environment from one made by hand).

Standard library only: the no-op check (:mod:`envspec.apply._current`) runs on this alone.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

__all__ = [
    "MARKER",
    "bin_dir",
    "env_python",
    "installed_listing",
    "is_conda_prefix",
    "is_venv",
    "leftovers",
    "lock_path",
    "new_sibling",
    "read_marker",
    "site_packages",
    "write_atomic",
]

MARKER = "aienv-applied.json"
_STAGE, _OLD = "stage", "old"


def bin_dir(prefix: Path) -> Path:
    """Where a venv keeps its interpreter and scripts."""
    return prefix / ("Scripts" if os.name == "nt" else "bin")


def env_python(prefix: Path) -> Path:
    """The interpreter of a venv (or conda prefix, on POSIX)."""
    return bin_dir(prefix) / ("python.exe" if os.name == "nt" else "python")


def is_venv(path: Path) -> bool:
    return (path / "pyvenv.cfg").is_file()


def is_conda_prefix(path: Path) -> bool:
    return (path / "conda-meta").is_dir()


def site_packages(prefix: Path) -> list[Path]:
    """The site-packages directories of an environment (POSIX ``lib/pythonX.Y``, Windows ``Lib``)."""
    found = sorted(prefix.glob("lib/python*/site-packages")) + sorted(prefix.glob("lib64/python*/site-packages"))
    windows = prefix / "Lib" / "site-packages"
    if windows.is_dir():
        found.append(windows)
    seen, out = set(), []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def installed_listing(prefix: Path) -> list[str]:
    """What is installed in an environment, as names only: every ``*.dist-info`` and
    ``*.egg-info`` in its site-packages (``torch-2.8.0+cpu.dist-info``: name and version) and
    every ``conda-meta/*.json`` record (``python-3.11.11-h311_0.json``), sorted. An install,
    upgrade or removal by any tool changes it; reading it opens no file."""
    found = []
    for site in site_packages(prefix):
        where = site.relative_to(prefix).as_posix()
        try:
            found += [f"{where}/{e.name}" for e in os.scandir(site) if e.name.endswith((".dist-info", ".egg-info"))]
        except OSError:
            continue
    try:
        found += [f"conda-meta/{e.name}" for e in os.scandir(prefix / "conda-meta") if e.name.endswith(".json")]
    except OSError:
        pass
    return sorted(found)


def read_marker(prefix: Path) -> dict[str, Any] | None:
    """The record of the last apply into ``prefix``, or None (none, or unreadable)."""
    try:
        data = json.loads((prefix / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_atomic(path: Path, text: str, *, durable: bool = True) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it and a rename: a reader sees
    the old file or the new one, never half of either. ``durable``: fsync before the rename (as
    :func:`envspec.lockfile.atomic_write`, which is not imported here: it would bring in the
    lock's models); a cache entry, checked when read, skips it. The file gets the mode an
    ordinary new file would (0666 less the umask)."""
    import tempfile  # not needed by the no-op check, which imports this module

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        mask = os.umask(0o022)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prefix_of(prefix: Path, kind: str) -> str:
    return f".{prefix.name}.aienv-{kind}-"


def new_sibling(prefix: Path, kind: str) -> Path:
    """A hidden path beside ``prefix`` (``kind``: ``stage`` or ``old``): the staging path of the
    prefix, else a fresh one."""
    if kind == _STAGE and os.name == "posix":
        return prefix.parent / _prefix_of(prefix, kind)[:-1]
    return prefix.parent / f"{_prefix_of(prefix, kind)}{os.getpid()}-{secrets.token_hex(4)}"


def leftovers(prefix: Path, kind: str) -> list[Path]:
    """Siblings of ``kind`` left beside ``prefix`` by earlier applies, newest first."""
    if not prefix.parent.is_dir():
        return []
    start = _prefix_of(prefix, kind)
    found = [p for p in prefix.parent.iterdir() if p.name.startswith(start) or p.name == start[:-1]]
    return sorted(found, key=lambda p: p.lstat().st_mtime, reverse=True)


def lock_path(prefix: Path) -> Path:
    return prefix.parent / f".{prefix.name}.aienv-lock"
