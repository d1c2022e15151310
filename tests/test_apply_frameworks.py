"""``aienv apply`` of a PaddlePaddle 2.x GPU target (issue #7): the wheel loads CUDA and cuDNN from
the machine (the lock's ``system``), so apply looks for them before it builds anything, and
verifies the new environment with ``paddle.utils.run_check()``.

A local Paddle-style index serves a fake-but-real ``paddlepaddle-gpu 2.6.2.post120``
(``tests.fakeenv.paddle_wheel``: its run_check opens ``libcudnn.so`` and ``libcublas.so`` from
``LD_LIBRARY_PATH`` as the real one opens them from the loader's path); the machine's libraries
are real files in a directory laid out as NVIDIA's packages lay it out.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from envspec.apply import ApplyRequest, HostMismatch, apply
from envspec.detect.libraries import find_system_libraries
from envspec.host import Gpu, Host
from envspec.matrix import Arch
from tests.conftest import lock_against
from tests.fakeenv import paddle_wheel
from tests.localindex import IndexServer

pytestmark = pytest.mark.skipif(
    not (platform.system() == "Linux" and platform.machine() == "x86_64"), reason="the lock's target is linux-x86_64",
)
HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"
SPEC = f"""
[project]
name = "paddle-apply"
python = "=={HERE}.*"

[stack]
paddlepaddle-gpu = "==2.6.2"

[targets.gpu]
platform = "linux-x86_64"
gpus = ["RTX 4090"]
driver = "550.54.14"
"""
GPU_HOST = Host("here", "linux-x86_64", SpecifierSet(f"=={HERE}.*"), Version("550.54.14"),
                (Gpu("NVIDIA GeForce RTX 4090", Arch(8, 9)),), "probed", "2.35")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("paddle-apply")
    (work / "aienv.toml").write_text(SPEC, encoding="utf-8")
    with IndexServer() as server:
        server.add_index("paddle/cu120", html_only=True)
        server.add_file("paddle/cu120", *paddle_wheel("2.6.2.post120"))
        assert lock_against(work, server, work / ".cache", "--paddle-index-url", f"{server.url}/paddle") == 0
        yield work


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def cuda_12_0(root: Path) -> Path:
    """CUDA 12.0's runtime and cuBLAS and cuDNN 8.9.1: each file, its soname link, its development link."""
    lib = root / "cuda-12.0" / "lib64"
    lib.mkdir(parents=True)
    for kind, version, soname in (("cudart", "12.0.146", "12"), ("cublas", "12.0.2.224", "12"), ("cudnn", "8.9.1", "8")):
        (lib / f"lib{kind}.so.{version}").write_bytes(b"\x7fELF")
        (lib / f"lib{kind}.so.{soname}").symlink_to(f"lib{kind}.so.{version}")
        (lib / f"lib{kind}.so").symlink_to(f"lib{kind}.so.{soname}")
    return lib


def machine(tmp_path: Path, ld_library_path: str = "") -> Host:
    found = find_system_libraries({"LD_LIBRARY_PATH": ld_library_path}, ldconfig=False, cuda_root=tmp_path)
    return dataclasses.replace(GPU_HOST, system_libraries=found)


def test_the_lock_says_what_the_wheel_needs_of_the_machine(project):
    text = (project / "aienv.lock").read_text()
    assert 'version = "2.6.2.post120"' in text and 'system = [\n    "CUDA 12.0",\n    "cuDNN 8.9",\n]' in text


def test_refused_without_the_system_cuda(project, tmp_path):
    prefix = tmp_path / "env"
    with pytest.raises(HostMismatch) as e:
        apply(ApplyRequest(lock_path=project / "aienv.lock", prefix=prefix, target="gpu"), host=machine(tmp_path))
    text = str(e.value) + " " + " ".join(e.value.reasons)
    assert "paddlepaddle-gpu 2.6.2.post120 loads CUDA runtime 12.0 (or a newer 12.x) from the machine; no CUDA runtime library" in text
    assert "cuDNN 8.9" in text
    assert not prefix.exists() and list(tmp_path.glob(".env.*")) == []


def test_a_toolkit_off_the_loader_path_is_named(project, tmp_path):
    cuda_12_0(tmp_path)
    with pytest.raises(HostMismatch) as e:
        apply(ApplyRequest(lock_path=project / "aienv.lock", prefix=tmp_path / "env", target="gpu"), host=machine(tmp_path))
    assert any("fits but is not on the loader's path" in r and "export LD_LIBRARY_PATH=" in r for r in e.value.reasons)


def test_applied_and_verified_by_run_check(project, tmp_path, monkeypatch):
    lib = cuda_12_0(tmp_path)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(lib))  # what the new environment's Python sees too
    result = apply(ApplyRequest(lock_path=project / "aienv.lock", prefix=tmp_path / "env", target="gpu"),
                   host=machine(tmp_path, str(lib)))
    assert result.status == "applied"
    paddle = result.environment.frameworks["paddle"]
    assert paddle.run_check[0] and "PaddlePaddle is installed successfully!" in paddle.run_check[2]
    assert [f.code for f in result.findings if f.severity != "info"] == []


def test_forced_without_them(project, tmp_path):
    """--force: the missing libraries are warnings, and run_check's failure is theirs."""
    result = apply(ApplyRequest(lock_path=project / "aienv.lock", prefix=tmp_path / "env", target="gpu", force=True),
                   host=machine(tmp_path))
    assert result.status == "applied"
    found = {f.code: f.severity for f in result.findings}
    assert found.get("system-library-missing") == "warning" and "paddle-run-check-failed" not in found
    assert result.environment.frameworks["paddle"].run_check[0] is False


def test_paddle_2_5_from_its_find_links_page(tmp_path, monkeypatch):
    """Paddle 2.5's CUDA builds are on one find-links page (stable.html) that links the files of
    every project: a full closure reads it, the pip render names it with --find-links, and apply
    installs the file it links."""
    from envspec.backends import get_backend
    from envspec.lockfile import read_lock

    work = tmp_path / "p25"
    work.mkdir()
    (work / "aienv.toml").write_text(SPEC.replace('"==2.6.2"', '"==2.5.2"'), encoding="utf-8")
    with IndexServer() as server:
        server.add_index("files25", html_only=True)
        gpu = paddle_wheel("2.5.2.post120")
        server.add_file("files25", *gpu)
        server.add_file("files25", *paddle_wheel("2.5.2", name="paddlepaddle", cuda=None))  # another project on the page
        links = "".join(f'<a href="{server.file_url("files25", name)}">{name}</a><br>\n'
                        for name in (gpu[0], paddle_wheel("2.5.2", name="paddlepaddle", cuda=None)[0]))
        page = server.add_static("/whl/linux/mkl/avx/stable.html", f"<html><body>\n{links}</body></html>\n".encode(),
                                 content_type="text/html")
        assert lock_against(work, server, work / ".cache", "--paddle-index-url", f"{server.url}/packages/stable") == 0
        lock = read_lock(work / "aienv.lock")
        paddle = lock.target("gpu").package("paddlepaddle-gpu")
        assert (paddle.version, paddle.find_links, paddle.index) == ("2.5.2.post120", True, page)
        assert [f.url for f in paddle.files] == [server.file_url("files25", gpu[0])] and paddle.files[0].sha256
        pip = get_backend("pip").render(lock, "gpu")
        assert f"--find-links {page}" in pip and "--extra-index-url" not in pip
        assert "index" not in next(p for p in get_backend("pylock").render(lock, "gpu").split("[[packages]]") if "paddlepaddle-gpu" in p) \
            .split("[[packages.wheels]]")[0]
        lib = cuda_12_0(tmp_path)
        monkeypatch.setenv("LD_LIBRARY_PATH", str(lib))
        result = apply(ApplyRequest(lock_path=work / "aienv.lock", prefix=tmp_path / "env", target="gpu"),
                       host=machine(tmp_path, str(lib)))
        assert result.status == "applied" and result.environment.version_of("paddlepaddle-gpu") == "2.5.2.post120"
