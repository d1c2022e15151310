"""Release assets (flash-attn's GitHub wheels) hashed at lock time, through a release mirror.

A local IndexServer plays PyPI, PyTorch's cu128 index and the release mirror: the flash-attn
wheel the matrix picks for torch 2.8.0/cu128/cp312 (a tiny real wheel, padded to a few MB) is
served at its GitHub path under `/files/github/` (a file of an "index" whose prefix is that
path, which gives it Range and ETag support), and `[indexes] release-mirror` (or the flag, or
the environment) points at `/files/github/`. The lock must record the github.com URL with the sha256 and size
of the mirror's bytes, download it once, and fail clearly when it cannot.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from envspec.backends import get_backend
from envspec.cli import main
from envspec.lockfile import read_lock
from envspec.sources import (
    DistFile,
    FetchEvent,
    IndexConfig,
    PackageFinder,
    TargetTags,
    is_release_asset,
    mirrored,
)
from tests.conftest import lock_against
from tests.localindex import IndexServer, build_wheel

FA_VERSION = "2.8.3.post1"
FA_FILE = f"flash_attn-{FA_VERSION}+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
FA_DIR = f"Dao-AILab/flash-attention/releases/download/v{FA_VERSION}"
FA_PATH = f"{FA_DIR}/{FA_FILE}"
GITHUB_URL = "https://github.com/" + FA_PATH
MIRROR_PATH = "/files/github/" + FA_PATH  # where the local mirror serves it
PAD = 3_000_000


@pytest.fixture(scope="module")
def fa_wheel() -> bytes:
    return build_wheel("flash-attn", FA_VERSION, filename=FA_FILE, requires_dist=["torch", "einops"], pad=PAD)[1]


@pytest.fixture()
def server(fa_wheel):
    """PyPI at /simple/, torch 2.8.0+cu128 at /whl/cu128/ (HTML, as download.pytorch.org), and
    the flash-attn release asset at its GitHub path under /files/github/."""
    with IndexServer() as s:
        s.add_index("simple")
        s.add_index("whl/cu128", html_only=True)
        for py in ("cp312", "cp313"):
            name = f"torch-2.8.0+cu128-{py}-{py}-manylinux_2_28_x86_64.whl"
            s.add_file("whl/cu128", name, build_wheel("torch", "2.8.0+cu128", filename=name, requires_dist=["filelock"])[1])
            # torch 2.8.0 on Linux requires triton==3.4.0 (the matrix knows)
            s.add_file("simple", *build_wheel("triton", "3.4.0", tag=f"{py}-{py}-manylinux_2_27_x86_64.manylinux_2_28_x86_64"))
        s.add_file("simple", *build_wheel("filelock", "3.20.0"))
        s.add_file("simple", *build_wheel("einops", "0.8.1"))
        s.add_file(f"github/{FA_DIR}", FA_FILE, fa_wheel)
        yield s


def _project(directory: Path, mirror: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    indexes = f'\n[indexes]\nrelease-mirror = "{mirror}"\n' if mirror else ""
    (directory / "aienv.toml").write_text(textwrap.dedent("""\
        [project]
        name = "fa"
        python = "==3.12.*"

        [stack]
        torch = "==2.8.0"
        cuda = "12.8"
        flash-attn = "==2.8.3.post1"

        [targets.gpu]
        platform = "linux-x86_64"
        gpus = ["RTX 4090"]
        driver = "550.54.14"
        """) + indexes, encoding="utf-8")
    return directory


def _mirror(server: IndexServer) -> str:
    return f"{server.url}/files/github/"


def _asset_requests(server: IndexServer) -> list:
    return [r for r in server.log if FA_FILE in r.path]


def _downloads(server: IndexServer) -> list:
    """Whole-file GETs of the asset (the metadata comes from range reads)."""
    return [r for r in _asset_requests(server) if r.range is None and r.status == 200]


# --- the lock records the hash ------------------------------------------------------------------


def test_lock_hashes_the_release_asset_once_and_records_the_github_url(server, fa_wheel, tmp_path):
    project = _project(tmp_path / "p", _mirror(server))
    cache = tmp_path / "cache"
    assert lock_against(project, server, cache) == 0
    lock = read_lock(project / "aienv.lock")
    target = lock.targets["gpu"]
    fa = target.package("flash-attn")
    assert fa.version == FA_VERSION and fa.index is None
    assert [(f.url, f.sha256, f.size) for f in fa.files] == [(GITHUB_URL, hashlib.sha256(fa_wheel).hexdigest(), len(fa_wheel))]
    assert target.hashes and all(f.sha256 for p in target.packages for f in p.files)
    assert target.package("torch").version == "2.8.0+cu128" and target.package("einops") is not None
    # One whole download, besides the range reads of the metadata (a few KB, not the 3 MB).
    assert len(_downloads(server)) == 1 and _downloads(server)[0].body_bytes == len(fa_wheel)
    ranged = [r for r in _asset_requests(server) if r.range is not None]
    assert ranged and sum(r.body_bytes for r in ranged) < 300_000
    # The mirror is not in the lock, and not in the spec's digest.
    text = (project / "aienv.lock").read_text(encoding="utf-8")
    assert "/files/github/" not in text
    first = (project / "aienv.lock").read_bytes()

    # A second lock (same cache) makes no request for the asset and writes the same lock.
    server.clear_log()
    assert lock_against(project, server, cache) == 0
    assert _asset_requests(server) == []
    assert (project / "aienv.lock").read_bytes() == first


def test_the_mirror_is_not_part_of_the_spec_digest(server, tmp_path):
    from envspec.spec import load_spec

    with_mirror = load_spec(_project(tmp_path / "a", _mirror(server)))
    without = load_spec(_project(tmp_path / "b"))
    assert with_mirror.indexes.release_mirror == _mirror(server)
    assert with_mirror.digest() == without.digest()


def test_the_mirror_from_the_flag_or_the_environment(server, fa_wheel, tmp_path, monkeypatch):
    digest = hashlib.sha256(fa_wheel).hexdigest()
    # --release-mirror wins over AIENV_RELEASE_MIRROR, which wins over aienv.toml.
    monkeypatch.setenv("AIENV_RELEASE_MIRROR", f"{server.url}/nowhere/")
    flag = _project(tmp_path / "flag", f"{server.url}/nowhere-either/")
    assert lock_against(flag, server, tmp_path / "c1", "--release-mirror", _mirror(server)) == 0
    assert read_lock(flag / "aienv.lock").targets["gpu"].package("flash-attn").files[0].sha256 == digest
    monkeypatch.setenv("AIENV_RELEASE_MIRROR", _mirror(server).rstrip("/"))  # a trailing slash is optional
    env = _project(tmp_path / "env", f"{server.url}/nowhere-either/")
    assert lock_against(env, server, tmp_path / "c2") == 0
    assert read_lock(env / "aienv.lock").targets["gpu"].package("flash-attn").files[0].sha256 == digest
    assert not server.requests_for("/nowhere")


# --- redirects and credentials ---------------------------------------------------------------------


def test_a_redirect_is_followed_and_credentials_stay_with_the_mirror(server, fa_wheel, tmp_path, monkeypatch):
    """The mirror answers 302 to another host (as github.com does, to objects.githubusercontent.com):
    the mirror's credentials go to the mirror only."""
    other_host = server.url.replace("127.0.0.1", "localhost")
    server.add_file("objects", FA_FILE, fa_wheel)
    server.add_redirect(MIRROR_PATH, f"{other_host}/files/objects/{FA_FILE}?signature=abc")
    monkeypatch.setenv("AIENV_INDEX_RELEASE_MIRROR_USERNAME", "alice")
    monkeypatch.setenv("AIENV_INDEX_RELEASE_MIRROR_PASSWORD", "s3cret")
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    project = _project(tmp_path / "p")
    assert lock_against(project, server, tmp_path / "cache", "--release-mirror", _mirror(server)) == 0
    fa = read_lock(project / "aienv.lock").targets["gpu"].package("flash-attn")
    assert (fa.files[0].url, fa.files[0].sha256, fa.files[0].size) == (GITHUB_URL, hashlib.sha256(fa_wheel).hexdigest(), len(fa_wheel))
    assert {r.status for r in server.requests_for("/github/")} == {302}
    assert [r for r in server.requests_for("/files/objects/") if r.range is None and r.status == 200]
    auth = dict.fromkeys(p for p, a in server.authorization if a is not None)
    assert MIRROR_PATH in auth  # the mirror was asked with its credentials
    assert not [p for p, a in server.authorization if p.startswith("/files/objects/") and a is not None]  # the other host never


# --- failures leave the lock as it was ----------------------------------------------------------------


def _warm_then_forget_the_hash(server: IndexServer, tmp_path: Path) -> tuple[Path, Path, bytes]:
    """A project locked once (pages and metadata cached), its release-asset hashes then dropped
    from the cache."""
    project = _project(tmp_path / "p", _mirror(server))
    cache = tmp_path / "cache"
    assert lock_against(project, server, cache) == 0
    files = cache / "sources-v1" / "files"
    assert files.is_dir()
    shutil.rmtree(files)
    server.clear_log()
    return project, cache, (project / "aienv.lock").read_bytes()


def test_offline_without_the_hash_cached_names_the_asset(server, tmp_path, capsys):
    project, cache, before = _warm_then_forget_the_hash(server, tmp_path)
    capsys.readouterr()
    assert lock_against(project, server, cache, "--offline") == 1
    err = capsys.readouterr().err
    assert "--offline" in err and GITHUB_URL in err
    assert server.log == [] and (project / "aienv.lock").read_bytes() == before


def test_offline_with_an_empty_cache_fails_and_keeps_the_lock(server, tmp_path, capsys):
    project = _project(tmp_path / "p", _mirror(server))
    (project / "aienv.lock").write_bytes(b"# the previous lock\n")
    assert lock_against(project, server, tmp_path / "empty", "--offline", "--json") == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == "offline-cache-miss" and error["missing"]
    assert server.log == [] and (project / "aienv.lock").read_bytes() == b"# the previous lock\n"


@pytest.mark.parametrize(
    ("status", "warm"),
    [
        # The mirror lacks the asset: the first request (a metadata range read) fails.
        (404, False),
        # The metadata is cached; the download itself fails.
        (500, True),
    ],
)
def test_a_failing_mirror_is_an_error_naming_the_url(server, tmp_path, capsys, status, warm):
    if warm:
        project, cache, before = _warm_then_forget_the_hash(server, tmp_path)
    else:
        project, cache = _project(tmp_path / "p", _mirror(server)), tmp_path / "cache"
        before = b"# the previous lock\n"
        (project / "aienv.lock").write_bytes(before)
    server.fault(MIRROR_PATH, status=status)
    capsys.readouterr()
    assert lock_against(project, server, cache, "--json") == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == "index-http-error" and error["url"] == server.url + MIRROR_PATH
    assert f"HTTP {status}" in error["message"] and GITHUB_URL in error["message"]
    if status == 404:
        assert "release mirror has no copy" in error["hint"]
    assert (project / "aienv.lock").read_bytes() == before
    assert not (cache / "sources-v1" / "files").exists()  # nothing cached for a failed download


# --- pip installs what the lock says ---------------------------------------------------------------------


def test_pip_requirements_carry_the_hash_and_pass_pips_hash_checking_install(server, fa_wheel, tmp_path):
    """The render names the github.com URL with its hash; pip checks that hash on the mirror's
    copy (the same prefix rewrite an installer behind the mirror applies)."""
    project = _project(tmp_path / "p", _mirror(server))
    assert lock_against(project, server, tmp_path / "cache") == 0
    lock = read_lock(project / "aienv.lock")
    target = lock.targets["gpu"]
    text = get_backend("pip").render(lock, "gpu")
    digest = hashlib.sha256(fa_wheel).hexdigest()
    assert f"flash-attn @ {GITHUB_URL} \\\n    --hash=sha256:{digest}" in text
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(text.replace(GITHUB_URL, mirrored(GITHUB_URL, _mirror(server))), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    platforms = sorted({t.platform for t in TargetTags(target.platform, target.python, target.glibc).tags})
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--require-hashes", "--no-deps", "--ignore-installed",
         "--ignore-requires-python", "--only-binary=:all:", *(f"--platform={p}" for p in platforms),
         "--python-version", target.python, "--target", str(tmp_path / "t"), "--no-cache-dir",
         "--disable-pip-version-check", "-r", str(requirements)],
        capture_output=True, text=True, env=env, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    installed = result.stdout.split("Would install", 1)[1].split()
    assert f"flash-attn-{FA_VERSION}" in installed and len(installed) == len(target.packages)

    # The same requirements with another hash are refused by pip: the hash is what pins the bytes.
    requirements.write_text(requirements.read_text(encoding="utf-8").replace(digest, "0" * 64), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--require-hashes", "--no-deps", "--ignore-installed",
         "--ignore-requires-python", "--only-binary=:all:", *(f"--platform={p}" for p in platforms),
         "--python-version", target.python, "--target", str(tmp_path / "t"), "--no-cache-dir",
         "--disable-pip-version-check", "-r", str(requirements)],
        capture_output=True, text=True, env=env, check=False,
    )
    assert result.returncode != 0 and "HASHES" in result.stderr.upper()


# --- the finder and the mirror rule ----------------------------------------------------------------------


def test_finder_reports_download_progress_in_bytes(server, fa_wheel, tmp_path):
    events: list[FetchEvent] = []
    file = DistFile(filename=FA_FILE, url=GITHUB_URL, name=canonicalize_name("flash-attn"), version=Version(FA_VERSION), kind="wheel")
    config = IndexConfig(release_mirror=_mirror(server))
    with PackageFinder(config, cache_dir=tmp_path / "cache", progress=events.append) as finder:
        found = finder.hashes([file])
        assert finder.stats["files_hashed"] == 1 and finder.stats["bytes_downloaded"] >= len(fa_wheel)
    assert found[GITHUB_URL].sha256 == hashlib.sha256(fa_wheel).hexdigest()
    assert found[GITHUB_URL].source == server.url + MIRROR_PATH and found[GITHUB_URL].etag
    files = [e for e in events if e.kind == "file"]
    assert files[0].done == 0 and files[-1].done == 1
    sizes = [e for e in files if e.bytes_done is not None]
    assert sizes and sizes[-1].bytes_done == len(fa_wheel) and sizes[0].bytes_total == len(fa_wheel)
    # Cached: a new finder answers without a request, offline too.
    server.clear_log()
    with PackageFinder(config, cache_dir=tmp_path / "cache", offline=True) as finder:
        assert finder.hashes([file])[GITHUB_URL].size == len(fa_wheel) and finder.stats["files_cached"] == 1
    assert server.log == []


def test_progress_line_shows_megabytes(capsys):
    from envspec.cli import _Progress

    progress = _Progress()
    progress(FetchEvent("file", GITHUB_URL, 0, 1, 120_400_000, 380_000_000))
    line = capsys.readouterr().err
    assert "fetching file 0/1 (120/380 MB): flash_attn-2.8.3.post1+cu12torch2.8" in line


@pytest.mark.parametrize(
    ("url", "mirror", "expected"),
    [
        # A release asset, through a path-prefix mirror (trailing slash or not).
        (GITHUB_URL, "https://mirror.example/github/", "https://mirror.example/github/" + FA_PATH),
        (GITHUB_URL, "https://mirror.example/github", "https://mirror.example/github/" + FA_PATH),
        # ghproxy's form: the whole URL after the mirror's prefix.
        (GITHUB_URL, "https://ghproxy.example/https://github.com/", "https://ghproxy.example/https://github.com/" + FA_PATH),
        # No mirror.
        (GITHUB_URL, None, GITHUB_URL),
        # Not release assets: unchanged.
        ("https://github.com/Dao-AILab/flash-attention/archive/refs/tags/v2.8.3.tar.gz", "https://m.example/", "https://github.com/Dao-AILab/flash-attention/archive/refs/tags/v2.8.3.tar.gz"),
        ("https://files.pythonhosted.org/packages/x/einops-0.8.1-py3-none-any.whl", "https://m.example/", "https://files.pythonhosted.org/packages/x/einops-0.8.1-py3-none-any.whl"),
        ("http://github.com/" + FA_PATH, "https://m.example/", "http://github.com/" + FA_PATH),
    ],
)
def test_mirrored(url, mirror, expected):
    assert mirrored(url, mirror) == expected
    assert is_release_asset(url) == (url.startswith("https://github.com/") and "/releases/download/" in url)


def test_credentials_in_the_spec_mirror_are_refused(tmp_path, capsys):
    project = _project(tmp_path / "p", "https://user:pw@mirror.example/github/")
    assert main(["-C", str(project), "lock", "--no-index"]) == 2
    assert "indexes.release-mirror" in capsys.readouterr().err
