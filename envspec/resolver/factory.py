"""The factory: turns a spec, a host and the matrix into requirements, candidates and dependencies.

It is the only part of the resolver that reads the matrix. The provider asks it for matches and
dependencies; the explanation asks it which host facts block which builds.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping

from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement as Pep508
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from ..host import Host
from ..matrix import (
    PYPI_INDEX,
    DriverFloor,
    DriverVersion,
    Matrix,
    TorchBuild,
    TorchRelease,
)
from ..sources._model import DistFile, Index
from ..spec import DEFAULT_GLIBC, DEFAULT_MACOS, STACK_PACKAGES, Spec
from ..vocabulary import FRAMEWORKS
from .base import (
    ACCELERATOR,
    DRIVER,
    GFX,
    GPU,
    HOST_IDENTIFIERS,
    PLATFORM,
    PYTHON,
    python_allows,
)
from .candidates import (
    ExtrasCandidate,
    FlashAttnCandidate,
    FrameworkCandidate,
    HostCandidate,
    IndexCandidate,
    PackageCandidate,
    TorchCandidate,
)
from .frameworks import framework_candidates, framework_dependencies
from .indexed import (
    Closure,
    IndexedPackages,
    LazyCandidates,
    identifier_for,
    split_identifier,
)
from .requirements import (
    AcceleratorRequirement,
    DriverRequirement,
    GfxRequirement,
    GpuArchRequirement,
    GpuFloorRequirement,
    PackageRequirement,
    PlatformRequirement,
    PythonRequirement,
)

__all__ = ["Factory", "target_environment"]

# Companions published beside torch on the variant index, paired with exactly one torch.
_PAIRED = ("torchvision", "torchaudio")
# Where torch needs triton when its metadata gives the pin no marker (Linux wheels only).
_TRITON_PLATFORMS = frozenset({"linux-x86_64", "linux-aarch64"})
_FLASH_ATTN_SOURCE_PLATFORMS = frozenset({"linux-x86_64", "linux-aarch64"})

_MARKER_PLATFORM = {
    "linux-x86_64": ("linux", "Linux", "x86_64"),
    "linux-aarch64": ("linux", "Linux", "aarch64"),
    "windows-x86_64": ("win32", "Windows", "AMD64"),
    "macos-arm64": ("darwin", "Darwin", "arm64"),
}


def target_environment(platform: str, python: str) -> dict[str, str]:
    """PEP 508 marker environment of a target (not of the machine running aienv)."""
    env = dict(default_environment())
    sys_platform, system, machine = _MARKER_PLATFORM[platform]
    env.update(
        sys_platform=sys_platform, platform_system=system, platform_machine=machine,
        os_name="nt" if system == "Windows" else "posix",
        python_version=python, python_full_version=f"{python}.0",
        implementation_name="cpython", platform_python_implementation="CPython",
    )
    return env



class Factory:
    """Builds everything the provider needs for one (spec, host) pair."""

    def __init__(
        self,
        spec: Spec,
        host: Host,
        matrix: Matrix,
        *,
        exclude: Iterable[str] = (),
        closure: Closure | None = None,
        preferences: Mapping[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.host = host
        self.matrix = matrix
        self.policy = spec.policy
        self.excluded = frozenset(exclude)  # optional stack packages dropped for this attempt
        self.local_labels = host.platform != "macos-arm64"
        self.forced_cpu = spec.stack.cpu_only
        self.closure = closure
        # Versions an existing lock pinned, tried first (kept while they fit, as lockers do).
        self.preferences = dict(preferences or {})
        self.python_versions = [closure.python] if closure else self._python_versions()
        self.host_candidates = self._host_candidates()
        self._dependencies: dict[object, list[object]] = {}
        self._files: dict[object, tuple[DistFile, ...]] = {}
        self._roots: list[object] | None = None
        self.indexed: IndexedPackages | None = None
        if closure is not None:
            from ..sources import TargetTags

            tags = TargetTags(host.platform, closure.python, host.glibc or DEFAULT_GLIBC, host.macos or DEFAULT_MACOS)
            self.indexed = IndexedPackages(closure, tags, target_environment(host.platform, closure.python))

    # --- host facts --------------------------------------------------------------------------

    def _python_versions(self) -> list[str]:
        known = {p for r in self.matrix.torch_releases for plats in r.python.values() for p in plats}
        names = self.stack_names
        if "tensorflow" in names:
            known |= {p for r in self.matrix.tensorflow_releases for plats in r.python.values() for p in plats}
        if names & {"paddlepaddle", "paddlepaddle-gpu"}:
            known |= {p for r in self.matrix.paddle_releases for p in r.python}
        if "jax" in names:
            known |= {p for r in self.matrix.jax_releases for e in r.extras if e.plugin for ps in e.plugin.python.values() for p in ps}
        allowed = [m for m in known if python_allows(self.host.python, m)]
        return sorted(allowed, key=lambda v: Version(v), reverse=True)

    @functools.cached_property
    def stack_names(self) -> frozenset[str]:
        """The stack packages this resolution may ask for: ``[stack]`` and stack names in
        ``[dependencies]`` (markers not evaluated), less the optional ones dropped."""
        named = {canonicalize_name(r.name) for r in self.spec.requirements()}
        names = set(self.spec.stack.packages()) | (named & set(STACK_PACKAGES))
        return frozenset(names - self.excluded)

    def _host_candidates(self) -> dict[str, list[HostCandidate]]:
        host = self.host
        accelerator = host.kind
        gpus = ", ".join(g.describe() for g in host.gpus) or "no GPU"
        gfx = tuple(g.gfx for g in host.amd_gpus)
        return {
            GFX: [HostCandidate(GFX, gfx, ", ".join(g.describe() for g in host.amd_gpus) or "no AMD GPU")],
            PLATFORM: [HostCandidate(PLATFORM, host.platform, f"platform {host.platform}")],
            ACCELERATOR: [HostCandidate(ACCELERATOR, accelerator, f"accelerator {accelerator}")],
            DRIVER: [HostCandidate(DRIVER, host.driver, f"driver {host.driver}" if host.driver else "driver not declared")],
            GPU: [HostCandidate(GPU, host.gpus, gpus)],
            PYTHON: [HostCandidate(PYTHON, Version(v), f"Python {v}") for v in self.python_versions],
        }

    # --- roots -------------------------------------------------------------------------------

    def root_requirements(self) -> list[object]:
        """The user's intent as requirements: host facts, the stack, stack names in dependencies."""
        if self._roots is None:
            self._roots = self._compute_roots()
        return self._roots

    def _compute_roots(self) -> list[object]:
        roots: list[object] = [
            PlatformRequirement(frozenset({self.host.platform}), "target"),
            PythonRequirement(frozenset(self.python_versions), "project.python / target python"),
        ]
        for name, entry in self.spec.stack.packages().items():
            if name not in self.excluded:
                roots.append(PackageRequirement(name, entry.version, "aienv.toml [stack]"))
        variant = self.variant_requirement()
        if variant is not None:
            roots.append(variant)
        roots += self.framework_variant_requirements()
        for req, origin in self.stack_dependencies():
            roots.append(PackageRequirement(req.name, req.specifier, origin))
        if self.indexed is not None:
            roots += self._index_roots()
        return roots

    def roots_for(self, identifier: str) -> list[PackageRequirement]:
        """The root requirements on one package: the spec's range, stack.cuda's constraint, a
        stack name in [dependencies]."""
        return [r for r in self.root_requirements() if isinstance(r, PackageRequirement) and r.identifier == identifier]

    def _index_roots(self) -> list[object]:
        """``[dependencies]`` that are not stack packages, for a full-closure resolution."""
        assert self.indexed is not None
        env = self.indexed.env
        roots: list[object] = []
        for req in self.spec.requirements():
            name = canonicalize_name(req.name)
            if name in STACK_PACKAGES or (req.marker is not None and not req.marker.evaluate({**env, "extra": ""})):
                continue
            roots.append(PackageRequirement(identifier_for(name, req.extras), req.specifier, "aienv.toml [dependencies]"))
        self.indexed.prefetch(split_identifier(r.identifier)[0] for r in roots)  # type: ignore[attr-defined]
        return roots

    def variant_requirement(self) -> PackageRequirement | None:
        """``stack.cuda`` as a constraint on torch's variant (None when it asks nothing).

        The variant is a property of the torch candidate, not a node of its own: companions
        require torch in their own variant, so a lock cannot mix ``+cu121`` and ``+cu118``.
        """
        # A stack of frameworks beside torch alone (paddlepaddle-gpu with cuda = "11.7") asks
        # nothing of torch: stack.cuda constrains those frameworks, and must not pull torch in.
        names = {*self.spec.stack.packages(), *(r.name for r, _ in self.stack_dependencies())}
        if not names - set(FRAMEWORKS):
            return None
        return self._variant_requirement("torch")

    def _variant_requirement(self, name: str) -> PackageRequirement | None:
        cuda = self.spec.stack.cuda_specifier
        if self.forced_cpu:
            return PackageRequirement(name, SpecifierSet(), "aienv.toml stack.cuda", kinds=frozenset({"cpu"}))
        # stack.cuda is about CUDA builds: it does not apply to a ROCm, XPU or macOS target.
        if cuda is not None and self.host.kind in ("cuda", "cpu"):
            return PackageRequirement(name, SpecifierSet(), "aienv.toml stack.cuda", kinds=frozenset({"cuda"}), cuda=cuda)
        return None

    def framework_variant_requirements(self) -> list[PackageRequirement]:
        """``stack.cuda`` as a constraint on each framework beside torch that the spec asks for."""
        out = []
        for name in FRAMEWORKS:
            if name in self.stack_names:
                req = self._variant_requirement(name)
                if req is not None:
                    out.append(req)
        return out

    def stack_dependencies(self) -> list[tuple[Pep508, str]]:
        """Requirements from ``[dependencies]`` that name stack packages (``torch`` in a
        requirements.txt), whose markers hold on this target, in normalized form."""
        out = []
        env = target_environment(self.host.platform, self.python_versions[0] if self.python_versions else "3.12")
        for req in self.spec.requirements():
            name = canonicalize_name(req.name)
            if name in STACK_PACKAGES and name not in self.excluded:
                if req.marker is None or req.marker.evaluate(env):
                    normalized = Pep508(str(req))
                    normalized.name = name
                    out.append((normalized, "aienv.toml [dependencies]"))
        return out

    def other_requirements(self) -> list[str]:
        """The ``[dependencies]`` that are not stack packages (pinned by the full-closure lock)."""
        return sorted(
            {str(r) for r in self.spec.requirements() if canonicalize_name(r.name) not in STACK_PACKAGES}
        )

    # --- candidates --------------------------------------------------------------------------

    def candidates(self, identifier: str) -> Iterable[object]:
        """Every candidate for an identifier, best first (before filtering by requirements)."""
        return self._candidates(identifier)

    @functools.cache  # noqa: B019 - a factory lives for one resolution
    def _candidates(self, identifier: str) -> Iterable[object]:
        name, extras = split_identifier(identifier)
        if extras:
            return LazyCandidates(ExtrasCandidate(base, extras) for base in self._candidates(name))
        preferred = self.preferences.get(identifier)
        if self.indexed is not None and identifier not in HOST_IDENTIFIERS and identifier not in STACK_PACKAGES:
            return self.indexed.candidates(identifier, preferred)
        found = self._matrix_candidates(identifier)
        if identifier in FRAMEWORKS:
            # An earlier pick is kept by the exact build it locked (``2.6.2.post120``), whichever
            # name the lock gave it (``paddlepaddle`` locks as ``paddlepaddle-gpu`` on a GPU).
            pinned = {preferred, self.preferences.get("paddlepaddle-gpu") if identifier == "paddlepaddle" else None} - {None}
            if pinned:
                found = tuple(sorted(found, key=lambda c: str(c.locked_version) not in pinned))  # type: ignore[attr-defined]
        elif preferred is not None:
            found = tuple(sorted(found, key=lambda c: str(c.version) != preferred))  # type: ignore[attr-defined]
        return found

    def _matrix_candidates(self, identifier: str) -> tuple[object, ...]:
        if identifier in HOST_IDENTIFIERS:
            return tuple(self.host_candidates[identifier])
        if identifier == "torch":
            return tuple(self._torch_candidates())
        if identifier in _PAIRED:
            return tuple(self._paired_candidates(identifier))
        if identifier == "triton":
            return tuple(self._triton_candidates())
        if identifier == "xformers":
            return tuple(self._xformers_candidates())
        if identifier == "flash-attn":
            return tuple(self._flash_attn_candidates())
        if identifier in FRAMEWORKS:
            return tuple(framework_candidates(self, identifier))
        return ()

    def available(self, candidate: object) -> bool:
        """Whether a candidate can be installed: always in a stack resolution; in a full-closure
        one, when the index has a file of it that fits the target (checked lazily, in the order
        the provider tries candidates, so only the pages of likely builds are fetched)."""
        if self.indexed is None or isinstance(candidate, (HostCandidate, IndexCandidate)):
            return True
        if isinstance(candidate, ExtrasCandidate):
            return self.available(candidate.base)
        if self.blockers(candidate):
            return True  # the resolver rejects it on a host fact; no need to fetch its index page
        return bool(self.files_of(candidate))

    def files_of(self, candidate: object) -> tuple[DistFile, ...]:
        """The files of a candidate (full-closure resolutions only; () in a stack one)."""
        if isinstance(candidate, IndexCandidate):
            return candidate.files
        if self.indexed is None:
            return ()
        found = self._files.get(candidate)
        if found is None:
            found = self._files[candidate] = self._stack_files(candidate)
        return found

    def _stack_files(self, candidate: object) -> tuple[DistFile, ...]:
        assert self.indexed is not None
        if isinstance(candidate, FlashAttnCandidate):
            if candidate.wheel is not None:
                return (_url_file(candidate.wheel.url, candidate.version),)
            page = self.indexed.finder.find("flash-attn", self.indexed.config.indexes_for("flash-attn"))
            return tuple(f for f in page.files if f.version == candidate.version and f.kind == "sdist")[:1]
        if isinstance(candidate, FrameworkCandidate):
            page = self.indexed.finder.page(self.index_of(candidate), candidate.package)
            return self.indexed.files_of_version(page, candidate.locked_version)
        if not isinstance(candidate, (TorchCandidate, PackageCandidate)):
            return ()
        index = self.index_of(candidate)
        page = self.indexed.finder.page(index, candidate.identifier)
        return self.indexed.files_of_version(page, candidate.version)

    def index_of(self, candidate: object) -> Index:
        """The index a stack candidate comes from in a full-closure resolution: its variant's
        PyTorch index (under the configured base, so a mirror replaces it), else the default."""
        assert self.indexed is not None
        config = self.indexed.config
        if isinstance(candidate, IndexCandidate):
            return candidate.index
        if isinstance(candidate, FrameworkCandidate):
            if candidate.index == PYPI_INDEX:
                return config.indexes_for(candidate.package)[0]
            if candidate.find_links:
                return config.paddle_find_links(candidate.index)
            return config.paddle(candidate.index)
        variant = None
        if isinstance(candidate, TorchCandidate) and self.local_labels:
            variant = candidate.build.variant
        elif isinstance(candidate, PackageCandidate) and candidate.variant is not None and self.local_labels:
            variant = candidate.variant
        if variant is not None:
            return config.pytorch(variant.name)
        return config.indexes_for(getattr(candidate, "identifier", ""))[0]

    def _torch_candidates(self) -> Iterator[TorchCandidate]:
        for release in self.matrix.torch_releases:  # newest first
            for build in release.builds:  # verified first, then best variant
                if self.host.platform in build.platforms:
                    abi = release.cxx11_abi(self.host.platform, build.variant.name)
                    yield TorchCandidate(release, build, self.local_labels, abi)

    def _paired_candidates(self, name: str) -> Iterator[PackageCandidate]:
        """Exact-pinned releases come per variant from the variant index (``0.22.1+cu128``);
        range-pinned or unpinned ones only as PyPI's wheel (see PypiBuildRequirement)."""
        for companion in self.matrix.companions[name]:
            exact = companion.exact_torch
            if exact is None:
                yield PackageCandidate(name, companion.version, Version("0"), None, PYPI_INDEX, companion.source)
                continue
            release = self.matrix.torch_release(exact)
            if release is None:
                continue
            for build in release.builds:
                if self.host.platform not in build.platforms:
                    continue
                label = Version(f"{companion.version}+{build.variant.name}") if self.local_labels else companion.version
                yield PackageCandidate(name, label, exact, build.variant, self.index_for(build), companion.source)

    def _triton_candidates(self) -> Iterator[PackageCandidate]:
        for release in self.matrix.triton_releases:
            yield PackageCandidate("triton", release.version, Version("0"), None, PYPI_INDEX, release.source)

    def _xformers_candidates(self) -> Iterator[PackageCandidate]:
        for xf in self.matrix.xformers_releases:
            yield PackageCandidate("xformers", xf.version, Version("0"), None, PYPI_INDEX, xf.source)

    def _flash_attn_candidates(self) -> Iterator[FlashAttnCandidate]:
        """Newest release first; within a release, wheels in the order of the torch build they
        fit (so the extension follows the framework's preference instead of dragging torch to
        whichever wheel comes first), newest Python first."""
        rank: dict[tuple[str, int | None, bool | None], int] = {}
        for i, torch in enumerate(self._candidates("torch")):
            assert isinstance(torch, TorchCandidate)
            key = (f"{torch.release.version.major}.{torch.release.version.minor}", torch.build.variant.cuda_major, torch.cxx11_abi)
            rank.setdefault(key, i)
        unmatched = len(rank) + 1
        for release in self.matrix.flash_attn_releases:
            wheels = [w for w in release.wheels if w.platform == self.host.platform]
            wheels.sort(key=lambda w: (rank.get((w.torch_minor, w.cuda_major, w.cxx11_abi), unmatched), -Version(w.python).minor))
            for wheel in wheels:
                yield FlashAttnCandidate(release, wheel)
        if self.policy.source_builds:
            for release in self.matrix.flash_attn_releases:
                yield FlashAttnCandidate(release, None)

    def index_for(self, build: TorchBuild) -> str:
        """The index a build comes from: its variant's PyTorch index; PyPI for macOS wheels."""
        return PYPI_INDEX if not self.local_labels else build.variant.index

    # --- dependencies ------------------------------------------------------------------------

    def dependencies(self, candidate: object) -> list[object]:
        """What a candidate needs: compat rules as requirements on host facts and packages.

        Cached per candidate, so the same requirement objects come back each time."""
        found = self._dependencies.get(candidate)
        if found is None:
            found = self._dependencies[candidate] = self._compute_dependencies(candidate)
        return found

    def _compute_dependencies(self, candidate: object) -> list[object]:
        if isinstance(candidate, ExtrasCandidate):
            base = candidate.base
            pin = PackageRequirement(
                base.identifier, SpecifierSet(f"=={base.version}"), f"{candidate.identifier} is {base.identifier} with extras",  # type: ignore[attr-defined]
            )
            return [pin, *self._metadata_dependencies(base, candidate.extras)]
        rules = self._matrix_dependencies(candidate)
        if self.indexed is not None and self.host_blockers(rules):
            return rules  # rejected on a host fact: its metadata (and index page) are not needed
        metadata = self._metadata_dependencies(candidate)
        if isinstance(candidate, FrameworkCandidate) and candidate.extras:
            # A framework build is the package with its extra (``tensorflow[and-cuda]``): the
            # base's requirements and the extra's.
            metadata += self._metadata_dependencies(candidate, frozenset(candidate.extras))
        return rules + metadata

    @functools.cache  # noqa: B019 - a factory lives for one resolution
    def _matrix_dependencies(self, candidate: object) -> list[object]:
        """The compatibility rules of a stack candidate (no index access)."""
        if isinstance(candidate, TorchCandidate):
            deps = self._torch_dependencies(candidate.release, candidate.build)
        elif isinstance(candidate, PackageCandidate):
            deps = self._package_dependencies(candidate)
        elif isinstance(candidate, FlashAttnCandidate):
            deps = self._flash_attn_dependencies(candidate)
        elif isinstance(candidate, FrameworkCandidate):
            deps = framework_dependencies(self, candidate)
        else:
            deps = []
        return deps

    def _metadata_dependencies(self, candidate: object, extras: frozenset[str] = frozenset()) -> list[object]:
        """A full-closure resolution adds each package's own Requires-Dist (and Requires-Python)."""
        if self.indexed is None or isinstance(candidate, HostCandidate):
            return []
        files = self.files_of(candidate)
        if not files:
            return []
        metadata = self.indexed.metadata(files[0])
        if metadata is None:  # offline and not cached: recorded; nothing satisfies it
            return [PythonRequirement(frozenset(), f"{candidate.format_for_error()} (metadata not in the offline cache)")]  # type: ignore[attr-defined]
        return self.indexed.requirements(candidate.format_for_error(), metadata, extras)  # type: ignore[attr-defined]

    def _torch_dependencies(self, release: TorchRelease, build: TorchBuild) -> list[object]:
        origin = f"torch {release.version} {build.variant.name} build"
        variant = build.variant
        deps: list[object] = [
            PlatformRequirement(build.platforms, origin),
            PythonRequirement(frozenset(release.python.get(self.host.platform, ())), origin),
        ]
        if variant.kind == "cuda":
            assert variant.cuda is not None
            deps.append(AcceleratorRequirement(frozenset({"cuda"}), origin))
            deps.append(self.driver_requirement(variant.cuda, origin))
            deps.append(GpuArchRequirement(build.sm, build.ptx, f"{variant.name} {build.arch_summary}", origin))
            if release.triton is not None and self._triton_applies(release):
                deps.append(PackageRequirement("triton", Pep508(release.triton).specifier, f"{origin} requires {release.triton}"))
        elif variant.kind == "cpu":
            kinds = {"cpu", "mps"} | ({"cuda", "rocm", "xpu"} if self.forced_cpu else set())
            deps.append(AcceleratorRequirement(frozenset(kinds), origin))
        elif variant.kind == "rocm":
            deps.append(AcceleratorRequirement(frozenset({"rocm"}), origin))
            deps.append(GfxRequirement(build.gfx, f"torch {release.version} {variant.name}", origin))
        else:  # xpu: the Intel GPU families of a build are not in aienv's data
            deps.append(AcceleratorRequirement(frozenset({variant.kind}), origin))
        return deps

    def _triton_applies(self, release: TorchRelease) -> bool:
        """Whether torch's triton requirement holds on this target: its marker evaluated for the
        target's platform and any Python the target allows (conservative: required if any)."""
        if not release.triton_marker:
            return self.host.platform in _TRITON_PLATFORMS
        marker = Marker(release.triton_marker)
        return any(marker.evaluate(target_environment(self.host.platform, py)) for py in self.python_versions)

    def driver_floor(self, cuda: Version) -> DriverFloor:
        """The driver floor of a CUDA runtime on this target under the spec's policy.

        With no sourced floor the result is unverified and unreachable (9999): only a target
        with an undeclared driver accepts such a build."""
        floor = self.matrix.driver_floor(cuda, self.host.platform, self.policy.driver_compat)
        if floor is None:
            os = "windows" if self.host.platform.startswith("windows") else "linux"
            floor = DriverFloor(str(cuda), DriverVersion("9999"), "toolkit", os, "", verified=False)
        return floor

    def driver_requirement(self, cuda: Version, origin: str) -> DriverRequirement:
        return DriverRequirement(self.driver_floor(cuda), origin)

    def pythons_for(self, requires_python: str | None) -> tuple[str, ...]:
        """The target's allowed Pythons that a Requires-Python admits (all for None or "")."""
        allowed = SpecifierSet(requires_python or "")
        return tuple(p for p in self.python_versions if python_allows(allowed, p))

    def torch_candidate(self, build: TorchBuild) -> TorchCandidate | None:
        """The factory's own candidate for a build (None when the target's platform lacks it)."""
        return next((c for c in self._candidates("torch") if c.build is build), None)  # type: ignore[attr-defined]

    def _package_dependencies(self, candidate: PackageCandidate) -> list[object]:
        name = candidate.identifier
        origin = f"{name} {candidate.version}"
        if name in _PAIRED and candidate.variant is None:
            companion = next(c for c in self.matrix.companions[name] if c.version == candidate.version)
            deps: list[object] = [PypiBuildRequirement(f"{origin} from PyPI is built against PyPI's torch", self.host.platform)]
            if companion.torch:
                deps.append(PackageRequirement(
                    "torch", Pep508(companion.torch).specifier, f"{origin} requires {companion.torch} (PyPI metadata)"
                ))
            elif name == "torchaudio":
                # torchaudio >= 2.11 declares no torch requirement. Its versions follow torch's
                # (2.0 onward), so pair it with the same minor series: never an older torch.
                series = f"=={companion.version.major}.{companion.version.minor}.*"
                deps.append(PackageRequirement("torch", SpecifierSet(series), f"{origin} (no torch pin declared; same release series)"))
            return deps
        if name in _PAIRED:
            assert candidate.variant is not None
            return [
                PackageRequirement(
                    "torch", SpecifierSet(f"=={candidate.torch}"), f"{origin} pairs with torch {candidate.torch} (PyPI metadata)",
                    variant=candidate.variant.name,
                ),
            ]
        if name == "triton":
            triton = next(t for t in self.matrix.triton_releases if t.version == candidate.version)
            return [
                PlatformRequirement(frozenset(triton.python), f"{origin} wheels on PyPI"),
                PythonRequirement(frozenset(triton.python.get(self.host.platform, ())), f"{origin} wheels on PyPI"),
            ]
        if name == "xformers":
            xf = next(x for x in self.matrix.xformers_releases if x.version == candidate.version)
            torch_req = Pep508(xf.torch)
            plats = xf.python
            pythons = plats.get(self.host.platform, ())
            if pythons is None:
                pythons = self.pythons_for(xf.requires_python)
            return [
                PlatformRequirement(frozenset(plats), f"{origin} wheels on PyPI"),
                PythonRequirement(frozenset(pythons), f"{origin} wheels on PyPI"),
                PackageRequirement("torch", torch_req.specifier, f"{origin} requires {xf.torch} (PyPI metadata)"),
                PypiBuildRequirement(f"{origin} wheels are built against PyPI's torch", self.host.platform),
            ]
        return []

    def _flash_attn_dependencies(self, candidate: FlashAttnCandidate) -> list[object]:
        release, wheel = candidate.release, candidate.wheel
        floor = GpuFloorRequirement(release.min_cc, f"flash-attn {release.version} (FlashAttention-2 needs sm80+)")
        cuda = AcceleratorRequirement(frozenset({"cuda"}), f"flash-attn {release.version}")
        if wheel is None:
            pythons = self.pythons_for(release.requires_python)
            return [
                PlatformRequirement(_FLASH_ATTN_SOURCE_PLATFORMS, f"flash-attn {release.version} source build"),
                PythonRequirement(frozenset(pythons), f"flash-attn {release.version} requires-python"),
                cuda,
                floor,
                PackageRequirement("torch", SpecifierSet(), f"flash-attn {release.version} source build", any_cuda=True),
            ]
        origin = f"flash-attn wheel {wheel.filename}"
        return [
            PlatformRequirement(frozenset({wheel.platform}), origin),
            PythonRequirement(frozenset({wheel.python}), origin),
            cuda,
            floor,
            PackageRequirement(
                "torch", SpecifierSet(f"=={wheel.torch_minor}.*"), origin,
                cuda_major=wheel.cuda_major, cxx11_abi=wheel.cxx11_abi,
            ),
        ]

    # --- checks used by explanations and reasons -----------------------------------------------

    def blockers(self, candidate: object) -> list[object]:
        """The compatibility rules of a candidate this host cannot meet. Only the matrix's rules
        are looked at, so explaining a build never fetches its index page or metadata."""
        return self.host_blockers(self._matrix_dependencies(candidate))

    def host_blockers(self, deps: Iterable[object]) -> list[object]:
        """The host-fact requirements among ``deps`` that this host cannot meet."""
        out = []
        for dep in deps:
            identifier = getattr(dep, "identifier", "")
            if identifier in HOST_IDENTIFIERS:
                if not any(dep.is_satisfied_by(c) for c in self.host_candidates[identifier]):  # type: ignore[attr-defined]
                    out.append(dep)
        return out


def _url_file(url: str, version: Version) -> DistFile:
    """A file known only by its URL (a release asset): no hash from an index."""
    from packaging.utils import parse_wheel_filename

    filename = url.rsplit("/", 1)[-1]
    name, _, _, tags = parse_wheel_filename(filename)
    return DistFile(filename=filename, url=url, name=name, version=version, kind="wheel", tags=tags)


class PypiBuildRequirement:
    """A compiled extension from PyPI (xformers, a range-pinned torchvision) is built against
    PyPI's torch, so torch must be the variant PyPI's torch carries on that platform
    (conservative: whether it runs with other variants is not verified)."""

    identifier = "torch"

    def __init__(self, origin: str, platform: str) -> None:
        self.origin = origin
        self.platform = platform

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PypiBuildRequirement) and (other.origin, other.platform) == (self.origin, self.platform)

    def __hash__(self) -> int:
        return hash((self.origin, self.platform))

    def is_satisfied_by(self, candidate: object) -> bool:
        if not isinstance(candidate, TorchCandidate):
            return False
        pypi = candidate.release.pypi_cuda.get(self.platform)
        variant = candidate.build.variant
        if pypi is None:
            return False
        if pypi == "cpu":
            return variant.kind == "cpu"
        return variant.cuda is not None and f"{variant.cuda.major}.{variant.cuda.minor}" == pypi

    def format_for_error(self) -> str:
        return f"torch in the variant PyPI's torch carries on {self.platform}"
