"""``conda-lock.yml``, one per target: ``conda-lock install -n ENV FILE``.

Built with conda-lock's own models (``conda_lock.lockfile.v2prelim.models``) and written by its
own writer (``write_conda_lock_file``), so the file is exactly what conda-lock reads: conda-lock
(``pip install 'envspec[conda-lock]'``) is imported only here, only when this format is asked for.
The writer takes a path, so the text goes through a private temporary directory; its help
text is replaced by aienv's header (it would tell to re-solve with conda-lock from aienv.lock).

The conda packages are the ones the lock solved for the target (``[conda]`` in aienv.toml),
a package with a documented conda route (PaddlePaddle's ``cudatoolkit`` pin) among them rather
than among the pip packages; every pip package is a direct URL — the file a pip installer on the target picks — with its
sha256. aienv's facts about the target (variant, CUDA, driver floor, GPUs, spec digest) go into
conda-lock's ``custom_metadata``; the content hash is the spec digest.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ..lockfile import Lock, LockedTarget
from ._common import CONDA_SUBDIRS, RenderError, best_file, conda_routed, full_target
from .conda import conda_side, route_comment
from .pip import source_builds

__all__ = ["custom_metadata", "render"]


def _conda_lock() -> Any:
    try:
        from conda_lock import lockfile
        from conda_lock.lockfile.v2prelim import models
    except ImportError:
        raise RenderError(
            "the conda-lock format needs conda-lock, which is not installed",
            hint="pip install 'envspec[conda-lock]'", code="missing-extra",
        ) from None
    return lockfile, models


def custom_metadata(lock: Lock, name: str, target: LockedTarget) -> dict[str, str]:
    """aienv's facts about the target, as conda-lock's ``custom_metadata`` (strings only)."""
    facts = {
        "aienv-generated-by": lock.generated_by,
        "aienv-spec-digest": lock.spec_digest,
        "aienv-matrix-version": lock.matrix_version,
        "aienv-target": name,
        "aienv-platform": target.platform,
        "aienv-python": target.python,
        "aienv-accelerator": target.accelerator,
        "aienv-variant": target.variant,
        "aienv-cuda": target.cuda,
        "aienv-driver": target.driver,
        "aienv-driver-floor": target.driver_floor,
        "aienv-driver-policy": target.driver_policy,
        "aienv-gpus": ", ".join(f"{g.name} ({g.compute_capability})" for g in target.gpus) or None,
    }
    return {k: v for k, v in facts.items() if v}


def render(lock: Lock, target: str) -> str:
    """The target as a ``conda-lock.yml`` (format version 1, as conda-lock writes it)."""
    locked = full_target(lock, target)
    lockfile, models = _conda_lock()
    if locked.conda is None or not locked.conda.packages:
        raise RenderError(
            f"target {target!r} has no locked conda packages: a conda-lock file needs Python and the "
            "[conda] packages pinned from a conda channel",
            hint="add a [conda] table to aienv.toml (channels = [\"conda-forge\"]), install the solver "
            "(pip install 'envspec[conda]') and run `aienv lock`",
            code="no-conda-packages",
        )
    builds = source_builds(locked)
    if builds:
        raise RenderError(
            f"target {target!r} builds {', '.join(p.name for p in builds)} from source; a conda-lock file "
            "can only hold files", hint="use --format conda or shell, which say how to build it", code="source-build",
        )
    channels, _ = conda_side(locked)
    subdir = CONDA_SUBDIRS[locked.platform]
    packages = []
    for c in locked.conda.packages:
        if c.md5 is None:
            raise RenderError(f"conda package {c.name} {c.version} has no md5 in the lock; conda-lock needs it")
        depends = dict(_split_match_spec(d) for d in c.depends)
        packages.append(models.LockedDependency(
            name=c.name, version=c.version, build=c.build, manager="conda", platform=subdir, url=c.url,
            hash=models.HashModel(md5=c.md5, sha256=c.sha256), dependencies=depends, categories={"main"},
        ))
    # A package the conda side installs by its documented conda route (PaddlePaddle's) is one
    # of the conda packages above, not a pip one; pip packages that require it get it from there.
    routed = {p.name for p in conda_routed(locked, solved=True)}
    versions = {p.name: p.version for p in locked.packages if p.name not in routed}
    for p in locked.packages:
        if p.name in routed:
            continue
        file = best_file(locked, p)
        if file is None or file.sha256 is None:
            raise RenderError(f"{p.name} {p.version} has no hashed file for this target; conda-lock needs one")
        packages.append(models.LockedDependency(
            name=p.name, version=p.version, manager="pip", platform=subdir, url=file.url,
            hash=models.HashModel(sha256=file.sha256),
            dependencies={d: f"=={versions[d]}" for d in p.dependencies if d in versions},
            categories={"main"},
        ))
    content = models.Lockfile(
        package=packages,
        metadata=models.LockMeta(
            content_hash={subdir: lock.spec_digest.removeprefix("sha256:")},
            channels=channels,
            platforms=[subdir],
            sources=["aienv.lock"],
            custom_metadata=custom_metadata(lock, target, locked),
        ),
    )
    with tempfile.TemporaryDirectory(prefix="aienv-conda-lock-") as tmp:
        path = Path(tmp) / "conda-lock.yml"
        # conda-lock's own help text would say to re-solve with `conda-lock -f aienv.lock`, which
        # is not a conda-lock source: aienv writes its own header instead.
        lockfile.write_conda_lock_file(content, path, metadata_choices=None, include_help_text=False)
        text = path.read_text(encoding="utf-8")
    header = [
        f"# generated by aienv from aienv.lock, target {target!r} ({locked.platform}, Python {locked.python}, {locked.variant})",
        "# install: conda-lock install -n ENV THIS_FILE",
        f"# re-generate: aienv lock && aienv export --format conda-lock --target {target}",
        *(route_comment(p) for p in conda_routed(locked, solved=True)),
    ]
    return "\n".join(header) + "\n" + text


def _split_match_spec(spec: str) -> tuple[str, str]:
    """``"libfoo >=1.2,<2 h1234_0"`` → ``("libfoo", ">=1.2,<2 h1234_0")``, as conda-lock stores it."""
    name, _, rest = spec.strip().partition(" ")
    return name, rest.strip()
