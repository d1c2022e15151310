"""The conda side of a full-closure lock, solved with py-rattler against a real conda channel
served on 127.0.0.1 (tests/localchannel): tiny real `.tar.bz2` packages and their repodata.

The ComfyUI tests reuse the session's full-closure lock (conftest `comfy_lock`, targets rtx4090
on Linux with driver 550.54.14, rtx5090-windows with 576.02, and cpu) and its warm index cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import sys
import urllib.request

import pytest

from envspec.cli import main
from envspec.errors import OfflineCacheMiss, ResolutionError, SourceError
from envspec.lockfile import (
    BuildRecipe,
    LockedGpu,
    LockedPackage,
    LockedTarget,
    read_lock,
)
from envspec.matrix import DriverVersion, get_matrix
from envspec.resolver.conda import (
    conda_requirements,
    driver_cuda,
    locked_conda,
    virtual_packages,
)
from envspec.sources.conda import (
    CondaSolver,
    CondaSpecError,
    CondaUnavailable,
    channel_url,
)
from envspec.spec import load_spec
from tests.conftest import CONDA_TABLE, _copy, lock_against
from tests.localchannel import LocalChannel, add_demo_packages, read_index_json
from tests.localindex import IndexServer

pytest.importorskip("rattler")

# --- the channel itself ----------------------------------------------------------------------


def test_the_local_channel_serves_real_packages_listed_with_their_hashes(channel):
    with urllib.request.urlopen(f"{channel.url}/linux-64/repodata.json") as response:
        repodata = json.loads(response.read())
    record = repodata["packages"]["ffmpeg-7.1-h2.tar.bz2"]
    with urllib.request.urlopen(channel.file_url("linux-64", "ffmpeg-7.1-h2.tar.bz2")) as response:
        data = response.read()
    assert record["sha256"] == hashlib.sha256(data).hexdigest() and record["size"] == len(data)
    assert record["md5"] == hashlib.md5(data).hexdigest()
    assert read_index_json(data)["depends"] == record["depends"] == ["libfoo >=1.1"]
    assert record["constrains"] == ["libfoo <2"]


# --- a full-closure lock with a [conda] table --------------------------------------------------


def test_each_target_pins_python_pip_and_the_conda_packages_with_hashes(conda_project, channel):
    lock = read_lock(conda_project / "aienv.lock")
    subdirs = {"rtx4090": "linux-64", "rtx5090-windows": "win-64", "cpu": "linux-64"}
    for name, subdir in subdirs.items():
        conda = lock.targets[name].conda
        assert conda is not None and conda.channels == ("demo-forge",)
        assert conda.requirements == ("python 3.13.*", "pip", "ffmpeg")
        pins = {p.name: (p.version, p.subdir) for p in conda.packages}
        # libfoo 1.2, not 2.0: ffmpeg 7.1 constrains libfoo <2.
        assert pins == {
            "python": ("3.13.1", subdir), "pip": ("25.0", "noarch"), "ffmpeg": ("7.1", subdir), "libfoo": ("1.2", subdir),
        }, name
        for package in conda.packages:
            served = channel.find(package.subdir, package.name, package.version)
            assert package.url == channel.file_url(package.subdir, served.filename)
            assert (package.sha256, package.md5) == (served.sha256, served.md5)
            assert package.channel == channel.url and package.build == served.record["build"]
            assert list(package.depends) == served.record["depends"]


def test_without_a_conda_table_the_lock_has_the_requirements_and_no_channel_is_asked(comfy_lock, comfy_server, channel, tmp_path):
    project = _copy(comfy_lock, tmp_path / "p")
    channel.server.clear_log()
    assert lock_against(project, comfy_server, project / ".cache", "--conda-channel-alias", channel.server.url) == 0
    assert channel.server.log == []
    for target in read_lock(project / "aienv.lock").targets.values():
        assert target.conda is not None and target.conda.channels == ("conda-forge",)
        assert target.conda.requirements == ("python 3.13.*", "pip") and target.conda.packages == ()


def test_a_warm_cache_locks_offline_without_a_request_and_the_same_bytes(conda_project, comfy_server, channel, tmp_path, monkeypatch, capsys):
    project = _copy(conda_project, tmp_path / "p")
    before = (project / "aienv.lock").read_bytes()
    channel.server.clear_log()
    monkeypatch.setenv("AIENV_CONDA_CHANNEL_ALIAS", channel.server.url)  # the environment, as the flag
    capsys.readouterr()
    assert lock_against(project, comfy_server, project / ".cache", "--offline") == 0
    assert channel.server.log == []
    assert (project / "aienv.lock").read_bytes() == before
    lock = read_lock(project / "aienv.lock")  # the summary counts each target's conda packages
    count = len(lock.targets["cpu"].conda.packages)
    assert f"conda: {count} packages from demo-forge" in capsys.readouterr().out


def test_offline_without_cached_repodata_names_what_is_missing(conda_project, comfy_server, channel, tmp_path, capsys):
    project = _copy(conda_project, tmp_path / "p")
    shutil.rmtree(project / ".cache" / "conda-repodata")
    before = (project / "aienv.lock").read_bytes()
    capsys.readouterr()
    assert lock_against(project, comfy_server, project / ".cache", "--offline", "--conda-channel-alias", channel.server.url) == 1
    err = capsys.readouterr().err
    assert "not in the cache" in err and f"{channel.url}/" in err and "repodata.json" in err
    assert (project / "aienv.lock").read_bytes() == before


def test_an_unsatisfiable_conda_package_is_an_error_naming_it_and_the_lock_is_untouched(conda_project, comfy_server, channel, tmp_path, capsys):
    project = _copy(conda_project, tmp_path / "p", '["ffmpeg", "nosuch"]')
    before = (project / "aienv.lock").read_bytes()
    capsys.readouterr()
    assert lock_against(project, comfy_server, project / ".cache", "--conda-channel-alias", channel.server.url) == 1
    err = capsys.readouterr().err
    assert "target 'rtx4090' cannot be resolved" in err
    assert "the conda packages python 3.13.*, pip, ffmpeg, nosuch cannot be solved for linux-64" in err
    assert "No candidates were found for nosuch" in err and channel.url in err
    assert (project / "aienv.lock").read_bytes() == before


def test_nvcc_newer_than_the_targets_driver_supports_is_refused_naming_cuda(conda_project, comfy_server, channel, tmp_path, capsys):
    # rtx4090's driver 550.54.14 supports CUDA 12.4; this nvcc needs __cuda >=12.8.
    project = _copy(conda_project, tmp_path / "p", '["cuda-nvcc 12.8.*"]')
    capsys.readouterr()
    assert lock_against(project, comfy_server, project / ".cache", "--conda-channel-alias", channel.server.url) == 1
    err = capsys.readouterr().err
    assert "target 'rtx4090' cannot be resolved" in err
    assert "cuda-nvcc 12.8.93 would require" in err and "__cuda >=12.8, for which no candidates were found" in err
    assert "__cuda=12.4=0" in err  # the virtual packages the target was solved with
    assert "hint: a package needs a newer CUDA driver than targets.rtx4090 has (or declares)" in err


def test_existing_conda_pins_are_kept_unless_upgrade_is_asked(comfy_lock, comfy_server, write_spec, tmp_path):
    with IndexServer() as server:
        channel = LocalChannel(server, "demo-forge")
        add_demo_packages(channel)
        project = _copy(comfy_lock, tmp_path / "p", '["ffmpeg"]')
        flags = (project / ".cache", "--conda-channel-alias", server.url)
        assert lock_against(project, comfy_server, *flags) == 0
        for subdir in ("linux-64", "win-64"):
            channel.add("ffmpeg", "7.2", "h0", subdir=subdir, depends=["libfoo >=1.1"])
        assert lock_against(project, comfy_server, *flags) == 0
        previous = read_lock(project / "aienv.lock").targets["rtx4090"].conda
        assert {p.name: p.version for p in previous.packages}["ffmpeg"] == "7.1"  # the earlier pin still fits
        # --upgrade-package NAME (here, as the resolver gets it) lets that one move.
        spec = _conda_spec(write_spec, '["ffmpeg"]')
        solver = CondaSolver(channel_alias=server.url, cache_dir=tmp_path / "c")
        target = _target(driver="550.54.14")
        kept = locked_conda(spec, target, get_matrix(), solver, "t", previous)
        upgraded = locked_conda(spec, target, get_matrix(), solver, "t", previous, upgrade={"ffmpeg"})
        assert [p.version for p in kept.packages if p.name == "ffmpeg"] == ["7.1"]
        assert [p.version for p in upgraded.packages if p.name == "ffmpeg"] == ["7.2"]


def test_a_stack_only_lock_has_no_conda_side_and_asks_no_channel(conda_project, channel, tmp_path):
    project = _copy(conda_project, tmp_path / "p")
    channel.server.clear_log()
    assert main(["-C", str(project), "lock", "--no-index"]) == 0
    assert all(t.conda is None for t in read_lock(project / "aienv.lock").targets.values())
    assert channel.server.log == []


def test_without_py_rattler_the_lock_says_how_to_install_it(conda_project, comfy_server, tmp_path, capsys, monkeypatch):
    project = _copy(conda_project, tmp_path / "p")
    monkeypatch.setitem(sys.modules, "rattler", None)  # `import rattler` raises ImportError
    capsys.readouterr()
    assert lock_against(project, comfy_server, project / ".cache", "--offline") == 1
    err = capsys.readouterr().err
    assert "needs py-rattler" in err and "pip install 'envspec[conda]'" in err


# --- the solver and the target's virtual packages, directly ------------------------------------


def _target(platform: str = "linux-x86_64", *, driver: str | None = None, gpus: bool = True, **kw) -> LockedTarget:
    return LockedTarget(
        platform=platform, python="3.12", glibc="2.28" if platform.startswith("linux") else None,
        macos="11.0" if platform.startswith("macos") else None, driver=driver,
        gpus=(LockedGpu(name="NVIDIA GeForce RTX 4090", compute_capability="8.9"),) if gpus else (),
        accelerator="cuda" if gpus else "cpu", variant="cu128" if gpus else "cpu", cuda="12.8" if gpus else None,
        driver_policy="minor-version", closure="full", reason="test", **kw,
    )


def _conda_spec(write_spec, packages: str):
    return load_spec(write_spec('[project]\nname = "demo"\n' + CONDA_TABLE.format(packages=packages)))


@pytest.mark.parametrize(
    ("target", "nvcc"),
    [
        # The newest nvcc whose __cuda the driver supports: 550.54.14 supports CUDA 12.4.
        (_target(driver="550.54.14"), "12.4.131"),
        (_target(driver="570.124.06"), "12.8.93"),
        # Windows: 576.02 supports 12.9.
        (_target("windows-x86_64", driver="576.02"), "12.8.93"),
        # No driver declared: the lock's floor (525.60.13 -> CUDA 12.0) is all that is assumed.
        (_target(driver_floor="525.60.13"), None),
        # No GPU: no __cuda at all.
        (_target(gpus=False), None),
    ],
    ids=["driver-550", "driver-570", "windows-576", "floor-only", "cpu"],
)
def test_nvcc_is_chosen_by_the_cuda_the_targets_driver_supports(target, nvcc, channel, write_spec, tmp_path):
    spec = _conda_spec(write_spec, '["cuda-nvcc"]')
    solver = CondaSolver(channel_alias=channel.server.url, cache_dir=tmp_path)
    if nvcc is None:
        with pytest.raises(ResolutionError) as e:
            locked_conda(spec, target, get_matrix(), solver, "t")
        assert e.value.code == "conda-unsatisfiable" and "__cuda" in e.value.message
        return
    conda = locked_conda(spec, target, get_matrix(), solver, "t")
    assert {p.name: p.version for p in conda.packages}["cuda-nvcc"] == nvcc


def test_a_source_build_needing_nvcc_adds_nvcc_of_torchs_cuda(write_spec):
    recipe = BuildRecipe(nvcc_major=12, command="pip install --no-build-isolation flash-attn==2.8.3")
    target = _target(driver="570.124.06", packages=(LockedPackage(name="flash-attn", version="2.8.3", build=recipe),))
    assert conda_requirements(_conda_spec(write_spec, '["ffmpeg"]'), target) == (
        "python 3.12.*", "pip", "ffmpeg", "cuda-nvcc 12.8.*",
    )
    assert conda_requirements(_conda_spec(write_spec, "[]"), _target(driver="570.124.06")) == ("python 3.12.*", "pip")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (_target(driver="550.54.14"), "__archspec=1=x86_64 __cuda=12.4=0 __glibc=2.28=0 __linux=5.10=0 __unix=0=0"),
        (_target("linux-aarch64", gpus=False), "__archspec=1=aarch64 __glibc=2.28=0 __linux=5.10=0 __unix=0=0"),
        (_target("windows-x86_64", driver="576.02"), "__archspec=1=x86_64 __cuda=12.9=0 __win=0=0"),
        (_target("macos-arm64", gpus=False), "__archspec=1=arm64 __osx=11.0=0 __unix=0=0"),
    ],
    ids=["linux-gpu", "linux-aarch64-cpu", "windows-gpu", "macos"],
)
def test_virtual_packages_describe_the_target_not_this_machine(target, expected):
    assert " ".join(str(v) for v in virtual_packages(target, get_matrix())) == expected


@pytest.mark.parametrize(
    ("driver", "platform", "cuda"),
    [
        # Each CUDA x.y from the driver of its first release (NVIDIA's toolkit/driver table).
        ("550.54.14", "linux-x86_64", "12.4"),
        ("550.54.15", "linux-x86_64", "12.4"),
        ("555.42.01", "linux-x86_64", "12.4"),  # just below 12.5's 555.42.02
        ("570.26", "linux-x86_64", "12.8"),
        ("525.60.13", "linux-x86_64", "12.0"),
        ("450.80.02", "linux-x86_64", "11.0"),
        ("418.39", "linux-x86_64", None),
        # Past the table's newest row: at least that row's CUDA, and no more is claimed.
        ("999.1", "linux-x86_64", "13.3"),
        # Windows uses its own column; 13.x has no Windows driver in the table.
        ("576.02", "windows-x86_64", "12.9"),
        ("560.94", "windows-x86_64", "12.6"),
        ("999.1", "windows-x86_64", "12.9"),
    ],
)
def test_driver_cuda_is_the_newest_cuda_whose_first_release_driver_fits(driver, platform, cuda):
    assert driver_cuda(get_matrix(), DriverVersion(driver), platform) == cuda


def test_full_channel_urls_are_kept_and_names_go_under_the_alias(channel, tmp_path):
    assert channel_url("conda-forge") == "https://conda.anaconda.org/conda-forge"
    assert channel_url("conda-forge/label/dev", "https://mirror.example/") == "https://mirror.example/conda-forge/label/dev"
    assert channel_url("https://repo.example/ch/") == "https://repo.example/ch"
    records = CondaSolver(cache_dir=tmp_path).solve(["ffmpeg 6.*"], [channel.url + "/"], "win-64")
    assert {(r.name, r.version, r.channel) for r in records} == {("ffmpeg", "6.1", channel.url), ("libfoo", "2.0", channel.url)}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_channel_failures_are_source_errors_naming_the_url(channel, tmp_path):
    dead = f"http://127.0.0.1:{_closed_port()}/demo-forge"
    with pytest.raises(SourceError) as e:
        CondaSolver(cache_dir=tmp_path).solve(["ffmpeg"], [dead], "linux-64")
    assert e.value.code == "index-unreachable" and e.value.url == dead and e.value.exit_code == 1
    with pytest.raises(SourceError) as e:
        CondaSolver(channel_alias=channel.server.url, cache_dir=tmp_path).solve(["ffmpeg"], ["no-such-channel"], "linux-64")
    assert e.value.code == "index-http-error" and e.value.url == f"{channel.server.url}/no-such-channel/noarch/repodata.json"


def test_offline_solver_with_an_empty_cache_lists_the_repodata_it_lacks(channel, tmp_path):
    with pytest.raises(OfflineCacheMiss) as e:
        CondaSolver(channel_alias=channel.server.url, cache_dir=tmp_path, offline=True).solve(["ffmpeg"], ["demo-forge"], "linux-64")
    assert len(e.value.missing) == 1 and e.value.missing[0].startswith(f"{channel.url}/")
    assert e.value.missing[0].endswith("/repodata.json")


def test_a_bad_match_spec_is_bad_input(channel, tmp_path):
    with pytest.raises(CondaSpecError) as e:
        CondaSolver(channel_alias=channel.server.url, cache_dir=tmp_path).solve(["ffmpeg >>1"], ["demo-forge"], "linux-64")
    assert e.value.exit_code == 2 and "'ffmpeg >>1' is not a conda match spec" in e.value.message


def test_a_missing_py_rattler_is_an_unmet_request_with_the_install_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "rattler", None)
    with pytest.raises(CondaUnavailable) as e:
        CondaSolver(cache_dir=tmp_path).solve(["ffmpeg"], ["conda-forge"], "linux-64")
    assert e.value.exit_code == 1 and e.value.hint == "pip install 'envspec[conda]'"


def test_credentials_of_a_channel_alias_reach_neither_the_records_nor_the_messages(channel, tmp_path):
    alias = channel.server.url.replace("http://", "http://user:s3cret@")
    records = CondaSolver(channel_alias=alias, cache_dir=tmp_path).solve(["ffmpeg 6.*"], ["demo-forge"], "win-64")
    assert records and all("s3cret" not in r.url and "s3cret" not in r.channel for r in records)
    dead = f"http://user:s3cret@127.0.0.1:{_closed_port()}"
    with pytest.raises(SourceError) as e:
        CondaSolver(channel_alias=dead, cache_dir=tmp_path).solve(["ffmpeg"], ["demo-forge"], "linux-64")
    assert "s3cret" not in e.value.message and "s3cret" not in e.value.url


def test_the_solver_works_where_an_event_loop_already_runs(channel, tmp_path):
    import asyncio

    async def in_a_notebook():
        return CondaSolver(channel_alias=channel.server.url, cache_dir=tmp_path).solve(["ffmpeg 6.*"], ["demo-forge"], "win-64")

    assert {r.name for r in asyncio.run(in_a_notebook())} == {"ffmpeg", "libfoo"}
