"""What several backends need from a locked target: a full closure, the file an installer on
the target would pick, the conda subdir, and the import names that verify the stack."""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from ..errors import EnvspecError
from ..lockfile import Lock, LockedFile, LockedPackage, LockedTarget
from ..sources._model import DistFile
from ..sources._tags import TargetTags
from ..sources.conda import CONDA_SUBDIRS

__all__ = [
    "CONDA_SUBDIRS",
    "IMPORT_NAMES",
    "RenderError",
    "best_file",
    "conda_routed",
    "filename_of",
    "full_target",
    "target_tags",
]

#: How a stack package is imported, for the verification a rendered environment runs.
IMPORT_NAMES = {
    "torch": "torch",
    "torchvision": "torchvision",
    "torchaudio": "torchaudio",
    "xformers": "xformers",
    "triton": "triton",
    "flash-attn": "flash_attn",
}


class RenderError(EnvspecError):
    """A lock (or target) that a backend cannot render into something installable."""

    code = "render-error"
    exit_code = 1


def full_target(lock: Lock, target: str) -> LockedTarget:
    """The named target, which must be a full closure: a stack-only lock (``--no-index``) pins
    only the stack, has no hashes, and cannot be installed reproducibly by any backend."""
    locked = lock.target(target)
    if locked.closure != "full":
        raise RenderError(
            f"target {target!r} is a stack-only lock (closure = \"stack\"): it pins no dependencies and has no hashes",
            hint="run `aienv lock` (without --no-index) to lock the full closure",
            code="lock-not-full",
        )
    return locked


def conda_routed(target: LockedTarget, *, solved: bool = False) -> list[LockedPackage]:
    """The packages the target's conda side installs by their documented conda route
    (PaddlePaddle's channel and ``cudatoolkit`` pin): those whose route's match specs are among
    the conda requirements; with ``solved``, only those the solved conda packages hold (what a
    conda prefix built from them has). A conda render leaves them out of its pip packages."""
    conda = target.conda
    if conda is None:
        return []
    wanted = set(conda.requirements)
    solved_names = {c.name for c in conda.packages}
    return [
        p for p in target.packages
        if p.conda_route is not None and set(p.conda_route.specs) <= wanted and (not solved or p.name in solved_names)
    ]


def filename_of(file: LockedFile) -> str:
    """The file name at the end of a file's URL (percent-decoded)."""
    return unquote(PurePosixPath(urlsplit(file.url).path).name)


@lru_cache(maxsize=64)
def _tags(platform: str, python: str, glibc: str | None, macos: str | None) -> TargetTags:
    return TargetTags(platform, python, glibc or "2.28", macos or "11.0")


def target_tags(target: LockedTarget) -> TargetTags:
    """The wheel tags of a locked target (its platform, Python and OS floor)."""
    return _tags(target.platform, target.python, target.glibc, target.macos)


def best_file(target: LockedTarget, package: LockedPackage) -> LockedFile | None:
    """The file an installer on the target at its assumed OS floor would pick: the wheel with
    the best-ranked tag, else the sdist, else the first file (a direct URL the lock names)."""
    tags = target_tags(target)
    ranked: list[tuple[int, str, LockedFile]] = []
    sdists: list[LockedFile] = []
    for file in package.files:
        name = filename_of(file)
        if name.endswith(".whl"):
            try:
                project, version, _build, wheel_tags = parse_wheel_filename(name)
            except InvalidWheelFilename:
                continue
            rank = tags.rank(DistFile(filename=name, url=file.url, name=project, version=version, kind="wheel", tags=wheel_tags))
            if rank is not None:
                ranked.append((rank, name, file))
        elif name.endswith((".tar.gz", ".zip")):
            sdists.append(file)
    if ranked:
        return min(ranked, key=lambda r: (r[0], r[1]))[2]
    if sdists:
        return sdists[0]
    return package.files[0] if package.files else None
