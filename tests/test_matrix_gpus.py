"""AMD and Intel GPU models, and the gfx lists of torch's ROCm builds: sourced, typed, looked up
by the names people write.

Expected values were read by hand from the primary sources named in each comment
(envspec/matrix/data/SOURCES-frameworks.md lists them with commits and URLs).
"""

from __future__ import annotations

import copy

import pytest

from envspec.errors import MatrixError
from envspec.matrix import DATA_FILES, Matrix, _read, get_matrix
from envspec.matrix._gpus import (
    gfx_sort_key,
    is_gfx,
    load_amd_gpus,
    load_intel_gpus,
    name_key,
)

M = get_matrix()
FILES = ("gpus_amd.json", "gpus_intel.json")


def test_files_are_packaged_and_part_of_the_matrix_version() -> None:
    assert set(FILES) <= set(DATA_FILES)
    raw = {name: _read(name) for name in DATA_FILES}
    changed = copy.deepcopy(raw)
    changed["gpus_amd.json"]["gpus"][0]["aliases"].append("MI-next")
    assert Matrix(changed).version != Matrix(raw).version


# --- every row has a known source ------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_every_row_names_a_known_source(name: str) -> None:
    data = M.raw[name]
    keys = set(data["sources"])
    assert all(isinstance(v, str) and v for v in data["sources"].values())
    cited = list(_cited(data))
    assert cited
    for c in cited:
        assert c in keys or c.startswith("https://"), f"{name}: unknown source {c!r}"


def test_every_typed_row_carries_a_source() -> None:
    amd_keys, intel_keys = set(M.raw["gpus_amd.json"]["sources"]), set(M.raw["gpus_intel.json"]["sources"])
    assert all(g.source in amd_keys for g in M.amd_gpus)
    assert all(s.source in amd_keys for g in M.amd_gpus for s in g.rocm_support)
    assert all(g.source in intel_keys for g in M.intel_gpus)
    assert all(set(f.sources) <= intel_keys for f in M.intel_gpu_families.values())


# --- AMD -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "gfx", "arch"),
    [
        # AMD "GPU hardware specifications" (gpu-arch-specs.rst): Model, Architecture, LLVM target name
        ("MI300X", "AMD Instinct MI300X", "gfx942", "CDNA3"),
        ("Instinct MI300X", "AMD Instinct MI300X", "gfx942", "CDNA3"),
        ("AMD Instinct MI300X", "AMD Instinct MI300X", "gfx942", "CDNA3"),
        ("mi325x", "AMD Instinct MI325X", "gfx942", "CDNA3"),
        ("MI355X", "AMD Instinct MI355X", "gfx950", "CDNA4"),
        ("MI350X", "AMD Instinct MI350X", "gfx950", "CDNA4"),
        ("MI300A", "AMD Instinct MI300A", "gfx942", "CDNA3"),
        ("MI250X", "AMD Instinct MI250X", "gfx90a", "CDNA2"),
        ("MI210", "AMD Instinct MI210", "gfx90a", "CDNA2"),
        ("MI100", "AMD Instinct MI100", "gfx908", "CDNA"),
        ("MI60", "AMD Instinct MI60", "gfx906", "GCN5.1"),
        ("MI50 (32GB)", "AMD Instinct MI50", "gfx906", "GCN5.1"),
        ("Radeon PRO W7900", "AMD Radeon PRO W7900", "gfx1100", "RDNA3"),
        ("Radeon Pro W7800", "AMD Radeon PRO W7800", "gfx1100", "RDNA3"),
        ("W6800", "AMD Radeon PRO W6800", "gfx1030", "RDNA2"),
        ("Radeon PRO V620", "AMD Radeon PRO V620", "gfx1030", "RDNA2"),
        ("Radeon AI PRO R9700", "AMD Radeon AI PRO R9700", "gfx1201", "RDNA4"),
        ("RX 7900 XTX", "AMD Radeon RX 7900 XTX", "gfx1100", "RDNA3"),
        ("Radeon RX 7900 XTX", "AMD Radeon RX 7900 XTX", "gfx1100", "RDNA3"),
        ("7900 XT", "AMD Radeon RX 7900 XT", "gfx1100", "RDNA3"),
        ("RX 7900 GRE", "AMD Radeon RX 7900 GRE", "gfx1100", "RDNA3"),
        ("RX 7800 XT", "AMD Radeon RX 7800 XT", "gfx1101", "RDNA3"),
        ("RX 7600", "AMD Radeon RX 7600", "gfx1102", "RDNA3"),
        ("RX 6900 XT", "AMD Radeon RX 6900 XT", "gfx1030", "RDNA2"),
        ("RX 6800", "AMD Radeon RX 6800", "gfx1030", "RDNA2"),
        ("RX 6800 XT", "AMD Radeon RX 6800 XT", "gfx1030", "RDNA2"),
        ("RX 6700 XT", "AMD Radeon RX 6700 XT", "gfx1031", "RDNA2"),
        ("RX 9070 XT", "AMD Radeon RX 9070 XT", "gfx1201", "RDNA4"),
        ("RX 9070", "AMD Radeon RX 9070", "gfx1201", "RDNA4"),
        ("RX 9060 XT", "AMD Radeon RX 9060 XT", "gfx1200", "RDNA4"),
        ("Radeon VII", "AMD Radeon VII", "gfx906", "GCN5.1"),
        # how rocminfo / amd-smi and people write the same names
        ("AMD Radeon(TM) RX 7900 XTX", "AMD Radeon RX 7900 XTX", "gfx1100", "RDNA3"),
        ("rx7900xtx", "AMD Radeon RX 7900 XTX", "gfx1100", "RDNA3"),
        ("AMD Radeon RX 7900 XTX ", "AMD Radeon RX 7900 XTX", "gfx1100", "RDNA3"),
    ],
)
def test_amd_lookup(text: str, name: str, gfx: str, arch: str) -> None:
    gpu = M.amd_gpu(text)
    assert gpu is not None, text
    assert (gpu.name, gpu.gfx, gpu.arch) == (name, gfx, arch)
    assert gpu.verified and gpu.source == "amd_arch_specs"


@pytest.mark.parametrize("text", ["gfx1100", "GFX942", "gfx90a", "", "RX 9999", "MI400X", "Radeon", "6800", "Arc A770"])
def test_amd_lookup_of_unknown_names_and_raw_gfx(text: str) -> None:
    # a bare LLVM target is not a model name: the caller handles raw gfx itself
    assert M.amd_gpu(text) is None


def test_similar_names_stay_apart() -> None:
    assert M.amd_gpu("RX 7900 XT").name != M.amd_gpu("RX 7900 XTX").name
    assert M.amd_gpu("W7900").name != M.amd_gpu("W7900 Dual Slot").name
    assert M.amd_gpu("Radeon PRO VII").name != M.amd_gpu("Radeon VII").name
    assert M.amd_gpu("RX 6800").name != M.amd_gpu("W6800").name


@pytest.mark.parametrize(
    ("name", "first", "statuses"),
    [
        # AMD "System requirements (Linux)", docs/<release> branches of ROCm/rocm-install-on-linux
        ("MI300X", "6.0.0", {"6.0.0": "supported", "6.2.4": "supported", "6.4": "supported", "7.0.0": "supported"}),
        ("RX 7900 XTX", "6.0.0", {"6.0.0": "supported", "6.4": "supported"}),
        ("RX 7900 GRE", "6.0.2", {"6.0.0": None, "6.0.2": "supported"}),
        ("W7800", "6.0.2", {"6.0.0": None, "6.1.0": "supported"}),
        ("W7900 Dual Slot", "6.1.2", {"6.1.1": None, "6.1.2": "supported"}),
        ("MI50", "6.0.0", {"6.0.0": "deprecated", "6.2.4": "deprecated", "6.4": "unsupported"}),
        ("MI25", None, {"6.0.0": "unsupported"}),
        ("Radeon VII", "6.0.0", {"6.0.0": "supported", "6.0.2": "deprecated", "6.4": "unsupported"}),
        ("RX 9070 XT", "6.4", {"6.2.4": None, "6.4": "supported", "7.0.0": "supported"}),
        ("MI325X", "6.4", {"6.4": "supported"}),
        ("MI355X", "7.0.0", {"6.4": None, "7.0.0": "supported"}),
        # never on an AMD Linux support list read
        ("RX 6800 XT", None, {"6.0.0": None, "6.4": None}),
        ("RX 7600", None, {"6.4": None}),
    ],
)
def test_amd_rocm_support_lists(name: str, first: str | None, statuses: dict[str, str | None]) -> None:
    gpu = M.amd_gpu(name)
    assert gpu.rocm_first_listed == first
    for rocm, status in statuses.items():
        assert gpu.rocm_status(rocm) == status, (name, rocm)


def test_amd_partial_support_list_is_marked() -> None:
    # the 7.0.0 list is the GPUs named by compatibility-matrix footnotes only
    entry = next(s for s in M.amd_gpu("MI355X").rocm_support if s.rocm == "7.0.0")
    assert entry.complete is False and entry.source == "rocm_matrix_700"
    assert all(s.complete for s in M.amd_gpu("MI300X").rocm_support if s.rocm != "7.0.0")


def test_amd_gfx_agrees_with_rocm_releases() -> None:
    # every gfx AMD's compatibility matrix supports belongs to some named model
    model_gfx = {g.gfx for g in M.amd_gpus}
    assert {g for r in M.rocm_releases for g in r.gfx} <= model_gfx
    assert M.rocm_releases_for(M.amd_gpu("MI355X").gfx)[-1].version.base_version == "7.0.0"


def test_amd_names_for_suggestions() -> None:
    names = M.amd_gpu_names()
    assert names == sorted(names) and len(names) == len(set(names))
    assert {"AMD Radeon RX 7900 XTX", "RX 7900 XTX", "MI300X", "Radeon PRO W7900"} <= set(names)
    assert not any(is_gfx(n) for n in names)


# --- Intel -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "integrated", "family"),
    [
        # Intel's supported-hardware tables (dgpu-docs), transcribed by Intel
        ("Arc A770", "Intel Arc A770", False, "arc-a"),
        ("Intel Arc A770", "Intel Arc A770", False, "arc-a"),
        ("Intel(R) Arc(TM) A770 Graphics", "Intel Arc A770", False, "arc-a"),
        ("A750", "Intel Arc A750", False, "arc-a"),
        ("Arc A580", "Intel Arc A580", False, "arc-a"),
        ("Arc A380", "Intel Arc A380", False, "arc-a"),
        ("Arc A770M", "Intel Arc A770M", False, "arc-a"),
        ("Arc B580", "Intel Arc B580", False, "arc-b"),
        ("B570", "Intel Arc B570", False, "arc-b"),
        ("Data Center GPU Max 1550", "Intel Data Center GPU Max 1550", False, "max"),
        ("Intel Data Center GPU Max 1100", "Intel Data Center GPU Max 1100", False, "max"),
        ("Max 1100", "Intel Data Center GPU Max 1100", False, "max"),
        ("Flex 170", "Intel Data Center GPU Flex 170", False, "flex"),
        ("Data Center GPU Flex 140", "Intel Data Center GPU Flex 140", False, "flex"),
        # the integrated "Arc graphics" of Core Ultra processors
        ("Intel Arc Graphics", "Intel Arc Graphics", True, "mtl"),
        ("Intel(R) Arc(TM) Graphics", "Intel Arc Graphics", True, "mtl"),
        ("Arc 140V", "Intel Arc 140V GPU", True, "lnl"),
        ("Intel Arc B390 GPU", "Intel Arc B390 GPU", True, "ptl"),
    ],
)
def test_intel_lookup(text: str, name: str, integrated: bool, family: str) -> None:
    gpu = M.intel_gpu(text)
    assert gpu is not None, text
    assert (gpu.name, gpu.integrated, gpu.family) == (name, integrated, family)


@pytest.mark.parametrize("text", ["Arc A999", "Intel UHD Graphics 770", "", "RX 7900 XTX", "gfx1100", "B390X"])
def test_intel_lookup_of_unknown_names(text: str) -> None:
    assert M.intel_gpu(text) is None


def test_intel_integrated_flags() -> None:
    integrated = {g.name for g in M.intel_gpus if g.integrated}
    assert integrated == {"Intel Arc Graphics", "Intel Arc 140V GPU", "Intel Arc 130V GPU", "Intel Arc B390 GPU", "Intel Arc B370 GPU"}
    # the B-series-style Panther Lake names are integrated; the discrete B580 is not
    assert M.intel_gpu("B390").integrated and not M.intel_gpu("B580").integrated


@pytest.mark.parametrize(
    ("family", "docs"),
    [
        # PyTorch "Getting Started on Intel GPU" validated-hardware lists, per docs version read
        ("max", ("2.5", "2.6", "2.7", "2.12", "2.15")),
        ("arc-a", ("2.7", "2.12", "2.15")),
        ("arc-b", ("2.7", "2.12", "2.15")),
        ("mtl", ("2.7", "2.12", "2.15")),
        ("ptl", ("2.12", "2.15")),
        ("flex", ()),
    ],
)
def test_intel_families_in_torch_docs(family: str, docs: tuple[str, ...]) -> None:
    assert M.intel_gpu_families[family].torch_docs == docs
    assert all(g.torch_docs == docs for g in M.intel_gpus if g.family == family)


def test_intel_unverified_rows_say_why() -> None:
    gpu = M.intel_gpu("Arc 130V")
    assert gpu.verified is False and gpu.note and gpu.source == "observed_names"
    assert M.intel_gpu("Arc A770").verified


def test_intel_names_for_suggestions() -> None:
    names = M.intel_gpu_names()
    assert names == sorted(names) and {"Arc A770", "Intel Arc B580", "Max 1550"} <= set(names)


# --- gfx and torch's ROCm builds -------------------------------------------------------------


def test_known_gfx() -> None:
    known = M.known_gfx()
    assert known == tuple(sorted(known, key=gfx_sort_key)) and len(known) == len(set(known))
    assert {"gfx803", "gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx950", "gfx1030", "gfx1100", "gfx1101",
            "gfx1102", "gfx1150", "gfx1151", "gfx1200", "gfx1201"} <= set(known)
    assert known.index("gfx90a") < known.index("gfx942") < known.index("gfx1030")
    assert "gfx1250" not in known


@pytest.mark.parametrize(
    ("version", "variant", "gfx", "verified"),
    [
        # torch.cuda.get_arch_list() of the published wheels (astral-sh/uv#14086)
        ("2.4.1", "rocm6.0", ("gfx900", "gfx906", "gfx908", "gfx90a", "gfx1030", "gfx1100", "gfx942"), True),
        ("2.5.1", "rocm6.2", ("gfx900", "gfx906", "gfx908", "gfx90a", "gfx1030", "gfx1100", "gfx942"), True),
        ("2.7.1", "rocm6.3", ("gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100", "gfx1101",
                              "gfx1102", "gfx1200", "gfx1201"), True),
        ("2.7.1", "rocm6.2.4", ("gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100", "gfx1101",
                                "gfx1102", "gfx1200", "gfx1201"), True),
        # inferred from PyTorch's PR dates and uv's per-index measurements: unverified
        ("2.6.0", "rocm6.2.4", ("gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100", "gfx1101"), False),
        ("2.9.1", "rocm6.4", ("gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100", "gfx1101",
                              "gfx1102", "gfx1200", "gfx1201"), False),
        ("2.11.0", "rocm7.2", ("gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100", "gfx1101",
                               "gfx1102", "gfx1200", "gfx1201", "gfx950", "gfx1150", "gfx1151"), False),
    ],
)
def test_torch_rocm_build_gfx(version: str, variant: str, gfx: tuple[str, ...], verified: bool) -> None:
    build = M.torch_build(version, variant, "linux-x86_64")
    assert build is not None
    assert build.gfx == gfx and build.verified is verified
    assert build.sources and (verified or build.note)


def test_every_torch_rocm_build_from_2_4_has_a_gfx_list() -> None:
    for build in M.torch_builds_of_kind("rocm"):
        assert build.gfx, (str(build.torch), build.variant.name)
        assert all(g in M.known_gfx() for g in build.gfx)
        assert set(build.gfx) <= set(M.known_gfx())


def test_rocm_variants_published_per_release() -> None:
    variants = {str(r.version): {b.variant.name for b in r.builds if b.variant.kind == "rocm"} for r in M.torch_releases}
    assert variants["2.7.1"] == {"rocm6.2.4", "rocm6.3"}
    assert variants["2.8.0"] == {"rocm6.3", "rocm6.4"}
    assert variants["2.10.0"] == {"rocm7.0", "rocm7.1"}
    assert "rocm6.0" in variants["2.4.1"]


def test_a_gfx1201_gpu_first_has_torch_kernels_in_2_7() -> None:
    gfx = M.amd_gpu("RX 9070 XT").gfx
    with_kernels = sorted({b.torch for b in M.torch_builds_of_kind("rocm") if gfx in b.gfx})
    assert str(with_kernels[0]) == "2.7.0"


# --- helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("AMD Radeon(TM) RX 7900 XTX", "amd radeon rx 7900xtx"),
        ("Intel(R) Arc(TM) A770 Graphics", "intel arc a770 graphics"),
        ("Instinct MI300-X", "instinct mi300x"),
        ("Intel® Arc™ B580", "Intel Arc B580"),
    ],
)
def test_name_key(a: str, b: str) -> None:
    assert name_key(a) == name_key(b)


# --- malformed data raises MatrixError -------------------------------------------------------


def _broken(name: str, edit) -> dict:
    data = copy.deepcopy(M.raw[name])
    edit(data)
    return data


def _gpu(data: dict, name: str) -> dict:
    return next(g for g in data["gpus"] if g["name"] == name)


BROKEN = [
    ("gpus_amd.json", lambda d: _gpu(d, "AMD Instinct MI300X").update(gfx="mi300"), r"gpus\[\d+\] \(AMD Instinct MI300X\): gfx 'mi300'"),
    ("gpus_amd.json", lambda d: _gpu(d, "AMD Instinct MI300X").pop("gfx"), "missing 'gfx'"),
    ("gpus_amd.json", lambda d: _gpu(d, "AMD Instinct MI300X").update(line="datacenter"), "line 'datacenter'"),
    ("gpus_amd.json", lambda d: _gpu(d, "AMD Instinct MI300X").update(source="nowhere"), "unknown source 'nowhere'"),
    ("gpus_amd.json", lambda d: _gpu(d, "AMD Instinct MI300X").update(verified="yes"), "'verified'"),
    ("gpus_amd.json", lambda d: _gpu(d, "AMD Instinct MI300X").update(aliases=["gfx942"]), "LLVM targets, not model names"),
    ("gpus_amd.json", lambda d: _gpu(d, "AMD Instinct MI300X").update(aliases=["MI300X", "RX 7900 XTX"]), "names both"),
    ("gpus_amd.json", lambda d: d["gpus"].append("MI400"), "must be an object"),
    ("gpus_amd.json", lambda d: d["rocm_support"][0]["supported"].append("AMD Radeon RX 9999"), r"ROCm 6.0.0.*unknown GPU"),
    ("gpus_amd.json", lambda d: d["rocm_support"][0].update(rocm="six"), "not a PEP 440 version"),
    ("gpus_amd.json", lambda d: d.pop("sources"), "no sources table"),
    ("gpus_intel.json", lambda d: _gpu(d, "Intel Arc A770").update(family="arc-z"), r"\(Intel Arc A770\): unknown family 'arc-z'"),
    ("gpus_intel.json", lambda d: _gpu(d, "Intel Arc A770").update(integrated=True), "disagrees with family"),
    ("gpus_intel.json", lambda d: _gpu(d, "Intel Arc A770").update(integrated="no"), "'integrated' must be a bool"),
    ("gpus_intel.json", lambda d: _gpu(d, "Intel Arc A770").pop("source"), "missing 'source'"),
    ("gpus_intel.json", lambda d: d["torch_docs"]["2.7"]["families"].append("gaudi"), "unknown families"),
    ("gpus_intel.json", lambda d: d["families"]["max"].update(source=["nowhere"]), "unknown source"),
]


@pytest.mark.parametrize(("name", "edit", "message"), BROKEN)
def test_malformed_rows_raise(name: str, edit, message: str) -> None:
    loader = load_amd_gpus if name == "gpus_amd.json" else load_intel_gpus
    with pytest.raises(MatrixError, match=message) as info:
        loader(_broken(name, edit))
    assert name in str(info.value)


def test_malformed_file_fails_through_the_matrix_lookup() -> None:
    raw = {name: _read(name) for name in DATA_FILES}
    _gpu(raw["gpus_amd.json"], "AMD Radeon RX 7900 XTX")["gfx"] = "navi31"
    matrix = Matrix(raw)  # parsed on first use
    with pytest.raises(MatrixError, match=r"gpus_amd.json: gpus\[\d+\] \(AMD Radeon RX 7900 XTX\)"):
        matrix.amd_gpu("RX 7900 XTX")


def test_the_shipped_files_load() -> None:
    assert len(load_amd_gpus(M.raw["gpus_amd.json"])) >= 40
    families, gpus = load_intel_gpus(M.raw["gpus_intel.json"])
    assert len(gpus) >= 20 and set(families) >= {"arc-a", "arc-b", "max", "flex", "mtl", "lnl", "arl", "ptl"}


def _cited(data: object):
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "source":
                yield from ([v] if isinstance(v, str) else v if isinstance(v, list) else [])
            elif k != "sources":
                yield from _cited(v)
    elif isinstance(data, list):
        for item in data:
            yield from _cited(item)
