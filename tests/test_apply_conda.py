"""``aienv apply`` of a target with solved conda packages: a real conda prefix made by py-rattler.

One IndexServer on 127.0.0.1 serves both sides of the lock: the PyPI side (fake-but-real torch
CPU build in ``whl/cpu``, ``filelock``, ``triton`` and ``demo-lib`` at ``simple``) and a conda
channel ``apply-forge`` whose ``python`` package holds a real CPython — this interpreter's own,
copied from ``sys.base_prefix`` (``tests/localchannel/_python.py``) — beside ``pip`` (noarch),
``conda-demo-helper`` (a noarch: python package with a module), ``ffmpeg`` (a script whose
shebang is the prefix placeholder) and ``libfoo`` (a binary file). A project with
``[conda] packages = ["ffmpeg", "conda-demo-helper"]`` is locked against both (the conda side
solved by rattler), then applied into temporary prefixes; the tests run the prefix's own
Python and scripts, compare files and hashes, and watch what the server was asked.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from envspec.apply import ApplyError, ApplyRequest, apply
from envspec.apply._current import RecordedPlan
from envspec.apply._layout import MARKER
from envspec.cli import main
from envspec.host import Host
from envspec.lockfile import read_lock
from tests.conftest import lock_against
from tests.fakeenv import torch_wheel
from tests.localchannel import PLACEHOLDER, CondaFile, LocalChannel, build_conda_package
from tests.localchannel._python import pip_package_files, python_package_files
from tests.localindex import IndexServer, build_wheel

pytest.importorskip("rattler")
pytestmark = pytest.mark.skipif(
    not (platform.system() == "Linux" and platform.machine() == "x86_64"), reason="the conda channel is linux-64"
)

HERE_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
PYTHON_VERSION = ".".join(str(n) for n in sys.version_info[:3])
CPU_HOST = Host("here", "linux-x86_64", SpecifierSet(f"=={HERE_PYTHON}.*"), glibc="2.35", origin="probed")
LIBFOO = bytes(range(256)) * 64  # a "shared library": bytes no installer may touch
SPEC = f"""
[project]
name = "apply-conda-demo"
python = "=={HERE_PYTHON}.*"

[stack]
torch = "==2.8.0"

[dependencies]
packages = ["demo-lib"]

[conda]
channels = ["apply-forge"]
packages = ["ffmpeg", "conda-demo-helper"]

[targets.cpu]
platform = "linux-x86_64"
gpus = []
"""


def _ffmpeg(marker: str) -> dict[str, CondaFile]:
    script = f"#!{PLACEHOLDER}/bin/python\nimport sys\nprint({marker!r}, sys.prefix)\n"
    return {"bin/ffmpeg": CondaFile(script.encode(), 0o755, placeholder=True)}


@pytest.fixture(scope="module")
def server():
    try:
        python = python_package_files()
        pip_version, pip = pip_package_files()
    except (FileNotFoundError, ModuleNotFoundError) as e:  # metadata.PackageNotFoundError is a ModuleNotFoundError
        pytest.skip(f"this interpreter's installation cannot be packaged: {e}")
    fmt = "conda" if importlib.util.find_spec("zstandard") else "tar.bz2"  # .conda: zstd, ten times faster to build
    with IndexServer() as s:
        s.add_index("whl/cpu", html_only=True)
        s.add_file("whl/cpu", *torch_wheel("2.8.0+cpu", cuda=None, requires=("filelock",)))
        s.add_file("simple", *build_wheel("filelock", "3.16.1"))
        s.add_file("simple", *build_wheel("triton", "3.4.0"))
        s.add_file("simple", *build_wheel("demo-lib", "1.0", requires_dist=["filelock>=3"]))
        channel = LocalChannel(s, "apply-forge")
        channel.add("python", PYTHON_VERSION, "h_aienv_0", subdir="linux-64", files=python, fmt=fmt, depends=["__glibc >=2.17"])
        channel.add("pip", pip_version, "pyh_aienv_0", subdir="noarch", noarch="python", depends=["python >=3.9"], files=pip, fmt=fmt)
        channel.add("conda-demo-helper", "1.0", "pyh_0", subdir="noarch", noarch="python", depends=["python >=3.9"],
                    files={"site-packages/conda_demo_helper/__init__.py": b"WHERE = 'a noarch conda package'\n"})
        channel.add("libfoo", "1.2", "h0", subdir="linux-64", files={"lib/libfoo.so.1": CondaFile(LIBFOO, 0o755)})
        channel.add("ffmpeg", "7.1", "h2", subdir="linux-64", depends=["libfoo >=1.1"], files=_ffmpeg("ffmpeg 7.1"))
        s.channel = channel  # type: ignore[attr-defined]
        yield s


@pytest.fixture(autouse=True)
def fresh_caches(monkeypatch, tmp_path):
    """Each test downloads what it installs: empty aienv (conda packages), uv and pip caches."""
    monkeypatch.setenv("AIENV_CACHE_DIR", str(tmp_path / "aienv-cache"))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))


@pytest.fixture(scope="module")
def project(server, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("apply-conda")
    (work / "aienv.toml").write_text(SPEC, encoding="utf-8")
    assert lock_against(work, server, work / ".cache", "--conda-channel-alias", server.url) == 0
    return work


def _request(project: Path, prefix: Path, **kw) -> ApplyRequest:
    return ApplyRequest(lock_path=project / "aienv.lock", prefix=prefix, target="cpu", **kw)


def _tree(prefix: Path) -> dict[str, str]:
    out = {}
    for path in sorted(prefix.rglob("*")):
        key = str(path.relative_to(prefix))
        if path.is_symlink():
            out[key] = "-> " + os.readlink(path)
        elif path.is_file():
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _siblings(prefix: Path) -> list[str]:
    return sorted(p.name for p in prefix.parent.iterdir() if ".aienv-" in p.name and not p.name.endswith("-lock"))


def _locked_conda(project: Path) -> set[str]:
    conda = read_lock(project / "aienv.lock").targets["cpu"].conda
    assert conda is not None
    return {f"{p.name}-{p.version}-{p.build}.json" for p in conda.packages}


@pytest.fixture
def applied(project, tmp_path) -> Path:
    prefix = tmp_path / "env"
    assert apply(_request(project, prefix), host=CPU_HOST).status == "applied"
    return prefix


def test_the_lock_pins_the_conda_side_with_a_real_python(project):
    assert _locked_conda(project) == {
        f"python-{PYTHON_VERSION}-h_aienv_0.json", f"pip-{metadata.version('pip')}-pyh_aienv_0.json", "conda-demo-helper-1.0-pyh_0.json",
        "libfoo-1.2-h0.json", "ffmpeg-7.1-h2.json",
    }


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_conda_target_becomes_a_conda_prefix_with_the_wheels_installed_by_its_python(project, server, tmp_path, capsys, installer):
    if installer == "uv" and shutil.which("uv") is None:
        pytest.skip("uv is not on PATH")
    prefix = tmp_path / "env"
    assert main(["-C", str(project), "apply", "--prefix", str(prefix), "--target", "cpu", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "conda packages: 5" in out and f"python {PYTHON_VERSION}" in out and "ffmpeg 7.1" in out and not prefix.exists()

    server.clear_log()
    result = apply(_request(project, prefix, installer=installer), host=CPU_HOST)
    assert result.status == "applied" and result.plan.kind == "conda" and result.plan.installer == installer
    assert result.environment is not None and result.environment.torch.version == "2.8.0+cpu"  # verified in the staging prefix
    assert {p.name for p in (prefix / "conda-meta").glob("*.json")} == _locked_conda(project)
    marker = json.loads((prefix / MARKER).read_text())
    assert marker["kind"] == "conda" and marker["plan"]["kind"] == "conda"

    # The prefix's own Python runs from the prefix, with the wheels and the noarch conda package
    # in its site-packages, and its sysconfig names the prefix (the placeholder, replaced).
    probe = ("import json, sys, sysconfig, torch, demo_lib, conda_demo_helper; print(json.dumps([sys.prefix, "
             "sysconfig.get_config_var('prefix'), torch.__version__, torch.__file__, conda_demo_helper.__file__]))")
    done = subprocess.run([prefix / "bin" / "python", "-c", probe], capture_output=True, text=True, check=True)
    sys_prefix, config_prefix, torch_version, torch_file, helper_file = json.loads(done.stdout)
    site = prefix / "lib" / f"python{HERE_PYTHON}" / "site-packages"
    assert sys_prefix == config_prefix == str(prefix) and torch_version == "2.8.0+cpu"
    assert Path(torch_file).is_relative_to(site) and Path(helper_file).is_relative_to(site)
    # A conda package's script: its shebang is the prefix (not the staging path it was built at).
    assert (prefix / "bin" / "ffmpeg").read_text().startswith(f"#!{prefix}/bin/python\n")
    ran = subprocess.run([prefix / "bin" / "ffmpeg"], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == f"ffmpeg 7.1 {prefix}"
    assert (prefix / "lib" / "libfoo.so.1").read_bytes() == LIBFOO
    # Nothing names the staging path (byte code keeps the path it was compiled at; Python
    # replaces it with the source's when it loads it).
    for path in prefix.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.suffix != ".pyc":
            assert b".env.aienv-stage" not in path.read_bytes(), path
    assert _siblings(prefix) == []
    # The conda packages came from the lock's URLs, each once.
    assert len(server.requests_for("/apply-forge/linux-64/ffmpeg-7.1-h2")) == 1


def test_a_reapply_is_a_no_op_and_a_changed_conda_side_is_rebuilt(project, server, applied, capsys):
    before = _tree(applied)
    server.clear_log()
    again = apply(_request(project, applied), host=CPU_HOST)
    assert again.status == "current" and isinstance(again.plan, RecordedPlan)
    assert main(["-C", str(project), "apply", "--prefix", str(applied), "--target", "cpu"]) == 0
    assert capsys.readouterr().out.startswith(f"nothing to do: {applied} (target cpu of aienv.lock) already matches the lock (8 packages)")
    assert _tree(applied) == before and server.log == []
    # `conda remove libfoo --force` in the prefix: the re-apply notices and rebuilds it.
    (applied / "conda-meta" / "libfoo-1.2-h0.json").unlink()
    (applied / "lib" / "libfoo.so.1").unlink()
    result = apply(_request(project, applied), host=CPU_HOST)
    assert result.status == "applied" and result.plan.state == "update"
    assert "conda package libfoo 1.2 (h0) is not installed" in " ".join(result.plan.changes)
    assert (applied / "lib" / "libfoo.so.1").read_bytes() == LIBFOO and _siblings(applied) == []


def test_a_tampered_conda_package_is_refused_and_the_previous_prefix_is_untouched(project, server, applied, monkeypatch, tmp_path):
    before = _tree(applied)
    monkeypatch.setenv("AIENV_CACHE_DIR", str(tmp_path / "another-cache"))  # nothing cached: the file is downloaded
    channel = server.channel
    genuine = channel.find("linux-64", "ffmpeg", "7.1")
    evil = build_conda_package("ffmpeg", "7.1", "h2", subdir="linux-64", depends=["libfoo >=1.1"], files=_ffmpeg("evil"))
    server.fault(channel.file_url("linux-64", genuine.filename), body=evil.data)
    try:
        with pytest.raises(ApplyError) as caught:
            apply(_request(project, applied, reinstall=True), host=CPU_HOST)
    finally:
        server.clear_faults()
    assert caught.value.code == "hash-mismatch" and caught.value.exit_code == 1
    assert genuine.sha256 in caught.value.message
    assert _tree(applied) == before and _siblings(applied) == []


def test_a_failure_after_the_conda_packages_leaves_the_previous_prefix(project, server, applied, monkeypatch, tmp_path):
    before = _tree(applied)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "another-uv-cache"))  # the wheel is downloaded (and fails)
    lock = read_lock(project / "aienv.lock")
    url = next(p for p in lock.targets["cpu"].packages if p.name == "demo-lib").files[0].url
    server.fault(url, status=404)
    try:
        with pytest.raises(ApplyError) as caught:
            apply(_request(project, applied, reinstall=True), host=CPU_HOST)
    finally:
        server.clear_faults()
    assert caught.value.code == "install-failed" and "404" in "\n".join(caught.value.output)
    assert _tree(applied) == before and _siblings(applied) == []


def test_without_py_rattler_a_conda_target_fails_before_anything_is_touched(project, tmp_path):
    prefix = tmp_path / "env"
    script = "import sys; sys.modules['rattler'] = None; from envspec.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", script, "-C", str(project), "apply", "--prefix", str(prefix), "--target", "cpu"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stderr
    assert "py-rattler" in done.stderr and "pip install 'envspec[conda]'" in done.stderr
    assert not prefix.exists() and _siblings(prefix) == []


def test_python_is_not_a_choice_for_a_conda_prefix(project, tmp_path):
    prefix = tmp_path / "env"
    with pytest.raises(ApplyError) as caught:
        apply(_request(project, prefix, python=sys.executable), host=CPU_HOST)
    assert caught.value.code == "python-not-for-conda" and caught.value.exit_code == 2 and not prefix.exists()
