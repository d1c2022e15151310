"""The TensorFlow and PaddleOCR index snapshots (tests/data/index/, made by tools/snapshot_index.py)
served by tests/localindex (conftest's tf_server and paddle_server), and pip installing from them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from tests.localindex import IndexServer, parse_metadata

DATA = Path(__file__).resolve().parent / "data" / "index"
SNAPSHOTS = {"tensorflow": "pypi-tensorflow.json", "paddleocr": "pypi-paddleocr.json"}
PADDLE = "paddle.json"
TENSORFLOW, PADDLEOCR, PADDLE_VERSION = "2.19.1", "2.8.1", "2.6.2"
PYTHON = "3.11"  # the wheel tags pip is asked for (--python-version), whatever runs the tests
LINUX = [f"manylinux_2_{n}_x86_64" for n in range(17, 29)] + ["manylinux2014_x86_64", "manylinux2010_x86_64",
                                                              "manylinux1_x86_64"]
MACOS = [f"macosx_{n}_0_{arch}" for n in range(11, 15) for arch in ("arm64", "universal2")]
JSON = "application/vnd.pypi.simple.v1+json"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture
def servers(tf_server, paddle_server) -> dict[str, tuple[IndexServer, str]]:
    """Where each index is served: {name: (server, prefix)} (conftest's tf_server, paddle_server)."""
    return {"tensorflow": (tf_server, "simple"), "paddleocr": (paddle_server, "simple"),
            "paddle/cu120": (paddle_server, "paddle/cu120"), "paddle/cu117": (paddle_server, "paddle/cu117")}


def _url(servers, name: str) -> str:
    server, prefix = servers[name]
    return server.index_url(prefix)


def _snapshot_files(snapshot: dict[str, Any]) -> dict[str, list[str]]:
    return {project: [f for info in versions.values() for f in info["files"]]
            for project, versions in snapshot["projects"].items()}


def _page(url: str) -> dict[str, Any]:
    with _OPENER.open(urllib.request.Request(url, headers={"Accept": JSON}), timeout=10) as response:
        return json.load(response)


@pytest.mark.parametrize("name", list(SNAPSHOTS))
def test_every_file_of_a_snapshot_is_served(servers, name):
    files = _snapshot_files(_load(SNAPSHOTS[name]))
    assert sorted(p["name"] for p in _page(_url(servers, name))["projects"]) == sorted(files)
    for project, names in files.items():
        assert sorted(f["filename"] for f in _page(_url(servers, name) + project + "/")["files"]) == sorted(names)


def test_the_paddle_variants_are_served_as_html(servers):
    for variant, content in _load(PADDLE)["variants"].items():
        (files,) = _snapshot_files(content).values()
        with _OPENER.open(_url(servers, f"paddle/{variant}") + "paddlepaddle-gpu/", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/html")
            page = response.read().decode()
        assert all(f">{f}</a>" in page for f in files)


def test_snapshot_contents():
    tf = _load(SNAPSHOTS["tensorflow"])
    assert list(tf["projects"]["tensorflow"]) == [TENSORFLOW]
    assert "and-cuda" in tf["projects"]["tensorflow"][TENSORFLOW]["provides_extra"]
    assert {"pandas", "pillow", "keras", "nvidia-cudnn-cu12", "tensorboard"} <= set(tf["projects"])
    tf_files = tf["projects"]["tensorflow"][TENSORFLOW]["files"]
    for py in ("cp310", "cp311", "cp312"):
        assert any(f"-{py}-{py}-manylinux" in f and f.endswith("_x86_64.whl") for f in tf_files), py
        assert any(f"-{py}-{py}-macosx_" in f and f.endswith("_arm64.whl") for f in tf_files), py
    paddle = _load(SNAPSHOTS["paddleocr"])["projects"]
    assert list(paddle["paddleocr"]) == [PADDLEOCR]
    assert list(paddle["paddlepaddle"]) == list(paddle["paddlepaddle-gpu"]) == [PADDLE_VERSION]
    assert all(v.startswith("1.") for v in paddle["numpy"])  # built with --constraint 'numpy<2'


def test_paddle_fixture_is_a_marked_fake_modelled_on_pypi():
    fixture = _load(PADDLE)
    assert fixture["source"].startswith("TEST FIXTURE, not a capture of www.paddlepaddle.org.cn")
    pypi = _load(SNAPSHOTS["paddleocr"])["projects"]["paddlepaddle-gpu"][PADDLE_VERSION]
    assert set(fixture["variants"]) == {"cu120", "cu117"}
    for variant, content in fixture["variants"].items():
        version = f"{PADDLE_VERSION}.post{variant[2:]}"
        (info,) = content["projects"]["paddlepaddle-gpu"].values()
        assert list(content["projects"]["paddlepaddle-gpu"]) == [version]
        assert (info["requires_dist"], info["requires_python"], info["provides_extra"]) == (
            pypi["requires_dist"], pypi["requires_python"], pypi["provides_extra"])
        assert info["files"] == [f"paddlepaddle_gpu-{version}-{py}-{py}-manylinux1_x86_64.whl"
                                 for py in ("cp310", "cp311", "cp312")]


def _pip_download(index_url: str, dest: Path, platforms: list[str], *requirements: str,
                  extra_index: str | None = None, deps: bool = False) -> subprocess.CompletedProcess[str]:
    """pip download of wheels for CPython PYTHON on `platforms`, no configuration files or PIP_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")
    return subprocess.run(
        [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-cache-dir", "-q",
         "--only-binary=:all:", "--python-version", PYTHON, *(f"--platform={p}" for p in platforms),
         "--index-url", index_url, *(["--extra-index-url", extra_index] if extra_index else []),
         *([] if deps else ["--no-deps"]), "--dest", str(dest), *requirements],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )


def _downloaded(dest: Path) -> dict[str, str]:
    """{project: version} of the wheels in dest, read from their METADATA."""
    out = {}
    for wheel in dest.glob("*.whl"):
        with zipfile.ZipFile(wheel) as z:
            (meta,) = (n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
            parsed = parse_metadata(z.read(meta))
        out[canonicalize_name(parsed["Name"][0])] = parsed["Version"][0]
    return out


DOWNLOADS = [  # (prefix, platforms, requirements, {project: version} expected)
    ("tensorflow", LINUX, [f"tensorflow=={TENSORFLOW}", "pandas>=2.2", "pillow>=10"], {"tensorflow": TENSORFLOW}),
    ("tensorflow", MACOS, [f"tensorflow=={TENSORFLOW}", "pandas>=2.2", "pillow>=10"], {"tensorflow": TENSORFLOW}),
    ("paddleocr", LINUX, [f"paddleocr=={PADDLEOCR}", f"paddlepaddle=={PADDLE_VERSION}",
                          f"paddlepaddle-gpu=={PADDLE_VERSION}"],
     {"paddleocr": PADDLEOCR, "paddlepaddle": PADDLE_VERSION, "paddlepaddle-gpu": PADDLE_VERSION}),
    ("paddle/cu120", LINUX, [f"paddlepaddle-gpu=={PADDLE_VERSION}.post120"],
     {"paddlepaddle-gpu": f"{PADDLE_VERSION}.post120"}),
    ("paddle/cu117", LINUX, [f"paddlepaddle-gpu=={PADDLE_VERSION}.post117"],
     {"paddlepaddle-gpu": f"{PADDLE_VERSION}.post117"}),
]


@pytest.mark.parametrize(("prefix", "platforms", "requirements", "expected"), DOWNLOADS,
                         ids=["tensorflow-linux", "tensorflow-macos", "paddleocr", "paddle-cu120", "paddle-cu117"])
def test_pip_downloads_the_wheels_for_cpython_3_11(servers, tmp_path, prefix, platforms, requirements, expected):
    result = _pip_download(_url(servers, prefix), tmp_path, platforms, *requirements)
    assert result.returncode == 0, result.stderr
    got = _downloaded(tmp_path)
    assert {k: got.get(k) for k in expected} == expected


@pytest.mark.parametrize(("requirements", "index", "extra_index"), [
    ([f"tensorflow[and-cuda]=={TENSORFLOW}", "pandas>=2.2", "pillow>=10"], "tensorflow", None),
    ([f"paddleocr=={PADDLEOCR}", f"paddlepaddle-gpu=={PADDLE_VERSION}.post120"], "paddle/cu120", "paddleocr"),
], ids=["tensorflow-and-cuda", "paddleocr-cu120"])
def test_pip_resolves_the_whole_closure_on_linux(servers, tmp_path, requirements, index, extra_index):
    result = _pip_download(_url(servers, index), tmp_path, LINUX, *requirements,
                           extra_index=extra_index and _url(servers, extra_index), deps=True)
    assert result.returncode == 0, result.stderr
    got = _downloaded(tmp_path)
    if index == "tensorflow":
        assert got["tensorflow"] == TENSORFLOW and got["nvidia-cudnn-cu12"] == "9.3.0.75"
        assert got["numpy"].startswith("2.1.")  # tensorflow 2.19.1: numpy<2.2.0
    else:
        assert got["paddlepaddle-gpu"] == f"{PADDLE_VERSION}.post120" and got["paddleocr"] == PADDLEOCR
        assert got["numpy"].startswith("1.26.")
