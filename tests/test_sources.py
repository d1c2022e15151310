"""envspec.sources: page parsing, wheel tags, credentials, the cache, and PackageFinder over a
real local index server (tests/localindex)."""

from __future__ import annotations

import base64
import io
import json
import logging
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from packaging.tags import Tag
from packaging.utils import canonicalize_name
from packaging.version import Version

from envspec.errors import SourceError
from envspec.sources import (
    Cache,
    CoreMetadata,
    DistFile,
    ExtraIndex,
    FetchEvent,
    Index,
    IndexConfig,
    NotCached,
    PackageFinder,
    TargetTags,
    _http,
    parse_html,
    parse_json,
    parse_page,
    redact,
)
from envspec.sources._cache import SCHEMA, CachedPage
from envspec.sources._credentials import Credentials, env_prefix
from envspec.sources._metadata import TAIL_SIZE, check_matches, parse_metadata
from envspec.sources._pages import make_file
from tests.localindex import IndexServer, build_sdist, build_wheel

PYPI = Index("pypi", "https://pypi.org/simple")
H1, H2, H3 = "a" * 64, "b" * 64, "c" * 64

# --- samples modelled on real pages --------------------------------------------------------

# https://pypi.org/simple/packaging/ with Accept: application/vnd.pypi.simple.v1+json (cut down).
PYPI_JSON = json.dumps(
    {
        "files": [
            {
                "core-metadata": {"sha256": H2},
                "data-dist-info-metadata": {"sha256": H2},
                "filename": "packaging-24.2-py3-none-any.whl",
                "hashes": {"sha256": H1},
                "provenance": None,
                "requires-python": ">=3.8",
                "size": 65451,
                "upload-time": "2024-11-08T09:47:44.722016Z",
                "url": "https://files.pythonhosted.org/packages/88/ef/eb23/packaging-24.2-py3-none-any.whl",
                "yanked": False,
            },
            {
                "core-metadata": False,
                "data-dist-info-metadata": False,
                "filename": "packaging-24.2.tar.gz",
                "hashes": {"sha256": H3},
                "requires-python": ">=3.8",
                "size": 163950,
                "url": "https://files.pythonhosted.org/packages/d0/63/68db/packaging-24.2.tar.gz",
                "yanked": False,
            },
            {  # yanked with a reason (PEP 592), no metadata keys at all
                "filename": "packaging-22.0-py3-none-any.whl",
                "hashes": {"sha256": H1},
                "requires-python": ">=3.7",
                "url": "https://files.pythonhosted.org/packages/8f/7b/42d0/packaging-22.0-py3-none-any.whl",
                "yanked": "broken on Python 3.7",
            },
            {  # old formats and other projects' files are skipped
                "filename": "packaging-14.0-py2.7.egg",
                "hashes": {},
                "url": "https://files.pythonhosted.org/x/packaging-14.0-py2.7.egg",
                "yanked": False,
            },
            {"filename": "packaging-14.0.tar.bz2", "hashes": {}, "url": "x/packaging-14.0.tar.bz2", "yanked": False},
            {"filename": "packaging_legacy-1.0.tar.gz", "hashes": {}, "url": "packaging_legacy-1.0.tar.gz", "yanked": False},
            {  # a relative URL with a fragment, and the older dist-info-metadata key (true)
                "filename": "packaging-23.0-py3-none-any.whl",
                "hashes": {"sha256": H2},
                "dist-info-metadata": True,
                "url": "../../files/packaging-23.0-py3-none-any.whl#sha256=" + H2,
                "yanked": False,
            },
        ],
        "meta": {"_last-serial": 26055395, "api-version": "1.3"},
        "name": "packaging",
        "versions": ["14.0", "22.0", "23.0", "24.2"],
    }
).encode()

# https://download.pytorch.org/whl/cu124/torch/ (cut down): PEP 503 HTML, root-relative links,
# "+" percent-encoded in the URL, hashes as fragments; newer entries carry core-metadata.
PYTORCH_HTML = b"""<!DOCTYPE html>
<html>
  <body>
    <h1>Links for torch</h1>
    <a href="/whl/cu124/torch-2.5.1%2Bcu124-cp312-cp312-linux_x86_64.whl#sha256=""" + H1.encode() + b"""">torch-2.5.1+cu124-cp312-cp312-linux_x86_64.whl</a><br/>
    <a href="/whl/cu124/torch-2.5.1%2Bcu124-cp312-cp312-win_amd64.whl#sha256=""" + H2.encode() + b"""">torch-2.5.1+cu124-cp312-cp312-win_amd64.whl</a><br/>
    <a href="/whl/cu124/torch-2.6.0%2Bcu124-cp313-cp313t-manylinux_2_28_x86_64.whl#sha256=""" + H3.encode() + b"""" data-requires-python="&gt;=3.9.0" data-dist-info-metadata="sha256=""" + H1.encode() + b"""" data-core-metadata="sha256=""" + H2.encode() + b"""">torch-2.6.0+cu124-cp313-cp313t-manylinux_2_28_x86_64.whl</a><br/>
    <a href="/whl/cu124/torchvision-0.20.1%2Bcu124-cp312-cp312-linux_x86_64.whl#sha256=""" + H1.encode() + b"""">torchvision-0.20.1+cu124-cp312-cp312-linux_x86_64.whl</a><br/>
  </body>
</html>
"""

# https://pypi.org/simple/attrs/ as PEP 503 HTML (cut down).
PYPI_HTML = b"""<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.3">
    <title>Links for attrs</title>
  </head>
  <body>
    <h1>Links for attrs</h1>
    <a href="https://files.pythonhosted.org/packages/6a/21/5b6/attrs-24.2.0-py3-none-any.whl#sha256=""" + H1.encode() + b"""" data-requires-python="&gt;=3.7" data-dist-info-metadata="sha256=""" + H2.encode() + b"""" data-core-metadata="sha256=""" + H3.encode() + b"""">attrs-24.2.0-py3-none-any.whl</a><br />
    <a href="https://files.pythonhosted.org/packages/fc/0f/aafc/attrs-24.2.0.tar.gz#sha256=""" + H2.encode() + b"""" data-requires-python="&gt;=3.7">attrs-24.2.0.tar.gz</a><br />
    <a href="https://files.pythonhosted.org/packages/f0/eb/fcb7/attrs-21.1.0-py2.py3-none-any.whl#sha256=""" + H3.encode() + b"""" data-requires-python="&gt;=2.7, !=3.0.*" data-yanked="">attrs-21.1.0-py2.py3-none-any.whl</a><br />
    <a href="https://files.pythonhosted.org/packages/aa/bb/attrs-20.0.0-py3-none-any.whl#md5=0123456789abcdef" data-core-metadata="true">attrs-20.0.0-py3-none-any.whl</a><br />
  </body>
</html>
"""


# --- pages ---------------------------------------------------------------------------------


def test_parse_pypi_json() -> None:
    url = "https://pypi.org/simple/packaging/"
    page = parse_json(PYPI_JSON, url, PYPI, "Packaging")
    assert page.name == "packaging" and page.url == url and page.index == PYPI
    assert [f.filename for f in page.files] == [
        "packaging-24.2-py3-none-any.whl",
        "packaging-24.2.tar.gz",
        "packaging-22.0-py3-none-any.whl",
        "packaging-23.0-py3-none-any.whl",
    ]
    wheel, sdist, yanked, relative = page.files
    assert wheel.kind == "wheel" and wheel.version == Version("24.2")
    assert wheel.tags == frozenset({Tag("py3", "none", "any")})
    assert wheel.sha256 == H1 and wheel.size == 65451 and wheel.requires_python == ">=3.8"
    assert wheel.metadata == (("sha256", H2),) and not wheel.yanked
    assert sdist.kind == "sdist" and sdist.tags == frozenset() and sdist.metadata is None
    assert yanked.yanked and yanked.metadata is None and yanked.size is None
    # Relative URL resolved against the page, fragment stripped; dist-info-metadata: true.
    assert relative.url == "https://pypi.org/files/packaging-23.0-py3-none-any.whl"
    assert relative.metadata == ()
    # Served from elsewhere after a redirect: relative links follow the final URL.
    moved = parse_json(PYPI_JSON, url, PYPI, "packaging", base="https://mirror.example/a/simple/packaging/")
    assert moved.url == url and moved.files[3].url == "https://mirror.example/a/files/packaging-23.0-py3-none-any.whl"


def test_json_core_metadata_preferred_over_dist_info_metadata() -> None:
    body = json.dumps(
        {
            "meta": {"api-version": "1.1"},
            "name": "demo",
            "files": [
                {
                    "filename": "demo-1.0-py3-none-any.whl",
                    "url": "demo-1.0-py3-none-any.whl",
                    "hashes": {"sha256": H1},
                    "core-metadata": {"sha256": H2},
                    "dist-info-metadata": {"sha256": H3},
                }
            ],
        }
    ).encode()
    (file,) = parse_json(body, "https://example.org/simple/demo/", PYPI, "demo").files
    assert file.metadata == (("sha256", H2),)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # truncated in transit
        (PYPI_JSON[:200], "truncated or invalid"),
        (b"", "truncated or invalid"),
        # valid JSON, wrong shape
        (b"[]", "no 'files' list"),
        (b'{"meta": {"api-version": "1.0"}, "files": {}}', "no 'files' list"),
        (b'{"files": [42]}', "not an object"),
        (b'{"files": [{"filename": "demo-1.0.tar.gz"}]}', "lacks a string filename/url"),
        # an API version this client does not speak
        (b'{"meta": {"api-version": "2.0"}, "files": []}', "unsupported simple API version 2.0"),
    ],
)
def test_bad_json_pages(body: bytes, message: str) -> None:
    url = "https://pypi.org/simple/demo/"
    with pytest.raises(SourceError) as info:
        parse_json(body, url, PYPI, "demo")
    assert info.value.code == "index-bad-response"
    assert info.value.url == url and message in info.value.message and url in str(info.value)


def test_parse_pytorch_html() -> None:
    index = Index("pytorch-cu124", "https://download.pytorch.org/whl/cu124")
    url = index.project_url("torch")
    page = parse_html(PYTORCH_HTML, url, index, "torch")
    # torchvision's link on torch's page is not a torch file.
    assert [f.filename for f in page.files] == [
        "torch-2.5.1+cu124-cp312-cp312-linux_x86_64.whl",
        "torch-2.5.1+cu124-cp312-cp312-win_amd64.whl",
        "torch-2.6.0+cu124-cp313-cp313t-manylinux_2_28_x86_64.whl",
    ]
    first, _, newest = page.files
    assert first.url == "https://download.pytorch.org/whl/cu124/torch-2.5.1%2Bcu124-cp312-cp312-linux_x86_64.whl"
    assert first.version == Version("2.5.1+cu124") and first.version.local == "cu124"
    assert first.hashes == (("sha256", H1),) and first.metadata is None and first.requires_python is None
    assert newest.requires_python == ">=3.9.0"  # HTML-unescaped
    assert newest.metadata == (("sha256", H2),)  # data-core-metadata wins (PEP 714)
    assert newest.tags == frozenset({Tag("cp313", "cp313t", "manylinux_2_28_x86_64")})


def test_parse_pypi_html() -> None:
    page = parse_html(PYPI_HTML, "https://pypi.org/simple/attrs/", PYPI, "attrs")
    wheel, sdist, yanked, old = page.files
    assert wheel.requires_python == ">=3.7" and wheel.metadata == (("sha256", H3),)
    assert sdist.kind == "sdist" and sdist.metadata is None and sdist.sha256 == H2
    assert yanked.yanked and yanked.requires_python == ">=2.7, !=3.0.*"
    assert old.metadata == () and old.sha256 is None and old.hashes == (("md5", "0123456789abcdef"),)
    assert all("#" not in f.url for f in page.files)


def test_html_base_href_and_credentials_in_links() -> None:
    body = b'<html><head><base href="https://mirror.example/pkgs/"></head><body>' \
        b'<a href="demo-1.0.tar.gz#sha256=' + H1.encode() + b'">demo-1.0.tar.gz</a>' \
        b'<a href="https://u:secret@files.example/demo-2.0.zip">demo-2.0.zip</a></body></html>'
    page = parse_html(body, "https://user:pw@idx.example/simple/demo/", PYPI, "demo")
    assert [f.url for f in page.files] == ["https://mirror.example/pkgs/demo-1.0.tar.gz", "https://files.example/demo-2.0.zip"]
    assert page.url == "https://idx.example/simple/demo/"


@pytest.mark.parametrize(
    ("content_type", "body", "count"),
    [
        ("application/vnd.pypi.simple.v1+json", PYPI_JSON, 4),
        ("application/vnd.pypi.simple.v1+html", PYPI_HTML, 4),
        ("text/html; charset=utf-8", PYPI_HTML, 4),
        (None, PYPI_JSON, 4),  # sniffed
        ("application/octet-stream", PYPI_HTML, 4),
    ],
)
def test_parse_page_by_content_type(content_type: str | None, body: bytes, count: int) -> None:
    name = "packaging" if body is PYPI_JSON else "attrs"
    assert len(parse_page(body, content_type, f"https://pypi.org/simple/{name}/", PYPI, name).files) == count


# --- tags ----------------------------------------------------------------------------------


def _wheel(filename: str) -> DistFile:
    file = make_file(canonicalize_name(filename.split("-")[0]), filename, f"https://x/{filename}")
    assert file is not None
    return file


LINUX_312 = TargetTags("linux-x86_64", "3.12")  # glibc 2.28
LINUX_312_OLD = TargetTags("linux-x86_64", "3.12", glibc="2.17")


@pytest.mark.parametrize(
    ("target", "filename", "fits", "family"),
    [
        # manylinux by glibc floor
        (LINUX_312, "numpy-2.2.6-cp312-cp312-manylinux_2_28_x86_64.whl", True, True),
        (LINUX_312_OLD, "numpy-2.2.6-cp312-cp312-manylinux_2_28_x86_64.whl", False, True),
        (LINUX_312, "numpy-2.2.6-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True, True),
        (LINUX_312, "numpy-2.2.6-cp312-cp312-manylinux_2_34_x86_64.whl", False, True),
        (LINUX_312, "old-1.0-cp312-cp312-manylinux1_x86_64.whl", True, True),
        (LINUX_312, "old-1.0-cp312-cp312-manylinux2010_x86_64.whl", True, True),
        # download.pytorch.org's older wheels: plain linux_x86_64
        (LINUX_312, "torch-2.5.1+cu124-cp312-cp312-linux_x86_64.whl", True, True),
        # free-threaded builds do not fit the standard build
        (TargetTags("linux-x86_64", "3.13"), "torch-2.6.0+cu124-cp313-cp313t-manylinux_2_28_x86_64.whl", False, False),
        (TargetTags("linux-x86_64", "3.13"), "torch-2.6.0+cu124-cp313-cp313-manylinux_2_28_x86_64.whl", True, True),
        # abi3 fits newer Pythons, not older ones
        (LINUX_312, "cryptography-44.0.0-cp39-abi3-manylinux_2_28_x86_64.whl", True, True),
        (TargetTags("linux-x86_64", "3.8"), "cryptography-44.0.0-cp39-abi3-manylinux_2_28_x86_64.whl", False, False),
        # another Python, another arch, musl
        (LINUX_312, "numpy-2.2.6-cp311-cp311-manylinux_2_17_x86_64.whl", False, False),
        (LINUX_312, "numpy-2.2.6-cp312-cp312-manylinux_2_17_aarch64.whl", False, False),
        (TargetTags("linux-aarch64", "3.12"), "numpy-2.2.6-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", True, True),
        (LINUX_312, "numpy-2.2.6-cp312-cp312-musllinux_1_2_x86_64.whl", False, False),
        # pure Python fits everywhere
        (LINUX_312, "six-1.16.0-py2.py3-none-any.whl", True, True),
        (TargetTags("windows-x86_64", "3.12"), "six-1.16.0-py2.py3-none-any.whl", True, True),
        # Windows
        (TargetTags("windows-x86_64", "3.12"), "torch-2.5.1+cu124-cp312-cp312-win_amd64.whl", True, True),
        (TargetTags("windows-x86_64", "3.12"), "torch-2.5.1-cp312-cp312-win32.whl", False, False),
        (TargetTags("windows-x86_64", "3.12"), "torch-2.5.1+cu124-cp312-cp312-linux_x86_64.whl", False, False),
        # macOS arm64 at 11.0: universal2 fits, x86_64 does not, a newer macOS is the family
        (TargetTags("macos-arm64", "3.12"), "torch-2.5.1-cp312-none-macosx_11_0_arm64.whl", True, True),
        (TargetTags("macos-arm64", "3.12"), "numpy-2.2.6-cp312-cp312-macosx_10_9_universal2.whl", True, True),
        (TargetTags("macos-arm64", "3.12"), "numpy-2.2.6-cp312-cp312-macosx_14_0_arm64.whl", False, True),
        (TargetTags("macos-arm64", "3.12", macos="14.0"), "numpy-2.2.6-cp312-cp312-macosx_14_0_arm64.whl", True, True),
        (TargetTags("macos-arm64", "3.12"), "numpy-2.2.6-cp312-cp312-macosx_10_13_x86_64.whl", False, False),
    ],
)
def test_tags_fit_and_family(target: TargetTags, filename: str, fits: bool, family: bool) -> None:
    file = _wheel(filename)
    assert (target.rank(file) is not None) is fits
    assert target.same_family(file) is family


def test_tag_ranking_order() -> None:
    names = [
        "x-1.0-py3-none-any.whl",
        "x-1.0-cp312-cp312-linux_x86_64.whl",
        "x-1.0-cp39-abi3-manylinux_2_28_x86_64.whl",
        "x-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "x-1.0-cp312-cp312-manylinux_2_28_x86_64.whl",
    ]
    ranked = sorted(names, key=lambda n: LINUX_312.rank(_wheel(n)))  # type: ignore[arg-type,return-value]
    assert ranked == [
        "x-1.0-cp312-cp312-manylinux_2_28_x86_64.whl",  # newest platform first
        "x-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "x-1.0-cp312-cp312-linux_x86_64.whl",  # linux_<arch> after every manylinux
        "x-1.0-cp39-abi3-manylinux_2_28_x86_64.whl",  # cpython_tags: exact ABI before abi3
        "x-1.0-py3-none-any.whl",  # compatible_tags last
    ]
    sdist = make_file(canonicalize_name("x"), "x-1.0.tar.gz", "https://x/x-1.0.tar.gz")
    assert sdist is not None and LINUX_312.rank(sdist) is None and not LINUX_312.same_family(sdist)


@pytest.mark.parametrize(
    "kwargs",
    [{"platform": "linux-riscv64", "python": "3.12"}, {"platform": "linux-x86_64", "python": "3"}, {"platform": "linux-x86_64", "python": "3.12", "glibc": "x"}],
)
def test_bad_target_tags(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        TargetTags(**kwargs)


# --- configuration and credentials ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pw@host/x", "https://host/x"),
        ("https://token@host:8443/simple/", "https://host:8443/simple/"),
        ("https://u%40corp:p%3Aw@host/x?y=1", "https://host/x?y=1"),
        ("https://host/x", "https://host/x"),
    ],
)
def test_redact(url: str, expected: str) -> None:
    assert redact(url) == expected


def test_index_config_order_and_secrets() -> None:
    config = IndexConfig(
        default=Index("corp", "https://me:s3cret@pypi.corp.example/simple/"),
        pytorch_base="https://download.pytorch.org/whl/",
        extras=(
            ExtraIndex("internal", "https://tok@internal.example/simple", ("My_Pkg",)),
            ExtraIndex("mirror", "https://mirror.example/simple"),
        ),
    )
    assert config.default == Index("corp", "https://pypi.corp.example/simple")
    assert config.pytorch("cu128") == Index("pytorch-cu128", "https://download.pytorch.org/whl/cu128")
    # A listed package: only that index. Anything else: unlisted extras, then the default.
    assert config.indexes_for("my-pkg") == (Index("internal", "https://internal.example/simple"),)
    assert config.indexes_for("numpy") == (Index("mirror", "https://mirror.example/simple"), config.default)
    assert config.url_credentials() == {
        "https://pypi.corp.example/simple": ("me", "s3cret"),
        "https://internal.example/simple": ("tok", ""),
    }
    assert "s3cret" not in repr(config) and "tok@" not in repr(config)
    assert config == IndexConfig(
        default=Index("corp", "https://pypi.corp.example/simple"),
        pytorch_base="https://download.pytorch.org/whl",
        extras=config.extras,
    )


def test_credentials_order(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine files.example login nu password np\nmachine idx.example login nu2 password np2\n")
    netrc.chmod(0o600)
    a = Index("corp-a", "https://idx.example/a")
    b = Index("corp.b", "https://idx.example/b")
    env = {"AIENV_INDEX_CORP_B_USERNAME": "eu", "AIENV_INDEX_CORP_B_PASSWORD": "ep", "NETRC": str(netrc)}
    creds = Credentials([a, b], {"https://idx.example/a": ("uu", "up")}, environ=env)
    assert env_prefix("corp.b") == "AIENV_INDEX_CORP_B_"
    # 1. credentials written in the index URL
    assert creds.for_url("https://idx.example/a/demo/") == ("uu", "up")
    # 2. environment variables of the index the URL is under
    assert creds.for_url("https://idx.example/b/demo/") == ("eu", "ep")
    # Same host, under neither index: the URL credentials of that host's index come first.
    assert creds.for_url("https://idx.example/files/demo-1.0.tar.gz") == ("uu", "up")
    # 3. netrc by host; an index's credentials never go to another host
    assert creds.for_url("https://files.example/demo-1.0.tar.gz") == ("nu", "np")
    assert creds.for_url("https://elsewhere.example/x") is None
    # Without URL credentials or env, netrc answers for the index host too.
    assert Credentials([a], environ={"NETRC": str(netrc)}).for_url("https://idx.example/a/x/") == ("nu2", "np2")


def test_credentials_bad_netrc_ignored(tmp_path: Path) -> None:
    bad = tmp_path / "netrc"
    bad.write_text("machine\n")
    assert Credentials(environ={"NETRC": str(bad)}).for_url("https://h/x") is None
    assert Credentials(environ={"NETRC": str(tmp_path / "absent")}).for_url("https://h/x") is None


# --- cache ---------------------------------------------------------------------------------


def _page(url: str = "https://pypi.org/simple/demo/", body: bytes = b"{}") -> CachedPage:
    return CachedPage(url, 200, body, "application/vnd.pypi.simple.v1+json", '"e1"', "Mon, 01 Jan 2024 00:00:00 GMT", 1000.0, 600)


def test_cache_round_trip_and_layout(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    page = _page(body=b"\n".join([b"line"] * 3))
    assert cache.get_page(page.url) is None
    cache.put_page(page)
    assert cache.get_page(page.url) == page
    assert cache.page_path(page.url).is_relative_to(tmp_path / SCHEMA / "pages")
    assert page.is_fresh(1500.0) and not page.is_fresh(1600.0)
    file = _wheel("demo-1.0-py3-none-any.whl")
    hashed = DistFile(**{**file.__dict__, "hashes": (("sha256", H1),)})
    meta = CoreMetadata(canonicalize_name("demo"), Version("1.0"), ("numpy>=2",), ">=3.9", ("gpu",))
    for f in (file, hashed):
        cache.put_metadata(f, meta)
        assert cache.get_metadata(f) == meta
    assert cache.metadata_path(hashed).name == f"{H1}.json"
    # Nothing but entries: every temporary file was renamed into place.
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_cache_default_dir_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIENV_CACHE_DIR", str(tmp_path / "c"))
    assert Cache().root == tmp_path / "c" / SCHEMA


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:-3],  # truncated body
        lambda raw: raw[:10],  # truncated header
        lambda raw: b"not json\n" + raw,
        lambda raw: raw.replace(b"line", b"LINE"),  # body does not match its checksum
        lambda raw: b"",
    ],
)
def test_cache_corrupt_page_is_missing(tmp_path: Path, damage: Any, caplog: pytest.LogCaptureFixture) -> None:
    cache = Cache(tmp_path)
    page = _page(body=b"line line")
    cache.put_page(page)
    path = cache.page_path(page.url)
    path.write_bytes(damage(path.read_bytes()))
    with caplog.at_level(logging.WARNING, "envspec.sources._cache"):
        assert cache.get_page(page.url) is None
    assert "corrupt" in caplog.text


@pytest.mark.parametrize("content", [b"{", b"[]", b'{"key": "x"}', b'{"key": "%s", "name": "demo", "version": "not a version"}' % H1.encode()])
def test_cache_corrupt_metadata_is_missing(tmp_path: Path, content: bytes) -> None:
    cache = Cache(tmp_path)
    file = DistFile(**{**_wheel("demo-1.0-py3-none-any.whl").__dict__, "hashes": (("sha256", H1),)})
    path = cache.metadata_path(file)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert cache.get_metadata(file) is None


def test_cache_unwritable_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = Cache(blocker)  # the root is under a regular file: every write fails
    with caplog.at_level(logging.WARNING, "envspec.sources._cache"):
        cache.put_page(_page())
        cache.put_page(_page())
    assert cache.get_page(_page().url) is None
    assert caplog.text.count("cannot write the cache") == 1


# --- metadata parsing ----------------------------------------------------------------------

METADATA = b"""Metadata-Version: 2.1
Name: Demo_Pkg
Version: 1.0
Summary: caf\xc3\xa9
Requires-Python: >=3.9
Provides-Extra: gpu
Requires-Dist: numpy>=2
Requires-Dist: cupy; extra == "gpu"

A long description with: colons
Requires-Dist: not-a-header
"""


def test_parse_metadata_and_check() -> None:
    meta = parse_metadata(METADATA, "u")
    assert meta == CoreMetadata("demo-pkg", Version("1.0"), ("numpy>=2", 'cupy; extra == "gpu"'), ">=3.9", ("gpu",))  # type: ignore[arg-type]
    check_matches(meta, _wheel("demo_pkg-1.0-py3-none-any.whl"))
    with pytest.raises(SourceError) as info:
        check_matches(meta, _wheel("demo_pkg-1.1-py3-none-any.whl"))
    assert info.value.code == "metadata-mismatch"
    assert info.value.message.endswith("metadata says demo-pkg 1.0 but the index file is demo-pkg 1.1")
    with pytest.raises(SourceError, match="no Name or no Version"):
        parse_metadata(b"Metadata-Version: 2.1\nName: x\n", "u")


def test_offline_path_loads_no_http_stack(tmp_path: Path) -> None:
    code = f"""if True:
        import sys
        from envspec.sources import IndexConfig, NotCached, PackageFinder, PYPI
        from envspec.sources._pages import make_file
        with PackageFinder(IndexConfig(), cache_dir={str(tmp_path)!r}, offline=True) as finder:
            assert finder.page(PYPI, "numpy").files == ()
            try:
                finder.metadata(make_file("demo", "demo-1.0.tar.gz", "https://x/demo-1.0.tar.gz"))
            except NotCached:
                pass
        print(len(finder.missing), sorted(m for m in ("urllib3", "build") if m in sys.modules))
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2 []"


# --- PackageFinder over a real local index -------------------------------------------------


@pytest.fixture(autouse=True)
def _no_proxy_no_netrc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setattr(_http, "BACKOFF", 0.0)


PAD = 4_000_000


@pytest.fixture(scope="module")
def server() -> Iterator[IndexServer]:
    with IndexServer() as srv:
        srv.add_index("simple")
        srv.add_file("simple", *build_wheel("demo", "1.0", requires_dist=["numpy>=2"], requires_python=">=3.9"), requires_python=">=3.9")
        srv.add_file("simple", *build_sdist("demo", "1.0", requires_dist=["numpy>=2"]))
        srv.add_file("simple", *build_wheel("big", "1.0", pad=PAD, requires_dist=["six"]), pep658=False)
        srv.add_file("simple", *build_sdist("onlysdist", "0.3", requires_dist=["attrs>=22"], provides_extra=["x"]))
        srv.add_file("simple", *build_sdist("zipsdist", "0.4", filename="zipsdist-0.4.zip"))
        # Many files: a central directory larger than the first range read.
        many = {f"many/m{i:04}.py": b"x = 1\n" for i in range(1500)}
        srv.add_file("simple", *build_wheel("many", "1.0", extra_files=many, pad=PAD), pep658=False)
        srv.add_file("simple", *build_wheel("liar", "1.1", filename="liar-1.0-py3-none-any.whl"))
        srv.add_file("simple", *build_wheel("bad", "1.0"))
        srv.add_file("simple", *build_wheel("bad", "2.0"), pep658=False)
        srv.corrupt_hash("simple", "bad-1.0-py3-none-any.whl")
        srv.corrupt_hash("simple", "bad-2.0-py3-none-any.whl")
        srv.add_index("whl/cu124", html_only=True)
        srv.add_file("whl/cu124", *build_wheel("torch", "2.5.1+cu124", tag="cp312-cp312-linux_x86_64", requires_dist=["filelock"]))
        srv.add_index("norange", range_support=False, pep658=False)
        srv.add_file("norange", *build_wheel("small", "1.0", requires_dist=["six"]))
        srv.add_file("norange", *build_wheel("big", "1.0", pad=11_000_000))
        srv.add_file("norange", *build_wheel("tampered", "1.0"))
        srv.corrupt_hash("norange", "tampered-1.0-py3-none-any.whl")
        srv.add_index("relative", urls="relative")
        srv.add_file("relative", *build_wheel("demo", "1.0", requires_dist=["numpy>=2"], requires_python=">=3.9"))
        yield srv
        assert srv.errors == []


@pytest.fixture
def _clean(server: IndexServer) -> Iterator[None]:
    yield
    server.clear_faults()
    server.clear_log()


def _index(server: IndexServer, prefix: str = "simple", name: str | None = None) -> Index:
    return Index(name or prefix.replace("/", "-"), server.url + "/" + prefix)


@pytest.fixture
def finder_for(server: IndexServer, tmp_path: Path, _clean: None) -> Iterator[Any]:
    finders: list[PackageFinder] = []

    def make(offline: bool = False, cache: Path | None = None, **kwargs: Any) -> PackageFinder:
        config = kwargs.pop("config", None) or IndexConfig(default=_index(server))
        finder = PackageFinder(config, cache_dir=cache or tmp_path / "cache", offline=offline, **kwargs)
        finders.append(finder)
        return finder

    yield make
    for finder in finders:
        finder.close()


def test_json_page_and_pep658(server: IndexServer, finder_for: Any) -> None:
    finder = finder_for()
    page = finder.page(_index(server), "Demo")
    assert [f.filename for f in page.files] == ["demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz"]
    wheel = page.files[0]
    assert wheel.url == server.file_url("simple", wheel.filename) and wheel.sha256 == server.sha256("simple", wheel.filename)
    assert wheel.requires_python == ">=3.9" and wheel.metadata is not None and wheel.size
    meta = finder.metadata(wheel)
    assert meta == CoreMetadata("demo", Version("1.0"), ("numpy>=2",), ">=3.9")  # type: ignore[arg-type]
    assert [(r.path, r.range) for r in server.log] == [
        ("/simple/demo/", None),
        ("/files/simple/demo-1.0-py3-none-any.whl.metadata", None),
    ]
    assert finder.stats["pages_fetched"] == 1 and finder.stats["metadata_pep658"] == 1


def test_html_page_like_pytorch(server: IndexServer, finder_for: Any) -> None:
    finder = finder_for()
    index = _index(server, "whl/cu124", "pytorch-cu124")
    (file,) = finder.page(index, "torch").files
    assert file.filename == "torch-2.5.1+cu124-cp312-cp312-linux_x86_64.whl" and file.metadata is None
    assert file.url == server.url + "/files/whl/cu124/torch-2.5.1%2Bcu124-cp312-cp312-linux_x86_64.whl"
    assert LINUX_312.rank(file) is not None
    assert finder.metadata(file).requires_dist == ("filelock",)
    assert finder.stats["metadata_range"] == 1


def test_relative_file_urls(server: IndexServer, finder_for: Any) -> None:
    page = finder_for().page(_index(server, "relative"), "demo")
    assert page.files[0].url == server.file_url("relative", "demo-1.0-py3-none-any.whl")


def test_range_reads_fetch_a_few_kib_of_a_large_wheel(server: IndexServer, finder_for: Any) -> None:
    finder = finder_for()
    file = next(f for f in finder.page(_index(server), "big").files if f.kind == "wheel")
    assert file.metadata is None and file.size is not None and file.size > PAD
    server.clear_log()
    assert finder.metadata(file).requires_dist == ("six",)
    sent = server.bytes_sent("/files/")
    assert [r.range for r in server.log] == [f"bytes=-{TAIL_SIZE}"]
    assert [r.status for r in server.log] == [206]
    assert sent <= TAIL_SIZE < file.size / 50
    assert finder.stats["metadata_range"] == 1 and finder.stats["bytes_downloaded"] >= sent


def test_range_reads_fetch_more_blocks_when_needed(server: IndexServer, finder_for: Any) -> None:
    finder = finder_for()
    file = next(f for f in finder.page(_index(server), "many").files if f.kind == "wheel")
    server.clear_log()
    assert finder.metadata(file).name == "many"
    assert all(r.status == 206 for r in server.log) and len(server.log) >= 2
    assert server.bytes_sent("/files/") < 400_000 < file.size  # type: ignore[operator]


def test_server_without_range_support(server: IndexServer, finder_for: Any) -> None:
    finder = finder_for()
    index = _index(server, "norange")
    small = finder.page(index, "small").files[0]
    assert finder.metadata(small).requires_dist == ("six",)  # whole file accepted: it is small
    big = finder.page(index, "big").files[0]
    with pytest.raises(SourceError) as info:
        finder.metadata(big)
    assert info.value.code == "index-bad-response" and info.value.url == big.url
    assert "ignores HTTP range requests" in info.value.message
    tampered = finder.page(index, "tampered").files[0]
    with pytest.raises(SourceError) as info:
        finder.metadata(tampered)
    assert info.value.code == "hash-mismatch" and info.value.url == tampered.url


@pytest.mark.parametrize(("name", "version", "extras"), [("onlysdist", "0.3", ("x",)), ("zipsdist", "0.4", ())])
def test_sdist_metadata_by_isolated_build(server: IndexServer, finder_for: Any, tmp_path: Path, name: str, version: str, extras: tuple[str, ...]) -> None:
    finder = finder_for()
    (sdist,) = finder.page(_index(server), name).files
    meta = finder.metadata(sdist)
    assert meta.name == name and meta.version == Version(version) and meta.provides_extra == extras
    assert finder.stats["metadata_sdist"] == 1
    # Cached by the sdist's sha256: a new finder builds nothing.
    again = finder_for()
    assert again.metadata(sdist) == meta and again.stats["metadata_cached"] == 1
    assert (tmp_path / "cache" / SCHEMA / "metadata" / "sha256" / sdist.sha256[:2] / f"{sdist.sha256}.json").is_file()  # type: ignore[index]


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("members", "code", "message"),
    [
        # the backend fails: the output's last lines are in the message
        (
            {
                "broken-1.0/pyproject.toml": b'[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
                "broken-1.0/backend.py": b"def prepare_metadata_for_build_wheel(d, c=None):\n    raise RuntimeError('no compiler here')\n",
            },
            "metadata-build-failed",
            "no compiler here",
        ),
        # a path that leaves the unpack directory is refused before anything runs
        ({"broken-1.0/PKG-INFO": b"", "../evil.py": b"print('pwned')\n"}, "index-bad-response", "cannot unpack the sdist"),
    ],
)
def test_sdist_failures(server: IndexServer, finder_for: Any, members: dict[str, bytes], code: str, message: str) -> None:
    server.add_file("simple", "broken-1.0.tar.gz", _tar_gz(members))
    finder = finder_for()
    (sdist,) = finder.page(_index(server), "broken").files
    with pytest.raises(SourceError) as info:
        finder.metadata(sdist)
    assert info.value.code == code and info.value.url == sdist.url
    assert message in info.value.message


def test_warm_cache_revalidates_with_304(server: IndexServer, finder_for: Any) -> None:
    first = finder_for()
    page = first.page(_index(server), "demo")
    first.metadata(page.files[0])
    server.clear_log()
    second = finder_for()
    assert second.page(_index(server), "demo") == page
    assert second.metadata(page.files[0]).name == "demo"
    assert [(r.path, r.status) for r in server.log] == [("/simple/demo/", 304)]  # metadata: none
    assert second.stats["pages_revalidated"] == 1 and second.stats["metadata_cached"] == 1
    assert second.stats["pages_fetched"] == 0


def test_fresh_max_age_uses_no_request(server: IndexServer, finder_for: Any, tmp_path: Path) -> None:
    url = _index(server).project_url("demo")
    finder_for().page(_index(server), "demo")
    cache = Cache(tmp_path / "cache")
    entry = cache.get_page(url)
    assert entry is not None and entry.max_age == 0  # the server says must-revalidate
    cache.put_page(CachedPage(**{**entry.__dict__, "max_age": 3600}))
    server.clear_log()
    second = finder_for()
    assert len(second.page(_index(server), "demo").files) == 2
    assert server.log == [] and second.stats["pages_cached"] == 1


def test_offline_from_cache_and_misses(server: IndexServer, finder_for: Any) -> None:
    online = finder_for()
    page = online.page(_index(server), "demo")
    online.metadata(page.files[0])
    online.page(_index(server), "nothere")
    server.clear_log()
    offline = finder_for(offline=True)
    assert offline.page(_index(server), "demo") == page
    assert offline.metadata(page.files[0]).requires_dist == ("numpy>=2",)
    # A remembered 404 is not a miss.
    assert offline.page(_index(server), "nothere").files == () and offline.missing == []
    assert offline.not_found == {"nothere": [_index(server).project_url("nothere")]}
    # Misses: a page never fetched, metadata never fetched (the sdist's).
    assert offline.page(_index(server), "big").files == ()
    with pytest.raises(NotCached) as info:
        offline.metadata(page.files[1])
    assert str(info.value) == page.files[1].url
    assert offline.missing == [_index(server).project_url("big"), page.files[1].url]
    assert server.log == []
    assert offline._http is None  # no HTTP client was made


def test_offline_prefetch_records_only_what_is_asked(server: IndexServer, finder_for: Any) -> None:
    offline = finder_for(offline=True)
    offline.prefetch([(_index(server), "a"), (_index(server), "b")])
    offline.page(_index(server), "a")
    assert offline.missing == [_index(server).project_url("a")]


def test_not_found_and_first_index_wins(server: IndexServer, finder_for: Any) -> None:
    simple, relative, norange = _index(server), _index(server, "relative"), _index(server, "norange")
    finder = finder_for()
    # demo is on simple and relative: the first index that has it wins, the next is not asked.
    assert finder.find("demo", [relative, simple]).index == relative
    assert not server.requests_for("/simple/demo/")
    # small is only on the second index.
    assert finder.find("small", [simple, norange]).index == norange
    # nowhere: the empty page of the first index, and the 404s recorded.
    page = finder.find("nowhere", [simple, norange])
    assert page.files == () and page.index == simple
    assert finder.not_found == {
        "small": [simple.project_url("small")],
        "nowhere": [simple.project_url("nowhere"), norange.project_url("nowhere")],
    }


@pytest.mark.parametrize(
    ("fault", "code", "message"),
    [
        ({"status": 500}, "index-http-error", "HTTP 500 Internal Server Error"),
        ({"status": 403}, "index-http-error", "HTTP 403 Forbidden"),
        ({"truncate": 60}, "index-bad-response", "truncated or invalid"),
        ({"body": b'{"meta": {"api-version": "1.0"}, "projects": []}'}, "index-bad-response", "no 'files' list"),
    ],
)
def test_page_errors_name_the_url(server: IndexServer, finder_for: Any, fault: dict[str, Any], code: str, message: str) -> None:
    url = _index(server).project_url("demo")
    server.fault("/simple/demo/", **fault)
    with pytest.raises(SourceError) as info:
        finder_for().page(_index(server), "demo")
    assert info.value.code == code and info.value.url == url and message in info.value.message


def test_retry_on_503(server: IndexServer, finder_for: Any) -> None:
    server.fault("/simple/demo/", status=503, times=2)
    assert finder_for().page(_index(server), "demo").files
    assert [r.status for r in server.requests_for("/simple/demo/")] == [503, 503, 200]


def test_unreachable_index(finder_for: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_http, "RETRIES", 0)
    with IndexServer() as gone:
        index = Index("gone", gone.url + "/simple")
    with pytest.raises(SourceError) as info:
        finder_for(config=IndexConfig(default=index)).page(index, "demo")
    assert info.value.code == "index-unreachable" and info.value.url == index.project_url("demo")
    assert "--offline" in (info.value.hint or "")


def test_proxy_from_environment(server: IndexServer, finder_for: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The local index answers absolute-form requests like a forward proxy would.
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("NO_PROXY", "bypassed.invalid")
    index = Index("far", "http://index.invalid/simple")
    finder = finder_for(config=IndexConfig(default=index))
    page = finder.page(index, "demo")
    assert page.url == "http://index.invalid/simple/demo/" and page.files
    assert server.requests_for("/simple/demo/")
    client = finder._client()
    assert client._manager("http://bypassed.invalid/x") is client._direct
    assert client._manager("http://index.invalid/x") is not client._direct


def test_metadata_errors(server: IndexServer, finder_for: Any) -> None:
    finder = finder_for()
    # PEP 658 file whose sha256 is not the page's
    bad1 = finder.page(_index(server), "bad").files[0]
    with pytest.raises(SourceError) as info:
        finder.metadata(bad1)
    assert info.value.code == "hash-mismatch" and info.value.url == bad1.url + ".metadata"
    # metadata that disagrees with the file name (PEP 658 path)
    (liar,) = finder.page(_index(server), "liar").files
    with pytest.raises(SourceError) as info:
        finder.metadata(liar)
    assert info.value.code == "metadata-mismatch" and info.value.url == liar.url + ".metadata"
    assert "metadata says liar 1.1 but the index file is liar 1.0" in info.value.message
    # a wheel that is not a zip archive (range path)
    big = next(f for f in finder.page(_index(server), "big").files if f.kind == "wheel")
    server.fault(big.url, body=b"not a zip" * 100)
    with pytest.raises(SourceError) as info:
        finder.metadata(big)
    assert info.value.code == "index-bad-response" and info.value.url == big.url
    # a truncated .metadata file
    server.fault(server.file_url("simple", "demo-1.0-py3-none-any.whl") + ".metadata", truncate=20)
    with pytest.raises(SourceError) as info:
        finder.metadata(finder.page(_index(server), "demo").files[0])
    assert info.value.code == "hash-mismatch"


def test_prefetch_shares_requests_and_reports_progress(server: IndexServer, finder_for: Any) -> None:
    events: list[FetchEvent] = []
    lock = threading.Lock()

    def progress(event: FetchEvent) -> None:
        with lock:
            events.append(event)

    finder = finder_for(progress=progress)
    index = _index(server)
    finder.prefetch([(index, "demo"), (index, "big"), (index, "demo")])
    server.fault("/simple/onlysdist/", status=500)
    server.fault("/simple/zipsdist/", status=500)
    finder.prefetch([(index, "onlysdist"), (index, "zipsdist")])  # both fail in the background
    page = finder.page(index, "demo")
    finder.prefetch_metadata(page.files[:1])
    finder.metadata(page.files[0])
    finder.page(index, "big")
    with pytest.raises(SourceError) as info:  # a background failure surfaces when asked for
        finder.page(index, "onlysdist")
    assert info.value.code == "index-http-error"
    finder.close()  # and is not raised for the one nobody asked for
    assert len(server.requests_for("/simple/demo/")) == 1
    assert len(server.requests_for("demo-1.0-py3-none-any.whl.metadata")) == 1
    pages = [e for e in events if e.kind == "page"]
    assert len(pages) == 8 and max(e.total for e in pages) == max(e.done for e in pages) == 4
    assert all(e.done <= e.total for e in events)
    metadata = [(e.url, e.done, e.total) for e in events if e.kind == "metadata"]
    assert metadata == [(page.files[0].url, 0, 1), (page.files[0].url, 1, 1)]


# --- credentials over HTTP -----------------------------------------------------------------


class _AuthServer:
    """A one-page index that wants basic auth, recording each request's path and Authorization."""

    def __init__(self, user: str, password: str) -> None:
        self.seen: list[tuple[str, str | None]] = []
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer.seen.append((self.path, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != expected:
                    self._send(401, b"", "text/plain")
                    return
                page = {
                    "meta": {"api-version": "1.1"},
                    "name": "demo",
                    "files": [{"filename": "demo-1.0.tar.gz", "url": "/files/demo-1.0.tar.gz", "hashes": {"sha256": H1}}],
                }
                self._send(200, json.dumps(page).encode(), "application/vnd.pypi.simple.v1+json")

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def auth_server() -> Iterator[_AuthServer]:
    srv = _AuthServer("alice", "p@ss:w0rd")
    yield srv
    srv.close()


@pytest.mark.parametrize("source", ["url", "env"])
def test_credentials_sent_and_never_recorded(auth_server: _AuthServer, finder_for: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: str) -> None:
    host = auth_server.url.removeprefix("http://")
    if source == "url":
        config = IndexConfig(default=Index("corp", f"http://alice:p%40ss%3Aw0rd@{host}/simple"))
    else:
        monkeypatch.setenv("AIENV_INDEX_CORP_USERNAME", "alice")
        monkeypatch.setenv("AIENV_INDEX_CORP_PASSWORD", "p@ss:w0rd")
        config = IndexConfig(default=Index("corp", f"{auth_server.url}/simple"))
    finder = finder_for(config=config)
    page = finder.find("demo", config.indexes_for("demo"))
    assert page.files and auth_server.seen[0][1] == "Basic " + base64.b64encode(b"alice:p@ss:w0rd").decode()
    recorded = [page.url, page.index.url, *(f.url for f in page.files), repr(page), repr(config)]
    recorded += [p.read_bytes().decode("latin-1") for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert not [r for r in recorded if "p@ss" in r or "alice" in r or "p%40ss" in r]


def test_missing_credentials_is_a_clear_error(auth_server: _AuthServer, finder_for: Any) -> None:
    config = IndexConfig(default=Index("corp", f"{auth_server.url}/simple"))
    with pytest.raises(SourceError) as info:
        finder_for(config=config).page(config.default, "demo")
    assert info.value.code == "index-http-error" and "401" in info.value.message
    assert "AIENV_INDEX_<NAME>_USERNAME" in (info.value.hint or "")
    assert auth_server.seen == [("/simple/demo/", None)]
