"""Benchmark `aienv apply` against `uv venv` + `uv pip sync` (and pip against `python -m venv` +
`pip install`) of the same locked files, from warm caches, against a local package index.

    python benchmarks/bench_apply.py [--runs 5] [--json [PATH]] [--size real|tiny] [--pip-runs 3]
                                     [--profile DIR]

The project: examples/comfyui locked (`aienv lock`) with its `cpu` target pinned to this
interpreter's Python, against tests/localindex serving the tests/data/index snapshots (ComfyUI's
closure from PyPI at /simple/, the PyTorch indexes at /whl/<variant>/): 81 packages for the
`cpu` target. With `--size real` (the default) the wheels that target installs are rebuilt before
locking with the same names and metadata but padded to about their real sizes and file counts
(torch 2.10 CPU: 185 MB and 12,000 files; the closure about 480 MB and 28,000 files, see SIZES):
with a warm uv cache an install is one hard link per file, so the file count is what costs, and
pip unpacks every byte of every wheel from its cache. `--size tiny` keeps the snapshot's 1 KiB
wheels (the fixed overheads alone).

Every run is a whole process (or, for the baselines, the two processes a user runs one after
the other), timed wall-clock, into a fresh prefix, with one cache directory per installer that
two unrecorded rounds primed. The rows are interleaved round by round. aienv's progress lines
on stderr are time-stamped as they arrive, which splits its wall time into phases (start-up and
plan, venv, install, verify, swap and exit). Prints Markdown (or JSON with --json); progress on
stderr. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _report import (
    emit,  # benchmarks/_report.py (the scripts run from their directory's path)
)
from packaging.utils import canonicalize_name

from tests.localindex import IndexServer
from tests.localindex._wheels import build_wheel_parts

DATA = ROOT / "tests" / "data" / "index"
EXAMPLE = ROOT / "examples" / "comfyui"
TARGET = "cpu"
HERE_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"

# Approximate size (MB) and number of files of the real manylinux x86_64 / py3 wheels of the
# ComfyUI CPU closure (PyPI and download.pytorch.org/whl/cpu, early 2026 releases; rounded).
# Packages not listed: 0.05 MB, 15 files. The sizes are of the wheels (compressed); the padding
# is incompressible, so what is unpacked is that size (real wheels unpack to 2-3x).
SIZES: dict[str, tuple[float, int]] = {
    "torch": (185, 12000), "torchvision": (2.0, 300), "torchaudio": (2.0, 250),
    "numpy": (17, 900), "scipy": (36, 2000), "av": (40, 200), "pillow": (6.6, 150),
    "transformers": (12, 3000), "sympy": (6.3, 1500), "networkx": (2.0, 700), "mpmath": (0.5, 180),
    "comfyui-frontend-package": (25, 600), "comfyui-embedded-docs": (8, 900),
    "comfyui-workflow-templates": (0.1, 20), "comfyui-workflow-templates-core": (0.5, 60),
    "comfyui-workflow-templates-media-api": (20, 200), "comfyui-workflow-templates-media-image": (30, 300),
    "comfyui-workflow-templates-media-other": (15, 200), "comfyui-workflow-templates-media-video": (45, 300),
    "sqlalchemy": (3.2, 250), "tokenizers": (3.2, 50), "hf-xet": (3.2, 10), "pydantic-core": (2.0, 15),
    "kornia-rs": (2.8, 10), "kornia": (1.1, 300), "safetensors": (0.5, 20), "regex": (0.8, 20),
    "pygments": (1.2, 350), "aiohttp": (1.7, 80), "sentencepiece": (1.4, 20), "blake3": (1.2, 8),
    "pyopengl": (3.2, 1000), "pyyaml": (0.8, 40), "alembic": (0.25, 200), "rich": (0.25, 80),
    "psutil": (0.3, 50), "spandrel": (0.3, 150), "huggingface-hub": (0.55, 150), "fsspec": (0.2, 100),
    "pydantic": (0.45, 100), "anyio": (0.1, 60), "urllib3": (0.13, 40), "certifi": (0.16, 10),
    "charset-normalizer": (0.15, 40), "jinja2": (0.13, 30), "mako": (0.08, 60), "yarl": (0.35, 30),
    "multidict": (0.25, 20), "frozenlist": (0.25, 15), "propcache": (0.2, 15), "glfw": (0.25, 10),
    "markupsafe": (0.03, 15), "typer": (0.05, 30), "click": (0.1, 20), "tqdm": (0.08, 40),
}
DEFAULT_SIZE = (0.05, 15)

PYCACHE: Path | None = None  # set by main(): where the Python processes keep bytecode
#: uv's cache of the run (clean_env drops UV_* settings): the --real-torch rows install genuine
#: files from PyPI, gigabytes that uv keeps there between runs.
RUN_UV_CACHE = os.environ.get("UV_CACHE_DIR")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without pip/uv/aienv settings, 127.0.0.1 exempt from proxies,
    bytecode in PYCACHE (written by the priming rounds, so no run compiles aienv's modules)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "AIENV_", "VIRTUAL_ENV"))}
    if PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    for key in ("NO_PROXY", "no_proxy"):
        env[key] = ",".join(filter(None, [env.get(key, ""), "127.0.0.1", "localhost"]))
    env.update(extra)
    return env


def uv_binary() -> str | None:
    # aienv apply takes the uv on PATH (shutil.which): the baselines must run the same one.
    return shutil.which("uv")


class RunFailed(Exception):
    pass


# --- the index and the project ---------------------------------------------------------------


def start_server() -> tuple[IndexServer, dict[str, tuple[str, str, dict[str, Any]]]]:
    """The local index (tiny wheels), and filename -> (index prefix, project, version info) of
    every file in it, so a file can be rebuilt with the same metadata."""
    server = IndexServer()
    where: dict[str, tuple[str, str, dict[str, Any]]] = {}
    pypi = json.loads((DATA / "pypi-comfyui.json").read_text(encoding="utf-8"))
    server.add_snapshot("simple", pypi)
    for project, versions in pypi["projects"].items():
        for info in versions.values():
            for filename in info.get("files") or ():
                where[filename] = ("simple", project, info)
    torch = json.loads((DATA / "pytorch.json").read_text(encoding="utf-8"))
    for variant, content in torch["variants"].items():
        server.add_snapshot(f"whl/{variant}", {"source": torch["source"], **content}, html_only=True)
        for project, versions in content["projects"].items():
            for info in versions.values():
                for filename in info.get("files") or ():
                    where.setdefault(filename, (f"whl/{variant}", project, info))
    return server, where


def _extra_files(package: str, count: int) -> dict[str, bytes]:
    # Small modules (about 1 KiB, deflated) to give the wheel its file count.
    body = "".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(40))
    return {f"{package}/_m/m{i:05d}.py": f"# {package} {i}\n{body}".encode() for i in range(count)}


def pad_target_files(server: IndexServer, where: dict[str, tuple[str, str, dict[str, Any]]], lock_path: Path) -> dict[str, int]:
    """Rebuild every file the lock lists for TARGET at about its real size (SIZES), same
    filename and metadata, replacing the tiny one on the server. Returns filename -> bytes."""
    from urllib.parse import unquote

    lock = tomllib.loads(lock_path.read_text(encoding="utf-8"))
    sizes: dict[str, int] = {}
    for package in lock["targets"][TARGET]["packages"]:
        mb, count = SIZES.get(str(canonicalize_name(package["name"])), DEFAULT_SIZE)
        for file in package["files"]:
            filename = unquote(file["url"].rsplit("/", 1)[1])
            if not filename.endswith(".whl") or filename not in where:
                continue
            prefix, project, info = where[filename]
            extra = _extra_files(re.sub(r"[^A-Za-z0-9]", "_", project), count - 5)
            pad = max(0, int(mb * 1e6) - 350 * len(extra))
            file_version = filename[:-4].split("-")[1]
            _, data, metadata = build_wheel_parts(
                project, file_version, filename=filename, requires_dist=tuple(info.get("requires_dist") or ()),
                requires_python=info.get("requires_python") or None, provides_extra=tuple(info.get("provides_extra") or ()),
                extra_files=extra, pad=pad,
            )
            server.add_file(prefix, filename, data, requires_python=info.get("requires_python") or None, metadata=metadata)
            sizes[filename] = len(data)
    return sizes


def aienv(*args: str) -> list[str]:
    return [sys.executable, "-m", "envspec", *args]


def make_project(work: Path, server: IndexServer) -> None:
    """examples/comfyui with `python = "<this Python>"` in its cpu and rtx4090 targets, locked
    against the local index (as tests/test_backend_shell.py's lock_here does)."""
    shutil.copytree(EXAMPLE, work)
    (work / "aienv.lock").unlink(missing_ok=True)
    spec = (work / "aienv.toml").read_text(encoding="utf-8")
    for target in ("[targets.rtx4090]", "[targets.cpu]"):
        spec = spec.replace(target, f'{target}\npython = "{HERE_PYTHON}"')
    (work / "aienv.toml").write_text(spec, encoding="utf-8")


def lock(work: Path, server: IndexServer, cache: Path) -> None:
    (work / "aienv.lock").unlink(missing_ok=True)
    command = aienv("-C", str(work), "lock", "--index-url", server.index_url("simple"),
                    "--pytorch-index-url", f"{server.url}/whl", "--cache-dir", str(cache))
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=clean_env())
    if result.returncode != 0:
        raise RunFailed(f"aienv lock: exit {result.returncode}\n{result.stderr[-3000:]}")


def plan_of(work: Path, prefix: Path, uv: str, target: str = TARGET, *extra: str) -> dict[str, Any]:
    command = aienv("-C", str(work), "apply", "--dry-run", "--json", "--target", target, "--prefix", str(prefix), "--installer", "uv", *extra)
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=clean_env(PATH=_path_with(uv)))
    if result.returncode != 0:
        raise RunFailed(f"aienv apply --dry-run: exit {result.returncode}\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)["plan"]


def direct_requirements(plan: dict[str, Any]) -> str:
    """What aienv apply hands the installer (envspec.apply._install.requirements_text): one
    `name @ URL --hash=sha256:...` line per package, as the dry run's plan lists them."""
    lines = [f"# aienv apply: target {plan['target']}"]
    lines += [f"{p['name']} @ {p['url']} --hash=sha256:{p['sha256']}" for p in plan["packages"]]
    return "\n".join(lines) + "\n"


def uv_venv_sync(uv: str, prefix: Path, reqs: Path) -> list[list[str]]:
    """The uv baseline of aienv's direct URLs: a venv of this Python, then the exact files with
    hashes, as aienv hands them to uv (no index, wheels only)."""
    return [[uv, "venv", "-q", "--python", sys.executable, str(prefix)],
            [uv, "pip", "sync", "-q", "--require-hashes", "--no-index", "--only-binary", ":all:", str(reqs),
             "--python", str(prefix / "bin" / "python")]]


def _path_with(uv: str) -> str:
    return os.pathsep.join([str(Path(uv).parent), os.environ.get("PATH", "")])


# --- measuring -------------------------------------------------------------------------------


PHASES = ("start-up, detect, plan", "venv", "install", "verify", "swap, exit")


@dataclass
class Run:
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)


@dataclass
class Case:
    """One row: `prepare` (unrecorded), then `commands` run one after the other (timed together),
    then `check`."""

    key: str
    label: str
    commands: Callable[[], list[list[str]]]
    env: dict[str, str]
    prepare: Callable[[], None] = lambda: None
    check: Callable[[], None] = lambda: None
    phased: bool = False  # an aienv apply: time-stamp its progress lines
    slow: bool = False  # a pip row: --pip-runs runs, one priming run
    runs: list[Run] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        times = [r.seconds for r in self.runs]
        phases = {}
        for name in PHASES:
            values = [r.phases[name] for r in self.runs if name in r.phases]
            if values:
                phases[name] = statistics.median(values)
        return {
            "key": self.key, "label": self.label, "runs": len(times),
            "median_s": statistics.median(times) if times else None, "min_s": min(times) if times else None,
            "max_s": max(times) if times else None, "times_s": [round(t, 4) for t in times],
            "phases_median_s": phases or None,
        }


_STEP = re.compile(r"^\[(\d+)/(\d+)\] ")


def _phases(stamps: list[tuple[float, str]], total: float) -> dict[str, float]:
    """Phase durations from aienv's time-stamped `[i/N]` progress lines."""
    marks = []
    for t, line in stamps:
        m = _STEP.match(line)
        if m:
            marks.append((t, int(m.group(1)), int(m.group(2))))
    if not marks:
        return {}
    steps = marks[0][2]
    names = ["venv", "install", "verify"][: steps - 1]
    out = {"start-up, detect, plan": marks[0][0]}
    for (t0, _, _), (t1, _, _), name in zip(marks, marks[1:], names):
        out[name] = t1 - t0
    out["swap, exit"] = total - marks[-1][0]
    return out


def run_case(case: Case, *, record: bool) -> Run:
    case.prepare()
    phases: dict[str, float] = {}
    start = time.perf_counter()
    for command in case.commands():
        if case.phased:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=case.env)
            stamps = []
            assert process.stderr is not None and process.stdout is not None
            for line in process.stderr:  # stdout is a few lines: no deadlock
                stamps.append((time.perf_counter() - start, line.rstrip("\n")))
            out = process.stdout.read()
            code = process.wait()
            err = "\n".join(line for _, line in stamps)
        else:
            result = subprocess.run(command, capture_output=True, text=True, check=False, env=case.env)
            code, out, err = result.returncode, result.stdout, result.stderr
        if code != 0:
            raise RunFailed(f"{case.label}: {Path(command[0]).name} exit {code}\n{(out + err)[-3000:]}")
    seconds = time.perf_counter() - start
    if case.phased:
        phases = _phases(stamps, seconds)
    case.check()
    run = Run(seconds, phases)
    if record:
        case.runs.append(run)
    return run


def installed(prefix: Path) -> dict[str, str]:
    """name -> version of the *.dist-info directories in the prefix's site-packages."""
    found = {}
    for dist in prefix.glob("lib/python*/site-packages/*.dist-info"):
        name, _, version = dist.name[: -len(".dist-info")].partition("-")
        found[str(canonicalize_name(name))] = version
    return found


def expect(prefix: Path, plan: dict[str, Any]) -> Callable[[], None]:
    want = {str(canonicalize_name(p["name"])): p["version"] for p in plan["packages"]}

    def check() -> None:
        have = installed(prefix)
        missing = [n for n in want if n not in have]
        if missing:
            raise RunFailed(f"{prefix.name}: not installed: {', '.join(missing[:10])}")

    return check


def removing(*paths: Path) -> Callable[[], None]:
    def prepare() -> None:
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)

    return prepare


# --- reporting -------------------------------------------------------------------------------


def fmt_s(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3f} s"


def markdown(result: dict[str, Any]) -> str:
    rows = {r["key"]: r for r in result["rows"]}

    def cell(key: str) -> str:
        r = rows.get(key)
        return "–" if not r else f"{fmt_s(r['median_s'])} ({fmt_s(r['min_s'])})"

    def ratio(a: str, b: str) -> str:
        ra, rb = rows.get(a), rows.get(b)
        return "" if not ra or not rb else f"{ra['median_s'] / rb['median_s']:.2f}×"

    lines = [
        f"{result['runs']} runs per row ({result['pip_runs']} of the pip rows); wall-clock seconds, median (min). {result['closure']}"
        + (f" {result['real_torch']}" if result.get("real_torch") else ""),
        "",
        "| what | aienv | baseline | aienv | baseline | aienv ÷ baseline |",
        "|---|---|---|---|---|---|",
    ]
    pairs = [
        ("apply, uv, fresh prefix", "aienv-uv", "uv-direct"),
        ("", "aienv-uv", "uv-export"),
        ("apply, uv, fresh prefix, aienv's plan cache cold", "aienv-uv-cold", "uv-direct"),
        ("apply --no-verify, uv", "aienv-uv-noverify", "uv-direct"),
        ("no-op re-apply / re-sync", "aienv-noop", "uv-noop"),
        ("no-op, no --target (detects the machine)", "aienv-noop-auto", "uv-noop"),
        ("apply, pip, fresh prefix", "aienv-pip", "pip-direct"),
        ("real torch from PyPI: apply, uv, fresh prefix", "aienv-real", "uv-real"),
        ("real torch from PyPI: apply --no-verify", "aienv-real-nv", "uv-real"),
    ]
    for what, a, b in pairs:
        if a in rows and b in rows:
            lines.append(f"| {what} | `{rows[a]['label']}` | `{rows[b]['label']}` | {cell(a)} | {cell(b)} | {ratio(a, b)} |")
    lines.append("")
    if "aienv-uv" in rows and "uv-direct" in rows:
        r = rows["aienv-uv"]["median_s"] / rows["uv-direct"]["median_s"]
        lines += [f"Goal (issue #6): aienv apply ÷ uv venv + uv pip sync = {r:.2f}× (goal ≤ 1.2×: {'met' if r <= 1.2 else 'NOT met'}).", ""]
    lines += ["Where aienv's time goes (median seconds, from the time-stamped `[i/N]` progress lines):", "",
              "| row | " + " | ".join(PHASES) + " | total |", "|---|" + "---|" * (len(PHASES) + 1)]
    for key in ("aienv-uv", "aienv-uv-cold", "aienv-uv-noverify", "aienv-pip", "aienv-real", "aienv-real-nv"):
        r = rows.get(key)
        if r and r["phases_median_s"]:
            lines.append(f"| {r['label']} | " + " | ".join(fmt_s(r["phases_median_s"].get(p)) for p in PHASES)
                         + f" | {fmt_s(r['median_s'])} |")
    lines += ["", "Commands (TMP: the benchmark's temporary directory, PORT: the index server's):", ""]
    for key, r in rows.items():
        lines.append(f"- {r['label']}: " + " && ".join("`" + " ".join(c) + "`" for c in result["commands"][key]))
    lines += ["", f"Versions: {result['versions']}", f"Machine: {result['machine']}"]
    return "\n".join(lines)


def add_real_torch(cases: list[Case], tmp_path: Path, uv: str, aienv_cache: Path) -> str:
    """The --real-torch rows: a lock of PyPI's torch (tests/realtorch.py) applied by aienv, with
    and without verification (with --force on a machine without an NVIDIA GPU: the target is
    CUDA 12.8), and the same files by uv venv + uv pip sync. Returns the rows' description."""
    from envspec.host import probe_host
    from tests.realtorch import TARGET as REAL_TARGET
    from tests.realtorch import TORCH, write_pypi_torch_lock

    say(f"writing a lock of PyPI's torch {TORCH} (uv pip compile against pypi.org) ...")
    work = tmp_path / "real"
    work.mkdir()
    write_pypi_torch_lock(work / "aienv.lock", uv)
    force = () if probe_host().gpus else ("--force",)
    plan = plan_of(work, tmp_path / "env-real-dry", uv, REAL_TARGET, *force)
    reqs = tmp_path / "requirements-real.txt"
    reqs.write_text(direct_requirements(plan), encoding="utf-8")
    env = clean_env(UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", PATH=_path_with(uv), AIENV_CACHE_DIR=str(aienv_cache),
                    **({"UV_CACHE_DIR": RUN_UV_CACHE} if RUN_UV_CACHE else {}))
    p = {k: tmp_path / k for k in ("env-aienv-real", "env-aienv-real-nv", "env-uv-real")}
    apply_args = ("-C", str(work), "apply", "--target", REAL_TARGET, *force, "--installer", "uv")
    cases += [
        Case("aienv-real", f"aienv apply (real torch {TORCH})", lambda: [aienv(*apply_args, "--prefix", str(p["env-aienv-real"]))],
             env, removing(p["env-aienv-real"]), expect(p["env-aienv-real"], plan), phased=True),
        Case("aienv-real-nv", f"aienv apply --no-verify (real torch {TORCH})",
             lambda: [aienv(*apply_args, "--prefix", str(p["env-aienv-real-nv"]), "--no-verify")],
             env, removing(p["env-aienv-real-nv"]), expect(p["env-aienv-real-nv"], plan), phased=True),
        Case("uv-real", f"uv venv + uv pip sync (real torch {TORCH})",
             lambda: uv_venv_sync(uv, p["env-uv-real"], reqs),
             env, removing(p["env-uv-real"]), expect(p["env-uv-real"], plan)),
    ]
    forced = " (with --force: this machine has no NVIDIA GPU; torch's CUDA build runs on the CPU)" if force else ""
    return (f"Real-torch rows: PyPI's torch {TORCH}, its CUDA 12.8 build, and its closure, {len(plan['packages'])} wheels, "
            f"target {REAL_TARGET}{forced}; the verification imports that torch.")


def _installed_gb(prefix: Path) -> float:
    return sum(f.stat().st_size for f in prefix.rglob("*") if f.is_file() and not f.is_symlink()) / 1e9 if prefix.is_dir() else 0.0


def version_of(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=False, env=clean_env())
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return "?"


def profile(case: Case, out_dir: Path, name: str) -> str:
    """cProfile one run of an aienv case; return the top of pstats."""
    import io
    import pstats

    out_dir.mkdir(parents=True, exist_ok=True)
    stats_file = out_dir / f"{name}.prof"
    case.prepare()
    command = case.commands()[0]
    assert command[1] == "-m"
    result = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats_file), *command[1:]],
                            capture_output=True, text=True, check=False, env=case.env)
    if result.returncode != 0:
        raise RunFailed(f"{name} (profiled): exit {result.returncode}\n{result.stderr[-3000:]}")
    buffer = io.StringIO()
    stats = pstats.Stats(str(stats_file), stream=buffer).strip_dirs()
    buffer.write(f"\n=== {name}: top 30 by cumulative ===\n")
    stats.sort_stats("cumulative").print_stats(30)
    (out_dir / f"{name}.txt").write_text(buffer.getvalue(), encoding="utf-8")
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per row (default 5)")
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH",
                        help="write JSON to PATH (Markdown still on stdout); with no PATH, print JSON instead of Markdown")
    parser.add_argument("--size", choices=("real", "tiny"), default="real",
                        help="real: wheels padded to about their real sizes and file counts (default); tiny: the snapshot's 1 KiB wheels")
    parser.add_argument("--pip-runs", type=int, default=3, metavar="N",
                        help="timed runs of the pip rows (default 3; each takes half a minute with --size real), 0 to skip them")
    parser.add_argument("--profile", metavar="DIR", type=Path, help="also cProfile one aienv apply and one no-op re-apply into DIR")
    parser.add_argument("--real-torch", action="store_true",
                        help="also time PyPI's real torch 2.9.1 (CUDA 12.8 build, 25 wheels, about 3.5 GB: needs PyPI, and keeps "
                             "them in uv's cache of the run): aienv apply with and without verification vs uv venv + uv pip sync")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not (platform.system() == "Linux" and platform.machine() == "x86_64"):
        parser.error("the lock's cpu target is linux-x86_64")
    if HERE_PYTHON not in ("3.10", "3.11", "3.12", "3.13"):
        parser.error(f"the index snapshot has wheels for CPython 3.10-3.13, not {HERE_PYTHON}")
    uv = uv_binary()
    if not uv:
        parser.error("uv is not on PATH (aienv apply --installer uv takes it from there): pip install uv")

    started = time.perf_counter()
    server, where = start_server()
    with tempfile.TemporaryDirectory(prefix="aienv-bench-apply-") as tmp, server:
        tmp_path = Path(tmp)
        global PYCACHE
        PYCACHE = tmp_path / "pycache"
        work = tmp_path / "project"
        make_project(work, server)
        say(f"locking examples/comfyui for Python {HERE_PYTHON} against the local index ...")
        lock(work, server, tmp_path / "lock-cache-1")
        sizes: dict[str, int] = {}
        if args.size == "real":
            say("rebuilding the cpu target's wheels at about their real sizes, and locking again ...")
            sizes = pad_target_files(server, where, work / "aienv.lock")
            lock(work, server, tmp_path / "lock-cache-2")  # a fresh cache: the hashes changed
        plan = plan_of(work, tmp_path / "env-dry", uv)
        from urllib.parse import unquote

        chosen = [unquote(p["url"].rsplit("/", 1)[1]) for p in plan["packages"]]
        total = sum(sizes.get(f, 0) for f in chosen)
        files = sum(SIZES.get(str(canonicalize_name(p["name"])), DEFAULT_SIZE)[1] for p in plan["packages"])
        closure = (f"Target `{TARGET}` of examples/comfyui, Python {HERE_PYTHON}: {len(plan['packages'])} wheels"
                   + (f", {total / 1e6:.0f} MB, about {files:,} files (padded to real sizes)." if sizes else ", the snapshot's tiny wheels (about 1 KiB each)."))
        say(closure)
        reqs = tmp_path / "requirements-direct.txt"
        reqs.write_text(direct_requirements(plan), encoding="utf-8")
        export = tmp_path / "requirements-export.txt"
        result = subprocess.run(aienv("-C", str(work), "export", "--format", "pip", "--target", TARGET, "-o", str(export)),
                                capture_output=True, text=True, check=False, env=clean_env())
        if result.returncode != 0:
            raise RunFailed(f"aienv export: exit {result.returncode}\n{result.stderr[-3000:]}")

        uv_cache, pip_cache, aienv_cache = tmp_path / "uv-cache", tmp_path / "pip-cache", tmp_path / "aienv-cache"
        # aienv's own cache (its plan cache, envspec.apply._plancache) is warm like uv's, except
        # in the "plan cache cold" row, which empties it before every run.
        uv_env = clean_env(UV_CACHE_DIR=str(uv_cache), UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", PATH=_path_with(uv),
                           AIENV_CACHE_DIR=str(aienv_cache))
        # pip caches nothing fetched over plain http:// from an untrusted host; aienv passes the
        # environment on to the pip it runs, so both get the host trusted this way.
        pip_env = clean_env(PIP_CACHE_DIR=str(pip_cache), PIP_TRUSTED_HOST="127.0.0.1", PIP_CONFIG_FILE=os.devnull,
                            PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PATH=_path_with(uv), AIENV_CACHE_DIR=str(aienv_cache))
        p = {k: tmp_path / k for k in ("env-aienv", "env-aienv-cold", "env-aienv-auto", "env-aienv-nv", "env-uv", "env-uv-export",
                                       "env-aienv-pip", "env-pip")}
        apply_args = ("-C", str(work), "apply", "--target", TARGET)
        py = sys.executable
        cases = [
            Case("aienv-uv", "aienv apply --installer uv", lambda: [aienv(*apply_args, "--prefix", str(p["env-aienv"]), "--installer", "uv")],
                 uv_env, removing(p["env-aienv"]), expect(p["env-aienv"], plan), phased=True),
            Case("aienv-uv-cold", "aienv apply --installer uv (plan cache cold)",
                 lambda: [aienv(*apply_args, "--prefix", str(p["env-aienv-cold"]), "--installer", "uv")],
                 uv_env, removing(p["env-aienv-cold"], aienv_cache / "apply-plans"), expect(p["env-aienv-cold"], plan), phased=True),
            Case("aienv-noop", "aienv apply (again)", lambda: [aienv(*apply_args, "--prefix", str(p["env-aienv"]), "--installer", "uv")],
                 uv_env, check=expect(p["env-aienv"], plan)),
            # Without --target the no-op detects the machine (the target it would choose depends on it).
            Case("aienv-noop-auto", "aienv apply (again, no --target)",
                 lambda: [aienv("-C", str(work), "apply", "--prefix", str(p["env-aienv-auto"]), "--installer", "uv")],
                 uv_env, check=expect(p["env-aienv-auto"], plan)),
            Case("aienv-uv-noverify", "aienv apply --installer uv --no-verify",
                 lambda: [aienv(*apply_args, "--prefix", str(p["env-aienv-nv"]), "--installer", "uv", "--no-verify")],
                 uv_env, removing(p["env-aienv-nv"]), expect(p["env-aienv-nv"], plan), phased=True),
            Case("uv-direct", "uv venv + uv pip sync (aienv's direct URLs)",
                 lambda: uv_venv_sync(uv, p["env-uv"], reqs),
                 uv_env, removing(p["env-uv"]), expect(p["env-uv"], plan)),
            Case("uv-noop", "uv pip sync (again)",
                 lambda: [[uv, "pip", "sync", "-q", "--require-hashes", "--no-index", "--only-binary", ":all:", str(reqs),
                           "--python", str(p["env-uv"] / "bin" / "python")]],
                 uv_env, check=expect(p["env-uv"], plan)),
            Case("uv-export", "uv venv + uv pip sync (aienv export --format pip)",
                 lambda: [[uv, "venv", "-q", "--python", py, str(p["env-uv-export"])],
                          [uv, "pip", "sync", "-q", "--require-hashes", str(export), "--python", str(p["env-uv-export"] / "bin" / "python")]],
                 uv_env, removing(p["env-uv-export"]), expect(p["env-uv-export"], plan)),
        ]
        if args.pip_runs > 0:
            cases += [
                Case("aienv-pip", "aienv apply --installer pip",
                     lambda: [aienv(*apply_args, "--prefix", str(p["env-aienv-pip"]), "--installer", "pip")],
                     pip_env, removing(p["env-aienv-pip"]), expect(p["env-aienv-pip"], plan), phased=True, slow=True),
                Case("pip-direct", "python -m venv + pip install (aienv's direct URLs)",
                     lambda: [[py, "-m", "venv", str(p["env-pip"])],
                              [str(p["env-pip"] / "bin" / "python"), "-m", "pip", "install", "-q", "--require-hashes", "--no-deps",
                               "--no-index", "--only-binary=:all:", "-r", str(reqs)]],
                     pip_env, removing(p["env-pip"]), expect(p["env-pip"], plan), slow=True),
            ]
        real_torch = ""
        if args.real_torch:
            real_torch = add_real_torch(cases, tmp_path, uv, aienv_cache)
        for i in range(2):  # prime the caches (and the bytecode), and check every row works
            say(f"priming round {i + 1}/2 ...")
            for case in cases:
                if case.slow and i > 0:  # pip has no warm path beyond a filled cache
                    continue
                run = run_case(case, record=False)
                say(f"  {case.label}: {run.seconds:.3f} s")
        for i in range(args.runs):  # rounds interleave the rows: drift on a busy machine hits all alike
            line = []
            for case in cases:
                if case.slow and len(case.runs) >= args.pip_runs:
                    continue
                run = run_case(case, record=True)
                line.append(f"{case.key} {run.seconds:.2f}")
            say(f"round {i + 1}/{args.runs}: " + ", ".join(line))
        if real_torch:
            real_torch += f" Installed: {_installed_gb(tmp_path / 'env-uv-real'):.1f} GB."
        profile_text = []
        if args.profile:
            say("profiling one aienv apply and one no-op re-apply ...")
            by_key = {c.key: c for c in cases}
            profile_text.append(profile(by_key["aienv-uv"], args.profile, "aienv-apply"))
            profile_text.append(profile(by_key["aienv-noop"], args.profile, "aienv-noop"))

        def scrub(arg: str) -> str:
            arg = arg.replace(str(tmp_path), "TMP")
            arg = re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:PORT", arg)
            return "python" if arg == sys.executable else ("uv" if arg == uv else arg)

        commands = {c.key: [[scrub(a) for a in command] for command in c.commands()] for c in cases}

    versions = ", ".join([version_of(aienv("--version")), version_of([uv, "--version"]),
                          version_of([sys.executable, "-m", "pip", "--version"]).split(" from ")[0] + " (ensurepip's in the venvs may differ)"])
    result = {
        "closure": closure,
        "real_torch": real_torch or None,
        "size": args.size,
        "runs": args.runs,
        "pip_runs": min(args.pip_runs, args.runs),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "versions": versions,
        "commands": commands,
        "rows": [c.summary() for c in cases],
        "seconds": round(time.perf_counter() - started, 1),
    }
    emit(result, args.json, markdown)
    if profile_text and args.json != "-":
        print("\n```\n" + "\n".join(t.strip() for t in profile_text) + "\n```")
    say(f"done in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RunFailed as error:
        print(f"bench_apply: a run failed: {error}", file=sys.stderr)
        sys.exit(1)
