"""Benchmark `aienv lock` against `uv pip compile` and pip's resolver (`pip install --dry-run
--report`): the same requirement set (examples/comfyui/requirements.txt, torch included), the
same local package index (tests/localindex serving the tests/data/index snapshots: a PyPI-like
default index at /simple/ and PyTorch-style variant indexes at /whl/<variant>/), the same
target (Linux x86_64, glibc 2.28, CPython 3.13, an RTX 4090, so torch from whl/cu128).

    python benchmarks/bench_index.py [--runs 5] [--json [PATH]] [--tools aienv,uv,pip]
                                     [--pip-python PYTHON] [--no-relock] [--profile DIR]

Every run is a whole process, as a user runs it. Cold: an empty cache directory per run. Warm:
one cache directory, primed by two unrecorded runs. aienv's lock and uv's output file are deleted
before each run (both reuse an existing file's pins as preferences); the "re-lock" rows keep
them. For each run it records the wall-clock time and what the tool asked of the index server
(requests, bytes of bodies served), checks the tool succeeded, and at the end compares the
versions the three tools picked. Prints Markdown (or JSON with --json). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

try:
    import resource  # CPU times of the runs; Unix only
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _report import (
    emit,  # benchmarks/_report.py (the scripts run from their directory's path)
)
from packaging.utils import canonicalize_name

from tests.localindex import IndexServer

DATA = ROOT / "tests" / "data" / "index"
REQUIREMENTS = ROOT / "examples" / "comfyui" / "requirements.txt"
TARGET = "rtx4090"
VARIANT = "cu128"
PYTHON = "3.13"
GLIBC = (2, 28)

# examples/comfyui/aienv.toml with its one Linux RTX 4090 target, pinned to Python 3.13.
AIENV_TOML = f"""\
[project]
name = "comfyui"
python = ">=3.10,<3.14"

[stack]
torch = ">=2.4"
torchvision = "*"
torchaudio = "*"

[dependencies]
files = ["requirements.txt"]

[targets.{TARGET}]
platform = "linux-x86_64"
gpus = ["RTX 4090"]
driver = "550.54.14"
python = "{PYTHON}"
"""


def pip_platforms() -> list[str]:
    """The platform tags of a glibc 2.28 x86_64 interpreter, as packaging.tags lists them. pip's
    --platform takes tags literally (manylinux_2_28_x86_64 alone would refuse manylinux_2_17
    and manylinux2014 wheels), so pass them all."""
    legacy = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
    tags = []
    for minor in range(GLIBC[1], 4, -1):
        tags.append(f"manylinux_2_{minor}_x86_64")
        if (2, minor) in legacy:
            tags.append(f"{legacy[(2, minor)]}_x86_64")
    return [*tags, "linux_x86_64"]


PYCACHE: Path | None = None  # set by main(): where the tools' Python processes keep bytecode


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without pip/uv/aienv settings (they must not leak in).

    Bytecode goes to PYCACHE (a temporary directory), written by the priming runs: as on a
    user's machine, no run pays for compiling its modules, even where PYTHONDONTWRITEBYTECODE is
    set or the checkout has no __pycache__ yet, and nothing is written into the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "AIENV_"))}
    if PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    for key in ("NO_PROXY", "no_proxy"):  # the server is local; never through a proxy
        env[key] = ",".join(filter(None, [env.get(key, ""), "127.0.0.1", "localhost"]))
    env.update(extra)
    return env


def uv_binary() -> str | None:
    try:
        from uv import find_uv_bin  # the PyPI package's own locator

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


# --- the tools -------------------------------------------------------------------------------


class ToolFailed(Exception):
    pass


@dataclass
class Tool:
    """One tool: how to run it in `work` against `server` with `cache`, and how to check and read
    what it wrote."""

    name: str
    work: Path
    server: IndexServer

    def command(self, cache: Path) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return clean_env()

    def reset(self) -> None:
        """Remove what a previous run wrote (its pins would be reused as preferences)."""

    def pins(self) -> dict[str, str]:
        """Check the run succeeded; return {normalized name: version}."""
        raise NotImplementedError


class Aienv(Tool):
    def setup(self) -> None:
        self.work.mkdir(parents=True)
        shutil.copy(REQUIREMENTS, self.work / "requirements.txt")
        (self.work / "aienv.toml").write_text(AIENV_TOML, encoding="utf-8")

    def command(self, cache: Path) -> list[str]:
        return [
            sys.executable, "-m", "envspec", "-C", str(self.work), "lock",
            "--index-url", self.server.index_url("simple"), "--pytorch-index-url", f"{self.server.url}/whl",
            "--cache-dir", str(cache),
        ]

    def reset(self) -> None:
        (self.work / "aienv.lock").unlink(missing_ok=True)

    def pins(self) -> dict[str, str]:
        path = self.work / "aienv.lock"
        if not path.exists():
            raise ToolFailed("no aienv.lock")
        lock = tomllib.loads(path.read_text(encoding="utf-8"))
        target = lock.get("targets", {}).get(TARGET)
        if not target:
            raise ToolFailed(f"aienv.lock has no target {TARGET}")
        if target.get("closure") != "full" or not target.get("hashes"):
            raise ToolFailed(f"target {TARGET}: closure={target.get('closure')!r} hashes={target.get('hashes')!r}")
        packages = target.get("packages", [])
        if not packages or not all(p.get("files") and all(f.get("sha256") for f in p["files"]) for p in packages):
            raise ToolFailed("a package without hashed files")
        return {canonicalize_name(p["name"]): p["version"] for p in packages}


class Uv(Tool):
    binary: str = ""

    def setup(self) -> None:
        self.work.mkdir(parents=True)
        shutil.copy(REQUIREMENTS, self.work / "requirements.txt")

    def command(self, cache: Path) -> list[str]:
        return [
            self.binary, "pip", "compile", "requirements.txt", "--generate-hashes",
            "--index-url", self.server.index_url("simple"),
            "--extra-index-url", self.server.index_url(f"whl/{VARIANT}"),
            "--python-version", PYTHON, "--python-platform", f"x86_64-manylinux_{GLIBC[0]}_{GLIBC[1]}",
            "--cache-dir", str(cache), "-o", "requirements.lock.txt", "--no-progress", "-q",
        ]

    def env(self) -> dict[str, str]:
        return clean_env(UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never")

    def reset(self) -> None:
        (self.work / "requirements.lock.txt").unlink(missing_ok=True)

    def pins(self) -> dict[str, str]:
        path = self.work / "requirements.lock.txt"
        if not path.exists():
            raise ToolFailed("no output file")
        text = path.read_text(encoding="utf-8")
        if "--hash=sha256:" not in text:
            raise ToolFailed("no --hash= in the output")
        found = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", text, re.MULTILINE)
        if not found:
            raise ToolFailed("no pins in the output")
        return {canonicalize_name(name): version for name, version in found}


class Pip(Tool):
    python: str = sys.executable  # the interpreter whose pip runs

    def setup(self) -> None:
        self.work.mkdir(parents=True)
        shutil.copy(REQUIREMENTS, self.work / "requirements.txt")

    def command(self, cache: Path) -> list[str]:
        platforms = [arg for tag in pip_platforms() for arg in ("--platform", tag)]
        return [
            self.python, "-m", "pip", "install", "--dry-run", "--report", "report.json", "--ignore-installed",
            "--only-binary=:all:", *platforms, "--python-version", PYTHON, "--target", "target",
            "--index-url", self.server.index_url("simple"),
            "--extra-index-url", self.server.index_url(f"whl/{VARIANT}"),
            # pip caches nothing fetched over plain http:// unless the host is trusted (its
            # session mounts a non-caching adapter there); PyPI is https://, where it caches.
            "--trusted-host", "127.0.0.1",
            "-r", "requirements.txt", "--cache-dir", str(cache), "-q",
        ]

    def env(self) -> dict[str, str]:
        return clean_env(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")

    def reset(self) -> None:
        (self.work / "report.json").unlink(missing_ok=True)
        shutil.rmtree(self.work / "target", ignore_errors=True)

    def pins(self) -> dict[str, str]:
        path = self.work / "report.json"
        if not path.exists():
            raise ToolFailed("no report")
        install = json.loads(path.read_text(encoding="utf-8")).get("install") or []
        if not install:
            raise ToolFailed("the report installs nothing")
        return {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in install}


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    cpu: float  # user + system seconds of the tool's process tree
    server_cpu: float  # user + system seconds of this process (the index server's threads) meanwhile
    requests: int
    bytes: int
    kinds: dict[str, int]
    statuses: dict[str, int]


@dataclass
class Series:
    tool: str
    mode: str  # cold | warm | relock
    runs: list[Run] = field(default_factory=list)

    def times(self) -> list[float]:
        return [r.seconds for r in self.runs]

    def summary(self) -> dict[str, Any]:
        times = self.times()
        first = self.runs[0] if self.runs else None
        return {
            "tool": self.tool,
            "mode": self.mode,
            "runs": len(times),
            "median_s": statistics.median(times) if times else None,
            "min_s": min(times) if times else None,
            "max_s": max(times) if times else None,
            "times_s": [round(t, 4) for t in times],
            "cpu_median_s": statistics.median(r.cpu for r in self.runs) if first else None,
            "server_cpu_median_s": statistics.median(r.server_cpu for r in self.runs) if first else None,
            # the same in every run of a series but for rare retries: report the median
            "requests": int(statistics.median(r.requests for r in self.runs)) if first else None,
            "bytes": int(statistics.median(r.bytes for r in self.runs)) if first else None,
            "kinds": first.kinds if first else None,
            "statuses": first.statuses if first else None,
        }


def classify(path: str, has_range: bool) -> str:
    if path.startswith("/files/"):
        if path.endswith(".metadata"):
            return "metadata"
        return "file-range" if has_range else "file"
    return "page"


def _cpu_times() -> tuple[float, float]:
    """User + system seconds of the finished children, and of this process (the server's threads)."""
    if resource is None:
        return float("nan"), float("nan")
    children, me = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    return children.ru_utime + children.ru_stime, me.ru_utime + me.ru_stime


def run_once(tool: Tool, cache: Path, *, reset: bool = True) -> tuple[Run, dict[str, str]]:
    if reset:
        tool.reset()
    tool.server.clear_log()
    command = tool.command(cache)
    env = tool.env()
    before = _cpu_times()
    start = time.perf_counter()
    result = subprocess.run(command, cwd=tool.work, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    after = _cpu_times()
    if result.returncode != 0:
        raise ToolFailed(f"{tool.name}: exit {result.returncode}\n{(result.stdout + result.stderr)[-3000:]}")
    try:
        pins = tool.pins()
    except ToolFailed as error:
        raise ToolFailed(f"{tool.name}: {error}\n{(result.stdout + result.stderr)[-3000:]}") from None
    log = list(tool.server.log)
    run = Run(
        seconds=seconds,
        cpu=after[0] - before[0],
        server_cpu=after[1] - before[1],
        requests=len(log),
        bytes=sum(r.body_bytes for r in log),
        kinds=dict(Counter(classify(r.path, r.range is not None) for r in log)),
        statuses=dict(Counter(str(r.status) for r in log)),
    )
    return run, pins


def start_server() -> IndexServer:
    server = IndexServer()
    server.add_snapshot("simple", DATA / "pypi-comfyui.json")
    snapshot = json.loads((DATA / "pytorch.json").read_text(encoding="utf-8"))
    for variant, content in snapshot["variants"].items():
        server.add_snapshot(f"whl/{variant}", {"source": snapshot["source"], **content}, html_only=True)
    return server


def compare(pins: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Versions that differ among the tools, and packages only some tools chose."""
    from packaging.version import InvalidVersion, Version

    def same(a: str, b: str) -> bool:
        try:
            return Version(a) == Version(b)
        except InvalidVersion:
            return a == b

    tools = list(pins)
    names = sorted(set().union(*(set(p) for p in pins.values())))
    differ, partial = [], []
    for name in names:
        have = {t: pins[t][name] for t in tools if name in pins[t]}
        if len(have) < len(tools):
            partial.append({"package": name, **{t: have.get(t) for t in tools}})
        versions = list(have.values())
        if len(have) > 1 and not all(same(versions[0], v) for v in versions[1:]):
            differ.append({"package": name, **{t: have.get(t) for t in tools}})
    return {
        "counts": {t: len(p) for t, p in pins.items()},
        "shared": sum(1 for n in names if all(n in pins[t] for t in tools)),
        "version_differences": differ,
        "only_in_some": partial,
    }


def profile_warm_aienv(tool: Aienv, cache: Path, out_dir: Path) -> str:
    """cProfile one warm aienv run (fresh resolution, primed cache); return the pstats text."""
    import io
    import pstats

    out_dir.mkdir(parents=True, exist_ok=True)
    stats_file = out_dir / "aienv-warm.prof"
    tool.reset()
    command = tool.command(cache)
    assert command[1] == "-m"
    command = [sys.executable, "-m", "cProfile", "-o", str(stats_file), *command[1:]]
    result = subprocess.run(command, cwd=tool.work, env=tool.env(), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ToolFailed(f"aienv (profiled): exit {result.returncode}\n{result.stderr[-3000:]}")
    buffer = io.StringIO()
    stats = pstats.Stats(str(stats_file), stream=buffer).strip_dirs()
    for order in ("cumulative", "tottime"):
        buffer.write(f"\n=== top 25 by {order} ===\n")
        stats.sort_stats(order).print_stats(25)
    (out_dir / "aienv-warm.txt").write_text(buffer.getvalue(), encoding="utf-8")
    return buffer.getvalue()


# --- reporting -------------------------------------------------------------------------------


def fmt_s(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3f} s"


def fmt_bytes(value: int | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1024:.0f} KiB" if value >= 10 * 1024 else f"{value} B"


def ratio(a: float | None, b: float | None) -> str:
    return "–" if not a or not b else f"{a / b:.2f}×"


def markdown(result: dict[str, Any]) -> str:
    s = {(row["tool"], row["mode"]): row for row in result["series"]}

    def med(tool: str, mode: str) -> float | None:
        row = s.get((tool, mode))
        return row["median_s"] if row else None

    lines = [
        f"{result['runs']} runs each; median (min). Requests and bytes: what one run asked of the index server.",
        "",
        "| tool | cold | warm | aienv ÷ tool, cold | aienv ÷ tool, warm | requests cold / warm | bytes served cold / warm |",
        "|---|---|---|---|---|---|---|",
    ]
    for tool in ("aienv", "uv", "pip"):
        cold, warm = s.get((tool, "cold")), s.get((tool, "warm"))
        if not cold and not warm:
            continue

        def cell(row: dict[str, Any] | None) -> str:
            return "–" if not row else f"{fmt_s(row['median_s'])} ({fmt_s(row['min_s'])})"

        lines.append(
            f"| {result['labels'][tool]} | {cell(cold)} | {cell(warm)} "
            f"| {'' if tool == 'aienv' else ratio(med('aienv', 'cold'), med(tool, 'cold'))} "
            f"| {'' if tool == 'aienv' else ratio(med('aienv', 'warm'), med(tool, 'warm'))} "
            f"| {cold['requests'] if cold else '–'} / {warm['requests'] if warm else '–'} "
            f"| {fmt_bytes(cold['bytes'] if cold else None)} / {fmt_bytes(warm['bytes'] if warm else None)} |"
        )
    for tool in ("aienv", "uv"):
        row = s.get((tool, "relock"))
        if row:
            what = "aienv.lock" if tool == "aienv" else "output file"
            lines.append(
                f"| {result['labels'][tool]}, re-lock with the existing {what} | | "
                f"{fmt_s(row['median_s'])} ({fmt_s(row['min_s'])}) | | "
                f"{'' if tool == 'aienv' else ratio(med('aienv', 'relock'), row['median_s'])} "
                f"| – / {row['requests']} | – / {fmt_bytes(row['bytes'])} |"
            )
    lines.append("")
    goal = []
    if med("aienv", "warm") and med("uv", "warm"):
        r = med("aienv", "warm") / med("uv", "warm")
        goal.append(f"warm aienv ÷ uv = {r:.2f}× (goal ≤ 3×: {'met' if r <= 3 else 'NOT met'})")
    if med("aienv", "warm") and med("pip", "warm"):
        r = med("pip", "warm") / med("aienv", "warm")
        goal.append(f"warm pip ÷ aienv = {r:.2f}× (goal ≥ 2×: {'met' if r >= 2 else 'NOT met'})")
    if goal:
        lines += ["Goal: " + "; ".join(goal) + ".", ""]
    lines += [
        (
            "CPU time, median of user + system seconds: the tool's processes, and the index server "
            "(threads of the benchmark's own process) while it ran. The server shares the machine: "
            "wall time above includes waiting for it."
        ),
        "",
        "| tool | tool CPU cold | tool CPU warm | server CPU cold | server CPU warm |",
        "|---|---|---|---|---|",
    ]
    for tool in ("aienv", "uv", "pip"):
        cold, warm = s.get((tool, "cold")), s.get((tool, "warm"))
        if cold and warm:
            lines.append(
                f"| {tool} | {fmt_s(cold['cpu_median_s'])} | {fmt_s(warm['cpu_median_s'])} "
                f"| {fmt_s(cold['server_cpu_median_s'])} | {fmt_s(warm['server_cpu_median_s'])} |"
            )
    lines.append("")
    lines.append("Requests by kind (one run; pages are index pages, 304 = revalidated):")
    lines.append("")
    for row in result["series"]:
        if row["mode"] in ("warm", "cold"):
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(row["kinds"].items()))
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(row["statuses"].items()))
            lines.append(f"- {row['tool']} {row['mode']}: {kinds}; status {statuses}")
    cmp = result["comparison"]
    if cmp:
        lines += ["", "Packages chosen: " + ", ".join(f"{t} {n}" for t, n in cmp["counts"].items())
                  + f"; {cmp['shared']} shared by all."]
        tools = list(cmp["counts"])
        for title, key in (("Version differences", "version_differences"), ("Chosen by only some", "only_in_some")):
            rows = cmp[key]
            lines += ["", f"{title}: {'none' if not rows else ''}"]
            if rows:
                lines += ["", "| package | " + " | ".join(tools) + " |", "|---|" + "---|" * len(tools)]
                lines += ["| " + r["package"] + " | " + " | ".join(r[t] or "–" for t in tools) + " |" for r in rows]
    lines += [f"\nNote: {note}" for note in result["notes"]]
    lines += ["", f"Machine: {result['machine']}"]
    return "\n".join(lines)


def machine() -> str:
    import platform

    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def version_of(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=False, env=clean_env(UV_NO_CONFIG="1"))
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return "?"


def pip_label(python: str) -> str:
    """'pip 24.2, Python 3.13' for the pip that `python -m pip` runs."""
    text = version_of([python, "-m", "pip", "--version"])
    match = re.match(r"(pip \S+) from .*\(python (\S+)\)", text)
    return f"{match.group(1)} on Python {match.group(2)}" if match else text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool and mode (default 5)")
    parser.add_argument("--tools", default="aienv,uv,pip", help="comma-separated subset of aienv,uv,pip")
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH", help="write JSON to PATH (Markdown still on stdout); with no PATH, print JSON instead of Markdown")
    parser.add_argument("--pip-python", metavar="PYTHON", default=sys.executable,
                        help="the interpreter whose pip runs (default: this one); see README: pip checks some "
                             "Requires-Python and all markers against its own interpreter, so a Python 3.13 is the faithful choice")
    parser.add_argument("--no-relock", action="store_true", help="skip the re-lock-with-existing-output rows")
    parser.add_argument("--profile", metavar="DIR", type=Path,
                        help="also cProfile one warm aienv run: DIR/aienv-warm.prof and the top 25 (pstats) in DIR/aienv-warm.txt")
    args = parser.parse_args(argv)
    tools_wanted = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools_wanted) - {"aienv", "uv", "pip"}
    if unknown or not tools_wanted:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    uv = uv_binary() if "uv" in tools_wanted else None
    if "uv" in tools_wanted and not uv:
        parser.error("uv not found: pip install uv")

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="aienv-bench-") as tmp, start_server() as server:
        tmp_path = Path(tmp)
        global PYCACHE
        PYCACHE = tmp_path / "pycache"
        classes = {"aienv": Aienv, "uv": Uv, "pip": Pip}
        tools: dict[str, Tool] = {}
        for name in tools_wanted:
            tool = classes[name](name, tmp_path / name, server)
            if isinstance(tool, Uv):
                tool.binary = uv
            if isinstance(tool, Pip):
                tool.python = args.pip_python
            tool.setup()
            tools[name] = tool
        labels = {
            "aienv": f"aienv lock ({version_of([sys.executable, '-m', 'envspec', '--version'])})",
            "uv": f"uv pip compile --generate-hashes ({version_of([uv, '--version']) if uv else '?'})",
            "pip": f"pip install --dry-run --report ({pip_label(args.pip_python)})",
        }
        series = {(t, m): Series(t, m) for t in tools for m in ("cold", "warm")}
        warm_cache = {t: tmp_path / f"cache-{t}-warm" for t in tools}
        pins: dict[str, dict[str, str]] = {}
        for name, tool in tools.items():  # prime the warm caches (and check each tool works at all)
            say(f"priming {name} ...")
            for _ in range(2):  # the first fills the cache, the second runs the warm path once
                run, pins[name] = run_once(tool, warm_cache[name])
                say(f"  {run.seconds:.3f} s, {run.requests} requests")
        # Rounds interleave the tools, so drift on a busy machine spreads over all of them.
        for i in range(args.runs):
            for name, tool in tools.items():
                cold_cache = tmp_path / f"cache-{name}-cold-{i}"
                run, _ = run_once(tool, cold_cache)
                shutil.rmtree(cold_cache, ignore_errors=True)
                series[(name, "cold")].runs.append(run)
                run, pins[name] = run_once(tool, warm_cache[name])
                series[(name, "warm")].runs.append(run)
                say(f"round {i + 1}/{args.runs} {name}: cold {series[(name, 'cold')].runs[-1].seconds:.3f} s, warm {run.seconds:.3f} s")
        if not args.no_relock:
            for name in ("aienv", "uv"):
                if name in tools:
                    series[(name, "relock")] = Series(name, "relock")
                    run_once(tools[name], warm_cache[name])  # leaves a fresh output in place
                    run_once(tools[name], warm_cache[name], reset=False)  # unrecorded: primes this path
                    for _ in range(args.runs):
                        run, _ = run_once(tools[name], warm_cache[name], reset=False)
                        series[(name, "relock")].runs.append(run)
                    say(f"{name} re-lock: median {statistics.median(series[(name, 'relock')].times()):.3f} s")
        commands = {}
        for t, tool in tools.items():  # without this run's port and temporary paths
            command = [a.replace(str(tmp_path), "TMP") for a in tool.command(tmp_path / "cache")]
            command = [re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:PORT", a) for a in command]
            commands[t] = [Path(command[0]).name, *command[1:]]
        profile_text = None
        if args.profile and "aienv" in tools:
            say("profiling one warm aienv run ...")
            profile_text = profile_warm_aienv(tools["aienv"], warm_cache["aienv"], args.profile)

    notes = []
    if "pip" in labels and not re.search(rf"Python {re.escape(PYTHON)}\)", labels["pip"]):
        notes.append(
            f"pip runs on another Python than the target's {PYTHON}: it evaluates environment markers, and "
            "(pip 23.2.1 does) the Requires-Python of PEP 658 metadata, against its own interpreter despite "
            f"--python-version, so its pins can differ for that reason alone; pass --pip-python with a Python {PYTHON}."
        )
    result = {
        "requirements": str(REQUIREMENTS.relative_to(ROOT)),
        "target": {"platform": "linux-x86_64", "glibc": ".".join(map(str, GLIBC)), "python": PYTHON,
                   "gpu": "RTX 4090", "torch_index": f"whl/{VARIANT}"},
        "runs": args.runs,
        "machine": machine(),
        "labels": {t: labels[t] for t in tools},
        "commands": commands,
        "series": [s.summary() for s in series.values() if s.runs],
        "comparison": compare(pins) if len(pins) > 1 else None,
        "notes": notes,
        "pins": pins,
    }
    emit(result, args.json, markdown)
    if profile_text and args.json != "-":
        print("\n```\n" + profile_text.strip() + "\n```")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ToolFailed as error:
        print(f"bench_index: a run failed: {error}", file=sys.stderr)
        sys.exit(1)
