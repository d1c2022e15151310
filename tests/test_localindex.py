"""The local index test infrastructure (tests/localindex), through real HTTP."""

from __future__ import annotations

import base64
import hashlib
import http.client
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.localindex import (
    IndexServer,
    build_sdist,
    build_wheel,
    expand_tags,
    parse_metadata,
    read_sdist_metadata,
    read_wheel_metadata,
)

JSON = "application/vnd.pypi.simple.v1+json"
PIP_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
NUMPY = "numpy-2.2.6-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
TORCH = "torch-2.10.0+cu128-cp313-cp313-manylinux_2_28_x86_64.whl"
PAD = 1_000_000

# No proxy: an http_proxy in the environment must not route 127.0.0.1 elsewhere.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, Any, bytes]:
    """GET (or HEAD) with urllib; return (status, headers, body), HTTP errors included."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with _OPENER.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


@pytest.fixture(scope="module")
def server() -> Iterator[IndexServer]:
    with IndexServer() as srv:
        srv.add_file(
            "pypi",
            *build_wheel("numpy", "2.2.6", tag="cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64", requires_python=">=3.10"),
            requires_python=">=3.10",
        )
        srv.add_file("pypi", *build_sdist("numpy", "2.2.6", requires_python=">=3.10"), requires_python=">=3.10")
        srv.add_file("pypi", *build_wheel("big", "1.0", pad=PAD))
        srv.add_file("pypi", *build_wheel("old", "0.1"), yanked="broken build")
        srv.add_index("whl/cu128", html_only=True)
        srv.add_file("whl/cu128", *build_wheel("torch", "2.10.0+cu128", filename=TORCH, requires_dist=["filelock"]))
        srv.add_index("norange", range_support=False)
        srv.add_file("norange", *build_wheel("big", "1.0", pad=PAD))
        yield srv
        assert srv.errors == []


@pytest.fixture(autouse=True)
def _clean(server: IndexServer) -> Iterator[None]:
    yield
    server.clear_faults()
    server.clear_log()


# -- builders -------------------------------------------------------------------------------------


def test_wheel_contents_tags_record_and_determinism() -> None:
    filename, data = build_wheel(
        "Foo.Bar-baz",
        "1.0",
        tag="cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
        requires_dist=["numpy>=2", "rich; extra == 'cli'"],
        requires_python=">=3.10",
        provides_extra=["cli"],
        extra_files={"foo_bar_baz/data.txt": b"hello"},
    )
    assert filename == "foo_bar_baz-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    assert build_wheel("Foo.Bar-baz", "1.0", tag="cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
                       requires_dist=["numpy>=2", "rich; extra == 'cli'"], requires_python=">=3.10",
                       provides_extra=["cli"], extra_files={"foo_bar_baz/data.txt": b"hello"})[1] == data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist()[-1] == "foo_bar_baz-1.0.dist-info/RECORD"
        wheel = archive.read("foo_bar_baz-1.0.dist-info/WHEEL").decode()
        assert "Root-Is-Purelib: false" in wheel
        assert [line[5:] for line in wheel.splitlines() if line.startswith("Tag: ")] == expand_tags(filename[:-4].split("-", 2)[2])
        assert len(expand_tags("py2.py3-none-any")) == 2
        for line in archive.read("foo_bar_baz-1.0.dist-info/RECORD").decode().splitlines():
            path, digest, size = line.split(",")
            if path.endswith("RECORD"):
                continue
            content = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
            assert (digest, int(size)) == (f"sha256={expected}", len(content))
    fields = parse_metadata(read_wheel_metadata(data))
    assert fields["Metadata-Version"] == ["2.1"]
    assert fields["Name"] == ["Foo.Bar-baz"]
    assert fields["Requires-Python"] == [">=3.10"]
    assert fields["Requires-Dist"] == ["numpy>=2", "rich; extra == 'cli'"]
    assert fields["Provides-Extra"] == ["cli"]


def test_wheel_filename_override_and_padding() -> None:
    filename, data = build_wheel("torch", "2.10.0+cu128", filename=TORCH)
    assert filename == TORCH
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "torch-2.10.0+cu128.dist-info/WHEEL" in archive.namelist()
        assert "Tag: cp313-cp313-manylinux_2_28_x86_64" in archive.read("torch-2.10.0+cu128.dist-info/WHEEL").decode()
    _, padded = build_wheel("big", "1.0", pad=PAD)
    assert len(padded) > PAD  # stored, incompressible
    with zipfile.ZipFile(io.BytesIO(padded)) as archive:
        metadata = archive.getinfo("big-1.0.dist-info/METADATA")
        assert metadata.header_offset > PAD  # .dist-info after the padding: the archive's tail holds it


def test_sdist_layout_and_in_tree_backend(tmp_path: Path) -> None:
    filename, data = build_sdist("My.Pkg", "1.0", requires_dist=["numpy>=2"], requires_python=">=3.10")
    assert filename == "my_pkg-1.0.tar.gz"
    assert build_sdist("My.Pkg", "1.0", requires_dist=["numpy>=2"], requires_python=">=3.10")[1] == data
    assert parse_metadata(read_sdist_metadata(data, filename))["Requires-Dist"] == ["numpy>=2"]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert sorted(names) == ["my_pkg-1.0/PKG-INFO", "my_pkg-1.0/backend.py", "my_pkg-1.0/my_pkg/__init__.py", "my_pkg-1.0/pyproject.toml"]
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp_path, filter="data")
        else:  # pragma: no cover - Pythons without extraction filters
            tar.extractall(tmp_path)
    src = tmp_path / "my_pkg-1.0"
    assert 'backend-path = ["."]' in (src / "pyproject.toml").read_text()
    # Call the PEP 517 hooks as a frontend would (in-process here; pip does it below, isolated).
    spec = importlib.util.spec_from_file_location("localindex_test_backend", src / "backend.py")
    assert spec is not None and spec.loader is not None
    backend = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backend)
    assert backend.get_requires_for_build_wheel() == []
    (tmp_path / "meta").mkdir()
    dist_info = backend.prepare_metadata_for_build_wheel(str(tmp_path / "meta"))
    assert dist_info == "my_pkg-1.0.dist-info"
    fields = parse_metadata((tmp_path / "meta" / dist_info / "METADATA").read_bytes())
    assert (fields["Requires-Dist"], fields["Requires-Python"]) == (["numpy>=2"], [">=3.10"])
    wheel_name = backend.build_wheel(str(tmp_path))
    assert read_wheel_metadata((tmp_path / wheel_name).read_bytes()) == (src / "PKG-INFO").read_bytes()
    sdist_name = backend.build_sdist(str(tmp_path))
    assert sdist_name == "my_pkg-1.0.tar.gz"
    zip_name, zip_data = build_sdist("my-pkg", "1.0", filename="my-pkg-1.0.zip")
    assert zip_name == "my-pkg-1.0.zip" and read_sdist_metadata(zip_data, zip_name).startswith(b"Metadata-Version: 2.1")


# -- pages ----------------------------------------------------------------------------------------


def test_json_and_html_negotiation(server: IndexServer) -> None:
    status, headers, body = fetch(server.url + "/pypi/numpy/", {"Accept": PIP_ACCEPT})
    assert (status, headers["Content-Type"]) == (200, JSON)
    page = json.loads(body)
    assert page["meta"]["api-version"] == "1.1" and page["name"] == "numpy" and page["versions"] == ["2.2.6"]
    wheel, sdist = page["files"]
    assert wheel["filename"] == NUMPY and wheel["requires-python"] == ">=3.10" and wheel["yanked"] is False
    assert wheel["hashes"]["sha256"] == server.sha256("pypi", NUMPY)
    assert isinstance(wheel["core-metadata"], dict) and "dist-info-metadata" not in wheel  # PEP 714
    assert sdist["core-metadata"] is False  # sdists: no PEP 658 metadata unless given
    assert wheel["size"] == len(fetch(wheel["url"])[2])

    for accept in (None, "*/*", "text/html"):
        status, headers, body = fetch(server.url + "/pypi/numpy/", {"Accept": accept} if accept else {})
        assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
        assert f'#sha256={server.sha256("pypi", NUMPY)}" data-requires-python="&gt;=3.10" data-core-metadata="sha256=' in body.decode()

    status, _, body = fetch(server.url + "/pypi/old/", {"Accept": JSON})
    assert json.loads(body)["files"][0]["yanked"] == "broken build"
    assert 'data-yanked="broken build"' in fetch(server.url + "/pypi/old/")[2].decode()
    root = json.loads(fetch(server.url + "/pypi/", {"Accept": JSON})[2])
    assert [p["name"] for p in root["projects"]] == ["big", "numpy", "old"]
    assert 'href="numpy/"' in fetch(server.url + "/pypi/")[2].decode()


def test_html_only_index_mimics_pytorch(server: IndexServer) -> None:
    status, headers, body = fetch(server.url + "/whl/cu128/torch/", {"Accept": JSON})
    assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    text = body.decode()
    assert f'href="/files/whl/cu128/torch-2.10.0%2Bcu128-cp313-cp313-manylinux_2_28_x86_64.whl#sha256={server.sha256("whl/cu128", TORCH)}"' in text
    assert "data-core-metadata" not in text and "data-dist-info-metadata" not in text
    assert fetch(server.file_url("whl/cu128", TORCH) + ".metadata")[0] == 404
    status, _, data = fetch(server.file_url("whl/cu128", TORCH))
    assert status == 200 and hashlib.sha256(data).hexdigest() == server.sha256("whl/cu128", TORCH)
    assert server.requests_for("torch-2.10.0+cu128")[-1].path == "/files/whl/cu128/" + TORCH  # decoded path


def test_not_found_and_redirects(server: IndexServer) -> None:
    assert fetch(server.url + "/pypi/nothing/")[0] == 404
    assert fetch(server.url + "/nothing/numpy/")[0] == 404
    assert fetch(server.url + "/files/pypi/nothing-1.0.tar.gz")[0] == 404
    assert fetch(server.file_url("pypi", "numpy-2.2.6.tar.gz") + ".metadata")[0] == 404
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for path, target in (("/pypi/NumPy/", "/pypi/numpy/"), ("/pypi/numpy", "/pypi/numpy/"), ("/pypi", "/pypi/")):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            assert (response.status, response.getheader("Location")) == (301, server.url + target)
    finally:
        connection.close()


def test_etag_304_on_one_keep_alive_connection(server: IndexServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/pypi/numpy/", headers={"Accept": JSON})
        response = connection.getresponse()
        body = response.read()
        etag = response.getheader("ETag")
        assert response.getheader("Cache-Control") == "max-age=0, must-revalidate" and response.getheader("Last-Modified")
        connection.request("GET", "/pypi/numpy/", headers={"Accept": JSON, "If-None-Match": etag})
        response = connection.getresponse()
        assert (response.status, response.read()) == (304, b"")
        connection.request("GET", "/pypi/numpy/", headers={"Accept": JSON, "If-None-Match": '"other"'})
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, body)
        connection.request("GET", "/pypi/numpy/", headers={"If-None-Match": etag})  # the HTML page: another ETag
        response = connection.getresponse()
        assert response.status == 200 and response.read().startswith(b"<!DOCTYPE html>")
    finally:
        connection.close()
    assert [(r.status, r.body_bytes) for r in server.log] == [(200, len(body)), (304, 0), (200, len(body)), (200, server.log[-1].body_bytes)]


# -- files ----------------------------------------------------------------------------------------


def test_ranges_head_and_bytes_sent(server: IndexServer) -> None:
    url = server.file_url("pypi", "big-1.0-py3-none-any.whl")
    _, _, whole = fetch(url)
    total = len(whole)
    server.clear_log()
    for header, first, last in (("bytes=0-99", 0, 99), (f"bytes={total - 10}-", total - 10, total - 1), ("bytes=-4000", total - 4000, total - 1), (f"bytes=5-{total + 50}", 5, total - 1)):
        status, headers, body = fetch(url, {"Range": header})
        assert (status, headers["Content-Range"], headers["Accept-Ranges"]) == (206, f"bytes {first}-{last}/{total}", "bytes")
        assert body == whole[first : last + 1] and int(headers["Content-Length"]) == len(body)
    assert server.bytes_sent("big-1.0") == 100 + 10 + 4000 + total - 5
    assert fetch(url, {"Range": f"bytes={total}-"})[:2][0] == 416
    status, headers, body = fetch(url, method="HEAD")
    assert (status, int(headers["Content-Length"]), body, headers["Accept-Ranges"]) == (200, total, b"", "bytes")
    server.clear_log()
    # A reader of the archive's tail gets METADATA with a few KB of a 1 MB wheel.
    _, _, tail = fetch(url, {"Range": "bytes=-8192"})
    assert tail == whole[-8192:] and b"PK\x05\x06" in tail  # the end of the central directory
    with zipfile.ZipFile(io.BytesIO(whole)) as archive:
        assert archive.getinfo("big-1.0.dist-info/METADATA").header_offset >= total - 8192
    assert server.bytes_sent("big-1.0") == 8192 < total // 100
    assert server.log == [("GET", "/files/pypi/big-1.0-py3-none-any.whl", "bytes=-8192", 206, 8192)]
    # An index without range support answers the whole body.
    status, headers, body = fetch(server.file_url("norange", "big-1.0-py3-none-any.whl"), {"Range": "bytes=0-99"})
    assert (status, len(body), headers.get("Accept-Ranges"), headers.get("Content-Range")) == (200, total, None, None)


def test_pep658_metadata_matches_wheel_and_hash(server: IndexServer) -> None:
    page = json.loads(fetch(server.url + "/pypi/numpy/", {"Accept": JSON})[2])
    wheel = page["files"][0]
    status, _, metadata = fetch(wheel["url"] + ".metadata")
    assert status == 200
    assert metadata == read_wheel_metadata(fetch(wheel["url"])[2])
    assert hashlib.sha256(metadata).hexdigest() == wheel["core-metadata"]["sha256"]
    status, _, part = fetch(wheel["url"] + ".metadata", {"Range": "bytes=0-16"})
    assert (status, part) == (206, b"Metadata-Version:")


# -- faults ---------------------------------------------------------------------------------------


def test_fault_injection(server: IndexServer) -> None:
    page_url = server.url + "/pypi/numpy/"
    server.fault("/pypi/numpy/", status=500)
    assert fetch(page_url)[0] == 500
    server.fault("/pypi/numpy/", truncate=40)
    status, headers, body = fetch(page_url, {"Accept": JSON})
    assert (status, len(body), headers["Content-Length"]) == (200, 40, "40")
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    server.fault(page_url, body=b"<html>nothing</html>")  # a full URL works too
    assert fetch(page_url)[2] == b"<html>nothing</html>"
    server.clear_faults()
    assert fetch(page_url)[0] == 200
    file_path = "/files/whl/cu128/" + TORCH
    server.fault(file_path, status=404, times=1)
    assert [fetch(server.url + file_path)[0] for _ in range(2)] == [404, 200]
    server.fault(file_path + ".metadata", body=b"Metadata-Version: 2.1\n")
    assert fetch(server.url + file_path + ".metadata")[2] == b"Metadata-Version: 2.1\n"


def test_corrupt_hash() -> None:
    with IndexServer() as server:
        filename, data = build_wheel("demo", "1.0")
        server.add_index("simple", json_metadata_keys=("core-metadata", "dist-info-metadata"))
        server.add_file("simple", filename, data)
        before = json.loads(fetch(server.url + "/simple/demo/", {"Accept": JSON})[2])["files"][0]
        server.corrupt_hash("simple", filename)
        after = json.loads(fetch(server.url + "/simple/demo/", {"Accept": JSON})[2])["files"][0]
        assert after["hashes"]["sha256"] != hashlib.sha256(data).hexdigest() == before["hashes"]["sha256"]
        assert after["core-metadata"] == after["dist-info-metadata"] != before["core-metadata"] == before["dist-info-metadata"]
        assert f"#sha256={after['hashes']['sha256']}" in fetch(server.url + "/simple/demo/")[2].decode()
        assert fetch(after["url"])[2] == data  # the file itself is unchanged


# -- snapshots ------------------------------------------------------------------------------------


def test_snapshot() -> None:
    snapshot = {
        "source": "test",
        "projects": {
            "numpy": {
                "2.2.6": {
                    "requires_python": ">=3.10",
                    "requires_dist": [],
                    "provides_extra": [],
                    "yanked": False,
                    "files": [NUMPY, "numpy-2.2.6-cp311-cp311-win_amd64.whl", "numpy-2.2.6.tar.gz", "numpy-2.2.6.zip", "numpy-2.2.6.exe"],
                }
            },
            "torch": {
                "2.10.0": {
                    "requires_python": ">=3.10",
                    "requires_dist": ["filelock", "triton==3.6.0; platform_system == 'Linux'"],
                    "provides_extra": ["opt-einsum"],
                    "yanked": "bad release",
                    "files": [TORCH],
                }
            },
        },
    }
    with IndexServer() as server:
        added = server.add_snapshot("pypi", snapshot, keep=lambda name: "win_amd64" not in name)
        assert added == [NUMPY, "numpy-2.2.6.tar.gz", "numpy-2.2.6.zip", TORCH]
        files = json.loads(fetch(server.url + "/pypi/torch/", {"Accept": JSON})[2])["files"]
        assert (files[0]["yanked"], files[0]["requires-python"]) == ("bad release", ">=3.10")
        fields = parse_metadata(fetch(files[0]["url"] + ".metadata")[2])
        assert fields["Version"] == ["2.10.0+cu128"]  # the filename's version, as installers check
        assert fields["Requires-Dist"] == ["filelock", "triton==3.6.0; platform_system == 'Linux'"]
        assert fields["Provides-Extra"] == ["opt-einsum"]
        server.add_snapshot("whl/cu128", snapshot, keep=lambda name: name.startswith("torch"), html_only=True)
        assert "data-core-metadata" not in fetch(server.url + "/whl/cu128/torch/", {"Accept": JSON})[2].decode()


# -- real installers ------------------------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PIP_") and "proxy" not in k.lower()}
    env["PIP_CONFIG_FILE"] = os.devnull  # no user/global pip.conf (find-links, extra indexes)
    return env


@pytest.mark.skipif(importlib.util.find_spec("pip") is None, reason="pip is not installed")
def test_pip_installs_wheel_and_builds_sdist_from_the_index(tmp_path: Path) -> None:
    with IndexServer() as server:
        server.add_file("simple", *build_wheel("lw-demo", "1.0", requires_dist=["nothing-at-all>=1"]))
        server.add_file("simple", *build_sdist("ls-demo", "2.0", requires_python=">=3.8"), requires_python=">=3.8")
        command = [
            sys.executable, "-m", "pip", "install", "--isolated", "--no-deps", "--no-cache-dir",
            "--disable-pip-version-check", "--no-input", "--quiet",
            "--index-url", server.index_url("simple"), "--target", str(tmp_path / "t"),
            "--no-binary", "ls-demo", "lw-demo==1.0", "ls-demo==2.0",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, env=_clean_env(), timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert (tmp_path / "t" / "lw_demo" / "__init__.py").read_text().endswith('__version__ = "1.0"\n')
        assert (tmp_path / "t" / "ls_demo" / "__init__.py").is_file()
        assert (tmp_path / "t" / "lw_demo-1.0.dist-info" / "METADATA").read_bytes().startswith(b"Metadata-Version: 2.1")
        assert server.requests_for("/files/simple/lw_demo-1.0-py3-none-any.whl")
        assert server.requests_for("/files/simple/ls_demo-2.0.tar.gz")
        assert server.errors == []


def test_sdist_metadata_by_isolated_pep517_build(tmp_path: Path) -> None:
    pytest.importorskip("build")
    filename, data = build_sdist("iso-demo", "3.0", requires_dist=["numpy>=2; python_version >= '3.10'"], requires_python=">=3.9")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp_path, filter="data")
        else:  # pragma: no cover - Pythons without extraction filters
            tar.extractall(tmp_path)
    script = (
        "import sys, build.util; m = build.util.project_wheel_metadata(sys.argv[1], isolated=True); "
        "import json; print(json.dumps([m['Requires-Python'], m.get_all('Requires-Dist')]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / filename[: -len(".tar.gz")])],
        capture_output=True, text=True, env=_clean_env(), timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == [">=3.9", ["numpy>=2; python_version >= '3.10'"]]
