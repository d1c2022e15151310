"""Typed rows for AMD and Intel GPU models (``gpus_amd.json``, ``gpus_intel.json``) and the pure
functions that build and look them up.

A target names its GPUs as people write them (``"RX 7900 XTX"``, ``"Instinct MI300X"``,
``"Arc A770"``); these tables turn a name into what the resolver decides with: the LLVM target
(``gfx1100``) of an AMD GPU, whether an Intel GPU is integrated. Names compare by
:func:`name_key`: case, spaces, hyphens and (TM)/(R) marks do not matter.

Loading follows :mod:`._frameworks`: a malformed row raises
:class:`~envspec.errors.MatrixError` naming the file and the row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._frameworks import _Ctx

__all__ = [
    "AmdGpuModel",
    "IntelGpuFamily",
    "IntelGpuModel",
    "RocmSupport",
    "gfx_sort_key",
    "is_gfx",
    "load_amd_gpus",
    "load_intel_gpus",
    "name_key",
]

_GFX = re.compile(r"^gfx[0-9a-f]{3,4}$")
_MARKS = re.compile(r"\(tm\)|\(r\)|[®™\s\-_]+")
LINES = frozenset({"instinct", "radeon-pro", "radeon"})
STATUSES = ("supported", "deprecated", "unsupported")

RocmStatus = Literal["supported", "deprecated", "unsupported"]


def name_key(text: str) -> str:
    """The form two GPU names are compared in: casefolded, without spaces, hyphens,
    underscores or trademark marks (``"AMD Radeon(TM) RX 7900XTX"`` == ``"amd radeon rx 7900 xtx"``)."""
    return _MARKS.sub("", text.casefold())


def is_gfx(text: str) -> bool:
    """Whether ``text`` is an LLVM AMDGPU target name (``gfx90a``, ``gfx1100``)."""
    return bool(_GFX.match(text.strip().lower()))


def gfx_sort_key(gfx: str) -> int:
    """Numeric order of LLVM targets: gfx803 < gfx900 < gfx90a < gfx942 < gfx1030 < gfx1201."""
    return int(gfx.removeprefix("gfx"), 16)


# --- rows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RocmSupport:
    """What one AMD support list says of a GPU: ``status`` in the list for ROCm ``rocm``.

    ``rocm`` is the release the list was read for (``"6.2.4"``; ``"6.4"`` for a page of the 6.4
    series whose exact release the source does not name). ``complete`` is False for a list that
    names only some GPUs (a footnote), where a GPU's absence says nothing.
    """

    rocm: str
    status: RocmStatus
    complete: bool
    source: str


@dataclass(frozen=True)
class AmdGpuModel:
    """An AMD GPU model: its LLVM target and architecture from AMD's GPU specifications.

    ``rocm_support`` has one entry per AMD Linux support list that names the GPU, oldest ROCm
    first. ``line`` is ``instinct``, ``radeon-pro`` or ``radeon``.
    """

    name: str
    gfx: str
    arch: str
    line: str
    aliases: tuple[str, ...]
    rocm_support: tuple[RocmSupport, ...]
    source: str
    verified: bool = True
    note: str = ""

    @property
    def rocm_first_listed(self) -> str | None:
        """The oldest ROCm release, among the support lists read (6.0.0 onward), that lists
        this GPU as supported or deprecated; None when none does. ``"6.0.0"`` means "at or
        before 6.0.0"."""
        return next((s.rocm for s in self.rocm_support if s.status != "unsupported"), None)

    def rocm_status(self, rocm: str) -> RocmStatus | None:
        """The status the support list for ``rocm`` gives this GPU; None when that list was
        not read or does not name it."""
        return next((s.status for s in self.rocm_support if s.rocm == rocm), None)


@dataclass(frozen=True)
class IntelGpuFamily:
    """An Intel GPU family as PyTorch's XPU docs and Intel's hardware tables name it.

    ``torch_docs`` are the versions of PyTorch's "Getting Started on Intel GPU" page read (see
    ``gpus_intel.json``) whose validated-hardware list names this family.
    """

    key: str
    name: str
    codename: str
    arch: str
    integrated: bool
    torch_docs: tuple[str, ...]
    sources: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class IntelGpuModel:
    """An Intel GPU model: its family and whether it is integrated in a Core Ultra processor."""

    name: str
    integrated: bool
    family: str
    family_name: str
    codename: str
    arch: str
    aliases: tuple[str, ...]
    torch_docs: tuple[str, ...]
    source: str
    verified: bool = True
    note: str = ""


# --- loading ---------------------------------------------------------------------------------


def load_amd_gpus(data: Mapping[str, Any]) -> tuple[AmdGpuModel, ...]:
    """AMD GPU models from ``gpus_amd.json``, in file order."""
    ctx = _Ctx("gpus_amd.json", data)
    rows = ctx.field(data, "gpus", list, "")
    names: dict[str, str] = {}
    parsed = []
    for i, row in enumerate(rows):
        where = f"gpus[{i}]"
        if not isinstance(row, dict):
            raise ctx.error(where, "a GPU row must be an object")
        name = ctx.field(row, "name", str, where)
        where = f"gpus[{i}] ({name})"
        gfx = ctx.field(row, "gfx", str, where)
        if not _GFX.match(gfx):
            raise ctx.error(where, f"gfx {gfx!r} is not an LLVM gfx name")
        line = ctx.field(row, "line", str, where)
        if line not in LINES:
            raise ctx.error(where, f"line {line!r} is not one of {sorted(LINES)}")
        aliases = _aliases(ctx, row, where)
        parsed.append((row, name, gfx, line, aliases, where))
        names[name] = where
    support = _rocm_support(ctx, data, names)
    out = []
    for row, name, gfx, line, aliases, where in parsed:
        out.append(
            AmdGpuModel(
                name=name, gfx=gfx, arch=ctx.field(row, "arch", str, where), line=line, aliases=aliases,
                rocm_support=tuple(support.get(name, ())),
                source=ctx.source_key(ctx.field(row, "source", str, where), where),
                verified=ctx.flag(row, where), note=row.get("note", ""),
            )
        )
    _check_unique(ctx, ((m.name, (m.name, *m.aliases)) for m in out))
    return tuple(out)


def load_intel_gpus(data: Mapping[str, Any]) -> tuple[dict[str, IntelGpuFamily], tuple[IntelGpuModel, ...]]:
    """Intel GPU families and models from ``gpus_intel.json``, models in file order."""
    ctx = _Ctx("gpus_intel.json", data)
    docs = ctx.field(data, "torch_docs", dict, "")
    listed: dict[str, list[str]] = {}
    for version, page in docs.items():
        where = f"torch_docs.{version}"
        ctx.version(version, where)
        if not isinstance(page, dict):
            raise ctx.error(where, "a torch_docs entry must be an object")
        ctx.source_key(ctx.field(page, "source", str, where), where)
        for key in ctx.field(page, "families", list, where):
            listed.setdefault(key, []).append(version)
    families = {}
    for key, row in ctx.field(data, "families", dict, "").items():
        where = f"families.{key}"
        if not isinstance(row, dict):
            raise ctx.error(where, "a family must be an object")
        families[key] = IntelGpuFamily(
            key=key, name=ctx.field(row, "name", str, where), codename=ctx.field(row, "codename", str, where),
            arch=ctx.field(row, "arch", str, where), integrated=ctx.field(row, "integrated", bool, where),
            torch_docs=tuple(listed.get(key, ())), sources=ctx.sources(row, where), note=row.get("note", ""),
        )
    unknown = sorted(set(listed) - set(families))
    if unknown:
        raise ctx.error("torch_docs", f"unknown families {unknown!r}")
    out = []
    for i, row in enumerate(ctx.field(data, "gpus", list, "")):
        where = f"gpus[{i}]"
        if not isinstance(row, dict):
            raise ctx.error(where, "a GPU row must be an object")
        name = ctx.field(row, "name", str, where)
        where = f"gpus[{i}] ({name})"
        key = ctx.field(row, "family", str, where)
        family = families.get(key)
        if family is None:
            raise ctx.error(where, f"unknown family {key!r}")
        integrated = ctx.field(row, "integrated", bool, where)
        if integrated != family.integrated:
            raise ctx.error(where, f"integrated={integrated} disagrees with family {key!r}")
        out.append(
            IntelGpuModel(
                name=name, integrated=integrated, family=key, family_name=family.name, codename=family.codename,
                arch=family.arch, aliases=_aliases(ctx, row, where), torch_docs=family.torch_docs,
                source=ctx.source_key(ctx.field(row, "source", str, where), where),
                verified=ctx.flag(row, where), note=row.get("note", ""),
            )
        )
    _check_unique(ctx, ((m.name, (m.name, *m.aliases)) for m in out))
    return families, tuple(out)


def _aliases(ctx: _Ctx, row: Mapping[str, Any], where: str) -> tuple[str, ...]:
    aliases = row.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise ctx.error(where, "'aliases' must be a list of names")
    gfx_like = [a for a in aliases if is_gfx(a)]
    if gfx_like:
        raise ctx.error(where, f"aliases {gfx_like!r} are LLVM targets, not model names")
    return tuple(aliases)


def _check_unique(ctx: _Ctx, rows: Iterable[tuple[str, tuple[str, ...]]]) -> None:
    """Every name and alias must lead to one model."""
    seen: dict[str, str] = {}
    for model, names in rows:
        for name in names:
            owner = seen.setdefault(name_key(name), model)
            if owner != model:
                raise ctx.error("gpus", f"{name!r} names both {owner!r} and {model!r}")


def _rocm_support(ctx: _Ctx, data: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, list[RocmSupport]]:
    out: dict[str, list[RocmSupport]] = {}
    for i, entry in enumerate(ctx.field(data, "rocm_support", list, "")):
        where = f"rocm_support[{i}]"
        if not isinstance(entry, dict):
            raise ctx.error(where, "a support list must be an object")
        rocm = ctx.field(entry, "rocm", str, where)
        ctx.version(rocm, where)
        where = f"rocm_support[{i}] (ROCm {rocm})"
        complete = ctx.field(entry, "complete", bool, where)
        source = ctx.source_key(ctx.field(entry, "source", str, where), where)
        for status in STATUSES:
            for name in ctx.field(entry, status, list, where):
                if name not in names:
                    raise ctx.error(where, f"{status} names unknown GPU {name!r}")
                out.setdefault(name, []).append(RocmSupport(rocm, status, complete, source))  # type: ignore[arg-type]
    return out
