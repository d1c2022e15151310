"""``detect()``: build the report, and the ``Host``, for this machine.

The order, each step logged at debug level and recorded in ``Detection.sources``:

0. The interpreter that will run the environment (this one, or ``python=``): platform, version,
   glibc. Then ``/proc/version`` (Linux): WSL 1 or 2.
1. Overrides: ``driver=`` / ``gpus=`` (the CLI's ``--driver`` / ``--gpu``), else the environment
   variables ``AIENV_DRIVER`` and ``AIENV_GPUS`` (comma-separated model names or compute
   capabilities; ``none`` for no GPU). An override fixes that fact; probes fill in the others.
   With the GPUs given, no hardware is probed for them, and ``CUDA_VISIBLE_DEVICES`` is not applied.
2. NVML through ``nvidia-ml-py``, when it is installed: the driver and every GPU.
3. ``nvidia-smi --query-gpu``, when NVML was not there or failed (on ``PATH``, else, under
   WSL, ``/usr/lib/wsl/lib/nvidia-smi``).
4. ``/sys/module/nvidia/version``, then ``/proc/driver/nvidia/version``: the loaded kernel
   module; the driver when 2 and 3 gave none, and a cross-check when they did.
5. ``CUDA_VISIBLE_DEVICES`` narrows the GPUs found in 2 or 3.
6. ``rocm_agent_enumerator`` (AMD ``gfx`` targets) and ``lspci -nnk`` (or, without ``lspci``,
   ``/sys/bus/pci/devices``): other accelerators, and the hint that a GPU is present with no
   driver loaded. These never change the ``Host``.

A missing tool is a ``missing`` source, a failing one an ``error``, a hanging one a ``timeout``
(each tool gets ``timeout`` seconds): detection itself fails only for a bad override or an
unusable ``python=`` (:class:`~envspec.errors.HostError`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion

from ..errors import HostError
from ..host import AmdGpu, Gpu, Host, IntelGpu, resolve_gpu
from ..matrix import DriverVersion, Matrix
from . import kernel_module, nvidia_smi, nvml, pci, rocm
from ._report import Detection, NvidiaGpu, PciDevice, SourceResult, Status
from ._tools import ToolTimeout, find_tool, run_tool
from .system import parse_wsl, platform_name, probe_python
from .visible import apply_visible_devices, wants_uuids

__all__ = ["detect"]

log = logging.getLogger("envspec.detect")


class _Sources:
    """The record of sources tried, in order, each logged at debug level as it is recorded."""

    def __init__(self) -> None:
        self.results: list[SourceResult] = []

    def add(self, name: str, status: Status, detail: str = "", seconds: float = 0.0) -> SourceResult:
        result = SourceResult(name, status, detail, seconds)
        self.results.append(result)
        log.debug("detect: %s: %s%s (%.3f s)", name, status, f": {detail}" if detail else "", seconds)
        return result

    @contextmanager
    def timed(self) -> Iterator[Callable[[], float]]:
        start = time.monotonic()
        yield lambda: time.monotonic() - start


def detect(
    *,
    name: str = "this-machine",
    driver: str | None = None,
    gpus: Sequence[str] | None = None,
    python: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    root: str | os.PathLike[str] = "/",
    timeout: float = 5.0,
    matrix: Matrix | None = None,
) -> Detection:
    """Detect this machine (see the module docstring for the order of sources).

    ``driver`` and ``gpus`` are overrides (``gpus=[]`` or ``["none"]``: no GPU); ``python``
    the interpreter to probe (default: this one); ``env`` the environment (default
    ``os.environ``: ``PATH``, ``AIENV_*``, ``CUDA_VISIBLE_DEVICES``); ``root`` where ``/proc``,
    ``/sys`` and the WSL and ROCm tool directories are looked up (tests point it at a fake tree).
    Raises :class:`~envspec.errors.HostError` for a bad override or ``python``.
    """
    if matrix is None:
        from ..matrix import get_matrix

        matrix = get_matrix()
    env = dict(os.environ if env is None else env)
    base = Path(root)
    sources = _Sources()
    notes: list[str] = []

    with sources.timed() as elapsed:
        info = probe_python(None if python is None else os.fspath(python), env=env, timeout=timeout)
    sources.add("python", "ok", f"{info.implementation} {info.version_text} at {info.executable}", elapsed()).used = True
    platform = platform_name(info.sys_platform, info.machine)
    linux = platform.startswith("linux")
    wsl = _wsl(base, sources) if linux else None

    driver_override, gpu_override = _overrides(driver, gpus, env, matrix, sources)
    need_gpus = gpu_override is None
    need_driver = driver_override is None and gpu_override != []
    found_driver: tuple[str, str] | None = None  # (version, source)
    found_gpus: list[NvidiaGpu] | None = None
    gpu_source: str | None = None
    smi_failure: str | None = None
    cvd = env.get("CUDA_VISIBLE_DEVICES")

    nvidia_reason = None
    if not (need_gpus or need_driver):
        nvidia_reason = "not needed: the GPUs and driver were given"
    elif platform.startswith("macos"):
        nvidia_reason = "not on macOS (no CUDA there)"
    if nvidia_reason:
        for source in ("nvml", "nvidia-smi"):
            sources.add(source, "skipped", nvidia_reason)
    else:
        answer = _nvml(matrix, timeout, sources)
        if answer is not None:
            found_gpus, gpu_source = list(answer.gpus), "nvml"
            if answer.driver:
                found_driver = (answer.driver, "nvml")
        if found_gpus is None or (need_driver and found_driver is None):
            smi = _smi(env, base, wsl, matrix, timeout, wants_uuids(cvd) and need_gpus, sources)
            if isinstance(smi, str):
                smi_failure = smi
            elif smi is not None:
                found_gpus, gpu_source = list(smi.gpus), "nvidia-smi"
                if smi.driver:
                    found_driver = (smi.driver, "nvidia-smi")
        else:
            sources.add("nvidia-smi", "skipped", "not needed: NVML answered")
    module = None
    if linux and not nvidia_reason:
        module = _kernel_module(base, sources)
        if module is not None and found_driver is None:
            version, where = module
            if int(version.split(".")[0]) < 100:
                notes.append(f"{where} reports {version}, a Jetson (L4T) release, not a desktop driver version; it is not used as the driver")
            else:
                found_driver = (version, where)
                _mark_used(sources, where)
    elif not nvidia_reason:
        for where in ("/sys/module/nvidia/version", "/proc/driver/nvidia/version"):
            sources.add(where, "skipped", "not Linux")

    # The driver and GPUs of the Host.
    chosen = driver_override or (None if gpu_override == [] else found_driver)
    driver_text, driver_source = chosen if chosen else (None, None)
    if gpu_override is not None:
        all_gpus = [NvidiaGpu(i, g.name, g.cc, cc_source="declared") for i, g in enumerate(gpu_override)]
        visible = all_gpus
        gpu_source = "override"
    else:
        all_gpus = found_gpus or []
        visible, cvd_notes = apply_visible_devices(cvd, all_gpus, device_order=env.get("CUDA_DEVICE_ORDER"))
        notes += cvd_notes
    if gpu_source in ("nvml", "nvidia-smi"):
        _mark_used(sources, gpu_source)

    amd: list[str] = []
    devices: list[PciDevice] = []
    if linux and need_gpus:
        amd = _rocm(env, base, timeout, sources)
        devices = _pci(env, base, timeout, sources)
    else:
        why = "not needed: the GPUs were given" if not need_gpus else "not Linux"
        for source in ("rocm_agent_enumerator", "lspci"):
            sources.add(source, "skipped", why)

    notes += _notes(
        platform=platform, wsl=wsl, driver=driver_text, driver_source=driver_source, module=module,
        all_gpus=all_gpus, visible=visible, probed=need_gpus, smi_failure=smi_failure, amd=amd, devices=devices,
    )
    host_gpus = tuple(Gpu(g.name, g.cc) for g in visible if g.cc is not None)
    host = Host(
        name=name,
        platform=platform,
        python=SpecifierSet(f"=={info.version[0]}.{info.version[1]}.*"),
        driver=DriverVersion(driver_text) if driver_text else None,
        gpus=host_gpus,
        origin="probed",
        glibc=info.glibc if linux else None,
        amd_gpus=tuple(AmdGpu(gfx, gfx) for gfx in amd),
        intel_gpus=tuple(IntelGpu(d.description, d.integrated) for d in devices if d.vendor == "intel" and d.integrated is not None),
    )
    return Detection(
        host=host,
        platform=platform,
        python=info,
        glibc=info.glibc,
        driver=driver_text,
        driver_source=driver_source,
        gpus=tuple(visible),
        all_gpus=tuple(all_gpus),
        gpu_source=gpu_source,
        cuda_visible_devices=cvd if gpu_override is None else None,
        amd_gfx=tuple(amd),
        pci=tuple(devices),
        wsl=wsl,
        accelerator=_accelerator(platform, host_gpus, amd, devices),
        sources=tuple(sources.results),
        notes=tuple(notes),
    )


# --- the steps --------------------------------------------------------------------------------


def _wsl(root: Path, sources: _Sources) -> str | None:
    path = root / "proc" / "version"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        sources.add("/proc/version", "missing", e.strerror or str(e))
        return None
    wsl = parse_wsl(text)
    sources.add("/proc/version", "ok", {"wsl2": "WSL 2", "wsl1": "WSL 1"}.get(wsl or "", "not WSL")).used = wsl is not None
    return wsl


def _overrides(
    driver: str | None, gpus: Sequence[str] | None, env: Mapping[str, str], matrix: Matrix, sources: _Sources
) -> tuple[tuple[str, str] | None, list[Gpu] | None]:
    """``((version, source) | None, [Gpu] | None)``: the driver and GPUs given by the caller or
    the environment. Raises HostError for a value that is not a driver version or a GPU."""
    driver_value, driver_from = (driver, "--driver") if driver is not None else (env.get("AIENV_DRIVER") or None, "AIENV_DRIVER")
    found_driver = None
    if driver_value is not None:
        try:
            DriverVersion(driver_value)
        except InvalidVersion:
            raise HostError(f"{driver_from} {driver_value!r} is not a driver version (like 550.54.14)") from None
        found_driver = (driver_value.strip(), driver_from)
    if gpus is not None:
        texts, gpus_from = list(gpus), "--gpu"
    elif env.get("AIENV_GPUS") is not None:
        texts, gpus_from = [env["AIENV_GPUS"]], "AIENV_GPUS"
    else:
        texts, gpus_from = None, ""
    found_gpus = None
    if texts is not None:
        found_gpus = []
        for item in (t.strip() for text in texts for t in text.split(",")):
            if not item or item.lower() in ("none", "cpu"):
                continue
            try:
                found_gpus.append(resolve_gpu(item, matrix))
            except ValueError as e:
                raise HostError(f"{gpus_from}: {e}") from e
    parts = []
    if found_driver:
        parts.append(f"driver {found_driver[0]} from {driver_from}")
    if found_gpus is not None:
        parts.append(f"GPUs from {gpus_from}: {', '.join(g.describe() for g in found_gpus) or 'none'}")
    if parts:
        sources.add("override", "ok", "; ".join(parts)).used = True
    else:
        sources.add("override", "empty", "no --driver/--gpu, AIENV_DRIVER or AIENV_GPUS")
    return found_driver, found_gpus


def _nvml(matrix: Matrix, timeout: float, sources: _Sources) -> nvml.NvmlAnswer | None:
    with sources.timed() as elapsed:
        try:
            answer = nvml.query(timeout=timeout, matrix=matrix)
        except nvml.NvmlMissing as e:
            sources.add("nvml", "missing", str(e), elapsed())
            return None
        except nvml.NvmlTimeout as e:
            sources.add("nvml", "timeout", str(e), elapsed())
            return None
        except Exception as e:  # noqa: BLE001 - NVMLError, or anything a broken binding raises, is data
            sources.add("nvml", "error", f"{type(e).__name__}: {e}", elapsed())
            return None
    status: Status = "ok" if answer.gpus else "empty"
    sources.add("nvml", status, f"driver {answer.driver}, {_count(answer.gpus)}", elapsed())
    return answer


def _smi(
    env: Mapping[str, str], root: Path, wsl: str | None, matrix: Matrix, timeout: float, want_uuid: bool, sources: _Sources
) -> nvidia_smi.SmiAnswer | str | None:
    """The answer; or a failure's message; or None when there is no nvidia-smi."""
    fallbacks = [root / "usr" / "lib" / "wsl" / "lib" / "nvidia-smi"] if wsl else []
    smi = find_tool("nvidia-smi", env, *fallbacks)
    if smi is None:
        where = "on PATH" + (" or in /usr/lib/wsl/lib" if wsl else "")
        sources.add("nvidia-smi", "missing", f"not found {where}")
        return None
    with sources.timed() as elapsed:
        try:
            answer = nvidia_smi.query(smi, env=env, timeout=timeout, matrix=matrix, want_uuid=want_uuid)
        except nvidia_smi.SmiFailure as e:
            sources.add("nvidia-smi", "error", f"{smi}: {e.message}", elapsed())
            return e.message
        except ToolTimeout as e:
            sources.add("nvidia-smi", "timeout", f"{smi}: {e}", elapsed())
            return str(e)
        except (OSError, ValueError) as e:
            sources.add("nvidia-smi", "error", f"{smi}: {e}", elapsed())
            return str(e)
    status: Status = "ok" if answer.gpus else "empty"
    detail = f"{smi}: driver {answer.driver}, {_count(answer.gpus)}" + (f"; {answer.detail}" if answer.detail else "")
    sources.add("nvidia-smi", status, detail, elapsed())
    return answer


def _kernel_module(root: Path, sources: _Sources) -> tuple[str, str] | None:
    """``(version, file)`` of the loaded nvidia kernel module, from the first file that has it."""
    found = None
    for where, parse in (
        ("/sys/module/nvidia/version", kernel_module.parse_sys_version),
        ("/proc/driver/nvidia/version", _proc_version),
    ):
        path = root / where.lstrip("/")
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            sources.add(where, "missing", e.strerror or str(e))
            continue
        version = parse(text)
        if version is None:
            sources.add(where, "error", f"no driver version in {text.strip()[:80]!r}")
            continue
        sources.add(where, "ok", version if found is None else f"{version} (not needed)")
        found = found or (version, where)
    return found


def _proc_version(text: str) -> str | None:
    module = kernel_module.parse_proc_version(text)
    return None if module is None else module.version


def _rocm(env: Mapping[str, str], root: Path, timeout: float, sources: _Sources) -> list[str]:
    tool = find_tool("rocm_agent_enumerator", env, root / "opt" / "rocm" / "bin" / "rocm_agent_enumerator")
    if tool is None:
        sources.add("rocm_agent_enumerator", "missing", "not found on PATH or in /opt/rocm/bin")
        return []
    try:
        run = run_tool([tool], timeout=timeout, env=env)
    except (ToolTimeout, OSError) as e:
        sources.add("rocm_agent_enumerator", "timeout" if isinstance(e, ToolTimeout) else "error", str(e))
        return []
    if run.returncode != 0:
        sources.add("rocm_agent_enumerator", "error", f"exit {run.returncode}: {_first(run.output)}", run.seconds)
        return []
    gfx = rocm.parse_agents(run.stdout)
    sources.add("rocm_agent_enumerator", "ok" if gfx else "empty", ", ".join(gfx) or "no GPU agent", run.seconds).used = bool(gfx)
    return gfx


def _pci(env: Mapping[str, str], root: Path, timeout: float, sources: _Sources) -> list[PciDevice]:
    tool = find_tool("lspci", env, root / "usr" / "sbin" / "lspci", root / "sbin" / "lspci")
    if tool is None:
        sources.add("lspci", "missing", "not found on PATH or in /usr/sbin, /sbin")
    else:
        try:
            run = run_tool([tool, "-nnk"], timeout=timeout, env=env)
        except (ToolTimeout, OSError) as e:
            sources.add("lspci", "timeout" if isinstance(e, ToolTimeout) else "error", str(e))
        else:
            if run.returncode == 0:
                devices = pci.parse_lspci(run.stdout)
                sources.add("lspci", "ok" if devices else "empty", _devices(devices), run.seconds).used = bool(devices)
                return devices
            sources.add("lspci", "error", f"exit {run.returncode}: {_first(run.output)}", run.seconds)
    with sources.timed() as elapsed:
        try:
            devices = pci.scan_sysfs(root)
        except OSError as e:
            sources.add("/sys/bus/pci/devices", "error", str(e), elapsed())
            return []
    sources.add("/sys/bus/pci/devices", "ok" if devices else "empty", _devices(devices), elapsed()).used = bool(devices)
    return devices


# --- the summary --------------------------------------------------------------------------------


def _notes(
    *,
    platform: str,
    wsl: str | None,
    driver: str | None,
    driver_source: str | None,
    module: tuple[str, str] | None,
    all_gpus: Sequence[NvidiaGpu],
    visible: Sequence[NvidiaGpu],
    probed: bool,
    smi_failure: str | None,
    amd: Sequence[str],
    devices: Sequence[PciDevice],
) -> list[str]:
    notes = []
    if wsl == "wsl1":
        notes.append("WSL 1 has no GPU access; CUDA needs WSL 2 (wsl --set-version <distro> 2)")
    if wsl == "wsl2" and driver and driver_source in ("nvml", "nvidia-smi"):
        notes.append(
            f"WSL 2: driver {driver} is the Windows NVIDIA driver, seen through /usr/lib/wsl/lib; "
            "install or update it on Windows (never a Linux display driver inside WSL)"
        )
    if module and driver and driver_source in ("nvml", "nvidia-smi") and module[0] != driver:
        notes.append(
            f"{driver_source} reports driver {driver} but the loaded kernel module is {module[0]} ({module[1]}): "
            "reboot after a driver upgrade"
        )
    if smi_failure and probed and not all_gpus:
        notes.append(smi_failure)
    for gpu in visible:
        if gpu.cc is None:
            notes.append(
                f"GPU {gpu.index} ({gpu.name}): compute capability unknown (not reported, not in aienv's GPU table); "
                "it is left out of the host: declare it with --gpu <capability> or AIENV_GPUS"
            )
    models = sorted({f"{g.name} ({g.cc})" for g in visible})
    if len(models) > 1:
        notes.append(f"mixed GPUs: {', '.join(models)}; a build must have kernels for every one of them")
    nvidia_cards = [d for d in devices if d.vendor == "nvidia"]
    if probed and nvidia_cards and not all_gpus:
        notes.append(_no_driver_note(nvidia_cards, module))
    if amd:
        notes.append(f"AMD GPU: {', '.join(amd)}: PyTorch's ROCm builds run on it when their gfx list has it")
    for device in devices:
        if device.vendor == "intel" and device.integrated:
            notes.append(f"Intel integrated graphics ({device.description}): used only by a target that says accelerator = \"xpu\"")
        elif device.vendor == "intel" and device.integrated is False:
            notes.append(f"Intel discrete GPU ({device.description}): PyTorch's XPU builds use it")
    if platform == "macos-arm64":
        notes.append("Apple silicon: PyTorch uses the GPU through MPS; there is no CUDA on macOS")
    return notes


def _no_driver_note(cards: Sequence[PciDevice], module: tuple[str, str] | None) -> str:
    names = "; ".join(f"{d.slot} {d.description}" for d in cards)
    bound = {d.driver for d in cards if d.driver}
    if "nvidia" in bound:
        return f"the nvidia kernel driver is bound to {names}, but neither NVML nor nvidia-smi could list the GPUs"
    if "nouveau" in bound:
        return f"an NVIDIA GPU is present ({names}) but it is driven by nouveau, which CUDA cannot use: install NVIDIA's driver"
    if "vfio-pci" in bound:
        return f"an NVIDIA GPU is present ({names}) but bound to vfio-pci (passed through to a virtual machine)"
    if module:
        return f"an NVIDIA GPU is present ({names}) and driver {module[0]} is loaded, but no GPU could be listed"
    return f"an NVIDIA GPU is present ({names}) but no NVIDIA driver is loaded: install NVIDIA's driver"


def _accelerator(platform: str, gpus: Sequence[Gpu], amd: Sequence[str], devices: Sequence[PciDevice]) -> str:
    if gpus:
        return "cuda"
    if amd:
        return "rocm"
    if any(d.vendor == "intel" and d.integrated is False for d in devices):
        return "xpu"
    if platform == "macos-arm64":
        return "mps"
    return "cpu"


def _mark_used(sources: _Sources, name: str) -> None:
    for result in sources.results:
        if result.name == name and result.status == "ok":
            result.used = True


def _count(gpus: Sequence[NvidiaGpu]) -> str:
    return f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''}" + (f": {', '.join(g.name for g in gpus)}" if gpus else "")


def _devices(devices: Sequence[PciDevice]) -> str:
    return "; ".join(f"{d.slot} {d.description} (driver {d.driver or 'none'})" for d in devices) or "no display controller"


def _first(text: str) -> str:
    return (text.strip().splitlines() or ["no output"])[0]
