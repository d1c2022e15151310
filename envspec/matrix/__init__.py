"""The compatibility matrix: packaged data files, a source on every row, typed pure lookups.

Data lives in ``envspec/matrix/data/*.json`` (read with :mod:`importlib.resources`):

- ``pypi_facts.json``: per torch release, the Pythons and platforms with wheels, what CUDA the
  plain PyPI wheel carries, the triton pin, the paired torchvision/torchaudio; xformers' torch
  requirement. Generated from PyPI's JSON API and wheel metadata by ``tools/gen_pypi_facts.py``.
- ``torch_builds.json``: the accelerator variants published for each release on the PyPI-style
  indexes at download.pytorch.org, with the compute capabilities compiled into each.
- ``torch_abi.json``: the C++ ABI (``_GLIBCXX_USE_CXX11_ABI``) of each release's Linux builds,
  read from the PyPI wheels themselves (range reads), with the per-variant rule where it differs.
- ``cuda.json``: NVIDIA's CUDA toolkit → minimum driver tables (Linux and Windows), and the
  minor-version-compatibility floor of each major.
- ``gpus.json``: NVIDIA GPU models → compute capability.
- ``gpus_amd.json``: AMD GPU models → LLVM target (gfx) and architecture, with AMD's per-release
  Linux support lists; ``gpus_intel.json``: Intel GPU models → family and whether integrated,
  with the families PyTorch's XPU docs validate (typed in :mod:`._gpus`, parsed on first use).
- ``flash_attn.json``: flash-attn releases → the prebuilt wheels of their release workflows.
- ``tensorflow.json``, ``jax.json``, ``paddle.json``: the other frameworks' releases with their
  CUDA builds, extras and indexes; ``rocm.json``: ROCm releases → the gfx targets AMD supports.
  Typed in :mod:`._frameworks`, parsed on first use (see ``SOURCES-frameworks.md``).

:func:`get_matrix` loads them once. Rows marked ``"verified": false`` carry facts that could not
be checked against a primary source; lookups keep them but the resolver ranks them last and
names them in its reasons.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any, Literal

from packaging.version import InvalidVersion, Version

from ..errors import MatrixError
from ._frameworks import (
    JaxCudaMajor,
    JaxExtra,
    JaxPlugin,
    JaxRelease,
    PaddleConda,
    PaddleRelease,
    PaddleVariant,
    RocmRelease,
    TensorflowRelease,
    load_jax,
    load_paddle,
    load_rocm,
    load_tensorflow,
)
from ._gpus import (
    AmdGpuModel,
    IntelGpuFamily,
    IntelGpuModel,
    RocmSupport,
    gfx_sort_key,
    is_gfx,
    load_amd_gpus,
    load_intel_gpus,
    name_key,
)
from ._types import (
    Arch,
    CompanionRelease,
    DriverFloor,
    DriverVersion,
    FlashAttnRelease,
    FlashAttnWheel,
    GpuModel,
    TorchBuild,
    TorchRelease,
    TritonRelease,
    Variant,
    XformersRelease,
    has_kernels,
)

__all__ = [
    "DATA_FILES",
    "AmdGpuModel",
    "Arch",
    "CompanionRelease",
    "DriverFloor",
    "DriverVersion",
    "FlashAttnRelease",
    "FlashAttnWheel",
    "GpuModel",
    "IntelGpuFamily",
    "IntelGpuModel",
    "JaxCudaMajor",
    "JaxExtra",
    "JaxPlugin",
    "JaxRelease",
    "Matrix",
    "PaddleConda",
    "PaddleRelease",
    "PaddleVariant",
    "RocmRelease",
    "RocmSupport",
    "TensorflowRelease",
    "TorchBuild",
    "TorchRelease",
    "TritonRelease",
    "Variant",
    "XformersRelease",
    "get_matrix",
    "has_kernels",
    "parse_version",
]

DATA_FILES = (
    "pypi_facts.json", "torch_builds.json", "torch_abi.json", "cuda.json", "gpus.json", "flash_attn.json",
    "tensorflow.json", "jax.json", "paddle.json", "rocm.json", "gpus_amd.json", "gpus_intel.json",
)

#: The PyPI simple index, for packages that do not come from a PyTorch variant index.
PYPI_INDEX = "https://pypi.org/simple"

OS_OF_PLATFORM = {
    "linux-x86_64": "linux",
    "linux-aarch64": "linux",
    "windows-x86_64": "windows",
    "macos-arm64": "macos",
}


def _read(name: str) -> dict[str, Any]:
    try:
        text = resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise MatrixError(f"compatibility data file {name} is missing from the package") from e
    return json.loads(text)


@functools.cache
def get_matrix() -> Matrix:
    """The embedded matrix, loaded once per process."""
    return Matrix({name: _read(name) for name in DATA_FILES})


class Matrix:
    """Typed lookups over the embedded data. Construct with :func:`get_matrix`.

    ``version`` is ``YYYY.MM.DD+<12 hex>``: the newest date the data was gathered and a digest of
    every data file, so a lock records exactly which facts it was resolved against.
    """

    def __init__(self, raw: dict[str, dict[str, Any]]) -> None:
        self.raw = raw
        blob = json.dumps(raw, sort_keys=True).encode()
        self.version = f"{raw['torch_builds.json'].get('gathered', '2026.11.21')}+{hashlib.sha256(blob).hexdigest()[:12]}"
        self.variants = self._load_variants(raw["torch_builds.json"])
        self.torch_releases = self._load_torch(raw["pypi_facts.json"], raw["torch_builds.json"], raw["torch_abi.json"])
        self._toolkits, self._minor_compat = self._load_cuda(raw["cuda.json"])
        self.gpus = self._load_gpus(raw["gpus.json"])
        self._gpu_index = {alias.casefold(): gpu for gpu in self.gpus for alias in (gpu.name, *gpu.aliases)}
        self.xformers_releases = self._load_xformers(raw["pypi_facts.json"])
        self.triton_releases = tuple(sorted(
            (
                TritonRelease(Version(v), {p: tuple(i["python"]) for p, i in row.get("platforms", {}).items()}, row.get("source", ""))
                for v, row in raw["pypi_facts.json"].get("triton", {}).items()
            ),
            key=lambda r: r.version, reverse=True,
        ))
        self.companions = {name: self._load_companions(raw["pypi_facts.json"], name) for name in ("torchvision", "torchaudio")}
        self.sources: dict[str, str] = {}
        for data in raw.values():
            self.sources.update(data.get("sources", {}))

    # --- lookups ---------------------------------------------------------------------------

    @functools.cached_property
    def flash_attn_releases(self) -> tuple[FlashAttnRelease, ...]:
        """flash-attn releases, newest first; expanded on first use (most locks never ask)."""
        return self._load_flash_attn(self.raw["flash_attn.json"])

    @functools.cached_property
    def tensorflow_releases(self) -> tuple[TensorflowRelease, ...]:
        """TensorFlow releases from 2.10, newest first (parsed and validated on first use)."""
        return load_tensorflow(self.raw["tensorflow.json"])

    def tensorflow_release(self, version: str | Version) -> TensorflowRelease | None:
        v = Version(str(version))
        return next((r for r in self.tensorflow_releases if r.version == v), None)

    @functools.cached_property
    def _jax(self) -> tuple[tuple[JaxRelease, ...], dict[int, JaxCudaMajor]]:
        return load_jax(self.raw["jax.json"])

    @property
    def jax_releases(self) -> tuple[JaxRelease, ...]:
        """jax releases from 0.4.16 with their CUDA/ROCm extras, newest first."""
        return self._jax[0]

    def jax_release(self, version: str | Version) -> JaxRelease | None:
        v = Version(str(version))
        return next((r for r in self.jax_releases if r.version == v), None)

    def jax_cuda_major(self, major: int) -> JaxCudaMajor | None:
        """JAX's documented oldest GPU (SM) and Linux driver for a CUDA major."""
        return self._jax[1].get(major)

    @functools.cached_property
    def paddle_releases(self) -> tuple[PaddleRelease, ...]:
        """PaddlePaddle GPU releases with their CUDA variants, newest first."""
        return load_paddle(self.raw["paddle.json"])

    def paddle_release(self, version: str | Version) -> PaddleRelease | None:
        v = Version(str(version))
        return next((r for r in self.paddle_releases if r.version == v), None)

    @functools.cached_property
    def rocm_releases(self) -> tuple[RocmRelease, ...]:
        """ROCm releases with the gfx targets of AMD's compatibility matrix, newest first."""
        return load_rocm(self.raw["rocm.json"])

    def rocm_release(self, version: str | Version) -> RocmRelease | None:
        v = Version(str(version))
        return next((r for r in self.rocm_releases if r.version == v), None)

    def rocm_releases_for(self, gfx: str) -> tuple[RocmRelease, ...]:
        """The ROCm releases that list ``gfx`` (e.g. ``gfx90a``) as supported, newest first."""
        return tuple(r for r in self.rocm_releases if r.supports(gfx))

    @functools.cached_property
    def amd_gpus(self) -> tuple[AmdGpuModel, ...]:
        """AMD GPU models (Instinct, Radeon PRO, Radeon) from AMD's specifications, parsed on first use."""
        return load_amd_gpus(self.raw["gpus_amd.json"])

    @functools.cached_property
    def _amd_index(self) -> dict[str, AmdGpuModel]:
        return {name_key(n): gpu for gpu in self.amd_gpus for n in (gpu.name, *gpu.aliases)}

    def amd_gpu(self, text: str) -> AmdGpuModel | None:
        """An AMD GPU by model name or alias (``"RX 7900 XTX"``, ``"AMD Instinct MI300X"``), compared
        ignoring case, spaces, hyphens and (TM)/(R) marks; a leading ``AMD`` is optional.

        A bare LLVM target (``"gfx1100"``) is not a model and returns None: the caller takes a
        raw gfx as it is (:meth:`known_gfx` says whether the data knows it).
        """
        if is_gfx(text):
            return None
        key = name_key(text)
        return self._amd_index.get(key) or self._amd_index.get(key.removeprefix("amd"))

    def amd_gpu_names(self) -> list[str]:
        """Every AMD model name and alias, sorted (for "did you mean" suggestions)."""
        return sorted({n for g in self.amd_gpus for n in (g.name, *g.aliases)})

    @functools.cached_property
    def _intel(self) -> tuple[dict[str, IntelGpuFamily], tuple[IntelGpuModel, ...]]:
        return load_intel_gpus(self.raw["gpus_intel.json"])

    @property
    def intel_gpus(self) -> tuple[IntelGpuModel, ...]:
        """Intel GPU models (Arc, Data Center GPU Max/Flex, Core Ultra integrated), parsed on first use."""
        return self._intel[1]

    @property
    def intel_gpu_families(self) -> dict[str, IntelGpuFamily]:
        """Intel GPU families by key (``arc-a``, ``arc-b``, ``max``, ``flex``, ``mtl``, ``lnl``, ``arl``, ``ptl``)."""
        return self._intel[0]

    @functools.cached_property
    def _intel_index(self) -> dict[str, IntelGpuModel]:
        return {name_key(n): gpu for gpu in self.intel_gpus for n in (gpu.name, *gpu.aliases)}

    def intel_gpu(self, text: str) -> IntelGpuModel | None:
        """An Intel GPU by model name or alias (``"Arc A770"``, ``"Intel(R) Arc(TM) A770 Graphics"``,
        ``"Data Center GPU Max 1550"``), compared like :meth:`amd_gpu`; a leading ``Intel`` is optional."""
        key = name_key(text)
        return self._intel_index.get(key) or self._intel_index.get(key.removeprefix("intel"))

    def intel_gpu_names(self) -> list[str]:
        """Every Intel model name and alias, sorted (for "did you mean" suggestions)."""
        return sorted({n for g in self.intel_gpus for n in (g.name, *g.aliases)})

    @functools.cached_property
    def _known_gfx(self) -> tuple[str, ...]:
        found = {g.gfx for g in self.amd_gpus}
        found.update(g for r in self.rocm_releases for g in r.gfx)
        found.update(g for b in self.torch_builds_of_kind("rocm") for g in b.gfx)
        return tuple(sorted(found, key=gfx_sort_key))

    def known_gfx(self) -> tuple[str, ...]:
        """Every LLVM target any table names (AMD GPU models, ROCm releases, torch ROCm builds),
        in numeric order (gfx803 ... gfx90a, gfx942, gfx950, gfx1030 ... gfx1201)."""
        return self._known_gfx

    def torch_builds_of_kind(self, kind: Literal["cuda", "rocm", "xpu", "cpu"]) -> Iterator[TorchBuild]:
        """Every torch build of one accelerator kind (``rocm``, ``xpu`` ...), newest release first."""
        return (b for b in self.torch_builds() if b.variant.kind == kind)

    def torch_release(self, version: str | Version) -> TorchRelease | None:
        v = Version(str(version))
        return next((r for r in self.torch_releases if r.version == v), None)

    def torch_build(self, version: str | Version, variant: str, platform: str) -> TorchBuild | None:
        """The build of torch ``version`` (its public part) in ``variant`` for ``platform``, or None."""
        release = self.torch_release(Version(str(version)).public)
        if release is None:
            return None
        return next((b for b in release.builds if b.variant.name == variant and platform in b.platforms), None)

    def torch_builds(self) -> Iterator[TorchBuild]:
        """Every build of every release, newest release first, best variant first."""
        for release in self.torch_releases:
            yield from release.builds

    def driver_floor(
        self, cuda: Version, platform: str, policy: Literal["toolkit", "minor-version"]
    ) -> DriverFloor | None:
        """The minimum driver for a CUDA runtime on a platform, under ``policy``.

        ``toolkit``: NVIDIA's "CUDA Toolkit and Corresponding Driver Versions" row of the
        oldest release of that minor (x.y GA) — the floor the toolkit was tested against.
        ``minor-version``: the per-major floor of "CUDA Minor Version Compatibility" (e.g. 12.x
        runs on >= 525.60.13 on Linux), which PyTorch wheels rely on since they bundle the
        runtime. Returns None when the data has no row (the caller treats that as unknown).
        """
        os = "windows" if OS_OF_PLATFORM.get(platform) == "windows" else "linux"
        if policy == "minor-version":
            row = self._minor_compat.get((cuda.major, os))
            if row is not None:
                return row
        minor = (cuda.major, cuda.minor)
        rows = [r for r in self._toolkits if r.os == os and Version(r.cuda).release[:2] == minor]
        if rows:
            return min(rows, key=lambda r: Version(r.cuda))
        return None

    def gpu(self, name: str) -> GpuModel | None:
        """A GPU by model name as people write it or ``nvidia-smi`` prints it (case-insensitive)."""
        key = name.strip().casefold()
        found = self._gpu_index.get(key)
        if found is None and key.startswith("nvidia "):
            found = self._gpu_index.get(key.removeprefix("nvidia "))
        return found

    def gpu_names(self) -> list[str]:
        return sorted({g.name for g in self.gpus} | {a for g in self.gpus for a in g.aliases})

    # --- loading ---------------------------------------------------------------------------

    @staticmethod
    def _load_variants(data: dict[str, Any]) -> dict[str, Variant]:
        out = {}
        for name, row in data["variants"].items():
            out[name] = Variant(
                name=name,
                kind=row["kind"],
                index=row["index"],
                cuda=Version(row["cuda"]) if row.get("cuda") else None,
                rocm=row.get("rocm"),
            )
        return out

    def _load_torch(self, facts: dict[str, Any], builds: dict[str, Any], abi: dict[str, Any]) -> tuple[TorchRelease, ...]:
        releases = []
        for text, rows in builds["releases"].items():
            version = Version(text)
            pypi = facts["torch"].get(text)
            if pypi is None:
                raise MatrixError(f"torch {text} has builds but no PyPI facts")
            python = {plat: tuple(info["python"]) for plat, info in pypi["platforms"].items()}
            companions = pypi.get("companions") or {}
            release_builds = []
            for row in rows:
                variant = self.variants.get(row["variant"])
                if variant is None:
                    raise MatrixError(f"torch {text}: unknown variant {row['variant']!r}")
                platforms = set(row.get("platforms", ()))
                release_builds.append(
                    TorchBuild(
                        torch=version,
                        variant=variant,
                        platforms=frozenset(platforms),
                        sm=tuple(Arch.parse(a) for a in row.get("sm", ())),
                        ptx=tuple(Arch.parse(a) for a in row.get("ptx", ())),
                        cuda_full=row.get("cuda_full"),
                        gfx=tuple(row.get("gfx", ())),
                        verified=bool(row.get("verified", True)),
                        sources=tuple(row.get("source", ())),
                        note=row.get("note", ""),
                    )
                )
            # macOS wheels exist only on PyPI and carry no CUDA: they are the CPU (MPS) build.
            if "macos-arm64" in python and not any("macos-arm64" in b.platforms for b in release_builds):
                release_builds.append(
                    TorchBuild(
                        torch=version, variant=self.variants["cpu"], platforms=frozenset({"macos-arm64"}),
                        sources=(pypi["source"],),
                    )
                )
            release_builds.sort(key=lambda b: (b.verified, b.variant.preference()), reverse=True)
            triton = pypi.get("triton")
            abi_row = abi["releases"].get(text, {})
            releases.append(
                TorchRelease(
                    version=version,
                    python=python,
                    abi={p: v for p, v in abi_row.items() if p in OS_OF_PLATFORM and isinstance(v, bool)},
                    abi_overrides={
                        (p, variant): value
                        for p, by_variant in abi_row.get("variant_overrides", {}).items()
                        for variant, value in by_variant.items()
                    },
                    pypi_cuda={p: c["cuda"] for p, c in (pypi.get("pypi_cuda") or {}).items()},
                    torchvision=parse_version(companions.get("torchvision")),
                    torchaudio=parse_version(companions.get("torchaudio")),
                    triton=triton["requirement"] if isinstance(triton, dict) else None,
                    triton_marker=triton.get("marker", "") if isinstance(triton, dict) else "",
                    builds=tuple(release_builds),
                    sources=(pypi["source"],),
                )
            )
        releases.sort(key=lambda r: r.version, reverse=True)
        return tuple(releases)

    @staticmethod
    def _load_cuda(data: dict[str, Any]) -> tuple[tuple[DriverFloor, ...], dict[tuple[int, str], DriverFloor]]:
        toolkits = []
        for row in data["toolkits"]:
            for os in ("linux", "windows"):
                if row.get(os):
                    toolkits.append(
                        DriverFloor(
                            cuda=row["cuda"], driver=DriverVersion(row[os]), policy="toolkit", os=os,
                            source=row.get("source", ""), verified=bool(row.get("verified", True)),
                        )
                    )
        minor: dict[tuple[int, str], DriverFloor] = {}
        for row in data["minor_version_compat"]:
            for os in ("linux", "windows"):
                if row.get(os):
                    minor[(int(row["major"]), os)] = DriverFloor(
                        cuda=f"{row['major']}.x", driver=DriverVersion(row[os]), policy="minor-version", os=os,
                        source=row.get("source", ""), verified=bool(row.get("verified", True)),
                    )
        return tuple(toolkits), minor

    @staticmethod
    def _load_gpus(data: dict[str, Any]) -> tuple[GpuModel, ...]:
        return tuple(
            GpuModel(
                name=row["name"], cc=Arch.parse(row["cc"]), arch=row.get("arch", ""),
                aliases=tuple(row.get("aliases", ())), source=row.get("source", ""),
            )
            for row in data["gpus"]
        )

    @staticmethod
    def _load_flash_attn(data: dict[str, Any]) -> tuple[FlashAttnRelease, ...]:
        url_template = data["url_template"]
        min_cc = Arch.parse(data["min_compute_capability"]["value"])
        out = []
        for text, row in data["releases"].items():
            version = Version(text)
            wheels = tuple(_expand_flash_attn_wheels(version, row, url_template))
            out.append(
                FlashAttnRelease(
                    version=version, wheels=wheels, requires_python=row.get("requires_python"),
                    min_cc=min_cc, verified=bool(row.get("verified", True)),
                    sources=tuple(row.get("source", ())),
                )
            )
        out.sort(key=lambda r: r.version, reverse=True)
        return tuple(out)

    @staticmethod
    def _load_companions(facts: dict[str, Any], name: str) -> tuple[CompanionRelease, ...]:
        out = []
        for text, row in facts.get(name, {}).items():
            requirement = row.get("requirement")
            if requirement is None and row.get("torch"):
                requirement = f"torch=={row['torch']}"
            out.append(CompanionRelease(name, Version(text), requirement, row.get("source", "")))
        out.sort(key=lambda r: r.version, reverse=True)
        return tuple(out)

    @staticmethod
    def _load_xformers(facts: dict[str, Any]) -> tuple[XformersRelease, ...]:
        out = []
        for text, row in facts.get("xformers", {}).items():
            if not row.get("torch"):
                continue
            out.append(
                XformersRelease(
                    version=Version(text), torch=row["torch"],
                    # Generic wheels (py39-none-<platform>) carry no CPython tag: any Python
                    # that requires-python admits.
                    python={
                        p: (tuple(i["python"]) if i.get("python") or not i.get("generic") else None)
                        for p, i in row.get("platforms", {}).items()
                    },
                    requires_python=row.get("requires_python") or "",
                    source=row.get("source", ""),
                )
            )
        out.sort(key=lambda r: r.version, reverse=True)
        return tuple(out)


def parse_version(text: str | None) -> Version | None:
    """``text`` as a Version; None when it is empty or not a PEP 440 version."""
    if not text:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _expand_flash_attn_wheels(version: Version, row: dict[str, Any], url_template: str) -> Iterator[FlashAttnWheel]:
    """Expand a release workflow's build matrix (minus its excludes) into wheel rows.

    ``row["wheels"]``, when present, is an explicit list of filenames and wins over the matrix.
    """
    if "wheels" in row:
        for filename in row["wheels"]:
            wheel = _parse_flash_attn_filename(filename, url_template, version)
            if wheel:
                yield wheel
        return
    matrix = row.get("matrix")
    if not matrix:  # the release's workflow could not be read: no wheel is claimed
        return
    excludes = [dict(e) for e in row.get("exclude", [])]
    combos = [
        {"python": py, "torch": t, "cuda": c, "cxx11_abi": abi}
        for py in matrix["python"] for t in matrix["torch"] for c in matrix["cuda"]
        for abi in matrix["cxx11_abi"]
    ]
    combos += [dict(i) for i in row.get("include", [])]
    seen = set()
    for combo in combos:
        if any(all(str(combo.get(k)) == str(v) for k, v in ex.items() if k in combo) for ex in excludes):
            continue
        cuda_tag = _flash_attn_cuda_tag(row, combo)
        if cuda_tag is None:
            continue
        torch_minor = ".".join(str(combo["torch"]).split(".")[:2])
        abi = str(combo["cxx11_abi"]).upper() == "TRUE"
        py = str(combo["python"])
        tag = "cp" + py.replace(".", "")
        for platform, plat_tag in (("linux-x86_64", "linux_x86_64"), ("linux-aarch64", "linux_aarch64")):
            if platform not in row.get("platforms", ["linux-x86_64"]):
                continue
            filename = (
                f"flash_attn-{version}+cu{cuda_tag}torch{torch_minor}cxx11abi{'TRUE' if abi else 'FALSE'}"
                f"-{tag}-{tag}-{plat_tag}.whl"
            )
            if filename in seen:
                continue
            seen.add(filename)
            yield FlashAttnWheel(
                version=version, cuda_tag=cuda_tag, torch_minor=torch_minor, cxx11_abi=abi, python=py,
                platform=platform, filename=filename,
                url=url_template.format(version=version, filename=filename, tag=row.get("tag", f"v{version}")),
            )


def _flash_attn_cuda_tag(row: dict[str, Any], combo: dict[str, Any]) -> str | None:
    """The CUDA part of the wheel name for one matrix entry, per the release's own rule."""
    explicit = combo.get("cuda_tag") or row.get("cuda_tags", {}).get(str(combo["cuda"]))
    if explicit:
        return str(explicit)
    cuda = Version(str(combo["cuda"]))
    if row.get("cuda_tag_rule", "major") == "major":
        return str(cuda.major)
    return f"{cuda.major}{cuda.minor}"


def _parse_flash_attn_filename(filename: str, url_template: str, version: Version) -> FlashAttnWheel | None:
    import re

    m = re.match(
        r"^flash_attn-(?P<v>[^+]+)\+cu(?P<cu>\d+)torch(?P<t>\d+\.\d+)cxx11abi(?P<abi>TRUE|FALSE)"
        r"-cp(?P<py>\d+)-cp\d+-(?P<plat>linux_x86_64|linux_aarch64|win_amd64)\.whl$",
        filename,
    )
    if not m:
        return None
    py = m.group("py")
    platform = {"linux_x86_64": "linux-x86_64", "linux_aarch64": "linux-aarch64", "win_amd64": "windows-x86_64"}[m.group("plat")]
    return FlashAttnWheel(
        version=version, cuda_tag=m.group("cu"), torch_minor=m.group("t"), cxx11_abi=m.group("abi") == "TRUE",
        python=f"{py[0]}.{py[1:]}", platform=platform, filename=filename,
        url=url_template.format(version=version, filename=filename, tag=f"v{version}"),
    )
