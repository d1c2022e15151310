"""What an apply will do, decided before anything is touched: :func:`make_plan`.

A plan names the target (and why), the kind of environment (a venv, or a conda prefix for a
target with solved conda packages, :mod:`envspec.apply._conda`), the interpreter, the installer,
every file to install (the one :func:`~envspec.backends._common.best_file` picks for the target:
the file an installer on it would pick, with the lock's sha256 and size), the conda packages,
the packages the lock can only build from source (not installed; the plan says how to build
them), and the state of the prefix:

- ``create``: nothing there (or an empty directory);
- ``current``: an environment this lock's target was applied to, whose installed versions (and
  conda packages) still equal the lock — a re-apply is a no-op;
- ``update``: an environment aienv made from another lock (or one changed since);
- ``foreign``: a virtual environment aienv did not make (replaced only with ``--replace``).

A path that is not an environment at all is refused (:class:`PrefixError`). The fingerprint is
the sha256 of what the environment's content depends on (platform, Python, every file's URL and
hash, the conda packages), so a lock re-written with the same pins keeps it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from ._conda import conda_differences, conda_python
from ._errors import ApplyError, PrefixError
from ._layout import env_python, is_conda_prefix, is_venv, read_marker, site_packages

if TYPE_CHECKING:
    from ..lockfile import Lock, LockedCondaPackage, LockedPackage, LockedTarget
    from ._match import TargetChoice

# The lock's models, the backends' helpers and packaging are imported where they are used
# (make_plan, and the checks of an existing environment): a plan from the plan cache
# (:mod:`envspec.apply._plancache`) is made and applied without them.

__all__ = [
    "Contents", "NotInstalled", "Plan", "PlanItem", "PlannedChoice", "PlannedTarget", "PrefixState", "build_command",
    "fingerprint", "format_size", "installed_versions", "make_plan", "plan_contents", "plan_from", "prefix_state", "read_marker",
]

PrefixState = Literal["create", "current", "update", "foreign"]
Installer = Literal["uv", "pip"]


@dataclass(frozen=True)
class PlanItem:
    """One file to install: the package, its locked version and the file with its hash."""

    name: str
    version: str
    url: str
    sha256: str
    size: int | None
    filename: str

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass(frozen=True)
class PlannedTarget:
    """What a plan from the plan cache knows of its locked target: the facts apply and the
    output read (the full :class:`~envspec.lockfile.LockedTarget` is not built for it)."""

    python: str
    platform: str
    accelerator: str


@dataclass(frozen=True)
class PlannedChoice:
    """A :class:`~envspec.apply.TargetChoice` as the plan cache recorded it."""

    name: str
    target: PlannedTarget
    why: str
    overridden: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotInstalled:
    """A package the lock can only build from source, as the plan cache recorded it."""

    name: str
    version: str
    command: str | None


def build_command(package: LockedPackage | NotInstalled) -> str | None:
    """How to build a package the plan does not install (None: no recipe in the lock)."""
    if isinstance(package, NotInstalled):
        return package.command
    return package.build.command if package.build else None


@dataclass(frozen=True)
class Plan:
    """Everything :func:`envspec.apply.apply` needs, and what ``--dry-run`` shows.

    ``choice`` is a :class:`~envspec.apply.TargetChoice`, or for a plan made from the plan cache
    a :class:`PlannedChoice` (``from_cache``), whose ``target`` holds only the facts apply needs
    without the lock; the verification puts the real choice back (:func:`dataclasses.replace`).
    """

    choice: Union[TargetChoice, PlannedChoice]  # noqa: UP007 - the names exist only for type checkers
    lock_path: Path
    spec_digest: str
    prefix: Path
    interpreter: Path
    installer: Installer
    installer_path: str
    items: tuple[PlanItem, ...]
    builds: tuple[Union[LockedPackage, NotInstalled], ...]  # noqa: UP007
    conda: tuple[LockedCondaPackage, ...]
    fingerprint: str
    state: PrefixState
    changes: tuple[str, ...] = ()  # why an existing environment is not current
    notes: tuple[str, ...] = ()

    @property
    def target(self) -> Union[LockedTarget, PlannedTarget]:  # noqa: UP007
        return self.choice.target

    @property
    def from_cache(self) -> bool:
        """Made from the plan cache, without reading the lock's models."""
        return isinstance(self.choice, PlannedChoice)

    @property
    def kind(self) -> Literal["venv", "conda"]:
        """``conda`` for a target with solved conda packages: a conda prefix, else a venv."""
        return "conda" if self.conda else "venv"

    def python_in(self, root: Path) -> Path:
        """The interpreter of the environment built at ``root`` (the prefix or its staging path)."""
        return conda_python(root) if self.kind == "conda" else env_python(root)

    @property
    def target_name(self) -> str:
        return self.choice.name

    @property
    def package_count(self) -> int:
        """The packages installed: the PyPI files and the conda packages."""
        return len(self.items) + len(self.conda)

    @property
    def download_size(self) -> int:
        return sum(i.size or 0 for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.choice.name,
            "why": self.choice.why,
            "forced-over": list(self.choice.overridden),
            "lock": str(self.lock_path),
            "prefix": str(self.prefix),
            "state": self.state,
            "kind": self.kind,
            "changes": list(self.changes),
            "python": str(self.interpreter),
            "python-version": self.target.python,
            "installer": self.installer,
            "fingerprint": self.fingerprint,
            "download-size": self.download_size,
            "packages": [
                {"name": i.name, "version": i.version, "file": i.filename, "url": i.url, "sha256": i.sha256, "size": i.size}
                for i in self.items
            ],
            "conda-packages": [
                {"name": c.name, "version": c.version, "build": c.build, "url": c.url, "sha256": c.sha256}
                for c in self.conda
            ],
            "not-installed": [
                {"name": p.name, "version": p.version, "build": build_command(p)} for p in self.builds
            ],
            "notes": list(self.notes),
        }


def format_size(n: int | None) -> str:
    """``512 B``, ``3.2 KB``, ``1.9 GB`` (decimal units, as uv and pip print them)."""
    if n is None:
        return "? B"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def fingerprint(target: LockedTarget, items: Iterable[PlanItem], conda: Iterable[LockedCondaPackage]) -> str:
    """The sha256 of what an environment made from ``target`` contains."""
    data = {
        "platform": target.platform,
        "python": ".".join(target.python.split(".")[:2]),
        "packages": sorted([i.name, i.version, i.url, i.sha256] for i in items),
        "conda": sorted([c.name, c.version, c.build, c.url, c.sha256 or ""] for c in conda),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _items(target_name: str, target: LockedTarget) -> list[PlanItem]:
    from ..backends._common import best_file, conda_routed, filename_of
    from ..backends.pip import source_builds

    # A package the conda prefix gets by its documented conda route (Paddle's) is no wheel too.
    builds = {p.name for p in source_builds(target)} | {p.name for p in conda_routed(target, solved=True)}
    items = []
    for package in target.packages:
        if package.name in builds:
            continue
        file = best_file(target, package)
        if file is None or not file.sha256:
            raise ApplyError(
                f"target {target_name!r}: {package.name} {package.version} has no file with a sha256 in the lock",
                hint="re-lock with `aienv lock` (a full-closure lock hashes every file)", code="lock-not-hashed",
            )
        items.append(PlanItem(package.name, package.version, file.url, file.sha256, file.size, filename_of(file)))
    return items


def installed_versions(prefix: Path) -> dict[str, str]:
    """Normalized name → version of every distribution in the environment's site-packages, read
    from the names of the ``*.dist-info`` directories (``torch-2.8.0+cpu.dist-info``; the
    environment's Python is not run, and no metadata file is opened), else, for a name that does
    not say (an ``*.egg-info``), from the metadata."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    found: dict[str, str] = {}
    for site in site_packages(prefix):
        try:
            entries = sorted(os.scandir(site), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if not entry.name.endswith((".dist-info", ".egg-info")):
                continue
            project, sep, version = entry.name.rsplit(".", 1)[0].partition("-")
            if entry.name.endswith(".dist-info") and sep and version and "-" not in version:
                found.setdefault(str(canonicalize_name(project)), version)
                continue
            dist = metadata.PathDistribution(Path(entry.path))
            name = dist.metadata["Name"] if dist.metadata else None
            if name and dist.version:
                found.setdefault(str(canonicalize_name(name)), dist.version)
    return found


def _same_version(installed: str, locked: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(installed) == Version(locked)
    except InvalidVersion:
        return installed == locked


def _differences(prefix: Path, items: Iterable[PlanItem]) -> list[str]:
    from packaging.utils import canonicalize_name

    have = installed_versions(prefix)
    out = []
    for item in items:
        version = have.get(str(canonicalize_name(item.name)))
        if version is None:
            out.append(f"{item.name} {item.version} is not installed")
        elif not _same_version(version, item.version):
            out.append(f"{item.name} is {version}, the lock has {item.version}")
    return out


def prefix_state(
    prefix: Path, target_name: str, digest: str, items: list[PlanItem], conda: Iterable[LockedCondaPackage] = ()
) -> tuple[PrefixState, list[str]]:
    """The state of ``prefix`` for a plan of ``items`` and ``conda`` packages with fingerprint
    ``digest``."""
    if not prefix.exists() and not prefix.is_symlink():
        return "create", []
    if prefix.is_dir() and not prefix.is_symlink() and not any(prefix.iterdir()):
        return "create", []
    if not prefix.is_dir() or not (is_venv(prefix) or is_conda_prefix(prefix)):
        raise PrefixError(
            f"{prefix} exists and is not a virtual environment or conda prefix; apply replaces only environments",
            hint="choose another place with --prefix DIR, or move it away", code="prefix-not-env",
        )
    marker = read_marker(prefix)
    if marker is None:
        return "foreign", ["it was not made by aienv apply"]
    if marker.get("fingerprint") != digest:
        was = marker.get("target")
        return "update", [f"it holds another lock's packages (target {was!r})" if was != target_name else "the lock changed"]
    changed = _differences(prefix, items) + conda_differences(prefix, conda)
    return ("update", [f"it changed since it was applied: {c}" for c in changed]) if changed else ("current", [])


def _conda(target_name: str, target: LockedTarget) -> tuple[LockedCondaPackage, ...]:
    """The target's solved conda packages, checked: every one hashed, and a ``python`` of the
    target's Python among them (the prefix's interpreter)."""
    conda = tuple(target.conda.packages) if target.conda is not None else ()
    if not conda:
        return ()
    unhashed = [p.name for p in conda if not p.sha256]
    if unhashed:
        raise ApplyError(
            f"target {target_name!r}: the conda packages {', '.join(unhashed)} have no sha256 in the lock",
            hint="re-lock with `aienv lock` (conda channels publish a sha256 for every file)", code="lock-not-hashed",
        )
    minor = ".".join(target.python.split(".")[:2])
    python = next((p for p in conda if p.name == "python"), None)
    if python is None or ".".join(python.version.split(".")[:2]) != minor:
        found = f"python {python.version}" if python else "no python"
        raise ApplyError(
            f"target {target_name!r}: its conda packages have {found}, the target's Python is {target.python}",
            hint="re-lock with `aienv lock` (the conda side always solves `python <target python>.*`)", code="lock-inconsistent",
        )
    return conda


@dataclass(frozen=True)
class Contents:
    """What a plan takes from the lock for one target (no prefix, no interpreter)."""

    spec_digest: str
    items: tuple[PlanItem, ...]
    builds: tuple[Union[LockedPackage, NotInstalled], ...]  # noqa: UP007
    conda: tuple[LockedCondaPackage, ...]
    notes: tuple[str, ...]
    fingerprint: str

    def comparable(self) -> tuple[Any, ...]:
        """The contents as plain values (the packages not installed as name, version, recipe)."""
        return (self.spec_digest, self.items, tuple((p.name, p.version, build_command(p)) for p in self.builds),
                self.conda, self.notes, self.fingerprint)


def plan_contents(lock: Lock, target_name: str) -> Contents:
    """The files, conda packages, packages left to build and fingerprint of applying
    ``target_name`` of ``lock``. Raises for a stack-only lock or a file without hash."""
    from ..backends._common import full_target
    from ..backends.pip import source_builds

    target = full_target(lock, target_name)
    items = tuple(_items(target_name, target))
    conda = _conda(target_name, target)
    builds = tuple(source_builds(target))
    notes = tuple(f"{p.name} {p.version} has no wheel for this target and is not installed; build it: "
                  f"{p.build.command if p.build else 'see aienv explain ' + p.name}" for p in builds)
    return Contents(lock.spec_digest, items, builds, conda, notes, fingerprint(target, items, conda))


def make_plan(
    lock: Lock,
    lock_path: Path,
    choice: TargetChoice,
    prefix: Path,
    interpreter: Path,
    installer: Installer,
    installer_path: str,
) -> Plan:
    """The plan for applying ``choice`` into ``prefix``. Raises for a stack-only lock
    (:class:`~envspec.backends.RenderError`), a file without hash, or a prefix that is not an
    environment."""
    contents = plan_contents(lock, choice.name)
    return plan_from(contents, choice, lock_path, prefix, interpreter, installer, installer_path)


def plan_from(
    contents: Contents,
    choice: TargetChoice | PlannedChoice,
    lock_path: Path,
    prefix: Path,
    interpreter: Path,
    installer: Installer,
    installer_path: str,
) -> Plan:
    """The plan of ``contents`` (from the lock, or the plan cache) for ``prefix``, whose state
    is read here (raises :class:`PrefixError` for a path that is not an environment)."""
    state, changes = prefix_state(prefix, choice.name, contents.fingerprint, list(contents.items), contents.conda)
    return Plan(
        choice=choice, lock_path=lock_path, spec_digest=contents.spec_digest, prefix=prefix, interpreter=interpreter,
        installer=installer, installer_path=installer_path, items=contents.items, builds=contents.builds, conda=contents.conda,
        fingerprint=contents.fingerprint, state=state, changes=tuple(changes), notes=contents.notes,
    )
