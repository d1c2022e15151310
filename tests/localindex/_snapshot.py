"""Index snapshots (JSON files under tests/data/index/) turned into tiny real wheels and sdists.

Format::

    {"source": "...", "projects": {"numpy": {"2.2.6": {
        "requires_python": ">=3.10", "requires_dist": ["..."], "provides_extra": [],
        "yanked": false, "files": ["numpy-2.2.6-cp312-...whl", "numpy-2.2.6.tar.gz"]}}}}

`yanked` may be false, true or a reason string. Built bytes are cached for the whole process.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from ._wheels import build_sdist_parts, build_wheel_parts

__all__ = ["SnapshotFile", "load_snapshot", "snapshot_files"]

# (kind, filename, name, version, requires_dist, requires_python, provides_extra) -> (bytes, metadata)
_CACHE: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}
_CACHE_LOCK = threading.Lock()


class SnapshotFile(NamedTuple):
    """One file of a snapshot, built: `metadata` is the wheel's METADATA (None for sdists)."""

    filename: str
    data: bytes
    metadata: bytes | None
    requires_python: str | None
    yanked: bool | str


def load_snapshot(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a snapshot JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _filename_version(filename: str) -> str | None:
    """The version part of a wheel or sdist filename, as written (None when it has none)."""
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        return parts[1] if len(parts) in (5, 6) else None
    for suffix in (".tar.gz", ".zip"):
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            return stem.rsplit("-", 1)[1] if "-" in stem else None
    return None


def built_file(
    filename: str,
    name: str,
    version: str,
    requires_dist: tuple[str, ...],
    requires_python: str | None,
    provides_extra: tuple[str, ...],
) -> tuple[bytes, bytes] | None:
    """Return (bytes, metadata) of a tiny wheel/sdist with this exact filename, from the process-wide
    cache or freshly built; None for kinds not built (anything but .whl, .tar.gz, .zip)."""
    key = (filename, name, version, requires_dist, requires_python, provides_extra)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    # The metadata's Version is the filename's (a pytorch wheel `torch-2.10.0+cu128-...` says
    # 2.10.0+cu128 even if the snapshot lists it under 2.10.0): installers compare the two.
    file_version = _filename_version(filename) or version
    kwargs: dict[str, Any] = {"requires_dist": requires_dist, "requires_python": requires_python, "provides_extra": provides_extra}
    if filename.endswith(".whl"):
        _, data, metadata = build_wheel_parts(name, file_version, filename=filename, **kwargs)
    elif filename.endswith((".tar.gz", ".zip")):
        _, data, metadata = build_sdist_parts(name, file_version, filename=filename, **kwargs)
    else:
        return None
    with _CACHE_LOCK:
        _CACHE[key] = (data, metadata)
    return data, metadata


def snapshot_files(snapshot: dict[str, Any], *, keep: Callable[[str], bool] = lambda filename: True) -> Iterator[SnapshotFile]:
    """Yield the built files of a snapshot that `keep` accepts, skipping kinds not built."""
    for project, versions in snapshot.get("projects", {}).items():
        for version, info in versions.items():
            requires_dist = tuple(info.get("requires_dist") or ())
            requires_python = info.get("requires_python") or None
            provides_extra = tuple(info.get("provides_extra") or ())
            yanked = info.get("yanked") or False
            for filename in info.get("files") or ():
                if not keep(filename):
                    continue
                built = built_file(filename, project, version, requires_dist, requires_python, provides_extra)
                if built is None:
                    continue
                data, metadata = built
                yield SnapshotFile(filename, data, metadata if filename.endswith(".whl") else None, requires_python, yanked)
