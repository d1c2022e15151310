"""Shared fixtures: paths into the repository and a spec builder."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SPECS = Path(__file__).resolve().parent / "specs"
CASES = Path(__file__).resolve().parent / "cases"


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write an aienv.toml (and optional side files) into tmp_path; return its path."""

    def write(text: str, **files: str) -> Path:
        for name, content in files.items():
            (tmp_path / name.replace("__", ".")).write_text(content)
        path = tmp_path / "aienv.toml"
        path.write_text(text)
        return path

    return write


# --- a full-closure lock of the ComfyUI example, from a local index of real metadata -----------

INDEX_DATA = Path(__file__).resolve().parent / "data" / "index"


def lock_against(directory: Path, server, cache: Path, *flags: str) -> int:
    """`aienv lock` of `directory` against a local IndexServer: `simple` as the default index,
    `whl/<variant>` as the PyTorch indexes."""
    from envspec.cli import main

    return main([
        "-C", str(directory), "lock", "--index-url", server.index_url("simple"),
        "--pytorch-index-url", f"{server.url}/whl", "--cache-dir", str(cache), *flags,
    ])


@pytest.fixture(scope="session")
def comfy_server():
    """A local index serving the PyPI snapshot of ComfyUI's closure and a PyTorch-style HTML
    index per variant (cu128, cpu) — tiny real wheels with the real metadata."""
    import json

    from tests.localindex import IndexServer

    if not (INDEX_DATA / "pypi-comfyui.json").exists():
        pytest.skip("snapshot data missing")
    with IndexServer() as s:
        s.add_snapshot("simple", INDEX_DATA / "pypi-comfyui.json")
        snapshot = json.loads((INDEX_DATA / "pytorch.json").read_text())
        for variant, content in snapshot["variants"].items():
            s.add_snapshot(f"whl/{variant}", {"source": snapshot["source"], **content}, html_only=True)
        yield s


@pytest.fixture(scope="session")
def comfy_lock(comfy_server, tmp_path_factory) -> Path:
    """A copy of examples/comfyui with a full-closure aienv.lock made against `comfy_server`
    (targets rtx4090, rtx5090-windows, cpu). Read-only for tests: copy it before changing it."""
    import shutil

    work = tmp_path_factory.mktemp("comfyui")
    shutil.copytree(EXAMPLES / "comfyui", work, dirs_exist_ok=True)
    (work / "aienv.lock").unlink()
    assert lock_against(work, comfy_server, work / ".cache") == 0
    return work


# --- the same project with a [conda] table, solved against a local conda channel --------------

CONDA_TABLE = '\n[conda]\nchannels = ["demo-forge"]\npackages = {packages}\n'


@pytest.fixture(scope="session")
def channel():
    """The channel `demo-forge` (add_demo_packages) on its own server, so its log shows exactly
    the conda traffic."""
    from tests.localchannel import LocalChannel, add_demo_packages
    from tests.localindex import IndexServer

    pytest.importorskip("rattler")
    with IndexServer() as server:
        c = LocalChannel(server, "demo-forge")
        add_demo_packages(c)
        yield c


def _copy(source: Path, destination: Path, packages: str | None = None) -> Path:
    """A copy of a project (its lock and cache too); with `packages`, its [conda] table set to
    those (a TOML array)."""
    import shutil

    shutil.copytree(source, destination)
    if packages is not None:
        spec = destination / "aienv.toml"
        text = spec.read_text(encoding="utf-8").split("\n[conda]\n")[0]
        spec.write_text(text + CONDA_TABLE.format(packages=packages), encoding="utf-8")
    return destination


@pytest.fixture(scope="session")
def conda_project(comfy_lock, comfy_server, channel, tmp_path_factory) -> Path:
    """examples/comfyui with `[conda] channels = ["demo-forge"], packages = ["ffmpeg"]`, locked
    (online) with the channel alias pointing at the local channel. Copy it before changing it."""
    project = _copy(comfy_lock, tmp_path_factory.mktemp("conda") / "p", '["ffmpeg"]')
    assert lock_against(project, comfy_server, project / ".cache", "--conda-channel-alias", channel.server.url) == 0
    return project


# --- TensorFlow and PaddlePaddle projects (issue #7), from local indexes of real metadata ---------


@pytest.fixture(scope="session")
def tf_server():
    """A local index serving, at `simple`, the PyPI snapshot of a small TensorFlow project's closure
    (pypi-tensorflow.json: tensorflow[and-cuda] 2.19.1 and plain tensorflow, pandas>=2.2, pillow>=10;
    CPython 3.10-3.12, linux x86_64 and macOS arm64) — tiny real wheels with the real metadata."""
    from tests.localindex import IndexServer

    if not (INDEX_DATA / "pypi-tensorflow.json").exists():
        pytest.skip("snapshot data missing")
    with IndexServer() as s:
        s.add_snapshot("simple", INDEX_DATA / "pypi-tensorflow.json")
        yield s


@pytest.fixture(scope="session")
def paddle_server():
    """A local index serving, at `simple`, the PyPI snapshot of a PaddleOCR project's closure
    (pypi-paddleocr.json: paddleocr 2.8.1, paddlepaddle 2.6.2, paddlepaddle-gpu 2.6.2 = CUDA 11.8;
    CPython 3.10-3.12, linux x86_64) and, at `paddle/<variant>` (cu120, cu117), a Paddle-style HTML
    index per CUDA variant from paddle.json (paddlepaddle-gpu 2.6.2.post120 / 2.6.2.post117)."""
    import json

    from tests.localindex import IndexServer

    if not (INDEX_DATA / "pypi-paddleocr.json").exists() or not (INDEX_DATA / "paddle.json").exists():
        pytest.skip("snapshot data missing")
    with IndexServer() as s:
        s.add_snapshot("simple", INDEX_DATA / "pypi-paddleocr.json")
        snapshot = json.loads((INDEX_DATA / "paddle.json").read_text())
        for variant, content in snapshot["variants"].items():
            s.add_snapshot(f"paddle/{variant}", {"source": snapshot["source"], **content}, html_only=True)
        yield s
