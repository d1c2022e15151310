"""The CUDA libraries of the machine (``envspec.detect.libraries``): parsing file names and
``ldconfig -p`` (captured outputs under ``tests/data/detect/ldconfig/``), finding real files in
real directories (and through a real ``ldconfig`` executable that prints the loader's cache), and
holding a lock's ``system`` list to them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from packaging.version import Version

from envspec.detect.libraries import (
    SystemLibrary,
    find_system_libraries,
    parse_ldconfig,
    parse_library_file,
    parse_system_requirement,
    unmet_system,
)

DATA = Path(__file__).parent / "data" / "detect" / "ldconfig"
posix_only = pytest.mark.skipif(os.name != "posix", reason="shared libraries and symlinks of Linux")


@pytest.mark.parametrize(("name", "expected"), [
    # the real file, its soname link, the development name
    ("libcudnn.so.8.9.1", ("cudnn", "8.9.1")),
    ("libcudnn.so.8", ("cudnn", "8")),
    ("libcublas.so", ("cublas", None)),
    ("libcudart.so.12.0.146", ("cudart", "12.0.146")),
    ("libnccl.so.2.18.3", ("nccl", "2.18.3")),
    # cuDNN 9's sub-libraries and cuBLASLt are not the library itself
    ("libcudnn_ops.so.9", None),
    ("libcublasLt.so.12", None),
    ("libcudart_static.a", None),
    ("libz.so.1", None),
])
def test_parse_library_file(name, expected):
    parsed = parse_library_file(name)
    assert (parsed[0], str(parsed[1]) if parsed[1] else None) == expected if expected else parsed is None


def test_parse_ldconfig_captures():
    debian = parse_ldconfig((DATA / "ldconfig-p-debian-bookworm.txt").read_text())
    assert ("libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1") in debian
    assert len(debian) == 7  # the header line is not a library
    assert parse_ldconfig((DATA / "grep-cudnn-4-nvidia-docker-53.txt").read_text()) == [
        ("libcudnn.so.4", "/usr/lib/x86_64-linux-gnu/libcudnn.so.4")
    ]
    whisper = parse_ldconfig((DATA / "grep-libcudnn-9-stream-whisper-28.txt").read_text())
    assert len(whisper) == 6 and [parse_library_file(n) for n, _ in whisper] == [None] * 6
    # entries for another machine (32-bit: "(libc6)") are not this one's
    assert parse_ldconfig("\tlibcudnn.so.8 (libc6) => /usr/lib32/libcudnn.so.8\n") == []


@pytest.mark.parametrize(("text", "spec"), [
    ("CUDA 12.0", ">=12.0,==12.*"),
    ("cuDNN 8.9", ">=8.9,==8.*"),
    ("NCCL >=2.7", ">=2.7"),
])
def test_parse_system_requirement(text, spec):
    from packaging.specifiers import SpecifierSet

    assert parse_system_requirement(text) == (text.split()[0], SpecifierSet(spec))


def test_parse_system_requirement_rejects_what_it_does_not_know():
    assert parse_system_requirement("TensorRT 8.6") is None
    assert parse_system_requirement("CUDA twelve") is None


# --- finding real files -------------------------------------------------------------------------


def _toolkit(root: Path, cuda: str, cudnn: str | None = None, *, dev: bool = True, nccl: str | None = None) -> Path:
    """A CUDA toolkit directory laid out as NVIDIA's installers do: the real file, the soname
    link and (with ``dev``) the development link."""
    lib = root / f"cuda-{cuda}" / "lib64"
    lib.mkdir(parents=True)
    full = {"12.0": "12.0.146", "11.8": "11.8.89", "12.4": "12.4.127"}[cuda]
    major = cuda.split(".")[0]
    libs = [("cudart", full, major), ("cublas", {"12.0": "12.0.2.224", "11.8": "11.11.3.6", "12.4": "12.4.5.8"}[cuda], major)]
    if cudnn:
        libs.append(("cudnn", cudnn, cudnn.split(".")[0]))
    if nccl:
        libs.append(("nccl", nccl, "2"))
    for kind, version, soname in libs:
        (lib / f"lib{kind}.so.{version}").write_bytes(b"\x7fELF")
        (lib / f"lib{kind}.so.{soname}").symlink_to(f"lib{kind}.so.{version}")
        if dev:
            (lib / f"lib{kind}.so").symlink_to(f"lib{kind}.so.{soname}")
    return lib


@posix_only
def test_libraries_on_ld_library_path_with_versions_from_their_links(tmp_path):
    lib = _toolkit(tmp_path, "12.0", "8.9.1")
    found = find_system_libraries({"LD_LIBRARY_PATH": str(lib)}, ldconfig=False, cuda_root=tmp_path / "none")
    by_name = {f.name: f for f in found}
    assert by_name["libcudnn.so.8"].version == Version("8.9.1")  # from the link's target
    assert by_name["libcudnn.so"].version == Version("8.9.1") and by_name["libcudnn.so"].unversioned
    assert by_name["libcudart.so.12"].version == Version("12.0.146")
    assert all(f.loadable and f.where == "LD_LIBRARY_PATH" for f in found)


@posix_only
def test_a_toolkit_nobody_put_on_the_loader_path(tmp_path):
    _toolkit(tmp_path, "11.8", "8.6.0")
    found = find_system_libraries({}, ldconfig=False, cuda_root=tmp_path)
    assert found and not any(f.loadable for f in found)
    assert {f.where for f in found} == {str(tmp_path / "cuda-11.8")}
    # CUDA_HOME is the same place, named
    found = find_system_libraries({"CUDA_HOME": str(tmp_path / "cuda-11.8")}, ldconfig=False, cuda_root=tmp_path / "none")
    assert {f.where for f in found} == {"CUDA_HOME"}


@posix_only
def test_the_loader_cache_through_a_real_ldconfig(tmp_path):
    lib = _toolkit(tmp_path / "usr", "12.4", "9.1.0", nccl="2.21.5")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    lines = "".join(f"\\t{p.name} (libc6,x86-64) => {p}\\n" for p in sorted(lib.iterdir()) if ".so" in p.name)
    lines += "\\tlibcudnn.so.7 (libc6,x86-64) => /nonexistent/libcudnn.so.7\\n"  # a stale cache entry
    ldconfig = bin_dir / "ldconfig"
    ldconfig.write_text(f'#!/bin/sh\nprintf "42 libs found in cache \\`/etc/ld.so.cache\'\\n{lines}"\n')
    ldconfig.chmod(ldconfig.stat().st_mode | stat.S_IXUSR)
    if os.uname().machine != "x86_64":
        pytest.skip("the fake cache lists x86-64 entries")
    found = find_system_libraries({"PATH": str(bin_dir)}, cuda_root=tmp_path / "none")
    assert {(f.kind, str(f.version)) for f in found if f.where == "ldconfig"} >= {("cudnn", "9.1.0"), ("nccl", "2.21.5"), ("cudart", "12.4.127")}
    assert not any("nonexistent" in f.path for f in found)
    # a missing ldconfig is no error
    assert find_system_libraries({"PATH": str(tmp_path / "empty")}, cuda_root=tmp_path / "none") is not None


# --- the lock's `system` list --------------------------------------------------------------------


def _lib(kind: str, version: str, *, name: str | None = None, loadable: bool = True) -> SystemLibrary:
    major = version.split(".")[0]
    return SystemLibrary(kind, name or f"lib{kind}.so.{major}", f"/usr/lib/x86_64-linux-gnu/{name or f'lib{kind}.so.{major}'}",
                         Version(version), loadable, "ldconfig")


PADDLE = ("paddlepaddle-gpu", "2.6.2.post120")
CUDA_12 = [_lib("cudart", "12.0.146"), _lib("cublas", "12.0.2.224"), _lib("cublas", "12.0.2.224", name="libcublas.so")]
CUDNN_89 = [_lib("cudnn", "8.9.1"), _lib("cudnn", "8.9.1", name="libcudnn.so")]


def test_everything_there():
    assert unmet_system(*PADDLE, ["CUDA 12.0", "cuDNN 8.9"], CUDA_12 + CUDNN_89) == []
    # a newer minor of the same major serves (the soname and ABI stay within a major)
    assert unmet_system("tensorflow", "2.13.1", ["CUDA 11.8", "cuDNN 8.6"],
                        [_lib("cudart", "11.8.89"), _lib("cublas", "11.11.3.6"), _lib("cudnn", "8.9.7")]) == []


def test_nothing_there():
    (cuda, cudnn) = unmet_system(*PADDLE, ["CUDA 12.0", "cuDNN 8.9"], [])
    assert (cuda.severity, cudnn.severity) == ("error", "error")
    assert "no CUDA runtime library was found" in cuda.message and "install the CUDA 12.0 toolkit" in cuda.fix
    assert "paddlepaddle-gpu 2.6.2.post120 loads cuDNN" in cudnn.message


def test_another_major_or_an_older_minor():
    (cudnn,) = unmet_system(*PADDLE, ["cuDNN 8.9"], [_lib("cudnn", "9.1.0"), _lib("cudnn", "9.1.0", name="libcudnn.so")])
    assert cudnn.severity == "error"
    assert cudnn.message == ("paddlepaddle-gpu 2.6.2.post120 loads cuDNN 8.9 (or a newer 8.x) from the machine; "
                             "only cuDNN 9.1.0 (libcudnn.so, libcudnn.so.9) found")
    (cuda,) = unmet_system("tensorflow", "2.13.1", ["CUDA 11.8"], [_lib("cudart", "11.2.152"), _lib("cublas", "11.4.1.1043")])
    assert "only CUDA runtime 11.2.152 (libcudart.so.11) found" in cuda.message


def test_found_only_where_the_loader_does_not_look():
    libs = [_lib("cudnn", "8.9.1", loadable=False)]
    (cudnn,) = unmet_system(*PADDLE, ["cuDNN 8.9"], libs)
    assert cudnn.severity == "error" and "not on the loader's path" in cudnn.message
    assert cudnn.fix.startswith("export LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu:")


def test_paddle_needs_the_development_names_tensorflow_does_not():
    sonames_only = [_lib("cudart", "12.0.146"), _lib("cublas", "12.0.2.224"), _lib("cudnn", "8.9.1")]
    (cudnn,) = unmet_system(*PADDLE, ["CUDA 12.0", "cuDNN 8.9"], [*sonames_only[:2], _lib("cublas", "12.0.2.224", name="libcublas.so"),
                                                                   sonames_only[2]])
    assert cudnn.severity == "warning" and "libcudnn.so" in cudnn.message and "ln -s" in cudnn.fix
    assert unmet_system("tensorflow", "2.13.1", ["CUDA 12.0", "cuDNN 8.9"], sonames_only) == []


def test_nccl_for_several_gpus():
    (nccl,) = unmet_system("paddlepaddle-gpu", "2.6.2", ["NCCL >=2.7"], [_lib("nccl", "2.4.8")])
    assert nccl.severity == "error" and "NCCL >=2.7" in nccl.message and "libnccl2" in nccl.fix
    assert unmet_system("paddlepaddle-gpu", "2.6.2", ["NCCL >=2.7"], [_lib("nccl", "2.18.3")]) == []
