"""Benchmark `aienv lock` (offline, embedded matrix): whole processes on the examples, and an
exhaustive sweep of one target (every torch release x variant x Python x flash-attn).

    python benchmarks/bench_lock.py [--runs 7]

Prints a Markdown table; README.md quotes it. Wall-clock medians on this machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def time_process(args: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, check=False, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_examples(runs: int) -> list[tuple[str, float]]:
    rows = []
    python = [sys.executable, "-c", "pass"]
    rows.append(("`python -c pass` (interpreter start, for scale)", time_process(python, runs)))
    for name in ("comfyui", "llm-finetune", "fleet"):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / name
            shutil.copytree(ROOT / "examples" / name, work)
            cmd = [sys.executable, "-m", "envspec", "-C", str(work), "lock", "--no-index", "-o", str(Path(tmp) / "out.lock")]
            targets = (work / "aienv.toml").read_text().count("[targets.")
            rows.append((f"`aienv lock` examples/{name} ({targets} targets, whole process)", time_process(cmd, runs)))
    return rows


def bench_sweep() -> tuple[int, int, float]:
    """Resolve every (torch release, variant, Python) of linux-x86_64 with flash-attn optional,
    for one H100 target: the exhaustive sweep."""
    from envspec.errors import ResolutionError
    from envspec.host import hosts_from_spec
    from envspec.matrix import get_matrix
    from envspec.resolver import resolve_target
    from envspec.spec import spec_from_dict

    matrix = get_matrix()
    ok = failed = 0
    start = time.perf_counter()
    for release in matrix.torch_releases:
        for build in release.builds:
            if "linux-x86_64" not in build.platforms or build.variant.kind != "cuda":
                continue
            for python in release.python.get("linux-x86_64", ()):
                spec = spec_from_dict({
                    "project": {"name": "sweep", "python": python},
                    "stack": {
                        "torch": f"=={release.version}",
                        "cuda": str(build.variant.cuda),
                        "flash-attn": {"version": "*", "optional": True},
                    },
                    "targets": {"h100": {"gpus": ["H100"], "driver": "595.58.03"}},
                })
                host = hosts_from_spec(spec, matrix)["h100"]
                try:
                    resolve_target(spec, host, matrix)
                    ok += 1
                except ResolutionError:
                    failed += 1
    return ok, failed, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print("| what | median |")
    print("| --- | --- |")
    for label, seconds in bench_examples(args.runs):
        print(f"| {label} | {seconds * 1000:.0f} ms |")
    ok, failed, seconds = bench_sweep()
    total = ok + failed
    print(f"| sweep: {total} resolutions (torch release x CUDA variant x Python, flash-attn optional; {ok} resolved, {failed} refused) | {seconds:.2f} s total, {seconds / total * 1000:.1f} ms each |")


if __name__ == "__main__":
    main()
