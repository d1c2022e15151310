"""The checks of ``aienv doctor``: pure functions of (the probed environment, the host, the lock).

Each check takes a :class:`Context` and yields :class:`~envspec.doctor.findings.Finding`s; none
of them runs anything, so each is tested with an ``Environment`` and a ``Host`` built in the
test. :func:`diagnose` runs them all in order. Facts about builds (driver floors, arch lists,
flash-attn wheels, companion pins) come from the embedded matrix, as in the resolver.

Every code a check may emit is listed, with its severity and meaning, in
:data:`envspec.doctor.findings.CODES` (a test keeps that table and the checks in step).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ..host import Host
from ..lockfile import LockedTarget
from ..matrix import Arch, Matrix, TorchBuild, get_matrix, has_kernels
from ._context import Context
from ._fixes import find_flash_attn_wheel, parse_version, torch_pin
from ._frameworks import check_frameworks, check_system_libraries
from ._lock import check_lock
from .environment import Environment
from .findings import Finding, sort_findings

__all__ = ["CHECKS", "Context", "diagnose"]


def _torch_label(ctx: Context) -> str:
    return f"torch {ctx.torch_version or (ctx.torch.version if ctx.torch else '?')}"


# --- the probe and torch itself ---------------------------------------------------------------


def check_probe(ctx: Context) -> Iterator[Finding]:
    env = ctx.env
    if env.incomplete:
        step = re.search(r"during step '(\w+)'", env.incomplete)
        what = {"torch": "import torch; import torch.cuda; torch.cuda.is_available()", "imports": "import torchvision, flash_attn"}
        reproduce = what.get(step.group(1)) if step else None
        yield Finding(
            "probe-incomplete", "error",
            f"the environment's Python did not finish the probe: {env.incomplete}",
            {"python": env.python, "reason": env.incomplete, "last-output": env.stderr_tail},
            f"{ctx.shell.quote(env.python)} -X faulthandler -c {ctx.shell.quote(reproduce)}" if reproduce
            else f"run {ctx.shell.quote(env.python)} -c {ctx.shell.quote('import sys; print(sys.version)')} to see why it fails",
        )
    for step, error in env.step_errors.items():
        yield Finding(
            "probe-step-failed", "warning", f"the probe could not read {step}: {error}",
            {"step": step, "error": error}, None,
        )


def check_torch(ctx: Context) -> Iterator[Finding]:
    t = ctx.torch
    if t is None:
        if not ctx.env.incomplete:
            yield Finding(
                "torch-not-installed", "info", "torch is not installed in this environment",
                {"python": ctx.env.python}, None,
            )
        return
    if t.import_error:
        yield Finding(
            "torch-import-error", "error", f"import torch fails: {_short_error(t.import_error)}",
            {"torch": ctx.env.version_of("torch"), "error": t.import_error},
            ctx.lock_fix(["torch"]) or _reinstall_torch(ctx),
        )


def _reinstall_torch(ctx: Context) -> str:
    """Reinstall the installed build, with its dependencies (the nvidia-* libraries), from its index."""
    v = ctx.torch_version
    if v is None:
        return ctx.shell.pip("install", "--force-reinstall", "torch")
    variant = ctx.matrix.variants.get(str(v.local)) if v.local else None
    index = ("--index-url", variant.index) if variant is not None else ()
    return ctx.shell.pip("install", "--force-reinstall", f"torch=={v}", *index)


def check_torch_build(ctx: Context) -> Iterator[Finding]:
    t = ctx.torch
    if t is None or not t.imported or t.cuda or t.hip or not ctx.host.gpus:
        return
    gpus = [name for name, _ in ctx.gpus]
    yield Finding(
        "torch-cpu-build", "error",
        f"{_torch_label(ctx)} is a CPU build, but this machine has an NVIDIA GPU ({', '.join(gpus)}): "
        "torch.cuda fails with \"Torch not compiled with CUDA enabled\"",
        {"torch": t.version, "torch.version.cuda": None, "gpus": gpus,
         "driver": str(ctx.host.driver) if ctx.host.driver else None},
        ctx.cuda_build_fix() or "install a CUDA build of torch from https://download.pytorch.org/whl/cuXYZ (https://pytorch.org/get-started/locally/)",
    )


def _driver_floor(ctx: Context, policy: str | None = None):  # -> DriverFloor | None
    t = ctx.torch
    if t is None or not t.cuda or ctx.host.driver is None:
        return None
    cuda = parse_version(t.cuda)
    return ctx.matrix.driver_floor(cuda, ctx.host.platform, policy or ctx.policy) if cuda else None  # type: ignore[arg-type]


def check_driver(ctx: Context) -> Iterator[Finding]:
    floor = _driver_floor(ctx)
    driver = ctx.host.driver
    if floor is None or driver is None or driver >= floor.driver or not ctx.torch:
        return
    other = ctx.cuda_build_fix()
    upgrade = f"upgrade the NVIDIA driver to >= {floor.driver}"
    yield Finding(
        "driver-too-old", "error",
        f"the NVIDIA driver {driver} is older than {floor.driver}, which {_torch_label(ctx)} (CUDA {ctx.torch.cuda}) needs "
        f"({floor.cuda}, {floor.policy} floor)",
        {"driver": str(driver), "torch": str(ctx.torch_version), "torch.version.cuda": ctx.torch.cuda,
         "driver-floor": str(floor.driver), "policy": floor.policy, "floor-source": floor.source,
         "torch-warnings": list(ctx.torch.warnings)},
        f"{upgrade}; or install a build this driver runs: {other}" if other else upgrade,
    )


def _arch_list(ctx: Context) -> tuple[tuple[Arch, ...], tuple[Arch, ...], list[str], str] | None:
    """(cubin archs, PTX archs, the list as text, where it came from), or None when unknown."""
    t = ctx.torch
    assert t is not None
    if t.arch_list:
        sm, ptx = [], []
        for entry in t.arch_list:
            try:
                if entry.startswith("sm_"):
                    sm.append(Arch.parse(entry))
                elif entry.startswith("compute_"):
                    ptx.append(Arch.parse(entry.removeprefix("compute_")))
            except ValueError:
                continue
        return tuple(sm), tuple(ptx), list(t.arch_list), "torch.cuda.get_arch_list()"
    build = _installed_build(ctx)
    if build is None:
        return None
    listed = [a.sm for a in build.sm] + [f"compute_{p.major}{p.minor}" for p in build.ptx]
    return build.sm, build.ptx, listed, f"aienv's data for torch {build.torch}+{build.variant.name} (torch reports none without a usable GPU)"


def _installed_build(ctx: Context) -> TorchBuild | None:
    if ctx.torch_version is None or ctx.torch_variant is None:
        return None
    build = ctx.matrix.torch_build(ctx.torch_version, ctx.torch_variant, ctx.host.platform)
    return build if build is not None and build.sm else None


def check_kernels(ctx: Context) -> Iterator[Finding]:
    t = ctx.torch
    if t is None or not t.imported or not t.cuda or not ctx.gpus:
        return
    arch = _arch_list(ctx)
    if arch is None:
        return
    sm, ptx, listed, source = arch
    toolkit = _driver_floor(ctx, "toolkit")
    seen = set()
    for name, cc in ctx.gpus:
        if cc in seen:
            continue
        seen.add(cc)
        evidence = {"gpu": name, "compute-capability": str(cc), "torch": str(ctx.torch_version), "arch-list": listed, "arch-list-source": source}
        if not has_kernels(sm, ptx, cc):
            yield Finding(
                "gpu-arch-not-in-build", "error",
                f"{_torch_label(ctx)} has no kernels for {name}: neither {cc.sm} code nor older PTX in its arch list "
                "(\"no kernel image is available for execution on the device\")",
                evidence,
                ctx.cuda_build_fix() or f"upgrade torch to a release whose builds include {cc.sm} (https://pytorch.org/get-started/locally/)",
            )
        elif not any(a.cubin_runs_on(cc) for a in sm) and toolkit is not None and ctx.host.driver is not None and ctx.host.driver < toolkit.driver:
            yield Finding(
                "ptx-jit-needs-newer-driver", "error",
                f"{name} runs {_torch_label(ctx)} only by JIT-compiling its PTX, and driver {ctx.host.driver} is older than "
                f"the CUDA {t.cuda} toolkit's {toolkit.driver}: minor-version compatibility does not cover PTX JIT",
                {**evidence, "driver": str(ctx.host.driver), "toolkit-driver": str(toolkit.driver)},
                f"upgrade the NVIDIA driver to >= {toolkit.driver}; or install a build with {cc.sm} code"
                + (f": {fix}" if (fix := ctx.cuda_build_fix()) else ""),
            )


def check_cuda_available(ctx: Context) -> Iterator[Finding]:
    t = ctx.torch
    if t is None or not t.imported or not t.cuda or t.cuda_available is not False:
        return
    visible = ctx.env.env.get("CUDA_VISIBLE_DEVICES")
    evidence = {"torch": str(ctx.torch_version), "torch.cuda.is_available()": False, "torch-warnings": list(t.warnings),
                "CUDA_VISIBLE_DEVICES": visible, "gpus": [n for n, _ in ctx.gpus]}
    hides_all = visible is not None and (not visible.strip() or visible.strip().startswith("-1"))
    if not ctx.host.gpus:
        # Detection applies CUDA_VISIBLE_DEVICES too: a host "without GPUs" may be one whose GPUs it hides.
        if hides_all:
            yield Finding(
                "cuda-visible-devices-hides-gpus", "warning",
                f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU: {_torch_label(ctx)} (CUDA {t.cuda}) sees none",
                evidence, "unset CUDA_VISIBLE_DEVICES (or set it to the GPUs to use, e.g. CUDA_VISIBLE_DEVICES=0)",
            )
        return
    if hides_all:
        fix = f"unset CUDA_VISIBLE_DEVICES (it is {visible!r}, which hides every GPU)"
    else:
        fix = ("run `nvidia-smi` as this user: if it fails, the driver is not loaded (reboot after a driver install; in a "
               "container, start it with `--gpus all`); if it works, read torch's warning in the evidence")
    yield Finding(
        "cuda-not-available", "error",
        f"{_torch_label(ctx)} is a CUDA {t.cuda} build, but torch.cuda.is_available() is False on this GPU machine",
        evidence, fix,
    )


def check_rocm(ctx: Context) -> Iterator[Finding]:
    """torch on a machine with AMD GPUs, for a ROCm target (or no target to say otherwise): a
    ROCm build (``torch.version.hip``), that sees the GPUs (ROCm builds answer through
    ``torch.cuda``), with every GPU's gfx in its arch list (``get_arch_list()`` names gfx targets)."""
    t, amd = ctx.torch, ctx.host.amd_gpus
    if t is None or not t.imported or not amd or (ctx.target is not None and ctx.target.accelerator != "rocm"):
        return
    gfx = sorted({g.gfx for g in amd})
    evidence = {"torch": t.version, "torch.version.hip": t.hip, "gpus": ", ".join(gfx)}
    if not t.hip:
        yield Finding(
            "torch-not-rocm-build", "error",
            f"{_torch_label(ctx)} is {'a CUDA ' + t.cuda + ' build' if t.cuda else 'a CPU build'} on a machine with AMD GPUs ({', '.join(gfx)})",
            evidence, ctx.lock_fix(["torch", "torchvision", "torchaudio"])
            or "install a ROCm build from PyTorch's rocmX.Y index whose gfx list has these GPUs (`aienv lock` picks it)",
        )
        return
    if t.cuda_available is False:
        yield Finding(
            "rocm-not-available", "error",
            f"{_torch_label(ctx)} is a ROCm {t.hip} build, but torch.cuda.is_available() is False on this machine with AMD GPUs",
            {**evidence, "torch-warnings": list(t.warnings), "HIP_VISIBLE_DEVICES": ctx.env.env.get("HIP_VISIBLE_DEVICES")},
            "check that `rocm-smi` lists the GPUs and that this user is in the render and video groups",
        )
        return
    archs = {a.split(":")[0] for a in t.arch_list}
    missing = [g for g in gfx if archs and g not in archs]
    if missing:
        yield Finding(
            "gpu-arch-not-in-build", "error",
            f"{_torch_label(ctx)} has no kernels for {', '.join(missing)} (its arch list: {', '.join(sorted(archs))})",
            {**evidence, "arch-list": sorted(archs)},
            ctx.lock_fix(["torch"]) or "install a ROCm build whose gfx list has these GPUs (`aienv lock` picks it)",
        )


# --- companions and extensions ----------------------------------------------------------------


def check_companions(ctx: Context) -> Iterator[Finding]:
    torch = ctx.torch_version
    if torch is None or ctx.env.version_of("torch") is None:
        return
    release = ctx.matrix.torch_release(torch.public)
    for name in ("torchvision", "torchaudio", "xformers"):
        dist = ctx.env.distributions.get(name)
        if dist is None:
            continue
        version = parse_version(dist.version)
        pin = torch_pin(dist.requires)
        pin_source = "its metadata (Requires-Dist)"
        if pin is None:
            pin, pin_source = _matrix_pin(ctx, name, version), "aienv's data"
        evidence = {name: dist.version, "torch": str(torch), "requires": str(pin) if pin else None, "requires-source": pin_source if pin else None}
        fix = ctx.lock_fix([name]) or _companion_fix(ctx, name, release)
        if pin is not None and not pin.specifier.contains(torch, prereleases=True):
            yield Finding(
                "companion-torch-mismatch", "error",
                f"{name} {dist.version} requires {pin} but torch {torch} is installed",
                evidence, fix,
            )
            continue
        mismatch = _variant_mismatch(ctx, version)
        if mismatch is not None:
            severity, why = mismatch
            yield Finding(
                "companion-variant-mismatch", severity,
                f"{name} {dist.version} and torch {torch} are builds of different variants ({why})",
                {**evidence, f"{name}-variant": version.local if version else None, "torch-variant": ctx.torch_variant},
                fix,
            )
            continue
        result = ctx.env.imports.get(name)
        if result is not None and not result.ok and result.error:
            yield Finding(
                "companion-import-error", "error", f"import {result.module or name} fails: {_first_line(result.error)}",
                {**evidence, "error": result.error}, fix,
            )


def _matrix_pin(ctx: Context, name: str, version: Version | None):  # -> Requirement | None
    from packaging.requirements import Requirement

    if version is None:
        return None
    if name == "xformers":
        rows = [r.torch for r in ctx.matrix.xformers_releases if r.version == version]
    else:
        rows = [c.torch for c in ctx.matrix.companions.get(name, ()) if c.version == Version(version.public)]
    return Requirement(rows[0]) if rows and rows[0] else None


def _variant_mismatch(ctx: Context, version: Version | None) -> tuple[str, str] | None:
    """(severity, why) when the companion's local label names another variant than torch's."""
    theirs, ours = (version.local if version else None), ctx.torch_variant
    if not theirs or not ours or theirs == ours:
        return None
    cuda = re.compile(r"^cu(\d\d)(\d+)$")
    a, b = cuda.match(str(theirs)), cuda.match(ours)
    if a and b and a.group(1) == b.group(1):
        return "warning", f"+{theirs} vs +{ours}: the same CUDA major, but not the pair the indexes publish together"
    return "error", f"+{theirs} vs +{ours}"


def _companion_fix(ctx: Context, name: str, release) -> str | None:  # release: TorchRelease | None
    label = ctx.torch_variant
    if name == "xformers":
        torch = ctx.torch_version
        for row in ctx.matrix.xformers_releases:
            if torch is not None and row.torch.replace(" ", "").startswith("torch==") and SpecifierSet(row.torch[5:].strip()).contains(torch, prereleases=True):
                return ctx.shell.pip("install", "--no-deps", f"xformers=={row.version}")
        return None
    paired = getattr(release, name, None) if release is not None else None
    if paired is None:
        return None
    variant = ctx.matrix.variants.get(label or "")
    if variant is None:
        return ctx.shell.pip("install", "--force-reinstall", "--no-deps", f"{name}=={paired}")
    return ctx.shell.pip("install", "--force-reinstall", "--no-deps", f"{name}=={paired}+{variant.name}", "--index-url", variant.index)


_BUILD_MISMATCH = ("undefined symbol", "cannot open shared object file", "DLL load failed", "version `GLIBCXX")


def check_flash_attn(ctx: Context) -> Iterator[Finding]:
    dist = ctx.env.distributions.get("flash-attn")
    if dist is None:
        return
    version = parse_version(dist.version)
    t = ctx.torch
    result = ctx.env.imports.get("flash_attn")
    if result is not None and not result.ok and result.error:
        mismatch = any(s in result.error for s in _BUILD_MISMATCH)
        evidence = {
            "flash-attn": dist.version, "error": result.error, "torch": str(ctx.torch_version),
            "torch.version.cuda": t.cuda if t else None, "torch._C._GLIBCXX_USE_CXX11_ABI": t.cxx11_abi if t else None,
            "python": ctx.env.python_version,
        }
        yield Finding(
            "flash-attn-build-mismatch" if mismatch else "flash-attn-import-error", "error",
            (f"flash-attn {dist.version} was built for another torch, C++ ABI or CUDA than {_torch_label(ctx)}: "
             if mismatch else f"import {result.module or 'flash_attn'} fails: ") + _short_error(result.error),
            evidence, ctx.lock_fix(["flash-attn"]) or _flash_attn_fix(ctx, version),
        )
    if version is None or version.major < 2:
        return
    floor = next((r.min_cc for r in ctx.matrix.flash_attn_releases), Arch(8, 0))
    old = [(name, cc) for name, cc in ctx.gpus if (cc.major, cc.minor) < (floor.major, floor.minor)]
    if old:
        yield Finding(
            "flash-attn-gpu-unsupported", "error",
            f"flash-attn {dist.version} (FlashAttention-2) needs {floor.sm} or newer; {', '.join(n for n, _ in old)} is older "
            "(\"FlashAttention only supports Ampere GPUs or newer\")",
            {"flash-attn": dist.version, "gpus": [n for n, _ in old], "min-compute-capability": str(floor)},
            ctx.shell.pip("uninstall", "-y", "flash-attn")
            + "  (and use PyTorch's SDPA attention: attn_implementation=\"sdpa\" in transformers)",
        )


def _flash_attn_fix(ctx: Context, version: Version | None) -> str:
    t, torch = ctx.torch, ctx.torch_version
    cuda = parse_version(t.cuda) if t and t.cuda else None
    if torch is None or cuda is None:
        return "install a CUDA build of torch first, then reinstall flash-attn for it"
    abi = t.cxx11_abi if t else None
    wheel = find_flash_attn_wheel(
        ctx.matrix, prefer=version, torch=torch, cuda_major=cuda.major, cxx11_abi=abi,
        python=ctx.env.python_minor, platform=ctx.host.platform,
    )
    if wheel is not None:
        return ctx.shell.pip("install", "--force-reinstall", "--no-deps", wheel.url)
    pin = f"flash-attn=={version}" if version else "flash-attn"
    return (f"MAX_JOBS=4 {ctx.shell.pip('install', '--force-reinstall', '--no-deps', '--no-build-isolation', pin)}"
            f"  (no prebuilt wheel fits torch {torch.major}.{torch.minor}, CUDA {cuda.major}, cxx11abi={abi}: "
            f"this builds it, with nvcc {cuda.major}.x)")


# --- the machine around the environment: LD_LIBRARY_PATH, nvcc --------------------------------

_WHEEL_LIB = re.compile(r"^nvidia-(cudnn|cuda-runtime|cublas)(?:-cu\d+)?$")
_KIND = {"cudnn": "cudnn", "cuda-runtime": "cudart", "cublas": "cublas"}
_LIB_NAME = {"cudnn": "cuDNN", "cudart": "the CUDA runtime", "cublas": "cuBLAS"}


def check_library_path(ctx: Context) -> Iterator[Finding]:
    wheels = {}
    for dist in ctx.env.distributions.values():
        m = _WHEEL_LIB.match(dist.name)
        if m and (v := parse_version(dist.version)) is not None:
            wheels[_KIND[m.group(1)]] = (dist, v)
    loaded = ctx.torch.cudnn_version if ctx.torch else None
    ld_path = ctx.env.env.get("LD_LIBRARY_PATH", "")
    # One finding per directory and library: libcudnn.so.9.0.0 stands for libcudnn_ops.so.9.0.0 too.
    seen = set()
    for lib in sorted(ctx.env.libraries, key=lambda lib: not lib.file.startswith(f"lib{lib.kind}.so")):
        if lib.kind not in wheels or lib.version is None or (lib.directory, lib.kind, lib.version.major) in seen:
            continue
        seen.add((lib.directory, lib.kind, lib.version.major))
        dist, wheel = wheels[lib.kind]
        n = min(len(lib.version.release), 3)
        if lib.version.release[:n] == wheel.release[:n]:
            continue
        rest = [d for d in ld_path.split(":") if d and d.rstrip("/") != lib.directory.rstrip("/")]
        fix = f"export LD_LIBRARY_PATH={ctx.shell.quote(':'.join(rest))}" if rest else "unset LD_LIBRARY_PATH"
        fix += f"  (or remove {lib.directory} from it where it is set)"
        evidence = {"library": f"{lib.directory.rstrip('/')}/{lib.file}", "library-version": str(lib.version),
                    dist.name: dist.version, "LD_LIBRARY_PATH": ld_path}
        if lib.kind == "cudnn" and loaded is not None:
            evidence["torch.backends.cudnn.version()"] = str(loaded)
        name = _LIB_NAME[lib.kind]
        if lib.version.major == wheel.major:
            older = lib.version.release[:n] < wheel.release[:n]
            took = lib.kind == "cudnn" and loaded is not None and loaded.release[:n] == lib.version.release[:n]
            yield Finding(
                "system-lib-shadows-wheel", "error" if older or took else "warning",
                f"{lib.file} ({name} {lib.version}) on LD_LIBRARY_PATH is loaded instead of {dist.name} {dist.version}, the "
                f"copy torch was installed with" + (f"; torch reports cuDNN {loaded}" if took else "")
                + ("; it is older, and torch refuses or breaks on it" if older else ""),
                evidence, fix,
            )
        else:
            yield Finding(
                "system-lib-other-major", "warning",
                f"LD_LIBRARY_PATH holds {name} {lib.version} ({lib.file}) beside {dist.name} {dist.version}: torch loads its "
                f"own, but anything linked against {name} {lib.version.major} loads the system copy into the same process",
                evidence, fix,
            )


def check_nvcc(ctx: Context) -> Iterator[Finding]:
    target = ctx.target
    if target is None:
        return
    builds = [p for p in target.packages if p.build is not None]
    if not builds:
        return
    t = ctx.torch
    want = parse_version(t.cuda) if t and t.cuda else parse_version(target.cuda)
    major = builds[0].build.nvcc_major or (want.major if want else None)  # type: ignore[union-attr]
    if major is None:
        return
    cuda = f"{want.major}.{want.minor}" if want and want.major == major else f"{major}"
    install = f"conda install -c conda-forge 'cuda-nvcc={cuda}'"
    planned = ", ".join(f"{p.name} {p.version}" for p in builds)
    nvcc = ctx.env.effective_nvcc
    if nvcc is None or nvcc.release is None:
        yield Finding(
            "nvcc-missing", "error",
            f"the lock builds {planned} from source, which needs nvcc {major}.x, and "
            + (f"{nvcc.path} ({nvcc.source}) does not run: {nvcc.error}" if nvcc else "there is no nvcc on PATH or in CUDA_HOME"),
            {"planned": planned, "nvcc-major": major, "nvcc": nvcc.path if nvcc else None, "CUDA_HOME": ctx.env.env.get("CUDA_HOME")},
            f"install the CUDA {cuda} compiler and put it on PATH (or set CUDA_HOME to it): {install}",
        )
        return
    if nvcc.release.major != major:
        yield Finding(
            "nvcc-cuda-mismatch", "error",
            f"the lock builds {planned} from source with nvcc {major}.x (torch's CUDA), but the nvcc found is "
            f"{nvcc.release} ({nvcc.path}, from {nvcc.source})",
            {"planned": planned, "nvcc-major": major, "nvcc": nvcc.path, "nvcc-release": str(nvcc.release),
             "nvcc-source": nvcc.source, "torch.version.cuda": t.cuda if t else None},
            f"put a CUDA {major}.x nvcc first (export CUDA_HOME=/usr/local/cuda-{cuda} PATH=/usr/local/cuda-{cuda}/bin:$PATH), "
            f"or {install}",
        )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else text


_LOADER_ERROR = re.compile(r"(undefined symbol: \S+|[\w.+-]+: cannot open shared object file|DLL load failed[^\n]*)")


def _short_error(text: str) -> str:
    """The loader's own words, without the long path before them (the evidence keeps it all)."""
    m = _LOADER_ERROR.search(text)
    return m.group(1)[:200] if m else _first_line(text)


# --- running them -----------------------------------------------------------------------------


CHECKS: tuple[Callable[[Context], Iterator[Finding]], ...] = (
    check_probe,
    check_torch,
    check_torch_build,
    check_driver,
    check_kernels,
    check_cuda_available,
    check_rocm,
    check_companions,
    check_flash_attn,
    check_library_path,
    check_nvcc,
    check_system_libraries,
    check_frameworks,
    check_lock,
)

#: A finding left out when another explains it.
_EXPLAINED_BY = {
    "cuda-not-available": {"driver-too-old", "torch-cpu-build"},
    "framework-no-gpu": {"driver-too-old", "system-library-missing"},
    "paddle-run-check-failed": {"system-library-missing"},
}


def diagnose(
    env: Environment,
    host: Host,
    target: LockedTarget | None = None,
    *,
    target_name: str | None = None,
    lock_name: str = "aienv.lock",
    matrix: Matrix | None = None,
) -> list[Finding]:
    """Every finding about ``env`` on ``host`` (and against the lock's ``target``), most severe
    first. Pure: reads nothing but its arguments and the embedded matrix."""
    ctx = Context(env, host, matrix or get_matrix(), target, target_name, lock_name)
    found = [f for check in CHECKS for f in check(ctx)]
    codes = {f.code for f in found}
    return sort_findings(f for f in found if not (_EXPLAINED_BY.get(f.code, set()) & codes))
