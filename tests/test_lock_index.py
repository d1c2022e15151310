"""`aienv lock` against real package indexes served on 127.0.0.1 (tests/localindex).

Small indexes are built per test from tiny real wheels; the ComfyUI tests serve snapshots of
PyPI's metadata for ComfyUI's closure and a PyTorch-style HTML index (tests/data/index/).
Each test asserts the lock and what was fetched.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from envspec.cli import main
from envspec.lockfile import read_lock
from envspec.sources import TargetTags
from tests.conftest import lock_against
from tests.localindex import IndexServer, build_sdist, build_wheel

ROOT = Path(__file__).resolve().parent.parent


def _spec(directory: Path, dependencies: list[str], *, python: str = "3.12", extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    deps = ", ".join(json.dumps(d) for d in dependencies)
    (directory / "aienv.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "demo"
        python = "=={python}.*"

        [dependencies]
        packages = [{deps}]

        [targets.cpu]
        platform = "linux-x86_64"
        gpus = []
        """) + extra, encoding="utf-8")
    return directory


def _lock(directory: Path, server: IndexServer, cache: Path, *flags: str) -> int:
    return lock_against(directory, server, cache, *flags)


@pytest.fixture()
def server():
    with IndexServer() as s:
        s.add_index("simple")
        yield s


def _add(server: IndexServer, name: str, version: str, prefix: str = "simple", **kw) -> str:
    filename, data = build_wheel(name, version, **kw)
    server.add_file(prefix, filename, data)
    return filename


# --- a small closure -------------------------------------------------------------------------


def test_closure_pins_every_package_with_hashes_and_edges(server, tmp_path):
    _add(server, "app-core", "1.0", requires_dist=["helper>=1", "winonly; sys_platform == 'win32'"])
    _add(server, "app-core", "2.0", requires_dist=["helper>=2", "winonly; sys_platform == 'win32'", "extra-dep; extra == 'fast'"],
         provides_extra=["fast"])
    _add(server, "helper", "1.5")
    _add(server, "helper", "2.1", requires_python=">=3.9")
    _add(server, "helper", "3.0rc1")  # a pre-release: not chosen while a final release fits
    _add(server, "winonly", "1.0")
    _add(server, "extra-dep", "0.3")
    project = _spec(tmp_path / "p", ["app-core[fast]"])
    assert _lock(project, server, tmp_path / "cache") == 0

    target = read_lock(project / "aienv.lock").targets["cpu"]
    assert target.closure == "full" and target.hashes
    pins = {p.name: p.version for p in target.packages}
    assert pins == {"app-core": "2.0", "helper": "2.1", "extra-dep": "0.3"}  # winonly's marker is false on Linux
    core = target.package("app-core")
    assert core.dependencies == ("extra-dep", "helper")
    (file,) = core.files
    assert file.sha256 == server.sha256("simple", file.url.rsplit("/", 1)[-1])
    assert file.size and core.index == server.index_url("simple").rstrip("/")
    assert target.requirements == ("app-core[fast]",)


def test_metadata_comes_from_pep658_files_or_range_reads_never_whole_wheels(server, tmp_path):
    server.add_index("nometa", pep658=False)
    _add(server, "small-app", "1.0", requires_dist=["big-lib"])
    filename, data = build_wheel("big-lib", "1.0", pad=4_000_000)
    server.add_file("simple", filename, data, pep658=False)
    project = _spec(tmp_path / "p", ["small-app"])
    assert _lock(project, server, tmp_path / "cache") == 0

    big = server.requests_for(filename)
    assert big and all(r.method == "HEAD" or r.range for r in big), big
    assert server.bytes_sent(filename) < 200_000  # of a 4 MB wheel
    assert server.requests_for("small_app-1.0-py3-none-any.whl.metadata")  # PEP 658 used where offered
    assert {p.name for p in read_lock(project / "aienv.lock").targets["cpu"].packages} == {"small-app", "big-lib"}


def test_sdist_only_package_gets_metadata_from_an_isolated_pep517_build(server, tmp_path):
    pytest.importorskip("build")
    filename, data = build_sdist("sdist-only", "0.9", requires_dist=["helper"])
    server.add_file("simple", filename, data)
    _add(server, "helper", "1.0")
    project = _spec(tmp_path / "p", ["sdist-only"])
    assert _lock(project, server, tmp_path / "cache") == 0
    target = read_lock(project / "aienv.lock").targets["cpu"]
    package = target.package("sdist-only")
    assert package.version == "0.9" and package.dependencies == ("helper",)
    assert package.files[0].url.endswith(".tar.gz") and package.files[0].sha256 == server.sha256("simple", filename)


# --- cache, offline, existing pins ---------------------------------------------------------------


def _locked_once(server: IndexServer, tmp_path: Path) -> tuple[Path, Path, bytes]:
    """alpha -> beta locked once online: the project, its cache, the lock's bytes; log cleared."""
    _add(server, "alpha", "1.0", requires_dist=["beta"])
    _add(server, "beta", "1.0")
    project = _spec(tmp_path / "p", ["alpha"])
    cache = tmp_path / "cache"
    assert _lock(project, server, cache) == 0
    server.clear_log()
    return project, cache, (project / "aienv.lock").read_bytes()


def test_warm_cache_revalidates_pages_and_never_refetches_metadata(server, tmp_path):
    project, cache, first = _locked_once(server, tmp_path)
    assert _lock(project, server, cache) == 0
    assert (project / "aienv.lock").read_bytes() == first
    pages = [r for r in server.log if r.path.startswith("/simple/")]
    assert pages and all(r.status == 304 for r in pages), server.log
    assert not [r for r in server.log if ".metadata" in r.path or r.path.endswith(".whl")]


def test_offline_uses_the_cache_alone_and_names_what_is_missing(server, tmp_path, capsys):
    project, cache, first = _locked_once(server, tmp_path)
    assert _lock(project, server, cache, "--offline") == 0
    assert server.log == [] and (project / "aienv.lock").read_bytes() == first

    capsys.readouterr()
    assert _lock(project, server, tmp_path / "empty-cache", "--offline") == 1
    err = capsys.readouterr().err
    assert "not in the cache" in err and server.index_url("simple") + "alpha/" in err
    assert server.log == []
    assert (project / "aienv.lock").read_bytes() == first  # nothing half-written


def test_existing_pins_are_kept_unless_upgrade_is_asked(server, tmp_path):
    _add(server, "alpha", "1.0", requires_dist=["beta"])
    _add(server, "beta", "1.0")
    project = _spec(tmp_path / "p", ["alpha", "beta"])
    cache = tmp_path / "cache"
    assert _lock(project, server, cache) == 0
    _add(server, "alpha", "1.1", requires_dist=["beta"])
    _add(server, "beta", "1.1")

    def pins() -> dict[str, str]:
        return {p.name: p.version for p in read_lock(project / "aienv.lock").targets["cpu"].packages}

    assert _lock(project, server, cache) == 0
    assert pins() == {"alpha": "1.0", "beta": "1.0"}
    assert _lock(project, server, cache, "--upgrade-package", "Beta") == 0
    assert pins() == {"alpha": "1.0", "beta": "1.1"}
    assert _lock(project, server, cache, "--upgrade") == 0
    assert pins() == {"alpha": "1.1", "beta": "1.1"}


# --- bad index answers: a clear error naming the URL, and nothing written ------------------------


def _write_sentinel(project: Path) -> bytes:
    sentinel = b"# the previous lock\n"
    (project / "aienv.lock").write_bytes(sentinel)
    return sentinel


@pytest.mark.parametrize(
    ("fault", "code", "words"),
    [
        # The server fails.
        ("500", "index-http-error", "HTTP 500"),
        # A JSON page cut short.
        ("truncated", "index-bad-response", ""),
        # The index advertises a sha256 the metadata file does not have.
        ("wrong-hash", "hash-mismatch", ""),
        # The wheel's METADATA names another version than the index file.
        ("metadata-mismatch", "metadata-mismatch", "1.1"),
    ],
)
def test_bad_index_answers_are_clear_errors_naming_the_url(server, tmp_path, capsys, fault, code, words):
    filename = _add(server, "alpha", "1.0")
    project = _spec(tmp_path / "p", ["alpha"])
    page = "/simple/alpha/"
    url = server.url + page
    if fault == "500":
        server.fault(page, status=500)
    elif fault == "truncated":
        server.fault(page, truncate=40)
    elif fault == "wrong-hash":
        server.corrupt_hash("simple", filename)
        url = server.file_url("simple", filename) + ".metadata"
    else:
        other_name, other = build_wheel("alpha", "1.1")
        from tests.localindex import read_wheel_metadata

        server.add_file("simple", filename, build_wheel("alpha", "1.0")[1], metadata=read_wheel_metadata(other))
        url = server.file_url("simple", filename)
    sentinel = _write_sentinel(project)
    assert _lock(project, server, tmp_path / "cache", "--json") == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == code, error
    assert error["url"].startswith(url.split(".metadata")[0]) and words in error["message"]
    assert (project / "aienv.lock").read_bytes() == sentinel
    assert not [p for p in project.iterdir() if p.name.startswith(".aienv.lock")]


def test_a_project_no_index_has_is_an_unmet_request_naming_the_page(server, tmp_path, capsys):
    project = _spec(tmp_path / "p", ["no-such-project"])
    assert _lock(project, server, tmp_path / "cache") == 1
    err = capsys.readouterr().err
    assert "no-such-project" in err


# --- the stack from the PyTorch index ---------------------------------------------------------------


def _torch_index(server: IndexServer, variants=("cu128", "cpu")) -> None:
    """A PyTorch-style HTML index holding torch 2.10.0 per variant, and a same-named decoy on
    the default index."""
    for variant in variants:
        prefix = f"whl/{variant}"
        server.add_index(prefix, html_only=True)
        deps = ["filelock"] + (["nvidia-cublas-cu12==12.8.4.1; platform_system == 'Linux'"] if variant != "cpu" else [])
        for py in ("cp312", "cp313"):
            name = f"torch-2.10.0+{variant}-{py}-{py}-manylinux_2_28_x86_64.whl"
            server.add_file(prefix, name, build_wheel("torch", f"2.10.0+{variant}", filename=name, requires_dist=deps, pad=2_000_000)[1])
    _add(server, "filelock", "3.20.0")
    for py in ("cp312", "cp313"):  # torch 2.10.0 on Linux requires triton==3.6.0 (the matrix knows)
        _add(server, "triton", "3.6.0", tag=f"{py}-{py}-manylinux_2_27_x86_64.manylinux_2_28_x86_64")
    _add(server, "nvidia-cublas-cu12", "12.8.4.1", tag="py3-none-manylinux_2_27_x86_64")
    _add(server, "torch", "99.0")  # dependency confusion bait: torch only ever comes from its variant index


def _torch_spec(directory: Path) -> Path:
    return _spec(directory, [], extra=textwrap.dedent("""\
        [stack]
        torch = "==2.10.0"

        [targets.gpu]
        platform = "linux-x86_64"
        gpus = ["RTX 4090"]
        driver = "550.54.14"
        """))


def test_torch_comes_from_its_variant_index_with_its_cuda_dependencies(server, tmp_path):
    _torch_index(server)
    project = _torch_spec(tmp_path / "p")
    assert _lock(project, server, tmp_path / "cache") == 0
    lock = read_lock(project / "aienv.lock")
    gpu, cpu = lock.targets["gpu"], lock.targets["cpu"]
    assert gpu.package("torch").version == "2.10.0+cu128"
    assert gpu.package("torch").index == f"{server.url}/whl/cu128"
    assert gpu.package("torch").dependencies == ("filelock", "nvidia-cublas-cu12", "triton")
    assert gpu.package("nvidia-cublas-cu12").version == "12.8.4.1"
    assert cpu.package("torch").version == "2.10.0+cpu" and cpu.package("nvidia-cublas-cu12") is None
    assert all(t.hashes and t.closure == "full" for t in lock.targets.values())
    assert gpu.package("torch").reason  # the hardware reason survives the closure
    assert not [r for r in server.log if r.path.startswith("/files/simple/torch")]  # the decoy is never fetched
    torch_bytes = server.bytes_sent("torch-2.10.0")
    assert torch_bytes < 300_000, torch_bytes  # range reads of 2 MB wheels


def test_explain_shows_who_requires_a_package(server, tmp_path, capsys):
    _torch_index(server)
    project = _torch_spec(tmp_path / "p")
    assert _lock(project, server, tmp_path / "cache") == 0
    capsys.readouterr()
    assert main(["-C", str(project), "explain", "nvidia-cublas-cu12", "--target", "gpu"]) == 0
    out = capsys.readouterr().out
    assert "required by: torch" in out and "path: aienv.toml -> torch -> nvidia-cublas-cu12" in out


# --- ComfyUI from snapshots of the real metadata ---------------------------------------------------

def test_comfyui_locks_a_complete_hashed_closure_for_cuda_and_cpu_targets(comfy_lock):
    lock = read_lock(comfy_lock / "aienv.lock")
    for name, target in lock.targets.items():
        assert target.closure == "full" and target.hashes, name
        assert all(p.files and all(f.sha256 and f.size for f in p.files) for p in target.packages), name
        names = {p.name for p in target.packages}
        assert {"torch", "torchvision", "torchaudio", "transformers", "numpy", "aiohttp"} <= names
        for package in target.packages:  # the closure is closed: every edge points into it
            assert set(package.dependencies) <= names
    rtx, cpu = lock.targets["rtx4090"], lock.targets["cpu"]
    assert rtx.package("torch").version.endswith("+cu128") and cpu.package("torch").version.endswith("+cpu")
    assert any(n.startswith("nvidia-") for n in (p.name for p in rtx.packages))
    assert not any(p.name.startswith("nvidia-") for p in cpu.packages)


def test_comfyui_requirements_pass_pips_own_hash_checking_install(comfy_lock, comfy_server, tmp_path):
    """The rendered requirements go through pip itself: --require-hashes --no-deps, dry run,
    against the local indexes, for the target's platform and Python."""
    import os
    import subprocess
    import sys

    from envspec.backends import get_backend

    lock = read_lock(comfy_lock / "aienv.lock")
    for name in ("rtx4090", "cpu"):
        target = lock.targets[name]
        requirements = tmp_path / f"{name}.txt"
        requirements.write_text(get_backend("pip").render(lock, name), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        env["PIP_CONFIG_FILE"] = os.devnull
        # pip is told every platform tag the target accepts (glibc 2.28 and older), as aienv chose.
        # --ignore-requires-python: pip 23 checks Requires-Python against the interpreter running
        # it (3.11 here) even with --python-version; the lock's Python is the target's.
        platforms = sorted({t.platform for t in TargetTags(target.platform, target.python, target.glibc).tags})
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--require-hashes", "--no-deps", "--ignore-installed", "--ignore-requires-python",
             "--only-binary=:all:", *(f"--platform={p}" for p in platforms), "--python-version", target.python,
             "--target", str(tmp_path / "t"), "--no-cache-dir", "--disable-pip-version-check", "-r", str(requirements)],
            capture_output=True, text=True, env=env, check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Would install" in result.stdout
        assert len(result.stdout.split("Would install", 1)[1].split()) == len(target.packages)


# --- the public indexes (skipped by default: `pytest -m network`) ----------------------------------


@pytest.mark.network
def test_locks_a_closure_from_the_real_pypi(tmp_path):
    project = _spec(tmp_path / "p", ["requests>=2.31", "pydantic[email]~=2.0"])
    assert main(["-C", str(project), "lock", "--cache-dir", str(tmp_path / "cache")]) == 0
    target = read_lock(project / "aienv.lock").targets["cpu"]
    assert target.hashes and {"requests", "urllib3", "pydantic", "pydantic-core", "email-validator"} <= {p.name for p in target.packages}
    assert all(f.url.startswith("https://files.pythonhosted.org/") for p in target.packages for f in p.files)


@pytest.mark.network
def test_locks_comfyui_from_pypi_and_download_pytorch_org(tmp_path):
    work = tmp_path / "comfyui"
    shutil.copytree(ROOT / "examples" / "comfyui", work)
    (work / "aienv.lock").unlink()
    assert main(["-C", str(work), "lock", "--cache-dir", str(tmp_path / "cache")]) == 0
    lock = read_lock(work / "aienv.lock")
    assert lock.targets["rtx4090"].package("torch").index == "https://download.pytorch.org/whl/cu128"
    assert all(t.hashes for t in lock.targets.values())
