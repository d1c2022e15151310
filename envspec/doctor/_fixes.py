"""The concrete commands doctor proposes: pip commands for the environment's own interpreter, and
the builds of the compatibility matrix that would run on the host. Pure: no I/O."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from ..host import Host
from ..lockfile import LockedPackage, LockedTarget
from ..matrix import (
    Arch,
    FlashAttnWheel,
    Matrix,
    TorchBuild,
    TorchRelease,
    parse_version,
)

__all__ = [
    "Shell",
    "find_flash_attn_wheel",
    "find_torch_build",
    "lock_command",
    "parse_version",
    "torch_command",
    "torch_pin",
]

COMPANIONS = ("torchvision", "torchaudio")


@dataclass(frozen=True)
class Shell:
    """Writes commands for the environment's interpreter, quoted for the host's shell."""

    python: str
    windows: bool = False

    def quote(self, text: str) -> str:
        if self.windows:
            return f'"{text}"' if any(c in text for c in ' &|<>^"') else text
        return shlex.quote(text)

    def pip(self, *args: str) -> str:
        return " ".join([self.quote(self.python), "-m", "pip", *(self.quote(a) for a in args)])


def find_torch_build(
    matrix: Matrix,
    host: Host,
    policy: str,
    gpus: Sequence[Arch],
    *,
    prefer: Version | None = None,
    exact: Version | None = None,
    python: str | None = None,
) -> tuple[TorchRelease, TorchBuild] | None:
    """A CUDA build of torch that runs on ``host``: its driver meets the build's floor under
    ``policy`` and every GPU has kernels in it. With ``prefer`` (the installed torch), the
    smallest change first: that release, then newer ones from the closest, then older ones;
    else the newest. Within a release, the matrix's order: verified rows, newer CUDA first.
    ``exact`` (``2.7.1+cu128``) asks whether that one build fits."""
    releases = list(matrix.torch_releases)  # newest first
    if exact is not None:
        releases = [r for r in releases if r.version == Version(exact.public)]
    elif prefer is not None:
        here = Version(prefer.public)
        newer = sorted((r for r in releases if r.version > here), key=lambda r: r.version)
        releases = [r for r in releases if r.version == here] + newer + [r for r in releases if r.version < here]
    for release in releases:
        if python and python not in release.python.get(host.platform, ()):
            continue
        for build in release.builds:
            if build.variant.kind != "cuda" or build.variant.cuda is None or host.platform not in build.platforms:
                continue
            if exact is not None and build.variant.name != exact.local:
                continue
            if not build.sm or not all(build.runs_on(gpu) for gpu in gpus):
                continue
            floor = matrix.driver_floor(build.variant.cuda, host.platform, policy)  # type: ignore[arg-type]
            if floor is None or (host.driver is not None and host.driver < floor.driver):
                continue
            return release, build
    return None


def torch_command(shell: Shell, release: TorchRelease, build: TorchBuild, installed: Iterable[str]) -> str:
    """``pip install --force-reinstall torch==X+cuNNN [its torchvision/torchaudio] --index-url …``,
    with the companions that are installed, at the versions that pair with this release."""
    label = build.variant.name
    pins = [f"torch=={release.version}+{label}"]
    installed = set(installed)
    for name in COMPANIONS:
        paired = getattr(release, name)
        if name in installed and paired is not None:
            pins.append(f"{name}=={paired}+{label}")
    return shell.pip("install", "--force-reinstall", *pins, "--index-url", build.variant.index)


def find_flash_attn_wheel(
    matrix: Matrix,
    *,
    prefer: Version | None,
    torch: Version,
    cuda_major: int,
    cxx11_abi: bool | None,
    python: str | None,
    platform: str,
) -> FlashAttnWheel | None:
    """The prebuilt flash-attn wheel for this torch minor, CUDA major, C++ ABI, Python and
    platform: of release ``prefer`` when it has one, else of the newest release that does."""
    minor = f"{torch.major}.{torch.minor}"
    releases = list(matrix.flash_attn_releases)
    if prefer is not None:
        releases.sort(key=lambda r: r.version != prefer)  # stable: the rest stay newest first
    for release in releases:
        for wheel in release.wheels:
            if (
                wheel.torch_minor == minor and wheel.cuda_major == cuda_major and wheel.platform == platform
                and (python is None or wheel.python == python) and (cxx11_abi is None or wheel.cxx11_abi == cxx11_abi)
            ):
                return wheel
    return None


def lock_command(
    shell: Shell, target_name: str, target: LockedTarget, packages: Sequence[LockedPackage], lock_name: str,
    venv: str | None = None,
) -> str:
    """Install the locked versions of ``packages``.

    A full-closure lock is applied as a whole: into a virtual environment (``venv``, its prefix)
    with ``aienv apply``, which rebuilds it from the lock, verified, and swaps it in; elsewhere
    (a system or conda Python, which apply does not replace) from its pip render, hash-checked.
    A stack lock holds no hashes and no other pins: the differing stack packages are installed
    from their indexes (a release asset by its URL, a source build by its recipe).
    """
    lock_flag = f" --lock {shell.quote(lock_name)}" if lock_name != "aienv.lock" else ""
    if target.closure == "full" and venv is not None:
        # --replace: a venv aienv did not make is replaced only when asked (what is installed
        # there beyond the lock is not kept, which is what "match the lock" means).
        return f"aienv apply --target {shell.quote(target_name)}{lock_flag} --prefix {shell.quote(venv)} --replace"
    if target.closure == "full":
        out = f"requirements-{target_name}.txt"
        return (
            f"aienv export --format pip --target {shell.quote(target_name)}{lock_flag} -o {shell.quote(out)} && "
            + shell.pip("install", "--require-hashes", "--no-deps", "-r", out)
        )
    commands = []
    by_index: dict[str, list[str]] = {}
    for p in packages:
        if p.build is not None:
            env = " ".join(f"{k}={shell.quote(v)}" for k, v in sorted(p.build.env.items()))
            commands.append(f"{env} {p.build.command}".strip())
        elif p.index:
            by_index.setdefault(p.index, []).append(f"{p.name}=={p.version}")
        elif p.files:
            commands.append(shell.pip("install", "--no-deps", p.files[0].url))
        else:
            by_index.setdefault("", []).append(f"{p.name}=={p.version}")
    for index, pins in sorted(by_index.items()):
        commands.insert(0, shell.pip("install", *pins, *(("--index-url", index) if index else ())))
    return " && ".join(commands)


def torch_pin(requires: Iterable[str]) -> Requirement | None:
    """The ``torch`` requirement among Requires-Dist lines (none under an ``extra`` marker)."""
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.name.lower() == "torch" and not (req.marker and "extra" in str(req.marker)):
            return req
    return None
