"""The TensorFlow, JAX, PaddlePaddle and ROCm data: sourced, typed, and saying what the sources say.

Expected values below were read by hand from the primary sources named in each comment
(envspec/matrix/data/SOURCES-frameworks.md lists them with commits and URLs).
"""

from __future__ import annotations

import copy

import pytest
from packaging.version import Version

from envspec.errors import MatrixError
from envspec.matrix import DATA_FILES, Matrix, _read, get_matrix
from envspec.matrix._frameworks import load_jax, load_paddle, load_rocm, load_tensorflow

M = get_matrix()
FILES = ("tensorflow.json", "jax.json", "paddle.json", "rocm.json")


def test_files_are_part_of_the_matrix_version() -> None:
    assert set(FILES) <= set(DATA_FILES)
    raw = {name: _read(name) for name in DATA_FILES}
    changed = copy.deepcopy(raw)
    changed["paddle.json"]["releases"]["2.6.2"]["python"].append("3.99")
    assert Matrix(changed).version != Matrix(raw).version


# --- every row has a source ------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_every_row_names_a_known_source(name: str) -> None:
    data = M.raw[name]
    keys = set(data["sources"])
    assert all(isinstance(v, str) and v for v in data["sources"].values())
    cited = list(_cited(data))
    assert cited, "no row cites a source"
    for c in cited:
        assert c in keys or c.startswith("https://"), f"{name}: unknown source {c!r}"


def test_every_typed_row_carries_its_source() -> None:
    for tf in M.tensorflow_releases:
        assert tf.sources and any(s.startswith("https://pypi.org/pypi/tensorflow/") for s in tf.sources)
    for jax in M.jax_releases:
        assert jax.sources == (f"https://pypi.org/pypi/jax/{jax.version}/json",)
    for paddle in M.paddle_releases:
        assert paddle.sources
        assert all(v.source for v in paddle.variants)
    assert all(r.source.startswith("rocm_matrix_") for r in M.rocm_releases)
    assert M.rocm_release("6.2.4").source == "rocm_matrix_60"


# --- TensorFlow ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "cuda", "cudnn"),
    [
        # tensorflow.org "Tested build configurations", Linux GPU (tensorflow/docs source.md)
        ("2.10.0", "11.2", "8.1"),
        ("2.14.0", "11.8", "8.7"),
        ("2.15.0", "12.2", "8.9"),
        ("2.16.1", "12.3", "8.9"),
        ("2.18.0", "12.5", "9.3"),
        ("2.21.0", "12.5", "9.3"),
    ],
)
def test_tensorflow_tested_cuda(version: str, cuda: str, cudnn: str) -> None:
    tf = M.tensorflow_release(version)
    assert tf is not None
    assert (tf.cuda, tf.cudnn) == (Version(cuda), Version(cudnn))


def test_tensorflow_covers_2_10_to_2_21() -> None:
    versions = {str(r.version) for r in M.tensorflow_releases}
    assert {"2.10.0", "2.11.0", "2.12.0", "2.13.0", "2.14.0", "2.15.0", "2.16.1", "2.17.0", "2.18.0",
            "2.19.0", "2.20.0", "2.21.0"} <= versions
    assert "2.16.0" not in versions  # never published on PyPI (2.16.1 is the first 2.16)
    assert min(r.version for r in M.tensorflow_releases) == Version("2.10.0")


def test_tensorflow_and_cuda_extra_from_2_14() -> None:
    # PyPI wheel metadata: Provides-Extra: and-cuda first appears in 2.14.0
    for tf in M.tensorflow_releases:
        assert tf.has_and_cuda is (tf.version >= Version("2.14")), tf.version
    pins = M.tensorflow_release("2.15.0").and_cuda
    assert "nvidia-cudnn-cu12==8.9.4.25" in pins and "nvidia-cuda-runtime-cu12==12.2.140" in pins
    assert "nvidia-cuda-runtime-cu11==11.8.89" in M.tensorflow_release("2.14.0").and_cuda
    # 2.20 loosened the pins to ranges
    assert "nvidia-cudnn-cu12<10.0,>=9.3.0.75" in M.tensorflow_release("2.20.0").and_cuda


def test_tensorflow_native_windows_gpu_ends_with_2_10() -> None:
    # tensorflow.org/install/pip: "TensorFlow 2.10 was the last TensorFlow release that supported GPU on native-Windows"
    for tf in M.tensorflow_releases:
        assert tf.gpu_on("windows-x86_64") is (tf.version < Version("2.11")), tf.version
        assert tf.gpu_on("linux-x86_64")
        assert not tf.gpu_on("macos-arm64")


def test_tensorflow_pythons_from_the_wheels() -> None:
    assert M.tensorflow_release("2.15.0").python["linux-x86_64"] == ("3.9", "3.10", "3.11")
    assert M.tensorflow_release("2.21.0").python["linux-x86_64"] == ("3.10", "3.11", "3.12", "3.13")
    assert M.tensorflow_release("2.21.0").requires_python.contains("3.9") is False
    assert "macos-arm64" not in M.tensorflow_release("2.12.0").python  # first arm64 macOS wheels in 2.13
    assert "macos-arm64" in M.tensorflow_release("2.13.0").python


def test_tensorflow_unverified_rows_say_why() -> None:
    tf = M.tensorflow_release("2.13.1")  # no and-cuda extra: the 2.13.0 table row is inferred
    assert tf.verified is False and "2.13.0" in tf.note
    assert M.tensorflow_release("2.15.1").verified  # and-cuda pins confirm the row


def test_tensorflow_driver_floor_comes_from_nvidias_table() -> None:
    tf = M.tensorflow_release("2.15.0")
    floor = M.driver_floor(tf.cuda, "linux-x86_64", "minor-version")
    assert floor is not None and floor.driver == Version("525.60.13")  # also what tensorflow.org/install/pip says


# --- JAX -------------------------------------------------------------------------------------


def test_jax_cuda_majors_from_the_install_docs() -> None:
    # jax docs/installation.md: SM 5.2+ and driver >= 525.60.13 (CUDA 12); SM 7.5+ and >= 580 (CUDA 13)
    c12, c13 = M.jax_cuda_major(12), M.jax_cuda_major(13)
    assert str(c12.min_sm) == "5.2" and c12.driver_linux == Version("525.60.13")
    assert str(c13.min_sm) == "7.5" and c13.driver_linux == Version("580")
    assert M.jax_cuda_major(11).driver_linux == Version("450.80.02")
    assert M.jax_cuda_major(14) is None


@pytest.mark.parametrize(
    ("version", "extras"),
    [
        # Provides-Extra of each jax wheel on PyPI
        ("0.4.16", {"cuda", "cuda11_cudnn86", "cuda11_local", "cuda11_pip", "cuda12_local", "cuda12_pip"}),
        ("0.4.26", {"cuda", "cuda12", "cuda12_cudnn89", "cuda12_local", "cuda12_pip"}),
        ("0.6.0", {"cuda", "cuda12", "cuda12-local", "rocm"}),
        ("0.7.0", {"cuda", "cuda12", "cuda13", "cuda12-local", "cuda13-local", "rocm"}),
    ],
)
def test_jax_extras(version: str, extras: set[str]) -> None:
    assert {e.name for e in M.jax_release(version).extras} == extras


def test_jax_extra_cuda_pins() -> None:
    # jax 0.4.16 cuda11_pip: nvidia-cuda-runtime-cu11>=11.8, nvidia-cudnn-cu11>=8.8
    e = M.jax_release("0.4.16").extra("cuda11_pip")
    assert (e.libs, e.cuda_major, e.cuda_min) == ("pip", 11, Version("11.8")) and str(e.cudnn) == ">=8.8"
    # from 0.4.31 the pins live in jax-cuda12-plugin[with_cuda]: runtime >= 12.1.105, cuDNN >= 9.1, < 10
    e = M.jax_release("0.4.31").extra("cuda12")
    assert e.plugin is not None and e.plugin.version == Version("0.4.31")
    assert e.cuda_min == Version("12.1.105") and e.cudnn.contains("9.1") and not e.cudnn.contains("10.0")
    e = M.jax_release("0.9.2").extra("cuda13")
    assert e.cuda_min == Version("13.0.48") and e.cudnn.contains("9.12.0.46")
    # local extras bring no CUDA: the system must have it
    e = M.jax_release("0.9.2").extra("cuda13-local")
    assert e.libs == "local" and e.cuda_min is None
    assert M.jax_release("0.9.2").extra("CUDA13_local") is e  # extra names compare normalized


def test_jax_extra_without_a_plugin_release_is_not_installable() -> None:
    # jax 0.7.0 declares [cuda13], but PyPI's first jax-cuda13-plugin is 0.7.2
    assert M.jax_release("0.7.0").extra("cuda13").installable is False
    assert M.jax_release("0.7.2").extra("cuda13").installable is True


def test_jax_python_floor() -> None:
    assert str(M.jax_release("0.4.30").requires_python) == ">=3.9"
    assert str(M.jax_release("0.4.31").requires_python) == ">=3.10"
    assert str(M.jax_release("0.7.0").requires_python) == ">=3.11"
    plugin = M.jax_release("0.4.31").extra("cuda12").plugin
    assert plugin.python["linux-x86_64"] == ("3.10", "3.11", "3.12")


# --- PaddlePaddle ----------------------------------------------------------------------------


def test_paddle_2_6_variants() -> None:
    # PaddlePaddle docs, release/2.6, install/pip/linux-pip.md
    release = M.paddle_release("2.6.2")
    assert release.system_cuda and release.verified
    assert sorted(str(v.cuda) for v in release.variants) == ["11.2", "11.6", "11.7", "11.8", "12.0"]
    cu120 = release.variant("12.0", "linux-x86_64")
    assert cu120.requirement == "paddlepaddle-gpu==2.6.2.post120"
    assert cu120.index == "https://www.paddlepaddle.org.cn/packages/stable/cu120/" and cu120.index_mode == "index-url"
    assert cu120.cudnn == Version("8.9.1")
    cu118 = release.variant("11.8", "linux-x86_64")  # the plain version is the PyPI (CUDA 11.8) build
    assert cu118.version == Version("2.6.2") and cu118.index == "https://pypi.org/simple"
    assert release.python == ("3.8", "3.9", "3.10", "3.11", "3.12")
    assert release.conda.pin_package == "cudatoolkit" and release.conda.cuda_pins == ("11.2", "11.6", "11.7")


def test_paddle_2_5_uses_find_links_and_cuda_10_2() -> None:
    release = M.paddle_release("2.5.2")
    cu102 = release.variant("10.2", "linux-x86_64")
    assert cu102.requirement == "paddlepaddle-gpu==2.5.2.post102" and cu102.index_mode == "find-links"
    assert release.variant("10.2", "windows-x86_64").index.endswith("/whl/windows/mkl/avx/stable.html")
    assert release.variant("12.0", "macos-arm64") is None


def test_paddle_3_rows() -> None:
    beta = M.paddle_release("3.0.0b2")
    assert {str(v.cuda) for v in beta.variants} == {"11.8", "12.3"}
    assert beta.conda.pin_package == "paddlepaddle-cuda"
    stable = M.paddle_release("3.2.0")
    assert stable.verified is False and not stable.system_cuda
    assert stable.variant("12.6", "linux-x86_64").index == "https://www.paddlepaddle.org.cn/packages/stable/cu126/"
    assert all(not v.verified for v in stable.variants)


def test_paddle_driver_floor_is_derived_from_cuda_json() -> None:
    variant = M.paddle_release("2.6.2").variant("12.0", "linux-x86_64")
    floor = M.driver_floor(variant.cuda, "linux-x86_64", "toolkit")
    assert floor is not None and floor.source  # NVIDIA's table row for CUDA 12.0 GA
    assert floor.driver == Version("525.60.13")


# --- ROCm and XPU ----------------------------------------------------------------------------


def test_rocm_gfx_targets() -> None:
    # AMD compatibility matrix (ROCm 6.0 - present): GPU / LLVM target rows
    r = M.rocm_release("6.2.4")
    assert r.gfx == ("gfx1100", "gfx1030", "gfx942", "gfx90a", "gfx908")
    assert r.supports("GFX942") and not r.supports("gfx906")
    assert [str(x.version) for x in M.rocm_releases_for("gfx90a")][:2] == ["7.2.4", "7.2.3"]
    assert M.rocm_releases_for("gfx1031") == ()
    assert "2.4" in M.rocm_release("6.3.0").pytorch and "2.4" not in M.rocm_release("6.2.4").pytorch


@pytest.mark.parametrize(
    ("version", "added", "absent"),
    [
        # current-table columns of the stored compatibility-matrix.rst versions (SOURCES-frameworks.md)
        ("6.4.0", (), ("gfx1201", "gfx1101", "gfx950")),
        ("6.4.2", ("gfx1201", "gfx1200", "gfx1101"), ("gfx950",)),
        ("7.0.0", ("gfx950", "gfx1201"), ()),
        ("7.2.4", ("gfx950", "gfx1200"), ("gfx906",)),
    ],
)
def test_rocm_6_4_and_7_targets(version: str, added: tuple[str, ...], absent: tuple[str, ...]) -> None:
    r = M.rocm_release(version)
    assert r is not None
    assert {"gfx1100", "gfx1030", "gfx942", "gfx90a", "gfx908"} <= set(r.gfx)
    assert all(r.supports(g) for g in added)
    assert not any(r.supports(g) for g in absent)


def test_rocm_releases_for_rdna4_start_at_6_4_2() -> None:
    versions = [str(r.version) for r in M.rocm_releases_for("gfx1201")]
    assert versions[-1] == "6.4.2" and "6.4.0" not in versions
    assert M.rocm_release("7.2.4").pytorch == ("2.9.1", "2.8.0", "2.7.1")


def test_torch_rocm_and_xpu_builds_come_from_torch_builds() -> None:
    rocm = list(M.torch_builds_of_kind("rocm"))
    xpu = list(M.torch_builds_of_kind("xpu"))
    assert rocm and xpu
    assert all(b.variant.index.startswith("https://download.pytorch.org/whl/rocm") for b in rocm)
    assert {str(b.torch) for b in xpu} >= {"2.7.0", "2.9.0"}
    assert all(b.sources for b in rocm + xpu)


# --- malformed data raises MatrixError -------------------------------------------------------


def _broken(name: str, edit) -> dict:
    data = copy.deepcopy(M.raw[name])
    edit(data)
    return data


LOADERS = {"tensorflow.json": load_tensorflow, "jax.json": load_jax, "paddle.json": load_paddle, "rocm.json": load_rocm}

BROKEN = [
    ("tensorflow.json", lambda d: d["releases"]["2.15.0"].pop("cuda"), "missing 'cuda'"),
    ("tensorflow.json", lambda d: d["releases"]["2.15.0"].update(cuda="twelve"), "not a PEP 440 version"),
    ("tensorflow.json", lambda d: d["releases"]["2.15.0"].update(gpu_platforms=["linux-sparc"]), "unknown platform"),
    ("tensorflow.json", lambda d: d["releases"]["2.15.0"].update(source=[]), "must name its source"),
    ("tensorflow.json", lambda d: d["releases"]["2.15.0"].update(source=["nowhere"]), "unknown source"),
    ("tensorflow.json", lambda d: d["releases"]["2.15.0"].update(and_cuda=["nvidia cudnn ==="]), "PEP 508"),
    ("tensorflow.json", lambda d: d["releases"]["2.15.0"].update(verified="yes"), "'verified'"),
    ("tensorflow.json", lambda d: d.pop("sources"), "no sources table"),
    ("jax.json", lambda d: d["cuda_majors"]["12"].update(min_sm="sm_x"), "compute capability"),
    ("jax.json", lambda d: d["releases"]["0.4.31"].update(requires_python=">=three"), "version specifier"),
    ("jax.json", lambda d: d["releases"]["0.4.31"].update(extras=["cuda12"]), "'extras' must be a dict"),
    ("jax.json", lambda d: d["plugins"]["jax-cuda12-plugin"]["0.4.31"]["python"].update({"linux-x86_64": ["py3"]}), "CPython minors"),
    ("paddle.json", lambda d: d["releases"]["2.6.2"]["variants"][0].update(index_mode="extra-index"), "index_mode"),
    ("paddle.json", lambda d: d["releases"]["2.6.2"]["variants"][0].update(index="ftp://x"), "https URL"),
    ("paddle.json", lambda d: d["releases"]["2.6.2"]["variants"][0].pop("version"), "missing 'version'"),
    ("paddle.json", lambda d: d["releases"]["2.6.2"].update(system_cuda="no"), "'system_cuda' must be a bool"),
    ("rocm.json", lambda d: d["releases"]["6.3.1"].update(gfx=["mi300"]), "gfx"),
    ("rocm.json", lambda d: d["releases"].update({"6.9": "x"}), "must be an object"),
]


@pytest.mark.parametrize(("name", "edit", "message"), BROKEN)
def test_malformed_rows_raise(name: str, edit, message: str) -> None:
    with pytest.raises(MatrixError, match=message):
        LOADERS[name](_broken(name, edit))


def test_malformed_file_fails_through_the_matrix_lookup() -> None:
    raw = {name: _read(name) for name in DATA_FILES}
    raw["tensorflow.json"]["releases"]["2.15.0"].pop("cudnn")
    matrix = Matrix(raw)  # parsed on first use, like flash-attn
    with pytest.raises(MatrixError, match=r"tensorflow.json: releases.2.15.0: missing 'cudnn'"):
        _ = matrix.tensorflow_releases


def test_the_shipped_files_load() -> None:
    for name, loader in LOADERS.items():
        assert loader(M.raw[name]), name


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
