"""PaddlePaddle's documented conda route (issue #7): a Paddle 2.x GPU build whose CUDA x.y the
release's conda page offers (2.6.2: cudatoolkit 11.2/11.6/11.7 from Paddle's channel and
conda-forge) records the route in the lock; the conda renders install it from conda, the pip
renders keep the hashed wheel.

Full closures are locked against the local PaddleOCR index (conftest `paddle_server`: PyPI's
snapshot plus Paddle-style cu120/cu117 indexes). The solved case uses a real py-rattler solve
against two local conda channels (tests/localchannel) holding fake `paddlepaddle-gpu` and
`cudatoolkit` packages: the route's channels in the locked target are pointed at the local
mirror of Paddle's channel, as no test may reach the Tsinghua mirror the docs name.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tomllib
import yaml

from envspec.backends import get_backend
from envspec.backends._common import RenderError
from envspec.cli import main
from envspec.lockfile import (
    CondaRoute,
    Lock,
    LockedConda,
    dumps_lock,
    lock_from_dict,
    read_lock,
)
from envspec.matrix import get_matrix

from .conftest import lock_against

TSINGHUA = "https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud/Paddle"
PD26_CONDA = "https://www.paddlepaddle.org.cn/documentation/docs/zh/2.6/install/conda/linux-conda.html"

SPEC = """\
[project]
name = "ocr"
python = ">=3.10,<3.13"

[stack]
paddlepaddle-gpu = "==2.6.2"
{cuda}
[dependencies]
packages = ["paddleocr==2.8.1"]

[targets.rtx4090]
platform = "linux-x86_64"
gpus = ["RTX 4090"]
driver = "550.54.14"
python = "3.11"
"""


def _project(root: Path, cuda: str) -> Path:
    root.mkdir(parents=True)
    (root / "aienv.toml").write_text(SPEC.format(cuda=cuda))
    return root


# --- the facts -------------------------------------------------------------------------------


def test_the_matrix_gives_each_release_its_route_per_cuda_pin() -> None:
    m = get_matrix()
    r26 = m.paddle_release("2.6.2").conda
    assert r26.page == PD26_CONDA and r26.python == ("3.8", "3.9", "3.10", "3.11", "3.12")
    assert r26.channels_for("11.7") == (TSINGHUA, "conda-forge")
    assert r26.specs_for("11.7") == ("paddlepaddle-gpu ==2.6.2", "cudatoolkit 11.7.*")
    r25 = m.paddle_release("2.5.2").conda
    # 2.5's page: cudatoolkit=10.2 from the Paddle channel alone, conda-forge only for 11.x.
    assert r25.channels_for("10.2") == (TSINGHUA,) and r25.channels_for("11.6") == (TSINGHUA, "conda-forge")
    beta = m.paddle_release("3.0.0b2").conda
    assert beta.channels_for("12.3") == ("paddle", "nvidia")
    assert beta.specs_for("12.3") == ("paddlepaddle-gpu ==3.0.0b2", "paddlepaddle-cuda 12.3.*")
    assert beta.page == (
        "https://github.com/PaddlePaddle/docs/blob/46ceb37d54c1e4e994933424702031a073ec9100/docs/install/conda/linux-conda.md"
    )


# --- stack locks (--no-index) ----------------------------------------------------------------


def _stack_lock(tmp_path: Path, stack: str, *, platform: str = "linux-x86_64") -> Lock:
    (tmp_path / "aienv.toml").write_text(
        f'[project]\nname = "p"\npython = ">=3.10,<3.13"\n\n[stack]\n{stack}\n\n'
        f'[targets.t]\nplatform = "{platform}"\ngpus = ["RTX 4090"]\ndriver = "550.54.14"\n'
    )
    assert main(["-C", str(tmp_path), "lock", "--no-index"]) == 0
    return read_lock(tmp_path / "aienv.lock")


def test_cuda_11_7_steers_onto_the_route_and_pulls_in_no_torch(tmp_path: Path) -> None:
    lock = _stack_lock(tmp_path, 'paddlepaddle-gpu = "2.6"\ncuda = "11.7"')
    target = lock.targets["t"]
    assert [p.name for p in target.packages] == ["paddlepaddle-gpu"], "stack.cuda alone asks nothing of torch"
    paddle = target.package("paddlepaddle-gpu")
    assert paddle.version == "2.6.2.post117"
    assert paddle.conda_route == CondaRoute(
        channels=(TSINGHUA, "conda-forge"), specs=("paddlepaddle-gpu ==2.6.2", "cudatoolkit 11.7.*"), source=PD26_CONDA,
    )
    text = (tmp_path / "aienv.lock").read_text()
    assert "[targets.t.packages.conda-route]" in text
    assert dumps_lock(lock_from_dict(tomllib.loads(text))) == text, "read back, written the same"


def test_a_build_the_conda_page_does_not_offer_has_no_route(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    cu120 = _stack_lock(tmp_path / "a", 'paddlepaddle-gpu = "2.6"')
    assert cu120.targets["t"].package("paddlepaddle-gpu").version == "2.6.2.post120"
    assert cu120.targets["t"].package("paddlepaddle-gpu").conda_route is None
    assert "conda-route" not in (tmp_path / "a" / "aienv.lock").read_text()
    (tmp_path / "w").mkdir()
    windows = _stack_lock(tmp_path / "w", 'paddlepaddle-gpu = "2.6"\ncuda = "11.7"', platform="windows-x86_64")
    paddle = windows.targets["t"].package("paddlepaddle-gpu")
    assert paddle.version == "2.6.2.post117" and paddle.conda_route is None, "only the Linux conda pages were read"


def test_paddle_3_beta_route_needs_the_nvidia_channel(tmp_path: Path) -> None:
    lock = _stack_lock(tmp_path, 'paddlepaddle-gpu = "==3.0.0b2"')
    paddle = lock.targets["t"].package("paddlepaddle-gpu")
    assert paddle.conda_route is not None
    assert paddle.conda_route.channels == ("paddle", "nvidia")
    assert paddle.conda_route.specs == ("paddlepaddle-gpu ==3.0.0b2", "paddlepaddle-cuda 12.3.*")


# --- full closures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def locks(paddle_server, tmp_path_factory) -> dict[str, Lock]:
    """The same PaddleOCR project locked with cuda = "11.7" (the route) and without (cu120)."""
    out = {}
    for name, cuda in (("cu117", 'cuda = "11.7"\n'), ("cu120", "")):
        work = _project(tmp_path_factory.mktemp(name) / "p", cuda)
        assert lock_against(work, paddle_server, work / ".cache", "--paddle-index-url", f"{paddle_server.url}/paddle") == 0
        out[name] = read_lock(work / "aienv.lock")
    return out


def test_the_full_closure_carries_the_route_onto_the_conda_side(locks, paddle_server) -> None:
    target = locks["cu117"].targets["rtx4090"]
    paddle = target.package("paddlepaddle-gpu")
    assert target.closure == "full" and paddle.version == "2.6.2.post117" and paddle.files
    assert paddle.index == f"{paddle_server.url}/paddle/cu117"
    assert paddle.conda_route is not None and paddle.conda_route.source == PD26_CONDA
    assert target.conda.channels == (TSINGHUA, "conda-forge"), "the route's channels first, conda-forge once"
    assert target.conda.requirements == ("python 3.11.*", "pip", "paddlepaddle-gpu ==2.6.2", "cudatoolkit 11.7.*")
    assert target.conda.packages == (), "no [conda] table: nothing solved, no channel asked"


def test_the_conda_render_installs_the_routed_package_from_conda(locks, paddle_server) -> None:
    text = get_backend("conda").render(locks["cu117"], "rtx4090")
    env = yaml.safe_load(text)
    assert env["channels"] == [TSINGHUA, "conda-forge", "nodefaults"]
    conda_deps = [d for d in env["dependencies"] if isinstance(d, str)]
    assert conda_deps == ["python 3.11.*", "pip", "paddlepaddle-gpu ==2.6.2", "cudatoolkit 11.7.*"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert not any(line.startswith("paddlepaddle-gpu") for line in pip)
    assert not any("/paddle/cu117" in line for line in pip), "no index line for a package pip does not install"
    assert any(line.startswith("paddleocr==2.8.1 --hash=sha256:") for line in pip)
    header = [line for line in text.splitlines() if line.startswith("# paddlepaddle-gpu:")]
    assert len(header) == 1 and PD26_CONDA in header[0] and "cudatoolkit 11.7.*" in header[0]
    assert "paddlepaddle-gpu==2.6.2.post117" in header[0]


@pytest.mark.parametrize("fmt", ["pip", "pylock", "shell"])
def test_the_other_renders_keep_the_hashed_wheel(locks, paddle_server, fmt: str) -> None:
    text = get_backend(fmt).render(locks["cu117"], "rtx4090")
    paddle = locks["cu117"].targets["rtx4090"].package("paddlepaddle-gpu")
    assert "2.6.2.post117" in text and any(f.sha256 in text for f in paddle.files)
    assert "cudatoolkit" not in text and TSINGHUA not in text


def test_a_target_without_route_renders_as_before(locks, paddle_server) -> None:
    target = locks["cu120"].targets["rtx4090"]
    assert target.package("paddlepaddle-gpu").conda_route is None
    assert target.conda.channels == ("conda-forge",) and target.conda.requirements == ("python 3.11.*", "pip")
    text = get_backend("conda").render(locks["cu120"], "rtx4090")
    env = yaml.safe_load(text)
    assert env["channels"] == ["conda-forge", "nodefaults"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert any(line.startswith("paddlepaddle-gpu==2.6.2.post120 --hash=sha256:") for line in pip)
    assert f"--extra-index-url {paddle_server.url}/paddle/cu120" in pip
    assert "# paddlepaddle-gpu:" not in text


def test_dead_channels_are_refused_unless_a_route_names_them(locks) -> None:
    lock = locks["cu117"]
    target = lock.targets["rtx4090"]
    paddle = target.package("paddlepaddle-gpu")
    beta = CondaRoute(channels=("paddle", "nvidia"), specs=("paddlepaddle-gpu ==3.0.0b2", "paddlepaddle-cuda 11.8.*"), source=PD26_CONDA)
    routed = target.model_copy(update={
        "packages": tuple(p.model_copy(update={"conda_route": beta}) if p is paddle else p for p in target.packages),
        "conda": LockedConda(channels=("paddle", "nvidia", "conda-forge"), requirements=("python 3.11.*", "pip", *beta.specs)),
    })
    text = get_backend("conda").render(lock.model_copy(update={"targets": {"rtx4090": routed}}), "rtx4090")
    assert yaml.safe_load(text)["channels"] == ["paddle", "nvidia", "conda-forge", "nodefaults"]
    # The project's own pytorch/nvidia channels stay refused (PyTorch's dead conda channel).
    users = target.model_copy(update={"conda": LockedConda(channels=("pytorch", "nvidia"), requirements=("python 3.11.*", "pip"))})
    with pytest.raises(RenderError) as e:
        get_backend("conda").render(lock.model_copy(update={"targets": {"rtx4090": users}}), "rtx4090")
    assert e.value.code == "dead-conda-channel"


# --- solved: a [conda] table, against local channels ------------------------------------------


@pytest.fixture(scope="module")
def channels():
    """`paddle-mirror` (a stand-in for Paddle's channel: fake paddlepaddle-gpu 2.6.2 builds for
    cudatoolkit 11.2 and 11.7, and 2.6.1) and `conda-forge` (python 3.11, pip, cudatoolkit 11.2,
    11.7 and 11.8) on one server; the channel alias points `conda-forge` there."""
    pytest.importorskip("rattler")
    from tests.localchannel import LocalChannel
    from tests.localindex import IndexServer

    with IndexServer() as server:
        paddle, forge = LocalChannel(server, "paddle-mirror"), LocalChannel(server, "conda-forge")
        glibc = ["__glibc >=2.17"]
        forge.add("python", "3.11.11", "h311_0_cpython", subdir="linux-64", depends=glibc)
        forge.add("pip", "25.0", "pyh8b19718_0", subdir="noarch", depends=["python >=3.9"], noarch="python")
        for version in ("11.2.2", "11.7.1", "11.8.0"):
            forge.add("cudatoolkit", version, "h0", subdir="linux-64", depends=glibc, constrains=["__cuda >=11"])
        for cuda in ("11.2", "11.7"):
            paddle.add(
                "paddlepaddle-gpu", "2.6.2", f"py311_gpu_cuda{cuda}", subdir="linux-64",
                depends=["python >=3.11,<3.12.0a0", f"cudatoolkit {cuda}.*"],
            )
        paddle.add("paddlepaddle-gpu", "2.6.1", "py311_gpu_cuda11.7", subdir="linux-64", depends=["python >=3.11,<3.12.0a0", "cudatoolkit 11.7.*"])
        yield server, paddle


@pytest.fixture(scope="module")
def solved(locks, channels, tmp_path_factory) -> Lock:
    """The cu117 target's conda side solved (a [conda] table) with its route's channel on the
    local mirror."""
    from envspec.resolver.conda import locked_conda
    from envspec.sources.conda import CondaSolver
    from envspec.spec import load_spec

    server, paddle_channel = channels
    work = _project(tmp_path_factory.mktemp("solved") / "p", 'cuda = "11.7"\n')
    with (work / "aienv.toml").open("a") as f:
        f.write('\n[conda]\nchannels = ["conda-forge"]\n')
    lock = locks["cu117"]
    target = lock.targets["rtx4090"]
    mirrored = tuple(
        p.model_copy(update={"conda_route": p.conda_route.model_copy(update={"channels": (paddle_channel.url, "conda-forge")})})
        if p.conda_route else p for p in target.packages
    )
    target = target.model_copy(update={"packages": mirrored})
    solver = CondaSolver(channel_alias=server.url, cache_dir=work / ".cache")
    conda = locked_conda(load_spec(work), target, get_matrix(), solver, "rtx4090")
    return lock.model_copy(update={"targets": {"rtx4090": target.model_copy(update={"conda": conda})}})


def test_the_solve_takes_the_route_from_the_route_channel(solved, channels) -> None:
    _, paddle_channel = channels
    conda = solved.targets["rtx4090"].conda
    assert conda.channels == (paddle_channel.url, "conda-forge")
    assert conda.requirements == ("python 3.11.*", "pip", "paddlepaddle-gpu ==2.6.2", "cudatoolkit 11.7.*")
    pins = {p.name: (p.version, p.build) for p in conda.packages}
    assert pins == {
        "python": ("3.11.11", "h311_0_cpython"), "pip": ("25.0", "pyh8b19718_0"),
        "paddlepaddle-gpu": ("2.6.2", "py311_gpu_cuda11.7"), "cudatoolkit": ("11.7.1", "h0"),
    }
    assert next(p for p in conda.packages if p.name == "paddlepaddle-gpu").channel == paddle_channel.url
    # The lock with a route and solved packages is valid and written deterministically.
    assert dumps_lock(lock_from_dict(solved.to_dict())) == dumps_lock(solved)


def test_solved_conda_render_pins_the_route_exactly(solved) -> None:
    env = yaml.safe_load(get_backend("conda").render(solved, "rtx4090"))
    conda_deps = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "paddlepaddle-gpu=2.6.2=py311_gpu_cuda11.7" in conda_deps and "cudatoolkit=11.7.1=h0" in conda_deps
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert not any(line.startswith("paddlepaddle-gpu") for line in pip)


def test_conda_lock_reads_the_route_as_conda_packages(solved, tmp_path: Path) -> None:
    pytest.importorskip("conda_lock")
    from conda_lock.lockfile import parse_conda_lock_file

    text = get_backend("conda-lock").render(solved, "rtx4090")
    assert "# paddlepaddle-gpu: from conda by its documented conda route" in text and PD26_CONDA in text
    path = tmp_path / "conda-lock.yml"
    path.write_text(text, encoding="utf-8")
    parsed = parse_conda_lock_file(path)
    conda = {p.name: p for p in parsed.package if p.manager == "conda"}
    pip = {p.name: p for p in parsed.package if p.manager == "pip"}
    assert conda["paddlepaddle-gpu"].version == "2.6.2" and conda["cudatoolkit"].version == "11.7.1"
    assert "paddlepaddle-gpu" not in pip
    target = solved.targets["rtx4090"]
    assert set(pip) == {p.name for p in target.packages} - {"paddlepaddle-gpu"}
    assert "paddleocr" in pip


def test_apply_plans_no_wheel_for_a_package_the_conda_prefix_has(solved, locks) -> None:
    from envspec.apply._plan import _items

    solved_items = {i.name for i in _items("rtx4090", solved.targets["rtx4090"])}
    assert "paddlepaddle-gpu" not in solved_items and "paddleocr" in solved_items
    # Without solved conda packages apply makes a venv: the wheel is installed.
    assert "paddlepaddle-gpu" in {i.name for i in _items("rtx4090", locks["cu117"].targets["rtx4090"])}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
