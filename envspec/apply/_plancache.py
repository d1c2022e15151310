"""The plan cache: what applying a lock's named CPU target needs, kept from the last time that
lock was read, so that an apply into a new prefix does not parse and validate it again.

Reading a lock costs more than the rest of an apply's own work: importing pydantic and building
the lock's models (about 0.09 s), parsing the TOML and validating it, the compatibility matrix,
the backends' helpers. What an apply of a venv target takes from all that is small and a pure
function of the lock's bytes and aienv's code: the files to install (name, version, URL,
sha256, size, file name), the target's Python, platform and accelerator, the fingerprint, the
packages left to build from source, and, for a target named with ``--target`` whose checks read
only the platform and the C library (CPU, MPS: :func:`~envspec.apply._current.choice_scope`
``machine``), the target choice, a function of those facts. An entry holds exactly that:

- its file name is derived from the sha256 of the lock's bytes, the ``--target`` asked for and
  the aienv version; inside, it repeats them and adds a stamp of aienv's own files (the name,
  size and mtime of every file of the installed package: an edited checkout is other code), the
  facts of the machine the choice read (:func:`~envspec.apply._current.machine_facts`, as the
  no-op marker records them) and a sha256 of its own content;
- an entry whose any part differs, that does not parse, or whose digest is wrong is ignored (the
  full apply runs and writes it anew): a changed lock is another key, another machine another
  choice. Only what the full apply decided without error is stored, and only for a venv target
  whose every file is a wheel (no index options, no conda packages);
- it lives under the aienv cache directory (``apply-plans/``), written through a temporary file
  and a rename (no fsync: an entry is checked when read); the newest 64 entries are kept.

What stays the same on a cache hit: the interpreter is found, the installer looked up, the
prefix's state read and refused or replaced as always; the installer gets the same lines
(hashes required); the marker records the same plan. With verification on, the lock is parsed
from the very bytes the key was taken from, the target chosen again with the doctor's host, and
the plan's files recomputed from it before the probe runs: a cache entry that disagrees with
the lock is removed and the apply starts over without it, before anything is swapped in. With
``--no-verify`` the lock's models are never imported.

Standard library only (this module and what it imports).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._cache_dir import default_cache_dir
from .._version import __version__
from ._layout import write_atomic
from ._plan import (
    Contents,
    NotInstalled,
    PlanItem,
    PlannedChoice,
    PlannedTarget,
    build_command,
    fingerprint,
)

if TYPE_CHECKING:
    from ._match import TargetChoice

__all__ = ["CachedPlan", "cache_dir", "code_stamp", "entry_path", "load", "planned_choice", "remove", "store"]

FORMAT = 1
#: How many entries are kept (the newest written).
KEEP = 64
_DIR = "apply-plans"
_PACKAGE = Path(__file__).resolve().parent.parent  # envspec/


def cache_dir() -> Path:
    """Where the entries are: ``apply-plans/`` in aienv's cache directory."""
    return default_cache_dir() / _DIR


def code_stamp() -> str:
    """A digest of the name, size and mtime of every file of the envspec package (its modules
    and data): any edit or reinstall gives another stamp (about 0.5 ms for a hundred files)."""
    found: list[str] = []

    def walk(directory: str) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        walk(entry.path)
                elif not entry.name.endswith((".pyc", ".pyo")):
                    st = entry.stat()
                    found.append(f"{os.path.relpath(entry.path, _PACKAGE)}\0{st.st_size}\0{st.st_mtime_ns}")

    walk(str(_PACKAGE))
    return hashlib.sha256("\n".join(sorted(found)).encode()).hexdigest()


def entry_path(lock_sha256: str, target: str) -> Path:
    key = hashlib.sha256(f"{FORMAT}\0{lock_sha256}\0{target}\0{__version__}".encode()).hexdigest()
    return cache_dir() / f"{key[:40]}.json"


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class CachedPlan:
    """What an entry gives an apply: the target choice and the plan's contents (the files, the
    packages not installed, the notes, the fingerprint, recomputed from the files when loaded)."""

    choice: PlannedChoice
    contents: Contents


def _parse(body: dict[str, Any]) -> CachedPlan:
    plan = body["plan"]
    target = PlannedTarget(str(plan["python"]), str(plan["platform"]), str(plan["accelerator"]))
    choice = plan["choice"]
    items = tuple(PlanItem(str(n), str(v), str(u), str(h), s if isinstance(s, int) else None, str(f)) for n, v, u, h, s, f in plan["items"])
    builds = tuple(NotInstalled(str(n), str(v), c if isinstance(c, str) else None) for n, v, c in plan["builds"])
    contents = Contents(str(plan["spec-digest"]), items, builds, (), tuple(str(n) for n in plan["notes"]), str(plan["fingerprint"]))
    return CachedPlan(PlannedChoice(str(choice["name"]), target, str(choice["why"]), tuple(str(r) for r in choice["overridden"])), contents)


def _key(lock_sha256: str, target: str, facts: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "aienv": __version__, "code": code_stamp(), "lock-sha256": lock_sha256, "target": target,
            "facts": facts}


def load(lock_sha256: str, target: str, facts: dict[str, Any]) -> CachedPlan | None:
    """The entry for applying ``target`` of the lock whose bytes have ``lock_sha256`` on a
    machine of ``facts``; None when there is none or it does not hold exactly for these."""
    path = entry_path(lock_sha256, target)
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    try:
        body = data["body"]
        if data["digest"] != _digest(body) or body["key"] != _key(lock_sha256, target, facts):
            return None
        cached = _parse(body)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    items = cached.contents.items
    if cached.choice.name != target or not all(i.is_wheel for i in items):
        return None
    if fingerprint(cached.choice.target, items, ()) != cached.contents.fingerprint:  # type: ignore[arg-type]
        return None
    return cached


def planned_choice(choice: TargetChoice | PlannedChoice) -> PlannedChoice:
    """``choice`` as the plan cache records it."""
    target = PlannedTarget(choice.target.python, choice.target.platform, choice.target.accelerator)
    return PlannedChoice(choice.name, target, choice.why, tuple(choice.overridden))


def store(choice: PlannedChoice, contents: Contents, lock_sha256: str, target: str, facts: dict[str, Any]) -> None:
    """Record the plan of ``target`` (made from the lock, with ``choice`` on a machine of
    ``facts``) for the next apply of the same lock bytes; a failure to write is ignored."""
    body = {
        "key": _key(lock_sha256, target, facts),
        "plan": {
            "choice": {"name": choice.name, "why": choice.why, "overridden": list(choice.overridden)},
            "python": choice.target.python, "platform": choice.target.platform, "accelerator": choice.target.accelerator,
            "spec-digest": contents.spec_digest,
            "items": [[i.name, i.version, i.url, i.sha256, i.size, i.filename] for i in contents.items],
            "builds": [[p.name, p.version, build_command(p)] for p in contents.builds],
            "notes": list(contents.notes),
            "fingerprint": contents.fingerprint,
        },
    }
    path = entry_path(lock_sha256, target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"digest": _digest(body), "body": body}, sort_keys=True) + "\n", durable=False)
        _trim(path.parent)
    except OSError:
        pass


def _trim(directory: Path) -> None:
    """Keep the newest :data:`KEEP` entries (each lock applied, each aienv version writes one)."""
    entries = []
    with os.scandir(directory) as found:
        for entry in found:
            if entry.name.endswith(".json"):
                entries.append((entry.stat().st_mtime_ns, entry.path))
    for _, old in sorted(entries, reverse=True)[KEEP:]:
        try:
            os.unlink(old)
        except OSError:
            pass


def remove(lock_sha256: str, target: str) -> None:
    """Drop the entry (it disagreed with the lock)."""
    try:
        entry_path(lock_sha256, target).unlink()
    except OSError:
        pass
