"""Typed rows for the frameworks beside torch (TensorFlow, JAX, PaddlePaddle) and the ROCm platform,
and the pure functions that build them from their data files.

Each ``load_*`` function takes the parsed JSON of one file and returns frozen rows, newest first.
A row that lacks a required field, or carries a value of the wrong shape, raises
:class:`~envspec.errors.MatrixError` naming the file and the row: the data is packaged with the
code, so a malformed row is a bug to catch at load time, not a fact to guess around.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ..errors import MatrixError
from ._types import Arch

__all__ = [
    "JaxCudaMajor",
    "JaxExtra",
    "JaxPlugin",
    "JaxRelease",
    "PaddleConda",
    "PaddleRelease",
    "PaddleVariant",
    "RocmRelease",
    "TensorflowRelease",
    "load_jax",
    "load_paddle",
    "load_rocm",
    "load_tensorflow",
]

PLATFORMS = frozenset({"linux-x86_64", "linux-aarch64", "windows-x86_64", "macos-arm64", "macos-x86_64"})

T = TypeVar("T")


# --- rows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorflowRelease:
    """A TensorFlow release and the CUDA stack it was tested with.

    ``cuda``/``cudnn`` are the "Tested build configurations" (Linux GPU) of its minor, x.y.
    ``and_cuda`` is the ``tensorflow[and-cuda]`` extra's NVIDIA pins (2.14 onward), None before.
    ``gpu_platforms`` are the platforms whose wheel is a CUDA build: Linux x86_64, and native
    Windows up to 2.10. ``python`` maps each platform with wheels to its CPython minors.
    """

    version: Version
    requires_python: SpecifierSet
    python: Mapping[str, tuple[str, ...]]
    cuda: Version
    cudnn: Version
    gpu_platforms: frozenset[str]
    and_cuda: tuple[str, ...] | None
    windows_package: str | None
    verified: bool
    sources: tuple[str, ...]
    note: str = ""

    @property
    def has_and_cuda(self) -> bool:
        return self.and_cuda is not None

    def gpu_on(self, platform: str) -> bool:
        """Whether this release's wheel for ``platform`` runs on an NVIDIA GPU."""
        return platform in self.gpu_platforms


@dataclass(frozen=True)
class JaxCudaMajor:
    """What JAX's install docs require for one CUDA major: oldest GPU and Linux driver."""

    major: int
    min_sm: Arch
    driver_linux: Version
    source: str


@dataclass(frozen=True)
class JaxPlugin:
    """A ``jax-cudaNN-plugin`` release: its Pythons per platform and its ``with-cuda`` pins."""

    name: str
    version: Version
    requires_python: SpecifierSet
    python: Mapping[str, tuple[str, ...]]
    requires: tuple[str, ...]
    with_cuda: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class JaxExtra:
    """One CUDA/ROCm extra of a ``jax`` release (``jax[cuda12]``) and what it pulls in.

    ``libs`` says where CUDA comes from: ``pip`` (NVIDIA's wheels), ``local`` (a system CUDA
    toolkit), ``rocm`` (an AMD plugin). ``cuda_min``/``cudnn`` are read from the NVIDIA pins of
    the extra itself or, from 0.4.31, of the plugin's ``with-cuda`` extra. ``plugin`` is None when
    the extra names a plugin version that has no wheel on PyPI (jax 0.7.0's ``cuda13``).
    """

    name: str
    cuda_major: int | None
    libs: Literal["pip", "local", "rocm"]
    requires: tuple[str, ...]
    plugin_requirement: str | None
    plugin: JaxPlugin | None
    cuda_min: Version | None
    cudnn: SpecifierSet | None

    @property
    def installable(self) -> bool:
        """False when the extra requires a plugin release that PyPI does not have."""
        return self.plugin_requirement is None or self.plugin is not None


@dataclass(frozen=True)
class JaxRelease:
    version: Version
    requires_python: SpecifierSet
    jaxlib: str | None
    extras: tuple[JaxExtra, ...]
    sources: tuple[str, ...]

    def extra(self, name: str) -> JaxExtra | None:
        key = _norm(name)
        return next((e for e in self.extras if _norm(e.name) == key), None)


@dataclass(frozen=True)
class PaddleVariant:
    """One CUDA build of a PaddlePaddle release: the exact version to pin and where it lives.

    ``index_mode`` is how pip reaches ``index``: ``index-url`` (``-i``) or ``find-links``
    (``-f``). ``cudnn``/``tensorrt`` are what a 2.x wheel expects on the system.
    """

    cuda: Version
    version: Version
    index: str
    index_mode: Literal["index-url", "find-links"]
    platforms: frozenset[str]
    cudnn: Version | None
    tensorrt: str | None
    verified: bool
    source: str
    note: str = ""

    @property
    def requirement(self) -> str:
        return f"paddlepaddle-gpu=={self.version}"


@dataclass(frozen=True)
class PaddleConda:
    """The documented conda route of a release: channels, package and the CUDA pins offered.

    ``page`` is the URL of the install page it was read from (the source's own URL, or the
    GitHub URL of the PaddlePaddle/docs file at the cited commit); ``python`` the Python minors
    the page names (empty: the release's). The pages read are the Linux ones
    (``docs/install/conda/linux-conda.md``), so the route is offered on ``linux-x86_64`` only.
    """

    channels: tuple[str, ...]
    package: str
    cuda_pins: tuple[str, ...]  # cudatoolkit=<x.y> (2.x) or paddlepaddle-cuda=<x.y> (3.0 betas)
    pin_package: str
    source: str
    page: str = ""
    python: tuple[str, ...] = ()
    note: str = ""
    platforms: frozenset[str] = frozenset({"linux-x86_64"})

    def channels_for(self, pin: str) -> tuple[str, ...]:
        """The channels of the route for one CUDA pin, in the page's order. 2.5's page adds
        conda-forge for 11.x only: its note says which pin comes from the Paddle channel alone."""
        alone = re.findall(rf"{re.escape(self.pin_package)}=(\S+) is installed from the Paddle channel alone", self.note)
        if pin in alone:
            return tuple(c for c in self.channels if c != "conda-forge")
        return self.channels

    def specs_for(self, pin: str) -> tuple[str, ...]:
        """The conda match specs of the page's command for one CUDA pin:
        ``paddlepaddle-gpu ==2.6.2`` (conda's ``==`` is exact) and ``cudatoolkit 11.7.*``
        (the command's ``cudatoolkit=11.7``, which conda reads as ``11.7.*``)."""
        name, _, version = self.package.partition("==")
        return (f"{name} =={version}", f"{self.pin_package} {pin}.*")


@dataclass(frozen=True)
class PaddleRelease:
    """A PaddlePaddle GPU release with its CUDA variants.

    ``system_cuda`` is True for 2.x and the 3.0 betas' docs, whose wheels load a system CUDA
    toolkit and cuDNN; False where the docs say the wheel brings CUDA itself.
    """

    version: Version
    python: tuple[str, ...]
    variants: tuple[PaddleVariant, ...]
    system_cuda: bool
    min_compute_capability: Arch | None
    nccl: SpecifierSet | None
    conda: PaddleConda | None
    verified: bool
    sources: tuple[str, ...]
    note: str = ""

    def variant(self, cuda: str | Version, platform: str) -> PaddleVariant | None:
        want = Version(str(cuda))
        return next((v for v in self.variants if v.cuda == want and platform in v.platforms), None)


@dataclass(frozen=True)
class RocmRelease:
    """A ROCm release and the GPU targets (gfx) AMD's compatibility matrix lists for it."""

    version: Version
    gfx: tuple[str, ...]
    pytorch: tuple[str, ...]
    tensorflow: tuple[str, ...]
    jax: tuple[str, ...]
    source: str

    def supports(self, gfx: str) -> bool:
        return gfx.strip().lower() in self.gfx


# --- loading ---------------------------------------------------------------------------------


def load_tensorflow(data: Mapping[str, Any]) -> tuple[TensorflowRelease, ...]:
    ctx = _Ctx("tensorflow.json", data)
    out = []
    for text, row in ctx.releases():
        where = f"releases.{text}"
        and_cuda = row.get("and_cuda")
        out.append(
            TensorflowRelease(
                version=ctx.version(text, where),
                requires_python=ctx.specifier(ctx.field(row, "requires_python", str, where), where),
                python=ctx.python_map(ctx.field(row, "python", dict, where), where),
                cuda=ctx.version(ctx.field(row, "cuda", str, where), where + ".cuda"),
                cudnn=ctx.version(ctx.field(row, "cudnn", str, where), where + ".cudnn"),
                gpu_platforms=ctx.platforms(ctx.field(row, "gpu_platforms", list, where), where),
                and_cuda=None if and_cuda is None else tuple(ctx.requirements(and_cuda, where + ".and_cuda")),
                windows_package=row.get("windows_package"),
                verified=ctx.flag(row, where),
                sources=ctx.sources(row, where),
                note=row.get("note", ""),
            )
        )
    return _newest_first(out)


def load_jax(data: Mapping[str, Any]) -> tuple[tuple[JaxRelease, ...], dict[int, JaxCudaMajor]]:
    ctx = _Ctx("jax.json", data)
    majors = {}
    for text, row in ctx.field(data, "cuda_majors", dict, "").items():
        where = f"cuda_majors.{text}"
        majors[int(text)] = JaxCudaMajor(
            major=int(text),
            min_sm=ctx.call(Arch.parse, ctx.field(row, "min_sm", str, where), where),
            driver_linux=ctx.version(ctx.field(row, "driver_linux", str, where), where),
            source=ctx.source_key(ctx.field(row, "source", str, where), where),
        )
    plugins: dict[tuple[str, Version], JaxPlugin] = {}
    for name, rows in ctx.field(data, "plugins", dict, "").items():
        for text, row in rows.items():
            where = f"plugins.{name}.{text}"
            plugin = JaxPlugin(
                name=name, version=ctx.version(text, where),
                requires_python=ctx.specifier(ctx.field(row, "requires_python", str, where), where),
                python=ctx.python_map(ctx.field(row, "python", dict, where), where),
                requires=tuple(ctx.requirements(ctx.field(row, "requires", list, where), where)),
                with_cuda=tuple(ctx.requirements(ctx.field(row, "with_cuda", list, where), where)),
                source=ctx.source_key(ctx.field(row, "source", str, where), where),
            )
            plugins[(name, plugin.version)] = plugin
    out = []
    for text, row in ctx.releases():
        where = f"releases.{text}"
        version = ctx.version(text, where)
        extras = tuple(
            _jax_extra(ctx, name, reqs, plugins, f"{where}.extras.{name}")
            for name, reqs in ctx.field(row, "extras", dict, where).items()
        )
        out.append(
            JaxRelease(
                version=version,
                requires_python=ctx.specifier(ctx.field(row, "requires_python", str, where), where),
                jaxlib=row.get("jaxlib"),
                extras=extras,
                sources=ctx.sources(row, where),
            )
        )
    return _newest_first(out), majors


def load_paddle(data: Mapping[str, Any]) -> tuple[PaddleRelease, ...]:
    ctx = _Ctx("paddle.json", data)
    out = []
    for text, row in ctx.releases():
        where = f"releases.{text}"
        variants = []
        for i, v in enumerate(ctx.field(row, "variants", list, where)):
            w = f"{where}.variants[{i}]"
            mode = ctx.field(v, "index_mode", str, w)
            if mode not in ("index-url", "find-links"):
                raise ctx.error(w, f"index_mode {mode!r} is neither index-url nor find-links")
            index = ctx.field(v, "index", str, w)
            if not index.startswith("https://"):
                raise ctx.error(w, f"index {index!r} is not an https URL")
            variants.append(
                PaddleVariant(
                    cuda=ctx.version(ctx.field(v, "cuda", str, w), w + ".cuda"),
                    version=ctx.version(ctx.field(v, "version", str, w), w + ".version"),
                    index=index, index_mode=mode,
                    platforms=ctx.platforms(ctx.field(v, "platforms", list, w), w),
                    cudnn=ctx.version(v["cudnn"], w + ".cudnn") if v.get("cudnn") else None,
                    tensorrt=v.get("tensorrt"),
                    verified=ctx.flag(v, w) and ctx.flag(row, where),
                    source=ctx.source_key(ctx.field(v, "source", str, w), w),
                    note=v.get("note", ""),
                )
            )
        conda = None
        if row.get("conda"):
            c, w = row["conda"], where + ".conda"
            pin_package = "cudatoolkit" if "cudatoolkit" in c else "paddlepaddle-cuda"
            source = ctx.source_key(ctx.field(c, "source", str, w), w)
            package = ctx.field(c, "package", str, w)
            if not re.fullmatch(r"[a-z0-9-]+==[0-9][0-9a-z.]*", package):
                raise ctx.error(w, f"package {package!r} is not NAME==VERSION")
            python = c.get("python", "")
            span = re.fullmatch(r"3\.(\d+)-3\.(\d+)", python)
            if python and not span:
                raise ctx.error(w, f"python {python!r} is not a range like 3.8-3.12")
            conda = PaddleConda(
                channels=tuple(ch.rstrip("/") for ch in ctx.field(c, "channels", list, w)),
                package=package,
                cuda_pins=tuple(ctx.field(c, pin_package.replace("-", "_"), list, w)),
                pin_package=pin_package,
                source=source,
                page=ctx.page(source, w),
                python=tuple(f"3.{m}" for m in range(int(span[1]), int(span[2]) + 1)) if span else (),
                note=c.get("note", ""),
            )
        mcc = row.get("min_compute_capability")
        out.append(
            PaddleRelease(
                version=ctx.version(text, where),
                python=tuple(ctx.field(row, "python", list, where)),
                variants=tuple(variants),
                system_cuda=ctx.field(row, "system_cuda", bool, where),
                min_compute_capability=ctx.call(Arch.parse, mcc, where) if mcc else None,
                nccl=ctx.specifier(row["nccl"], where) if row.get("nccl") else None,
                conda=conda,
                verified=ctx.flag(row, where),
                sources=ctx.sources(row, where),
                note=row.get("note", ""),
            )
        )
    return _newest_first(out)


def load_rocm(data: Mapping[str, Any]) -> tuple[RocmRelease, ...]:
    ctx = _Ctx("rocm.json", data)
    out = []
    for text, row in ctx.releases():
        where = f"releases.{text}"
        gfx = tuple(ctx.field(row, "gfx", list, where))
        bad = [g for g in gfx if not re.fullmatch(r"gfx[0-9a-f]{3,4}", str(g))]
        if bad or not gfx:
            raise ctx.error(where, f"gfx targets {bad or gfx!r} are not LLVM gfx names")
        out.append(
            RocmRelease(
                version=ctx.version(text, where), gfx=gfx,
                pytorch=tuple(row.get("pytorch", ())), tensorflow=tuple(row.get("tensorflow", ())),
                jax=tuple(row.get("jax", ())),
                source=ctx.source_key(ctx.field(row, "source", str, where), where),
            )
        )
    return _newest_first(out)


# --- helpers ---------------------------------------------------------------------------------


def _jax_extra(
    ctx: _Ctx, name: str, reqs: Any, plugins: Mapping[tuple[str, Version], JaxPlugin], where: str
) -> JaxExtra:
    requires = tuple(ctx.requirements(reqs, where))
    key = _norm(name)
    m = re.match(r"^cuda(\d+)", key)
    plugin_req = next((r for r in requires if re.match(r"^jax-(cuda|rocm)\d+-plugin\b", r)), None)
    plugin = None
    if plugin_req is not None:
        req = Requirement(plugin_req)
        found = sorted(
            (p for (n, v), p in plugins.items() if n == req.name and req.specifier.contains(v, prereleases=True)),
            key=lambda p: p.version,
        )
        plugin = found[-1] if found else None
    if key.startswith("rocm"):
        libs: Literal["pip", "local", "rocm"] = "rocm"
    elif key.endswith("local") or "cudnn" in key:
        libs = "local"
    elif key == "cuda":
        # the alias installs whatever its requirements name: NVIDIA pins, a with-cuda plugin, or
        # (before 0.4.26) a jaxlib built for a system CUDA
        with_cuda = plugin_req is not None and "with" in plugin_req.split("]")[0]
        libs = "pip" if with_cuda or any(r.startswith("nvidia-") for r in requires) else "local"
    else:
        libs = "pip"
    pins = list(requires)
    if plugin is not None and plugin_req is not None and "[" in plugin_req:
        pins += plugin.with_cuda
    cuda_major = int(m.group(1)) if m else None
    if cuda_major is None and plugin_req is not None and (pm := re.match(r"^jax-cuda(\d+)-plugin", plugin_req)):
        cuda_major = int(pm.group(1))
    if cuda_major is None and (lm := next((re.search(r"\+cuda(\d+)", r) for r in requires if "+cuda" in r), None)):
        cuda_major = int(lm.group(1))
    return JaxExtra(
        name=name, cuda_major=cuda_major, libs=libs, requires=requires, plugin_requirement=plugin_req,
        plugin=plugin, cuda_min=_pin_floor(pins, "nvidia-cuda-runtime"), cudnn=_pin_spec(pins, "nvidia-cudnn"),
    )


def _pin_floor(reqs: list[str], prefix: str) -> Version | None:
    """The lower bound (``>=``/``==``) of the first requirement whose name starts with ``prefix``."""
    spec = _pin_spec(reqs, prefix)
    if spec is None:
        return None
    bounds = [Version(s.version) for s in spec if s.operator in (">=", "==", "~=")]
    return min(bounds) if bounds else None


def _pin_spec(reqs: list[str], prefix: str) -> SpecifierSet | None:
    for r in reqs:
        req = Requirement(r)
        if req.name.startswith(prefix):
            return req.specifier
    return None


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _newest_first(rows: list[T]) -> tuple[T, ...]:
    return tuple(sorted(rows, key=lambda r: r.version, reverse=True))  # type: ignore[attr-defined]


class _Ctx:
    """Field access for one data file that turns a malformed row into a MatrixError."""

    def __init__(self, filename: str, data: Mapping[str, Any]) -> None:
        self.filename = filename
        self.data = data
        sources = data.get("sources")
        if not isinstance(sources, dict) or not sources:
            raise self.error("sources", "the file has no sources table")
        self.keys = frozenset(sources)

    def error(self, where: str, message: str) -> MatrixError:
        return MatrixError(f"compatibility data {self.filename}: {where}: {message}")

    def releases(self) -> list[tuple[str, dict[str, Any]]]:
        rows = self.field(self.data, "releases", dict, "")
        if not rows:
            raise self.error("releases", "no releases")
        for text, row in rows.items():
            if not isinstance(row, dict):
                raise self.error(f"releases.{text}", "a release row must be an object")
        return list(rows.items())

    def field(self, row: Mapping[str, Any], key: str, kind: type[T], where: str) -> T:
        if key not in row:
            raise self.error(where or key, f"missing {key!r}")
        value = row[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.error(where or key, f"{key!r} must be a {kind.__name__}, not {type(value).__name__}")
        return value

    def call(self, fn: Callable[[str], T], text: str, where: str) -> T:
        try:
            return fn(text)
        except ValueError as e:
            raise self.error(where, str(e)) from e

    def version(self, text: Any, where: str) -> Version:
        if not isinstance(text, str):
            raise self.error(where, f"{text!r} is not a version string")
        try:
            return Version(text)
        except InvalidVersion as e:
            raise self.error(where, f"{text!r} is not a PEP 440 version") from e

    def specifier(self, text: str, where: str) -> SpecifierSet:
        try:
            return SpecifierSet(text)
        except InvalidSpecifier as e:
            raise self.error(where, f"{text!r} is not a version specifier") from e

    def requirements(self, items: Any, where: str) -> list[str]:
        if not isinstance(items, list):
            raise self.error(where, "requirements must be a list")
        for item in items:
            try:
                Requirement(item)
            except (InvalidRequirement, TypeError) as e:
                raise self.error(where, f"{item!r} is not a PEP 508 requirement") from e
        return list(items)

    def platforms(self, items: list[Any], where: str) -> frozenset[str]:
        unknown = [p for p in items if p not in PLATFORMS]
        if unknown:
            raise self.error(where, f"unknown platform(s) {unknown!r}")
        return frozenset(items)

    def python_map(self, value: dict[str, Any], where: str) -> dict[str, tuple[str, ...]]:
        self.platforms(list(value), where + ".python")
        out = {}
        for plat, minors in value.items():
            if not isinstance(minors, list) or not all(isinstance(m, str) and re.fullmatch(r"3\.\d+", m) for m in minors):
                raise self.error(f"{where}.python.{plat}", f"{minors!r} is not a list of CPython minors")
            out[plat] = tuple(minors)
        return out

    def flag(self, row: Mapping[str, Any], where: str) -> bool:
        value = row.get("verified", True)
        if not isinstance(value, bool):
            raise self.error(where, "'verified' must be true or false")
        return value

    def source_key(self, cited: str, where: str) -> str:
        if cited not in self.keys and not cited.startswith("https://"):
            raise self.error(where, f"cites unknown source {cited!r}")
        return cited

    def page(self, cited: str, where: str) -> str:
        """The URL a source names: its text's leading URL, or for ``OWNER/REPO@<commit> ...
        path.md`` the GitHub URL of that file at that commit."""
        text = cited if cited.startswith("https://") else str(self.data["sources"][cited])
        if text.startswith("https://"):
            return re.split(r"[\s,]", text, maxsplit=1)[0]
        found = re.match(r"([\w.-]+/[\w.-]+)@([0-9a-f]{40})\b.*?\s(\S+?\.md)\b", text)
        if found is None:
            raise self.error(where, f"source {cited!r} names no URL or repository file")
        return f"https://github.com/{found[1]}/blob/{found[2]}/{found[3]}"

    def sources(self, row: Mapping[str, Any], where: str) -> tuple[str, ...]:
        cited = row.get("source")
        items = [cited] if isinstance(cited, str) else cited
        if not items or not isinstance(items, list):
            raise self.error(where, "a row must name its source")
        return tuple(self.source_key(c, where) for c in items)
