"""Conda prefixes: the target's locked conda packages, installed by py-rattler, no solve.

A target whose lock entry has solved conda packages (``[conda]`` in ``aienv.toml``) is applied
as a conda prefix, not a venv: its Python is the locked conda ``python``, the ``[conda]``
packages sit beside it, and the locked wheels are installed into it with that Python (uv
``--python PREFIX/bin/python``, or its pip). The conda packages are exactly the lock's: one
record per locked package, built from the lock (name, version, build, subdir, depends, URL,
sha256, md5) — no repodata is read and nothing is solved at apply time — handed to rattler's
installer, which downloads each file (or takes it from its package cache under the aienv cache
directory, ``conda-pkgs/``), checks its sha256 against the record ("hash mismatch": refused), and
links it; link scripts are not run. The conda-meta records it writes are then compared with the
lock. The lock does not record a package's build number or ``noarch`` kind: the build number is
read from the build string's conventional ``_N`` suffix (it is only written to conda-meta), and
rattler takes the ``noarch`` kind from the package's own ``info/index.json`` when it links it (a
``noarch: python`` package lands in ``lib/pythonX.Y/site-packages``; the tests check it).

Relocation: conda packages are not relocatable in general. Files that name their install
prefix (scripts' shebangs, ``_sysconfigdata``, pkg-config files, some binaries) are shipped with
a placeholder that the installer replaces with the prefix while it links them. Building at the
staging path and renaming it onto the prefix, as apply does for venvs, would leave the staging
path in all of them. rattler's ``install`` takes ``alternative_target_prefix``: the files are
written under the staging path, but the placeholder is replaced with the final prefix, so once
the staging directory is renamed every file names the path it lives at — the same atomic
build-beside-and-swap, the same marker, no-op and verification as for a venv. Until the rename,
a file that uses its embedded prefix points at the final path, where the previous environment
(or nothing) still is. Nothing apply runs in the staging prefix relies on that: its Python,
started by path, finds its standard library and site-packages from its own location (conda's
Python is built relocatable), and pip, uv and the probe take the install paths from that
running Python (``sys.prefix``), not from the prefix compiled into it. The alternatives were
worse: installing in place is not atomic (a failure leaves half an environment where the old
one was), and rewriting the staging path afterwards (text and, padded, binary files) would
repeat the installer's own work, after verification.

py-rattler is an optional dependency (``pip install 'envspec[conda]'``), imported when a conda
prefix is made; without it such a target fails before anything is touched.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import ApplyError

if TYPE_CHECKING:
    from ..lockfile import LockedCondaPackage
    from ._plan import Plan

__all__ = ["conda_differences", "conda_python", "create_conda_prefix", "require_rattler"]

#: Where rattler keeps downloaded and extracted packages, under the aienv cache directory.
PACKAGE_CACHE = "conda-pkgs"

#: rattler's words for a download whose sha256 is not the record's ("hash mismatch when extracting URL ...").
_HASH_MISMATCH = re.compile(r"hash mismatch|sha256 mismatch|checksum mismatch", re.IGNORECASE)


def conda_python(prefix: Path) -> Path:
    """The interpreter of a conda prefix (``bin/python``; ``python.exe`` on Windows)."""
    return prefix / "python.exe" if os.name == "nt" else prefix / "bin" / "python"


def require_rattler() -> Any:
    """The ``rattler`` module; :class:`ApplyError` (exit 1) naming the extra when it is missing."""
    try:
        import rattler
        import rattler.exceptions
    except ImportError as e:
        raise ApplyError(
            "this target has conda packages ([conda] in aienv.toml): aienv apply makes its conda prefix with py-rattler, "
            "which is not installed", code="conda-needs-rattler", hint="pip install 'envspec[conda]'",
        ) from e
    return rattler


def _record(rattler: Any, package: LockedCondaPackage) -> Any:
    # The lock has no build number: the convention puts it last in the build string (h2_0 -> 0).
    number = package.build.rsplit("_", 1)[-1]
    record = rattler.PackageRecord(
        name=package.name, version=package.version, build=rattler.BuildString(package.build),
        build_number=int(number) if number.isdigit() else 0,
        subdir=package.subdir, depends=list(package.depends), sha256=bytes.fromhex(package.sha256 or ""),
        md5=bytes.fromhex(package.md5) if package.md5 else None,
    )
    return rattler.RepoDataRecord(record, file_name=package.url.rsplit("/", 1)[-1], url=package.url, channel=package.channel)


class _Reporter:
    """rattler's installer progress, as one line per package to ``on_line``."""

    def __init__(self, on_line: Callable[[str], None] | None) -> None:
        self.on_line = on_line or (lambda _line: None)

    def on_link_start(self, operation: int, package_name: str) -> int:
        self.on_line(f"linking {package_name}")
        return operation

    def __getattr__(self, name: str) -> Callable[..., int]:  # every other callback: nothing to say
        if not name.startswith("on_"):
            raise AttributeError(name)
        return lambda *_args: 0


def create_conda_prefix(plan: Plan, stage: Path, cache_root: Path, on_line: Callable[[str], None] | None = None) -> None:
    """Install the plan's conda packages at ``stage``, naming ``plan.prefix`` in every file
    (see the module docstring). Raises :class:`ApplyError`: ``hash-mismatch`` for a file whose
    sha256 is not the lock's, ``conda-install-failed`` otherwise."""
    from ..sources.conda import CONDA_SUBDIRS, _run_sync

    rattler = require_rattler()
    records = [_record(rattler, p) for p in plan.conda]
    reporter = _Reporter(on_line)

    def install() -> Any:
        return rattler.install(
            records, target_prefix=stage, cache_dir=cache_root / PACKAGE_CACHE, installed_packages=[],
            platform=rattler.Subdir(CONDA_SUBDIRS[plan.target.platform]), execute_link_scripts=False, show_progress=False,
            reporter=reporter, alternative_target_prefix=plan.prefix,
        )

    try:
        _run_sync(install)
    except Exception as e:  # rattler's errors: no common base class but Exception
        text = " ".join(str(e).split())
        if _HASH_MISMATCH.search(text):
            raise ApplyError(
                f"installing the conda packages failed: a downloaded file does not match the lock's sha256 ({text}); "
                "nothing was changed", code="hash-mismatch",
                hint="if the channel really re-published the file, re-lock with `aienv lock -P NAME`; otherwise do not trust it",
            ) from e
        raise ApplyError(f"installing the conda packages failed ({type(e).__name__}: {text}); nothing was changed",
                         code="conda-install-failed", hint="check the channel (the lock's URLs) and the aienv cache directory") from e
    missing = conda_differences(stage, plan.conda)
    if missing:
        raise ApplyError("the conda prefix does not hold what the lock has: " + "; ".join(missing), code="conda-install-failed")


def conda_differences(prefix: Path, packages: Iterable[LockedCondaPackage]) -> list[str]:
    """One line per locked conda package the prefix's ``conda-meta`` has no record of (at that
    version and build)."""
    try:
        have = {e.name for e in os.scandir(prefix / "conda-meta") if e.name.endswith(".json")}
    except OSError:
        have = set()
    return [f"conda package {p.name} {p.version} ({p.build}) is not installed" for p in packages
            if f"{p.name}-{p.version}-{p.build}.json" not in have]
