"""The context every check reads: the probed environment, the host, the lock's target."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import Version

from ..host import Host
from ..lockfile import LockedTarget
from ..matrix import Arch, Matrix
from ._fixes import Shell, find_torch_build, lock_command, parse_version, torch_command
from .environment import Environment, TorchInfo

__all__ = ["Context"]


@dataclass(frozen=True)
class Context:
    """What the checks look at. ``target`` is the lock's target matched to this host, if any."""

    env: Environment
    host: Host
    matrix: Matrix
    target: LockedTarget | None = None
    target_name: str | None = None
    lock_name: str = "aienv.lock"

    @property
    def policy(self) -> str:
        return self.target.driver_policy if self.target is not None else "minor-version"

    @functools.cached_property
    def shell(self) -> Shell:
        return Shell(self.env.python, windows=self.host.platform.startswith("windows"))

    @property
    def torch(self) -> TorchInfo | None:
        return self.env.torch

    @functools.cached_property
    def torch_version(self) -> Version | None:
        """The installed torch's version: its metadata's, else ``torch.__version__``."""
        text = self.env.version_of("torch") or (self.torch.version if self.torch else None)
        return parse_version(text)

    @functools.cached_property
    def torch_variant(self) -> str | None:
        """``cu128``, ``cpu``, ``rocm6.3``: the local label, else derived from torch.version."""
        v = self.torch_version
        if v is not None and v.local:
            return str(v.local)
        t = self.torch
        if t is None or not t.imported:
            return None
        if t.cuda:
            return "cu" + t.cuda.replace(".", "")
        return None if t.hip else "cpu"

    @functools.cached_property
    def gpus(self) -> tuple[tuple[str, Arch], ...]:
        """The host's NVIDIA GPUs (name, compute capability); torch's devices if the host has none."""
        if self.host.gpus:
            return tuple((g.describe(), g.cc) for g in self.host.gpus)
        out = []
        for d in self.torch.devices if self.torch else ():
            try:
                cc = Arch.parse(d.capability or "")
            except ValueError:
                continue
            out.append((f"{d.name} ({cc.sm})", cc))
        return tuple(out)

    def lock_fix(self, names: Sequence[str]) -> str | None:
        """The command that installs the locked versions of ``names``, or None (not in the lock)."""
        if self.target is None or self.target_name is None:
            return None
        packages = [p for n in names if (p := self.target.package(str(canonicalize_name(n)))) is not None]
        if not packages:
            return None
        env = self.env
        venv = env.prefix if env.prefix and env.base_prefix and env.prefix != env.base_prefix else None
        return lock_command(self.shell, self.target_name, self.target, packages, self.lock_name, venv)

    def cuda_build_fix(self) -> str | None:
        """Install a CUDA build of torch that runs here: the lock's when it does (a build of the
        matrix whose driver floor and arch list fit this host), else the nearest such build."""
        gpus = [cc for _, cc in self.gpus]
        locked = self.target.package("torch") if self.target is not None else None
        version = parse_version(locked.version) if locked is not None else None
        if version is not None and version.local:
            found = find_torch_build(self.matrix, self.host, self.policy, gpus, exact=version, python=self.env.python_minor)
            if found is not None:
                return self.lock_fix(["torch", "torchvision", "torchaudio"])
        found = find_torch_build(self.matrix, self.host, self.policy, gpus, prefer=self.torch_version, python=self.env.python_minor)
        if found is None:
            return None
        return torch_command(self.shell, *found, installed=self.env.distributions)
