"""Backends, rendered from a real full-closure lock (the ComfyUI example against a local index)
and read back by the tools that consume them: golden files for every format and target, pip's
own parser and hash checking, packaging's PEP 751 validation and selection, YAML, and `aienv export` itself.

Golden files: `AIENV_UPDATE_GOLDEN=1 python -m pytest tests/test_backends.py` rewrites them
(review the diff); the local index's address is written as http://index.test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.pylock import Pylock

from envspec.backends import BACKENDS, get_backend
from envspec.backends._common import best_file
from envspec.backends.pylock import environment_marker
from envspec.cli import main
from envspec.lockfile import Lock, read_lock
from envspec.sources import TargetTags

from .conftest import ROOT

GOLDEN = ROOT / "tests" / "golden" / "comfyui"
TARGETS = ("cpu", "rtx4090", "rtx5090-windows")
# Formats whose golden files come from the plain ComfyUI lock (conda-lock needs conda packages:
# tests/test_lock_conda.py; shell has its own tests in tests/test_backend_shell.py).
PLAIN_FORMATS = [f for f in ("pip", "conda", "pylock", "shell") if f in BACKENDS]


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("AIENV_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{tool} is required (AIENV_REQUIRE_TOOLS=1) but not on PATH")
        pytest.skip(f"{tool} not on PATH")
    return path


@pytest.fixture(scope="module")
def lock(comfy_lock: Path) -> Lock:
    return read_lock(comfy_lock / "aienv.lock")


def _normalized(text: str, server_url: str) -> str:
    return text.replace(server_url, "http://index.test")


# The shell format renders bash for Linux and macOS targets only (see envspec/backends/shell.py).
GOLDEN_CASES = [(f, t) for f in PLAIN_FORMATS for t in TARGETS if not (f == "shell" and t == "rtx5090-windows")]


@pytest.mark.parametrize(("fmt", "target"), GOLDEN_CASES, ids=[f"{f}-{t}" for f, t in GOLDEN_CASES])
def test_render_matches_golden_file(lock, comfy_server, fmt, target):
    backend = get_backend(fmt)
    text = _normalized(backend.render(lock, target), comfy_server.url)
    path = GOLDEN / backend.filename_for(target)
    if os.environ.get("AIENV_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with AIENV_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed: review, then AIENV_UPDATE_GOLDEN=1"


def test_renders_are_deterministic(lock):
    for fmt, target in GOLDEN_CASES:
        assert get_backend(fmt).render(lock, target) == get_backend(fmt).render(lock, target)


# --- conda environment.yml ----------------------------------------------------------------------


def _pip_dry_run(requirements: Path, target, where: Path) -> subprocess.CompletedProcess[str]:
    """pip itself, hash-checking, no dependency resolution, for the target's tags and Python."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    platforms = sorted({t.platform for t in TargetTags(target.platform, target.python, target.glibc or "2.28").tags})
    return subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--require-hashes", "--no-deps", "--ignore-installed",
         "--ignore-requires-python", "--only-binary=:all:", *(f"--platform={p}" for p in platforms),
         "--python-version", target.python, "--target", str(where), "--no-cache-dir",
         "--disable-pip-version-check", "-r", str(requirements)],
        capture_output=True, text=True, env=env, check=False,
    )


def test_environment_yml_has_python_from_conda_forge_and_an_installable_pip_section(lock, tmp_path):
    target = lock.targets["cpu"]
    document = yaml.safe_load(get_backend("conda").render(lock, "cpu"))
    assert document["name"] == "comfyui-cpu"
    assert document["channels"] == ["conda-forge", "nodefaults"]
    conda_deps = [d for d in document["dependencies"] if isinstance(d, str)]
    assert conda_deps[0] in (f"python {target.python}.*", f"python={target.python}") and "pip" in conda_deps
    assert not any(d.split()[0] in ("pytorch", "torch", "cudatoolkit", "pytorch-cuda") for d in conda_deps)
    (pip_section,) = [d["pip"] for d in document["dependencies"] if isinstance(d, dict)]
    assert pip_section[0].startswith("--index-url ")
    pins = [line for line in pip_section if not line.startswith("--")]
    assert len(pins) == len(target.packages)
    assert all(" --hash=sha256:" in line for line in pins)
    # conda hands the pip section to pip as a requirements file: pip itself must accept it.
    requirements = tmp_path / "condaenv.requirements.txt"
    requirements.write_text("\n".join(pip_section) + "\n", encoding="utf-8")
    result = _pip_dry_run(requirements, target, tmp_path / "t")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(result.stdout.split("Would install", 1)[1].split()) == len(target.packages)


def test_environment_yml_refuses_the_dead_pytorch_channel(lock):
    from envspec.backends import RenderError
    from envspec.lockfile import LockedConda

    target = lock.targets["cpu"]
    dead = lock.model_copy(update={"targets": {"cpu": target.model_copy(update={
        "conda": LockedConda(channels=("pytorch", "conda-forge"), requirements=("python 3.13.*", "pip")),
    })}})
    with pytest.raises(RenderError, match="PyTorch no longer publishes"):
        get_backend("conda").render(dead, "cpu")


# --- PEP 751 pylock.toml ------------------------------------------------------------------------

_ENVIRONMENTS = {
    "linux-x86_64": {"sys_platform": "linux", "platform_machine": "x86_64", "platform_system": "Linux", "os_name": "posix"},
    "windows-x86_64": {"sys_platform": "win32", "platform_machine": "AMD64", "platform_system": "Windows", "os_name": "nt"},
}


@pytest.mark.parametrize("name", TARGETS)
def test_pylock_validates_and_selects_the_files_the_target_installs(lock, name):
    target = lock.targets[name]
    pylock = Pylock.from_dict(tomllib.loads(get_backend("pylock").render(lock, name)))  # validates
    environment = {**_ENVIRONMENTS[target.platform], "python_version": target.python,
                   "python_full_version": f"{target.python}.0", "implementation_name": "cpython",
                   "platform_python_implementation": "CPython"}
    assert environment_marker(target).evaluate(environment)
    tags = list(TargetTags(target.platform, target.python, target.glibc or "2.28").tags)
    selected = list(pylock.select(environment=environment, tags=tags))
    assert {p.name for p, _ in selected} == {p.name for p in target.packages}
    for package, dist in selected:  # the same file aienv's own choice names, with the lock's hash
        locked = target.package(package.name)
        assert str(package.version) == locked.version
        assert dist.url == best_file(target, locked).url
        assert dist.hashes == {"sha256": best_file(target, locked).sha256}
    assert pylock.tool["aienv"]["variant"] == target.variant


# --- aienv export -------------------------------------------------------------------------------


def test_export_writes_one_file_per_target_into_a_directory(comfy_lock, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["-C", str(comfy_lock), "export", "--format", "pip", "-o", str(out), "--json"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert sorted(Path(f["path"]).name for f in files) == sorted(f"requirements-{t}.txt" for t in TARGETS)
    lock = read_lock(comfy_lock / "aienv.lock")
    for item in files:
        assert Path(item["path"]).read_text() == get_backend("pip").render(lock, item["target"])
        assert Path(item["path"]).stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_export_one_target_to_stdout_or_a_file(comfy_lock, tmp_path, capsys):
    lock = read_lock(comfy_lock / "aienv.lock")
    assert main(["-C", str(comfy_lock), "export", "-F", "pylock", "--target", "cpu"]) == 0
    assert capsys.readouterr().out == get_backend("pylock").render(lock, "cpu")
    path = tmp_path / "pylock.toml"
    assert main(["-C", str(comfy_lock), "export", "-F", "conda", "-t", "rtx4090", "-o", str(path)]) == 0
    assert path.read_text() == get_backend("conda").render(lock, "rtx4090")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(("argv", "code", "words"), [
    # an unknown format lists the valid ones
    (["-F", "poetry"], 2, "formats: pip, conda, conda-lock"),
    # an unknown target lists the lock's targets
    (["-F", "pip", "-t", "nosuch"], 2, "targets in the lock: cpu, rtx4090, rtx5090-windows"),
    # several targets cannot share stdout
    (["-F", "pip"], 2, "choose one with --target"),
])
def test_export_bad_requests_are_clear_errors(comfy_lock, capsys, argv, code, words):
    assert main(["-C", str(comfy_lock), "export", *argv]) == code
    captured = capsys.readouterr()
    assert words in captured.err and not captured.out


def test_export_of_all_targets_skips_those_a_format_cannot_serve_and_says_so(comfy_lock, tmp_path, capsys):
    out = tmp_path / "scripts"
    assert main(["-C", str(comfy_lock), "export", "-F", "shell", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "note: skipped: target 'rtx5090-windows' is windows-x86_64" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["install-cpu.sh", "install-rtx4090.sh"]
    assert all(os.access(p, os.X_OK) for p in out.iterdir())
    # asked for by name, the same target is an error
    assert main(["-C", str(comfy_lock), "export", "-F", "shell", "-t", "rtx5090-windows"]) == 1
    assert "use `aienv export --format pip --target rtx5090-windows`" in capsys.readouterr().err


def test_export_of_a_stack_only_lock_says_how_to_lock_the_closure_and_writes_nothing(tmp_path, capsys):
    shutil.copytree(ROOT / "examples" / "comfyui", tmp_path / "p")
    out = tmp_path / "out"
    assert main(["-C", str(tmp_path / "p"), "export", "-F", "pip", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "stack-only lock" in err and "without --no-index" in err
    assert not out.exists()


def test_export_of_a_missing_lock_is_a_bad_request(tmp_path, capsys):
    assert main(["-C", str(tmp_path), "export", "-F", "pip"]) == 2
    assert "aienv.lock not found" in capsys.readouterr().err


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# --- conda-lock.yml, from the ComfyUI lock with a [conda] table solved against a local channel ---


@pytest.fixture(scope="module")
def conda_lock_lock(conda_project) -> Lock:
    return read_lock(conda_project / "aienv.lock")


def _normalized_all(text: str, *servers) -> str:
    for server in servers:
        text = text.replace(server.url, "http://index.test")
    return text


@pytest.mark.parametrize("target", TARGETS)
def test_conda_lock_matches_golden_file(conda_lock_lock, comfy_server, channel, target):
    pytest.importorskip("conda_lock")
    backend = get_backend("conda-lock")
    text = _normalized_all(backend.render(conda_lock_lock, target), comfy_server, channel.server)
    path = GOLDEN / backend.filename_for(target)
    if os.environ.get("AIENV_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed: review, then AIENV_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("name", TARGETS)
def test_conda_lock_is_read_back_by_conda_locks_parser_and_schema(conda_lock_lock, tmp_path, name):
    pytest.importorskip("conda_lock")
    import fastjsonschema
    from conda_lock.lockfile import parse_conda_lock_file

    target = conda_lock_lock.targets[name]
    path = tmp_path / "conda-lock.yml"
    path.write_text(get_backend("conda-lock").render(conda_lock_lock, name), encoding="utf-8")
    # The JSON schema conda-lock ships for its v1 format validates the file as written.
    schema_path = Path(sys.modules["conda_lock.lockfile"].__file__).parent / "v1" / "conda-lock-v1.schema.json"
    fastjsonschema.compile(json.loads(schema_path.read_text()))(yaml.safe_load(path.read_text()))
    parsed = parse_conda_lock_file(path)
    subdir = {"linux-x86_64": "linux-64", "windows-x86_64": "win-64"}[target.platform]
    assert parsed.metadata.platforms == [subdir]
    assert [c.url for c in parsed.metadata.channels] == list(target.conda.channels)
    assert parsed.metadata.custom_metadata["aienv-variant"] == target.variant
    assert parsed.metadata.custom_metadata["aienv-spec-digest"] == conda_lock_lock.spec_digest
    conda = {p.name: p for p in parsed.package if p.manager == "conda"}
    pip = {p.name: p for p in parsed.package if p.manager == "pip"}
    assert {c.name for c in target.conda.packages} == set(conda)
    for c in target.conda.packages:
        assert (conda[c.name].version, conda[c.name].build, conda[c.name].url) == (c.version, c.build, c.url)
        assert (conda[c.name].hash.md5, conda[c.name].hash.sha256) == (c.md5, c.sha256)
    assert {"python", "pip", "ffmpeg"} <= set(conda)
    assert conda["python"].version.startswith(target.python + ".")
    assert set(pip) == {p.name for p in target.packages}
    for p in target.packages:  # each pip package: the file the target installs, with its hash
        file = best_file(target, p)
        assert (pip[p.name].url, pip[p.name].hash.sha256, pip[p.name].version) == (file.url, file.sha256, p.version)
        assert set(pip[p.name].dependencies) == set(p.dependencies)


def test_conda_lock_without_locked_conda_packages_says_how_to_get_them(lock):
    pytest.importorskip("conda_lock")
    from envspec.backends import RenderError

    with pytest.raises(RenderError, match="no locked conda packages") as info:
        get_backend("conda-lock").render(lock, "cpu")
    assert "[conda]" in info.value.hint and "envspec[conda]" in info.value.hint


def test_environment_yml_pins_the_solved_conda_packages_exactly(conda_lock_lock):
    target = conda_lock_lock.targets["rtx4090"]
    document = yaml.safe_load(get_backend("conda").render(conda_lock_lock, "rtx4090"))
    conda_deps = [d for d in document["dependencies"] if isinstance(d, str)]
    assert conda_deps == [f"{c.name}={c.version}={c.build}" for c in target.conda.packages]
    assert document["channels"] == [*target.conda.channels, "nodefaults"]
