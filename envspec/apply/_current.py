"""The no-op re-apply decided from the marker alone, before the lock is read: :func:`recorded_current`.

The full apply reads and validates the lock (TOML, then the pydantic models), detects the
machine, chooses the target, computes the plan's fingerprint and reads the metadata of every
installed distribution before it can say that a prefix already matches: a quarter of a second
of a Python process, against a few milliseconds for ``uv pip sync`` to say the same. What that
answer depends on is a handful of inputs, and the marker of the last apply records them
(``no-op-key``):

- the sha256 of the lock file's bytes and the aienv version (its rules and compatibility data);
- the ``--target`` asked for (a name, or none);
- the facts of the machine that choosing the target read (:func:`machine_facts`): for a target
  named with ``--target`` whose checks read only the platform and the C library (a CPU or MPS
  target), the raw facts those come from, with no tool run; otherwise the detected platform,
  glibc, macOS version, NVIDIA driver and GPU compute capabilities;
- what was installed: :func:`~envspec.apply._layout.installed_listing` of the new environment
  (every dist-info directory and conda-meta record, whose names carry the versions).

When every one of them is equal now, the full apply would choose the same target and compute
the same fingerprint, and the listing shows that no distribution or conda package was added,
removed, upgraded or downgraded since the apply: the prefix is current. Any difference (another
lock, an upgraded driver, a ``pip install`` in the environment) falls through to the full apply,
which may still find the prefix current. ``--reinstall``, ``--force``, ``--python`` and
``--dry-run`` always take the full path.

Standard library only, except :func:`envspec.host.probe_host` when the machine must be detected.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._version import __version__
from ._layout import installed_listing, is_conda_prefix, is_venv, read_marker

if TYPE_CHECKING:
    from ..host import Host

__all__ = ["NOOP_KEY", "RecordedPlan", "Scope", "choice_scope", "file_sha256", "machine_facts", "recorded_current"]

#: The marker's key that holds what the no-op check compares.
NOOP_KEY = "no-op-key"

Scope = Literal["machine", "host"]


def choice_scope(named: bool, accelerator: str) -> Scope:
    """Which facts of the machine choosing a target reads: ``machine`` (the platform and the C
    library) for a target named with ``--target`` that needs no GPU, else ``host`` (everything
    :func:`~envspec.apply.host_reasons` and the choice between fitting targets look at)."""
    return "machine" if named and accelerator in ("cpu", "mps") else "host"


def machine_facts(scope: Scope, host: Host | None) -> dict[str, Any]:
    """The facts of ``scope``: from ``host`` when one is given (detected, or a caller's), else
    read here — for ``machine``, what detection derives the platform and the glibc from
    (``sys.platform``, the machine, ``CS_GNU_LIBC_VERSION``, the macOS version), without running
    a tool; for ``host``, :func:`~envspec.host.probe_host`."""
    if host is None and scope == "machine":
        try:
            libc = os.confstr("CS_GNU_LIBC_VERSION")
        except (AttributeError, ValueError, OSError):
            libc = None
        return {"sys.platform": sys.platform, "machine": platform.machine(), "libc": libc, "macos": platform.mac_ver()[0]}
    if host is None:
        from ..host import probe_host

        host = probe_host()
    facts: dict[str, Any] = {"platform": host.platform, "glibc": host.glibc, "macos": host.macos}
    if scope == "host":
        facts["driver"] = str(host.driver) if host.driver is not None else None
        facts["gpus"] = sorted(str(g.cc) for g in host.gpus)
        # Only when present, so markers written before these were recorded stay valid.
        if host.amd_gpus:
            facts["amd-gpus"] = sorted(g.gfx for g in host.amd_gpus)
        if host.intel_gpus:
            facts["intel-gpus"] = sorted(f"{g.name} ({'integrated' if g.integrated else 'discrete'})" for g in host.intel_gpus)
    return facts


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class RecordedPlan:
    """The plan of the apply that made a current prefix, as its marker recorded it: what a
    no-op reports in place of a :class:`~envspec.apply.Plan`."""

    prefix: Path
    lock_path: Path
    marker: dict[str, Any]

    state = "current"

    @property
    def target_name(self) -> str:
        return str(self.marker.get("target"))

    @property
    def package_count(self) -> int:
        """The packages installed: the PyPI files and the conda packages."""
        counts = (self.marker.get("packages"), self.marker.get("conda-packages"))
        return sum(c for c in counts if isinstance(c, int))

    def to_dict(self) -> dict[str, Any]:
        plan = dict(self.marker.get("plan") or {})
        plan.update(prefix=str(self.prefix), lock=str(self.lock_path), state="current", changes=[])
        return plan


def recorded_current(prefix: Path, lock_path: Path, target: str | None, host: Host | None = None) -> RecordedPlan | None:
    """The recorded plan when ``prefix`` is current for applying ``lock_path`` (``target``: the
    ``--target`` asked for) on this machine (``host``: its facts, when the caller has them),
    judged from the marker alone; None when the full apply must decide."""
    marker = read_marker(prefix)
    key = marker.get(NOOP_KEY) if marker is not None else None
    if marker is None or not isinstance(key, dict) or marker.get("applied-by") != f"aienv {__version__}":
        return None
    scope = key.get("scope")
    if key.get("target") != target or scope not in ("machine", "host"):
        return None
    if not (is_venv(prefix) or is_conda_prefix(prefix)) or key.get("installed") != installed_listing(prefix):
        return None
    digest = file_sha256(lock_path)
    if digest is None or key.get("lock-sha256") != digest or key.get("facts") != machine_facts(scope, host):
        return None
    return RecordedPlan(prefix, lock_path, marker)

