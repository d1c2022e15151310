"""Detection: every parser on every captured output, then the order of sources and the fallbacks.

The parsers' inputs are real outputs published by their owners (``tests/data/detect/``, each
named in ``SOURCES.md``). The end-to-end tests run :func:`envspec.detect.detect` against small
real executables written here (a fake ``nvidia-smi`` that replays a capture, one that hangs, one
that fails), a fake root directory standing for ``/proc`` and ``/sys``, and a fake ``pynvml``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envspec.cli import main
from envspec.detect import detect, format_detection
from envspec.detect.kernel_module import parse_proc_version, parse_sys_version
from envspec.detect.nvidia_smi import classify_failure, gpus_from_rows, parse_query_csv
from envspec.detect.pci import parse_lspci
from envspec.detect.rocm import parse_agents
from envspec.detect.system import parse_glibc, parse_wsl, platform_name
from envspec.detect.visible import apply_visible_devices
from envspec.errors import HostError
from envspec.host import probe_host
from envspec.matrix import Arch, get_matrix

DATA = Path(__file__).resolve().parent / "data" / "detect"
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="the fake tools are POSIX scripts")


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


# === nvidia-smi ===================================================================================

# (file, the query's fields when the output has no header, expected rows: a subset of each row)
QUERY_CASES = [
    # nvidia_gpu_exporter captures: --format=csv with a header of 200+ fields, one GPU each
    ("query-h100-80gb-hbm3-590.48.01.csv", None,
     [{"name": "NVIDIA H100 80GB HBM3", "driver_version": "590.48.01", "compute_cap": "9.0", "memory.total": "81559 MiB", "index": "0"}]),
    ("query-h200-590.48.01.csv", None,
     [{"name": "NVIDIA H200", "driver_version": "590.48.01", "compute_cap": "9.0", "memory.total": "143771 MiB"}]),
    ("query-l40s-595.80.csv", None,
     [{"name": "NVIDIA L40S", "driver_version": "595.80", "compute_cap": "8.9", "memory.total": "46068 MiB"}]),
    ("query-rtx-4080-super-595.71.05.csv", None,
     [{"name": "NVIDIA GeForce RTX 4080 SUPER", "driver_version": "595.71.05", "compute_cap": "8.9", "memory.total": "16376 MiB"}]),
    # a Windows driver: the version WSL 2 reports too
    ("query-windows-rtx-2080-super-591.86.csv", None,
     [{"name": "NVIDIA GeForce RTX 2080 SUPER", "driver_version": "591.86", "compute_cap": "7.5", "memory.total": "8192 MiB"}]),
    # two different GPUs, fields in another order, with a header
    ("query-mixed-titan-v-rtx-5880.csv", None,
     [{"compute_cap": "7.0", "driver_version": "570.86.15", "name": "NVIDIA TITAN V", "index": "0"},
      {"compute_cap": "8.9", "driver_version": "570.86.15", "name": "NVIDIA RTX 5880 Ada Generation", "index": "1"}]),
    ("query-compute-cap-only.csv", None, [{"compute_cap": "8.9"}]),
    # the same header, named by the caller: it is skipped, not read as a GPU
    ("query-compute-cap-only.csv", ("compute_cap",), [{"compute_cap": "8.9"}]),
    # noheader: the fields of the query name the columns; N/A and [N/A] are no value
    ("query-rtx-2080-440.64-noheader.csv",
     ("power.limit", "power.min_limit", "power.max_limit", "memory.total", "vbios_version", "driver_version", "name",
      "gpu_uuid", "power.draw", "temperature.gpu", "temperature.memory", "clocks.current.graphics", "clocks.sm",
      "clocks.mem", "utilization.gpu", "utilization.memory", "fan.speed", "pcie.link.width.current", "pstate"),
     [{"name": "GeForce RTX 2080", "driver_version": "440.64", "memory.total": "7979", "temperature.memory": None}]),
    ("query-na-noheader.csv",
     ("memory.total", "memory.free", "memory.used", "temperature.gpu", "fan.speed", "utilization.gpu", "utilization.memory"),
     [{"memory.total": "2004", "fan.speed": None, "temperature.gpu": "44"}]),
    ("query-h100-nvl-device-id-noheader.csv", ("name", "pci.device_id"),
     [{"name": "NVIDIA H100 NVL", "pci.device_id": "0x232110DE"}]),
]


@pytest.mark.parametrize(("file", "fields", "expected"), QUERY_CASES, ids=[f"{c[0]}-{bool(c[1])}" for c in QUERY_CASES])
def test_parse_query_csv(file: str, fields: tuple[str, ...] | None, expected: list[dict[str, str | None]]) -> None:
    rows = parse_query_csv(read(f"nvidia-smi/{file}"), fields)
    assert [{k: row[k] for k in want} for row, want in zip(rows, expected)] == expected
    assert len(rows) == len(expected)


def test_parse_query_csv_rejects_a_short_row() -> None:
    with pytest.raises(ValueError, match="2 values for 4 fields"):
        parse_query_csv("NVIDIA H100 NVL, 0x232110DE\n", ("name", "driver_version", "compute_cap", "memory.total"))
    assert parse_query_csv("\n\n", ("name",)) == []


# (file, fields, expected GPUs as (index, name, compute capability, its source, MiB))
GPU_CASES = [
    # reported by the driver
    ("query-h100-80gb-hbm3-590.48.01.csv", None, [(0, "NVIDIA H100 80GB HBM3", "9.0", "reported", 81559)]),
    ("query-mixed-titan-v-rtx-5880.csv", None,
     [(0, "NVIDIA TITAN V", "7.0", "reported", None), (1, "NVIDIA RTX 5880 Ada Generation", "8.9", "reported", None)]),
    # a driver older than compute_cap: the GPU table knows the GeForce RTX 2080
    ("query-rtx-2080-440.64-noheader.csv",
     ("power.limit", "power.min_limit", "power.max_limit", "memory.total", "vbios_version", "driver_version", "name",
      "gpu_uuid", "power.draw", "temperature.gpu", "temperature.memory", "clocks.current.graphics", "clocks.sm",
      "clocks.mem", "utilization.gpu", "utilization.memory", "fan.speed", "pcie.link.width.current", "pstate"),
     [(0, "GeForce RTX 2080", "7.5", "gpu-table", 7979)]),
    # no compute_cap column, a name the table knows through its aliases
    ("query-h100-nvl-device-id-noheader.csv", ("name", "pci.device_id"), [(0, "NVIDIA H100 NVL", "9.0", "gpu-table", None)]),
]


@pytest.mark.parametrize(("file", "fields", "expected"), GPU_CASES, ids=[c[0] for c in GPU_CASES])
def test_gpus_from_rows(file: str, fields: tuple[str, ...] | None, expected: list[tuple[object, ...]]) -> None:
    gpus = gpus_from_rows(parse_query_csv(read(f"nvidia-smi/{file}"), fields), get_matrix())
    assert [(g.index, g.name, str(g.cc) if g.cc else None, g.cc_source, g.memory_mib) for g in gpus] == expected


def test_gpu_unknown_to_both_the_driver_and_the_table() -> None:
    (gpu,) = gpus_from_rows([{"name": "NVIDIA Voodoo 5", "compute_cap": None}], get_matrix())
    assert (gpu.cc, gpu.cc_source) == (None, "unknown")


@pytest.mark.parametrize(
    ("file", "kind", "words"),
    [
        # an nvidia-smi without the compute_cap field
        ("error-compute-cap-invalid.txt", "unknown-field", "'compute_cap'"),
        # no driver loaded
        ("error-no-driver.txt", "no-driver", "cannot reach the NVIDIA driver"),
        # an upgrade without a reboot
        ("error-version-mismatch.txt", "version-mismatch", "user-space library 570.124"),
    ],
)
def test_classify_failure(file: str, kind: str, words: str) -> None:
    got_kind, message = classify_failure(read(f"nvidia-smi/{file}"))
    assert got_kind == kind
    assert words in message


def test_classify_failure_other() -> None:
    assert classify_failure("Segmentation fault\n") == ("other", "Segmentation fault")
    assert classify_failure("") == ("other", "no output")


# === the kernel module files =======================================================================


@pytest.mark.parametrize(
    ("file", "version", "flavor", "arch"),
    [
        # the proprietary module
        ("proprietary-384.98.txt", "384.98", "proprietary", "x86_64"),
        ("proprietary-375.74.txt", "375.74", "proprietary", "x86_64"),
        # the open-source module: "Open Kernel Module for <arch>"
        ("open-565.57.01.txt", "565.57.01", "open", "x86_64"),
        ("open-550.144.03.txt", "550.144.03", "open", "x86_64"),
        ("open-525.60.11.txt", "525.60.11", "open", "x86_64"),
        ("open-555.58.txt", "555.58", "open", "x86_64"),
        # a Jetson: the L4T release where the driver would be
        ("jetson-aarch64-35.3.1.txt", "35.3.1", "open", "aarch64"),
    ],
)
def test_parse_proc_version(file: str, version: str, flavor: str, arch: str) -> None:
    module = parse_proc_version(read(f"nvidia-version/{file}"))
    assert module is not None
    assert (module.version, module.flavor, module.arch) == (version, flavor, arch)
    assert module.is_l4t == (file.startswith("jetson"))


def test_parse_sys_version() -> None:
    assert parse_sys_version(read("nvidia-version/sys-module-version-550.144.03.txt")) == "550.144.03"
    # not a version: the /proc format, empty
    assert parse_sys_version(read("nvidia-version/open-565.57.01.txt")) is None
    assert parse_sys_version("") is None
    assert parse_proc_version("GCC version:  gcc version 12.2.0 (GCC)\n") is None


# === lspci ==========================================================================================

# (file, display controllers as (slot, vendor, class, driver, integrated))
LSPCI_CASES = [
    # -nnk, two cards with the nvidia driver (grep -A3 output with "--" separators)
    ("nnk-2x-rtx-3090-nvidia.txt",
     [("05:00.0", "nvidia", "VGA compatible controller", "nvidia", None),
      ("0a:00.0", "nvidia", "VGA compatible controller", "nvidia", None)]),
    # mixed NVIDIA generations; an Intel Ethernet controller is not a display controller
    ("nnk-mixed-rtx-3080-rtx-5090.txt",
     [("05:00.0", "nvidia", "VGA compatible controller", "nvidia", None),
      ("0a:00.0", "nvidia", "VGA compatible controller", "nvidia", None)]),
    # -nn: Intel integrated at 00:02.0, an NVIDIA 3D controller and VGA card; a PCI bridge dropped
    ("nn-intel-igpu-mx130-gtx-970.txt",
     [("00:02.0", "intel", "VGA compatible controller", None, True),
      ("02:00.0", "nvidia", "3D controller", None, None),
      ("08:00.0", "nvidia", "VGA compatible controller", None, None)]),
    # plain lspci: class names only ("Display controller" too)
    ("d03xx-intel-alderlake-rtx-3080-ti.txt",
     [("00:02.0", "intel", "Display controller", None, True),
      ("01:00.0", "nvidia", "VGA compatible controller", None, None)]),
    ("intel-iris-mx250.txt",
     [("00:02.0", "intel", "VGA compatible controller", None, True),
      ("06:00.0", "nvidia", "3D controller", None, None)]),
    # -nnk with a domain and space indentation: the Intel GPU has no driver bound
    ("nnk-intel-igpu-no-driver.txt", [("0000:00:02.0", "intel", "VGA compatible controller", None, True)]),
    # -vv: nouveau drives an NVIDIA card
    ("vv-gtx-970-nouveau.txt", [("01:00.0", "nvidia", "VGA compatible controller", "nouveau", None)]),
    # AMD by name, with amdgpu; its HDMI audio function is not a display controller
    ("v-amd-fiji-amdgpu.txt", [("01:00.0", "amd", "VGA compatible controller", "amdgpu", None)]),
    # no -k: drivers unknown
    ("nvidia-3d-controllers-no-driver.txt",
     [("0000:5a:00.0", "nvidia", "3D controller", None, None), ("0000:5e:00.0", "nvidia", "3D controller", None, None)]),
    # Intel discrete cards sit off the root bus
    ("vvv-intel-arc-a770.txt", [("03:00.0", "intel", "VGA compatible controller", None, False)]),
    ("intel-arc-a380.txt", [("09:00.0", "intel", "VGA compatible controller", None, False)]),
    # -nn -v: ids, revision and prog-if stripped from the description
    ("nn-v-rtx-3080.txt", [("01:00.0", "nvidia", "VGA compatible controller", None, None)]),
]


@pytest.mark.parametrize(("file", "expected"), LSPCI_CASES, ids=[c[0] for c in LSPCI_CASES])
def test_parse_lspci(file: str, expected: list[tuple[object, ...]]) -> None:
    devices = parse_lspci(read(f"lspci/{file}"))
    assert [(d.slot, d.vendor, d.kind, d.driver, d.integrated) for d in devices] == expected


def test_parse_lspci_descriptions_and_modules() -> None:
    (card, _) = parse_lspci(read("lspci/nnk-2x-rtx-3090-nvidia.txt"))
    assert card.description == "NVIDIA Corporation GA102 [GeForce RTX 3090]"
    assert card.modules == ("nvidiafb", "nouveau", "nvidia_drm", "nvidia")
    assert card.driver_known
    (arc,) = parse_lspci(read("lspci/vvv-intel-arc-a770.txt"))
    assert arc.description == "Intel Corporation DG2 [Arc A770]"
    assert not arc.driver_known
    (rtx,) = parse_lspci(read("lspci/nn-v-rtx-3080.txt"))
    assert rtx.description == "NVIDIA Corporation GA102 [GeForce RTX 3080]"


# === rocm_agent_enumerator ==========================================================================


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        # older ROCm: gfx000 (the CPU agent) first; an APU (gfx902) counts
        ("gfx000-gfx803-gfx902.txt", ["gfx803", "gfx902"]),
        ("gfx000-gfx900.txt", ["gfx900"]),
        # no GPU recognised
        ("gfx000-only.txt", []),
        # ROCm 6+: one line per GPU, none for the CPU
        ("8x-gfx942.txt", ["gfx942"] * 8),
    ],
)
def test_parse_agents(file: str, expected: list[str]) -> None:
    assert parse_agents(read(f"rocm/{file}")) == expected


def test_parse_agents_target_features() -> None:
    assert parse_agents("gfx90a:sramecc+:xnack-\nnot a target\n") == ["gfx90a"]


# === /proc/version, glibc, platform =================================================================


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        # WSL 2: a Microsoft-built kernel, "microsoft-standard" (with -WSL2 since 5.x)
        ("proc-version-wsl2-5.4.72.txt", "wsl2"),
        ("proc-version-wsl2-4.19.67.txt", "wsl2"),
        ("proc-version-wsl2-4.19.104-custom.txt", "wsl2"),
        # WSL 1: the translation layer, "-Microsoft"
        ("proc-version-wsl1-4.4.0-18985.txt", "wsl1"),
        ("proc-version-wsl1-3.4.0.txt", "wsl1"),
        # not WSL
        ("proc-version-ubuntu-24.04.txt", None),
        ("proc-version-rhel-9.4.txt", None),
    ],
)
def test_parse_wsl(file: str, expected: str | None) -> None:
    assert parse_wsl(read(f"proc-version/{file}")) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # constructed in the form glibc's confstr(_CS_GNU_LIBC_VERSION) documents: "glibc 2.x"
        ("glibc 2.36", "2.36"),
        ("glibc 2.17", "2.17"),
        # musl: os.confstr fails, so there is nothing
        (None, None),
        ("", None),
    ],
)
def test_parse_glibc(text: str | None, expected: str | None) -> None:
    assert parse_glibc(text) == expected


@pytest.mark.skipif(not hasattr(os, "confstr"), reason="no os.confstr")
def test_parse_glibc_of_this_machine() -> None:
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        pytest.skip("not glibc")
    assert parse_glibc(value) == (value or "").split()[-1]


@pytest.mark.parametrize(
    ("sys_platform", "machine", "expected"),
    [
        ("linux", "x86_64", "linux-x86_64"),
        ("linux", "aarch64", "linux-aarch64"),
        ("linux", "arm64", "linux-aarch64"),
        ("win32", "AMD64", "windows-x86_64"),
        ("darwin", "arm64", "macos-arm64"),
        ("darwin", "x86_64", "macos-x86_64"),
    ],
)
def test_platform_name(sys_platform: str, machine: str, expected: str) -> None:
    assert platform_name(sys_platform, machine) == expected


# === CUDA_VISIBLE_DEVICES ===========================================================================


def _mixed_gpus() -> list:
    """The two GPUs of the triton capture, with their UUIDs from that machine's ``nvidia-smi -L``."""
    from dataclasses import replace

    gpus = gpus_from_rows(parse_query_csv(read("nvidia-smi/query-mixed-titan-v-rtx-5880.csv")), get_matrix())
    uuids = re.findall(r"UUID: (GPU-[0-9a-f-]+)", read("nvidia-smi/list-gpus-titan-v-rtx-5880.txt"))
    return [replace(g, uuid=u) for g, u in zip(gpus, uuids)]


@pytest.mark.parametrize(
    ("value", "order", "expected", "note"),
    [
        # unset: every GPU
        (None, None, [0, 1], None),
        # set and empty: none
        ("", None, [], "set and empty"),
        # indices, in the order given (and a note: the two models may be numbered differently by CUDA)
        ("1", None, [1], "CUDA_DEVICE_ORDER=PCI_BUS_ID"),
        ("1,0", None, [1, 0], "CUDA_DEVICE_ORDER=PCI_BUS_ID"),
        ("1", "PCI_BUS_ID", [1], None),
        # -1 and an index out of range end the list
        ("-1", "PCI_BUS_ID", [], "'-1' is not a GPU here"),
        ("0,-1,1", "PCI_BUS_ID", [0], "'-1' is not a GPU here"),
        ("0,5,1", "PCI_BUS_ID", [0], "'5' is not a GPU here"),
        # UUIDs, whole or a unique prefix
        ("GPU-7518f6b0-991f-ce2b-3d37-c779130d3137", None, [1], None),
        ("GPU-b516,GPU-7518", None, [0, 1], None),
        ("GPU-ffff", None, [], "'GPU-ffff' is not a GPU here"),
        # MIG instances cannot be mapped: every GPU kept
        ("MIG-4f2b7a2a-1234-5678-9abc-def012345678", None, [0, 1], "MIG instance"),
    ],
)
def test_apply_visible_devices(value: str | None, order: str | None, expected: list[int], note: str | None) -> None:
    visible, notes = apply_visible_devices(value, _mixed_gpus(), device_order=order)
    assert [g.index for g in visible] == expected
    if note is None:
        assert notes == []
    else:
        assert any(note in n for n in notes), notes


def test_visible_devices_by_uuid_needs_the_uuids() -> None:
    gpus = gpus_from_rows(parse_query_csv(read("nvidia-smi/query-mixed-titan-v-rtx-5880.csv")), get_matrix())
    visible, notes = apply_visible_devices("GPU-7518", gpus)
    assert len(visible) == 2
    assert "UUIDs are unknown" in notes[0]


# === end to end: detect() against fake tools and a fake root ========================================


SMI_SCRIPT = """#!{python}
# A fake nvidia-smi: answers --query-gpu for any fields by projecting the columns of a captured
# --format=csv output; a field the capture lacks is [N/A]; REJECT makes compute_cap unknown, as
# in drivers older than it (printing the captured error, exit 2).
import sys
CAPTURE, HEADER, EXTRA, REJECT = {capture!r}, {header!r}, {extra!r}, {reject!r}
query = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--query-gpu=")), None)
fmt = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--format=")), "")
if query is None:
    sys.exit(0)
fields = query.split(",")
if REJECT and "compute_cap" in fields:
    sys.stdout.write(REJECT)
    sys.exit(2)
lines = [line for line in open(CAPTURE, encoding="utf-8").read().splitlines() if line.strip()]
if HEADER is None:
    HEADER, lines = [h.strip().split(" [")[0] for h in lines[0].split(",")], lines[1:]
rows = [dict(zip(HEADER, [v.strip() for v in line.split(", ")])) for line in lines]
for i, row in enumerate(rows):
    for key, values in EXTRA.items():
        row[key] = values[i]
if "noheader" not in fmt:
    print(", ".join(fields))
for row in rows:
    print(", ".join(row.get(f, "[N/A]") for f in fields))
"""

PRINT_SCRIPT = """#!{python}
# A fake tool: prints a captured output, then exits with a given status (or hangs).
import sys, time
if {sleep!r}:
    time.sleep({sleep!r})
if {capture!r}:
    sys.stdout.write(open({capture!r}, encoding="utf-8").read())
sys.exit({code!r})
"""


class Machine:
    """A fake machine: ``bin`` (the only PATH entry) and ``root`` (for /proc, /sys, /usr/lib/wsl)."""

    def __init__(self, base: Path) -> None:
        self.bin = base / "bin"
        self.root = base / "root"
        self.bin.mkdir()
        self.root.mkdir()
        self.env: dict[str, str] = {"PATH": str(self.bin)}
        self.file("proc/version", read("proc-version/proc-version-ubuntu-24.04.txt"))

    def file(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def _exe(self, path: Path, text: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)
        return path

    def smi(self, capture: str, *, header: list[str] | None = None, extra: dict | None = None,
            reject_compute_cap: bool = False, where: Path | None = None) -> Path:
        reject = read("nvidia-smi/error-compute-cap-invalid.txt") if reject_compute_cap else ""
        script = SMI_SCRIPT.format(python=sys.executable, capture=str(DATA / "nvidia-smi" / capture),
                                   header=header, extra=extra or {}, reject=reject)
        return self._exe(where or self.bin / "nvidia-smi", script)

    def tool(self, name: str, capture: str | None = None, *, code: int = 0, sleep: float = 0) -> Path:
        script = PRINT_SCRIPT.format(python=sys.executable, capture=str(DATA / capture) if capture else "",
                                     code=code, sleep=sleep)
        return self._exe(self.bin / name, script)

    def detect(self, **kwargs):
        kwargs.setdefault("timeout", 30.0)  # the fakes are Python scripts: slow to start on a loaded machine
        return detect(env=self.env, root=self.root, **kwargs)


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    # A real nvidia-ml-py on a GPU machine must not answer for the fake one.
    monkeypatch.setitem(sys.modules, "pynvml", None)
    return Machine(tmp_path)


def _status(d, name: str) -> str:
    return next(s.status for s in d.sources if s.name == name)


@posix_only
def test_nvidia_smi_gives_driver_and_gpus(machine: Machine) -> None:
    machine.smi("query-h100-80gb-hbm3-590.48.01.csv")
    d = machine.detect()
    assert (d.driver, d.driver_source) == ("590.48.01", "nvidia-smi")
    assert [(g.name, str(g.cc), g.memory_mib) for g in d.gpus] == [("NVIDIA H100 80GB HBM3", "9.0", 81559)]
    assert str(d.host.driver) == "590.48.01"
    assert [g.describe() for g in d.host.gpus] == ["NVIDIA H100 80GB HBM3 (sm_90)"]
    assert d.host.origin == "probed" and d.accelerator == "cuda"
    assert _status(d, "nvml") == "missing"
    assert next(s for s in d.sources if s.name == "nvidia-smi").used


@posix_only
def test_mixed_gpus_in_one_machine(machine: Machine) -> None:
    machine.smi("query-mixed-titan-v-rtx-5880.csv")
    d = machine.detect()
    assert [(g.index, g.name, str(g.cc)) for g in d.gpus] == [
        (0, "NVIDIA TITAN V", "7.0"), (1, "NVIDIA RTX 5880 Ada Generation", "8.9"),
    ]
    assert [str(g.cc) for g in d.host.gpus] == ["7.0", "8.9"]
    assert any(n.startswith("mixed GPUs") for n in d.notes)


@posix_only
def test_old_driver_without_compute_cap_falls_back_to_the_gpu_table(machine: Machine) -> None:
    fields = ["power.limit", "power.min_limit", "power.max_limit", "memory.total", "vbios_version", "driver_version",
              "name", "gpu_uuid", "power.draw", "temperature.gpu", "temperature.memory", "clocks.current.graphics",
              "clocks.sm", "clocks.mem", "utilization.gpu", "utilization.memory", "fan.speed",
              "pcie.link.width.current", "pstate"]
    machine.smi("query-rtx-2080-440.64-noheader.csv", header=fields, reject_compute_cap=True)
    d = machine.detect()
    assert d.driver == "440.64"
    (gpu,) = d.gpus
    assert (gpu.name, str(gpu.cc), gpu.cc_source, gpu.memory_mib) == ("GeForce RTX 2080", "7.5", "gpu-table", 7979)
    assert "compute_cap" in next(s.detail for s in d.sources if s.name == "nvidia-smi")
    assert "from the GPU table" in format_detection(d)


@posix_only
def test_hanging_nvidia_smi_times_out_and_the_kernel_module_gives_the_driver(machine: Machine) -> None:
    machine.tool("nvidia-smi", sleep=30)
    machine.file("sys/module/nvidia/version", read("nvidia-version/sys-module-version-550.144.03.txt"))
    machine.file("proc/driver/nvidia/version", read("nvidia-version/open-550.144.03.txt"))
    start = time.monotonic()
    d = machine.detect(timeout=0.5)
    assert time.monotonic() - start < 10
    assert _status(d, "nvidia-smi") == "timeout"
    assert (d.driver, d.driver_source) == ("550.144.03", "/sys/module/nvidia/version")
    assert d.gpus == () and d.host.gpus == () and d.accelerator == "cpu"


@posix_only
def test_failing_nvidia_smi_then_proc_driver_version(machine: Machine) -> None:
    machine.tool("nvidia-smi", "nvidia-smi/error-version-mismatch.txt", code=9)
    machine.file("proc/driver/nvidia/version", read("nvidia-version/proprietary-384.98.txt"))
    d = machine.detect()
    assert _status(d, "nvidia-smi") == "error"
    assert _status(d, "/sys/module/nvidia/version") == "missing"
    assert (d.driver, d.driver_source) == ("384.98", "/proc/driver/nvidia/version")
    assert any("reboot" in n for n in d.notes)


@posix_only
def test_no_tools_at_all(machine: Machine) -> None:
    d = machine.detect()
    assert (d.driver, d.gpus, d.accelerator) == (None, (), "cpu")
    for name in ("nvml", "nvidia-smi", "/sys/module/nvidia/version", "/proc/driver/nvidia/version",
                 "rocm_agent_enumerator", "lspci"):
        assert _status(d, name) == "missing"
    assert d.host.driver is None and d.host.gpus == ()
    assert d.notes == ()


@posix_only
def test_an_nvidia_gpu_with_no_driver_loaded(machine: Machine) -> None:
    machine.tool("nvidia-smi", "nvidia-smi/error-no-driver.txt", code=9)
    machine.tool("lspci", "lspci/nvidia-3d-controllers-no-driver.txt")
    d = machine.detect()
    assert d.driver is None and d.gpus == ()
    assert any("an NVIDIA GPU is present (0000:5a:00.0 NVIDIA Corporation Device 1db6; 0000:5e:00.0" in n
               and "no NVIDIA driver is loaded" in n for n in d.notes), d.notes
    assert any("cannot reach the NVIDIA driver" in n for n in d.notes)
    assert "note: an NVIDIA GPU is present" in format_detection(d)


@posix_only
def test_an_nvidia_gpu_driven_by_nouveau(machine: Machine) -> None:
    machine.tool("lspci", "lspci/vv-gtx-970-nouveau.txt")
    d = machine.detect()
    assert any("driven by nouveau" in n for n in d.notes), d.notes


@posix_only
def test_sysfs_when_there_is_no_lspci(machine: Machine) -> None:
    # A fake /sys/bus/pci/devices: an NVIDIA 3D controller with no driver bound, and a bridge.
    card = machine.root / "sys/bus/pci/devices/0000:65:00.0"
    for name, value in (("class", "0x030200"), ("vendor", "0x10de"), ("device", "0x2330")):
        machine.file(f"sys/bus/pci/devices/0000:65:00.0/{name}", value + "\n")
    for name, value in (("class", "0x060400"), ("vendor", "0x8086"), ("device", "0x1901")):
        machine.file(f"sys/bus/pci/devices/0000:00:01.0/{name}", value + "\n")
    assert card.is_dir()
    d = machine.detect()
    assert _status(d, "lspci") == "missing"
    assert [(p.slot, p.vendor, p.kind, p.driver) for p in d.pci] == [("0000:65:00.0", "nvidia", "3D controller", None)]
    assert any("no NVIDIA driver is loaded" in n for n in d.notes)


@posix_only
def test_amd_gpus_become_the_hosts(machine: Machine) -> None:
    machine.tool("rocm_agent_enumerator", "rocm/8x-gfx942.txt")
    d = machine.detect()
    assert d.amd_gfx == ("gfx942",) * 8
    assert d.accelerator == "rocm"
    assert d.host.gpus == ()
    assert [g.gfx for g in d.host.amd_gpus] == ["gfx942"] * 8
    assert d.host.kind == "rocm"
    assert any("ROCm" in n for n in d.notes)


@posix_only
def test_intel_integrated_is_never_an_xpu_target(machine: Machine) -> None:
    machine.tool("lspci", "lspci/intel-iris-mx250.txt")
    d = machine.detect()
    assert d.accelerator == "cpu"
    assert d.host.kind == "cpu"  # an integrated GPU is recorded, never used unless a target asks
    assert [(g.name, g.integrated) for g in d.host.intel_gpus] == [("Intel Corporation Iris Plus Graphics G7", True)]
    assert any("Intel integrated graphics (Intel Corporation Iris Plus Graphics G7): used only by a target that says" in n
               for n in d.notes)
    # the MX250 is there with no NVIDIA driver found
    assert any("no NVIDIA driver is loaded" in n for n in d.notes)


@posix_only
def test_intel_discrete_gpu(machine: Machine) -> None:
    machine.tool("lspci", "lspci/vvv-intel-arc-a770.txt")
    d = machine.detect()
    assert d.accelerator == "xpu"
    assert d.host.gpus == ()
    assert d.host.kind == "xpu" and [g.integrated for g in d.host.intel_gpus] == [False]
    assert "discrete" in format_detection(d)


@posix_only
def test_wsl2_nvidia_smi_from_the_windows_driver_store(machine: Machine) -> None:
    machine.file("proc/version", read("proc-version/proc-version-wsl2-5.4.72.txt"))
    machine.smi("query-windows-rtx-2080-super-591.86.csv", where=machine.root / "usr/lib/wsl/lib/nvidia-smi")
    d = machine.detect()
    assert d.wsl == "wsl2"
    assert d.platform.startswith("linux-")
    assert (d.driver, d.driver_source) == ("591.86", "nvidia-smi")
    assert str(d.host.driver) == "591.86"
    assert "usr/lib/wsl/lib/nvidia-smi" in next(s.detail for s in d.sources if s.name == "nvidia-smi")
    assert any(n.startswith("WSL 2: driver 591.86 is the Windows NVIDIA driver") for n in d.notes)
    assert "(WSL 2)" in format_detection(d)


@posix_only
def test_wsl1(machine: Machine) -> None:
    machine.file("proc/version", read("proc-version/proc-version-wsl1-4.4.0-18985.txt"))
    d = machine.detect()
    assert d.wsl == "wsl1"
    assert any("WSL 1 has no GPU access" in n for n in d.notes)


@posix_only
@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", ["NVIDIA RTX 5880 Ada Generation"]), ("", []), ("-1", []), ("GPU-7518", ["NVIDIA RTX 5880 Ada Generation"])],
)
def test_cuda_visible_devices_end_to_end(machine: Machine, value: str, expected: list[str]) -> None:
    uuids = re.findall(r"UUID: (GPU-[0-9a-f-]+)", read("nvidia-smi/list-gpus-titan-v-rtx-5880.txt"))
    machine.smi("query-mixed-titan-v-rtx-5880.csv", extra={"uuid": uuids})
    machine.env["CUDA_VISIBLE_DEVICES"] = value
    d = machine.detect()
    assert [g.name for g in d.gpus] == expected
    assert [g.name for g in d.host.gpus] == expected
    assert len(d.all_gpus) == 2
    assert d.cuda_visible_devices == value
    assert d.accelerator == ("cuda" if expected else "cpu")


@posix_only
def test_overrides_beat_every_source(machine: Machine) -> None:
    machine.smi("query-h100-80gb-hbm3-590.48.01.csv")
    machine.env.update(AIENV_GPUS="RTX 4090, 8.0", AIENV_DRIVER="550.54.14", CUDA_VISIBLE_DEVICES="")
    d = machine.detect()
    assert [g.describe() for g in d.host.gpus] == ["NVIDIA GeForce RTX 4090 (sm_89)", "sm_80"]
    assert (d.driver, d.driver_source) == ("550.54.14", "AIENV_DRIVER")
    assert _status(d, "nvidia-smi") == "skipped"
    assert d.cuda_visible_devices is None  # not applied to declared GPUs
    # flags beat the environment
    d = machine.detect(driver="560.28.03", gpus=["H100"])
    assert (d.driver, d.driver_source) == ("560.28.03", "--driver")
    assert [g.name for g in d.host.gpus] == ["NVIDIA H100"]


@posix_only
def test_override_of_the_driver_only_still_probes_the_gpus(machine: Machine) -> None:
    machine.smi("query-l40s-595.80.csv")
    d = machine.detect(driver="570.86.15")
    assert (d.driver, d.driver_source) == ("570.86.15", "--driver")
    assert [g.name for g in d.gpus] == ["NVIDIA L40S"]
    assert d.gpu_source == "nvidia-smi"


@posix_only
def test_no_gpu_override(machine: Machine) -> None:
    machine.smi("query-l40s-595.80.csv")
    for d in (machine.detect(gpus=["none"]), machine.detect(gpus=[])):
        assert d.host.gpus == () and d.driver is None and d.accelerator == "cpu"
        assert _status(d, "nvidia-smi") == "skipped" and _status(d, "lspci") == "skipped"


@pytest.mark.parametrize(
    ("env", "kwargs", "message"),
    [
        ({"AIENV_DRIVER": "five-fifty"}, {}, "AIENV_DRIVER 'five-fifty' is not a driver version"),
        ({"AIENV_GPUS": "RTX 4099"}, {}, "AIENV_GPUS: unknown GPU 'RTX 4099'"),
        ({}, {"driver": "x"}, "--driver 'x' is not a driver version"),
        ({}, {"gpus": ["Voodoo 5"]}, "--gpu: unknown GPU 'Voodoo 5'"),
    ],
)
def test_bad_overrides(tmp_path: Path, env: dict[str, str], kwargs: dict, message: str) -> None:
    with pytest.raises(HostError, match=re.escape(message)):
        detect(env={"PATH": str(tmp_path), **env}, root=tmp_path, **kwargs)


def _fake_pynvml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str = "") -> None:
    # NVML's API as nvidia-ml-py exposes it; the values are those of the H200 capture.
    source = '''
class NVMLError(Exception):
    pass
class _Memory:
    total = 143771 * 1024 * 1024
FAIL = None
SLEEP = 0
def nvmlInit():
    import time
    time.sleep(SLEEP)
    if FAIL:
        raise NVMLError(FAIL)
def nvmlShutdown():
    pass
def nvmlSystemGetDriverVersion():
    return b"590.48.01"
def nvmlDeviceGetCount():
    return 1
def nvmlDeviceGetHandleByIndex(index):
    return index
def nvmlDeviceGetName(handle):
    return "NVIDIA H200"
def nvmlDeviceGetCudaComputeCapability(handle):
    return (9, 0)
def nvmlDeviceGetMemoryInfo(handle):
    return _Memory()
def nvmlDeviceGetUUID(handle):
    return "GPU-00000000-0000-0000-0000-000000000000"
''' + body
    path = tmp_path / "pynvml.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("pynvml", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "pynvml", module)


@posix_only
def test_nvml_first(machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_pynvml(tmp_path, monkeypatch)
    machine.smi("query-h100-80gb-hbm3-590.48.01.csv")
    d = machine.detect()
    assert (d.driver, d.driver_source, d.gpu_source) == ("590.48.01", "nvml", "nvml")
    assert [(g.name, str(g.cc), g.memory_mib, g.uuid) for g in d.gpus] == [
        ("NVIDIA H200", "9.0", 143771, "GPU-00000000-0000-0000-0000-000000000000"),
    ]
    assert _status(d, "nvml") == "ok" and _status(d, "nvidia-smi") == "skipped"


@posix_only
@pytest.mark.parametrize(
    ("body", "status"),
    [
        # no driver: NVML raises, nvidia-smi is asked next
        ("FAIL = 'Driver Not Loaded'\n", "error"),
        # NVML hangs: given up after the timeout
        ("SLEEP = 10\n", "timeout"),
    ],
)
def test_nvml_failures_fall_back_to_nvidia_smi(
    machine: Machine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, status: str
) -> None:
    _fake_pynvml(tmp_path, monkeypatch, body)
    machine.smi("query-h100-80gb-hbm3-590.48.01.csv")
    # long enough for the fake nvidia-smi (a Python script) to start on a loaded machine
    d = machine.detect(timeout=3.0)
    assert _status(d, "nvml") == status
    assert (d.driver_source, [g.name for g in d.gpus]) == ("nvidia-smi", ["NVIDIA H100 80GB HBM3"])


def test_nvml_without_the_compute_capability_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_pynvml(tmp_path, monkeypatch, "del nvmlDeviceGetCudaComputeCapability\n")
    d = detect(env={"PATH": str(tmp_path)}, root=tmp_path)
    (gpu,) = d.gpus
    assert (str(gpu.cc), gpu.cc_source) == ("9.0", "gpu-table")


# === the Python that will run the environment =======================================================


def test_python_is_this_one_by_default(tmp_path: Path) -> None:
    d = detect(env={"PATH": str(tmp_path)}, root=tmp_path)
    assert d.python.version == tuple(sys.version_info[:3])
    assert str(d.host.python) == f"=={sys.version_info[0]}.{sys.version_info[1]}.*"
    if sys.platform.startswith("linux") and d.python.glibc:
        assert d.host.glibc == d.python.glibc == parse_glibc(os.confstr("CS_GNU_LIBC_VERSION"))


def test_python_flag_runs_the_interpreter(tmp_path: Path) -> None:
    d = detect(python=sys.executable, env={"PATH": str(tmp_path)}, root=tmp_path)
    assert d.python.version == tuple(sys.version_info[:3])
    assert d.python.implementation == sys.implementation.name


@posix_only
def test_python_flag_macos_arm64(tmp_path: Path) -> None:
    # A fake interpreter that answers as CPython 3.12 on Apple silicon would.
    fake = tmp_path / "python3"
    answer = {"executable": "python3", "version": [3, 12, 4], "implementation": "cpython", "sys_platform": "darwin",
              "machine": "arm64", "confstr": None, "libc": None, "bits": 64, "macos": "14.5"}
    fake.write_text(f"#!{sys.executable}\nprint({json.dumps(json.dumps(answer))})\n")
    fake.chmod(0o755)
    d = detect(python=fake, env={"PATH": str(tmp_path)}, root=tmp_path)
    assert (d.platform, d.accelerator, d.glibc) == ("macos-arm64", "mps", None)
    assert str(d.host.python) == "==3.12.*"
    assert _status(d, "nvidia-smi") == "skipped"
    assert any("MPS" in n for n in d.notes)


@posix_only
@pytest.mark.parametrize(
    ("script", "timeout", "message"),
    [
        ("import sys\nsys.exit(3)\n", 30.0, "exited 3"),
        ("print('hello')\n", 30.0, "not what a Python interpreter prints"),
        ("import time\ntime.sleep(30)\n", 0.5, "did not answer"),
    ],
)
def test_python_flag_errors(tmp_path: Path, script: str, timeout: float, message: str) -> None:
    fake = tmp_path / "python3"
    fake.write_text(f"#!{sys.executable}\n{script}")
    fake.chmod(0o755)
    with pytest.raises(HostError, match=message):
        detect(python=fake, env={"PATH": str(tmp_path)}, root=tmp_path, timeout=timeout)
    with pytest.raises(HostError, match="no such file"):
        detect(python=tmp_path / "nothing", env={"PATH": str(tmp_path)}, root=tmp_path)


# === probe_host and the CLI =========================================================================


def test_probe_host_delegates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIENV_GPUS", "H100")
    monkeypatch.setenv("AIENV_DRIVER", "550.54.14")
    host = probe_host("box", timeout=1.0)
    assert (host.name, str(host.driver), [g.name for g in host.gpus]) == ("box", "550.54.14", ["NVIDIA H100"])
    assert host.origin == "probed"


@posix_only
def test_cli_detect_json(machine: Machine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    machine.smi("query-l40s-595.80.csv")
    monkeypatch.setenv("PATH", str(machine.bin))
    for name in ("AIENV_GPUS", "AIENV_DRIVER", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    assert main(["detect", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["driver"] == {"version": "595.80", "source": "nvidia-smi"}
    assert [(g["name"], g["compute-capability"], g["memory-mib"]) for g in data["gpus"]] == [("NVIDIA L40S", "8.9", 46068)]
    assert data["host"]["gpus"] == [{"name": "NVIDIA L40S", "compute-capability": "8.9"}]
    assert {s["name"] for s in data["sources"]} >= {"nvml", "nvidia-smi", "lspci"}
    assert main(["detect", "--gpu", "none", "--driver", "550.54.14"]) == 0
    out = capsys.readouterr().out
    assert "driver:" in out and "550.54.14 (from --driver)" in out and "gpus:" in out


def test_cli_detect_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detect", "--gpu", "Voodoo 5"]) == 2
    assert "unknown GPU 'Voodoo 5'" in capsys.readouterr().err
    assert main(["detect", "--driver", "abc", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "invalid-host"
    assert main(["detect", "--python", "no-such-python-here"]) == 2


@posix_only
def test_aienv_detect_json_as_a_command(machine: Machine) -> None:
    machine.smi("query-rtx-4080-super-595.71.05.csv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIENV_") and k != "CUDA_VISIBLE_DEVICES"}
    env["PATH"] = str(machine.bin)
    run = subprocess.run([sys.executable, "-m", "envspec", "detect", "--json"], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["gpus"][0]["name"] == "NVIDIA GeForce RTX 4080 SUPER"
    assert data["accelerator"] == "cuda"


# === on a real GPU ==================================================================================


@pytest.mark.gpu
def test_detection_agrees_with_nvidia_smi_and_torch() -> None:
    smi = shutil.which("nvidia-smi")
    assert smi, "nvidia-smi is not on PATH"
    out = subprocess.run([smi, "--query-gpu=name,driver_version,compute_cap", "--format=csv,noheader"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    rows = [[v.strip() for v in line.split(",")] for line in out.strip().splitlines()]
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "AIENV_GPUS", "AIENV_DRIVER")}
    d = detect(env=env, timeout=30)
    assert d.driver == rows[0][1]
    assert [(g.name, str(g.cc)) for g in d.gpus] == [(name, Arch.parse(cc).__str__()) for name, _, cc in rows]
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        seen = detect(timeout=30)  # with this process's CUDA_VISIBLE_DEVICES
        torch_ccs = sorted(torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count()))
        assert torch_ccs == sorted((g.cc.major, g.cc.minor) for g in seen.gpus if g.cc)
