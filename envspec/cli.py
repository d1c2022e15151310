"""The ``aienv`` command line: argument parsing and output; the only code that prints or exits.

``main(argv) -> int`` is callable from tests. It catches :class:`~envspec.errors.EnvspecError`
(prints the message and hint to stderr, or an ``{"error": ...}`` object with ``--json``) and
returns its exit code; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ._version import __version__
from .errors import EnvspecError, HostError, StaleLockError

__all__ = ["entrypoint", "main"]

LOCK_NAME = "aienv.lock"


class _UsageError(EnvspecError):
    code = "usage"
    exit_code = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # exit 2 through our own error path
        raise _UsageError(f"{self.prog}: {message}", hint=f"see `{self.prog} --help`")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="aienv", description="Lock and reproduce GPU/CUDA/framework environments for AI projects.")
    p.add_argument("--version", action="version", version=f"aienv {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log what aienv does (-vv: resolver steps)")
    p.add_argument("-C", "--directory", type=Path, default=Path("."), help="run as if started in DIR")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    lock = sub.add_parser("lock", help="resolve aienv.toml for every target and write aienv.lock")
    lock.add_argument("--file", "-f", type=Path, help="the spec (aienv.toml or pyproject.toml); default: in DIR")
    lock.add_argument("--output", "-o", type=Path, help=f"where to write the lock (default: {LOCK_NAME} beside the spec)")
    lock.add_argument("--check", action="store_true", help="exit 1 if the lock is missing or stale; write nothing")
    lock.add_argument("--json", action="store_true", help="print the lock as JSON on stdout")
    idx = lock.add_argument_group("package indexes")
    idx.add_argument("--offline", action="store_true", help="no network: index pages and metadata from the cache only")
    idx.add_argument("--no-index", action="store_true", help="lock the stack alone from the embedded compatibility data (no closure, no hashes, no network)")
    idx.add_argument("--upgrade", "-U", action="store_true", help="ignore the versions the existing lock pinned")
    idx.add_argument("--upgrade-package", "-P", action="append", default=[], metavar="NAME", help="ignore the existing pin of NAME (repeatable)")
    idx.add_argument("--index-url", metavar="URL", help="the default index (PyPI or a mirror; env AIENV_INDEX_URL; default: [indexes] default)")
    idx.add_argument("--pytorch-index-url", metavar="URL", help="base of the PyTorch variant indexes, a mirror of https://download.pytorch.org/whl (env AIENV_PYTORCH_INDEX_URL)")
    idx.add_argument("--paddle-index-url", metavar="URL", help="base of the PaddlePaddle per-CUDA indexes, a mirror of https://www.paddlepaddle.org.cn/packages/stable (env AIENV_PADDLE_INDEX_URL)")
    idx.add_argument("--cache-dir", type=Path, metavar="DIR", help="the cache of index pages and metadata (env AIENV_CACHE_DIR)")
    idx.add_argument("--release-mirror", metavar="URL", help="fetch GitHub release assets (flash-attn wheels) with https://github.com/ replaced by URL; the lock keeps the github.com URLs (env AIENV_RELEASE_MIRROR; default: [indexes] release-mirror)")
    idx.add_argument("--conda-channel-alias", metavar="URL", help="where [conda] channel names resolve, a mirror of https://conda.anaconda.org (env AIENV_CONDA_CHANNEL_ALIAS)")
    _host_flags(lock)

    export = sub.add_parser(
        "export", help="render the lock for another tool: pip, conda, conda-lock, shell, pylock",
        description="Render targets of aienv.lock for another tool. One target goes to stdout or to a file; "
        "several (all, when no --target is given) go into a directory, one file per target.",
    )
    export.add_argument("--format", "-F", required=True, metavar="FORMAT", help="pip | conda | conda-lock | shell | pylock")
    export.add_argument("--target", "-t", action="append", metavar="NAME", help="a target of the lock (repeatable; default: all)")
    export.add_argument("--output", "-o", type=Path, metavar="PATH", help="a file (one target), or a directory (one file per target); default: stdout")
    export.add_argument("--lock", type=Path, help=f"the lock (default: {LOCK_NAME} in DIR)")
    export.add_argument("--json", action="store_true", help="print what was rendered (and where) as JSON")

    explain = sub.add_parser("explain", help="why a package has the version and variant it has in the lock")
    explain.add_argument("package")
    explain.add_argument("--target", "-t", help="only this target")
    explain.add_argument("--lock", type=Path, help=f"the lock (default: {LOCK_NAME} in DIR)")
    explain.add_argument("--json", action="store_true")

    detect = sub.add_parser(
        "detect", help="show the facts of this machine that a lock depends on",
        description="Detect the platform, Python, glibc, NVIDIA driver and GPUs (NVML, nvidia-smi, the kernel module), "
        "CUDA_VISIBLE_DEVICES, WSL, AMD and Intel GPUs, and say where each fact came from. Exit 0 (no GPU is a fact).",
    )
    detect.add_argument("--json", action="store_true", help="print the whole report as JSON")
    detect.add_argument("--driver", help="the NVIDIA driver version, instead of detecting it (env AIENV_DRIVER)")
    detect.add_argument("--gpu", action="append", dest="gpus", metavar="NAME|CC", help="a GPU model or compute capability, instead of detecting them (repeatable; --gpu none for no GPU; env AIENV_GPUS)")
    detect.add_argument("--python", metavar="PATH", help="the interpreter that will run the environment (default: this one)")

    doctor = sub.add_parser(
        "doctor", help="check a Python environment against this machine (and the lock): what is broken, and the fix",
        description="Run a small probe inside a Python environment and compare it with this machine and, when there "
        "is one, the lock. Exit 0 without error-severity findings, 1 with any, 2 for bad input.",
    )
    doctor.add_argument("--prefix", type=Path, metavar="DIR", help="the environment (a venv or conda prefix; default: the Python running aienv)")
    doctor.add_argument("--lock", type=Path, help=f"compare with this lock (default: {LOCK_NAME} in DIR, when there is one)")
    doctor.add_argument("--target", "-t", help="the lock's target (default: the only one, else the one that fits this machine)")
    doctor.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="how long the probe may run (importing torch, initializing CUDA; default: 60)")
    doctor.add_argument("--json", action="store_true", help='print {"host", "environment", "findings"} as JSON')

    apply = sub.add_parser(
        "apply", help="make an environment match the lock (a venv, or a conda prefix for [conda] targets; hashes required), verify it, swap it in",
        description="Choose the lock's target for this machine (or --target), build a new environment beside the prefix "
        "with the locked Python and exactly the locked files (a venv with uv or pip; for a target with solved [conda] "
        "packages, a conda prefix made by py-rattler, the wheels installed by its Python), verify it (imports, torch's "
        "version and CUDA, the GPUs), and swap it in atomically. A failure or interrupt leaves the previous environment as it was. "
        "Exit 0 applied or already current, 1 refused or failed, 2 bad input.",
    )
    apply.add_argument("--target", "-t", help="the lock's target (default: the one that fits this machine)")
    apply.add_argument("--prefix", type=Path, metavar="DIR", help="the environment (default: .venv in DIR, beside aienv.toml)")
    apply.add_argument("--lock", type=Path, help=f"the lock (default: {LOCK_NAME} in DIR)")
    apply.add_argument("--force", action="store_true", help="apply a target this machine does not fit (driver, GPUs), with a warning")
    apply.add_argument("--replace", action="store_true", help="replace a virtual environment aienv did not make (what is installed there is lost)")
    apply.add_argument("--reinstall", action="store_true", help="rebuild even when the environment already matches the lock")
    apply.add_argument("--dry-run", "-n", action="store_true", help="print the plan; change nothing")
    apply.add_argument("--installer", choices=("auto", "uv", "pip"), default="auto", help="auto: uv when on PATH, else pip")
    apply.add_argument("--python", metavar="PATH", help="the interpreter to build from (default: one of the lock's Python found on this machine)")
    apply.add_argument("--no-verify", dest="verify", action="store_false", help="skip the verification inside the new environment")
    apply.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS", help="how long the verification may run (default: 120)")
    apply.add_argument("--quiet", "-q", action="store_true", help="no progress, no installer output")
    apply.add_argument("--json", action="store_true", help="print the result (plan, status, findings) as JSON")
    return p


def _host_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("target flags (when aienv.toml declares no [targets])")
    g.add_argument("--gpu", action="append", dest="gpus", metavar="NAME|CC", help="a GPU model or compute capability (repeatable); --gpu none for CPU")
    g.add_argument("--driver", help="NVIDIA driver version, e.g. 550.54.14")
    g.add_argument("--platform", help="linux-x86_64 | linux-aarch64 | windows-x86_64 | macos-arm64")
    g.add_argument("--python", help="Python version, e.g. 3.12")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``aienv`` with ``argv``; return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    want_json = "--json" in args_list
    try:
        args = _parser().parse_args(args_list)
        logging.basicConfig(
            level=logging.DEBUG if args.verbose >= 2 else logging.INFO if args.verbose else logging.WARNING,
            format="aienv: %(message)s", stream=sys.stderr,
        )
        # urllib3 logs each retry as a warning; the error that follows says what failed.
        logging.getLogger("urllib3").setLevel(logging.DEBUG if args.verbose >= 2 else logging.ERROR)
        return int(_COMMANDS[args.command](args))
    except EnvspecError as e:
        if want_json:
            print(json.dumps({"error": e.to_dict()}, indent=2))
        else:
            print(f"error: {e.message}", file=sys.stderr)
            if e.hint:
                print(f"hint: {e.hint}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def entrypoint() -> NoReturn:
    """The ``aienv`` console script."""
    sys.exit(main())


# --- lock -------------------------------------------------------------------------------------


def _cmd_lock(args: argparse.Namespace) -> int:
    from .host import host_from_flags, hosts_from_spec
    from .lockfile import dumps_lock_json, read_lock, write_lock
    from .matrix import get_matrix
    from .resolver import lock_spec
    from .spec import load_spec

    spec = load_spec(args.file or args.directory)
    assert spec.path is not None
    out = args.output or spec.path.parent / LOCK_NAME
    if args.check:
        lock = read_lock(out)
        if lock.spec_digest != spec.digest():
            raise StaleLockError(
                f"{out.name} is stale: {spec.filename} changed since it was locked",
                hint="run `aienv lock` and commit the new lock",
            )
        print(f"{out.name} is current for {spec.filename}")
        return 0
    matrix = get_matrix()
    flags = any(v is not None for v in (args.gpus, args.driver, args.platform, args.python))
    if spec.targets and flags:
        raise HostError(
            f"{spec.filename} declares [targets]; --gpu/--driver/--platform/--python describe a target only when it declares none",
            hint="edit the targets in aienv.toml instead",
        )
    if spec.targets:
        hosts = hosts_from_spec(spec, matrix)
    else:
        gpus = None if args.gpus is None else [g for g in args.gpus if g.lower() not in ("none", "cpu")]
        host = host_from_flags(
            matrix, name="default", platform=args.platform, python=args.python, driver=args.driver, gpus=gpus
        )
        if not flags:
            logging.getLogger("envspec").info("no [targets] in %s: locking for this machine", spec.filename)
        hosts = {"default": _with_project_python(host, spec)}
    if args.no_index:
        if args.offline or args.upgrade or args.upgrade_package:
            raise _UsageError("--no-index resolves the stack alone; it takes no --offline/--upgrade flags")
        lock = lock_spec(spec, hosts, matrix)
    else:
        with _index_sources(args, spec, out) as sources:
            lock = lock_spec(spec, hosts, matrix, sources=sources)
            stats = dict(sources.finder.stats)
        logging.getLogger("envspec").info("index traffic: %s", ", ".join(f"{k}={v}" for k, v in sorted(stats.items())))
    write_lock(lock, out)
    if args.json:
        sys.stdout.write(dumps_lock_json(lock))
        return 0
    _print_lock_summary(lock, out)
    return 0


def _index_sources(args: argparse.Namespace, spec: Any, out: Path) -> Any:
    """The finder and index configuration of a full-closure lock, as a context manager."""
    import contextlib
    import os

    from .errors import LockfileError
    from .lockfile import read_lock
    from .resolver import IndexSources
    from .sources import ExtraIndex, Index, IndexConfig, PackageFinder

    # Precedence: flag, then environment, then [indexes] in aienv.toml.
    default = args.index_url or os.environ.get("AIENV_INDEX_URL") or spec.indexes.default
    config = IndexConfig(
        default=Index("pypi" if default.rstrip("/") == "https://pypi.org/simple" else "default", default),
        pytorch_base=args.pytorch_index_url or os.environ.get("AIENV_PYTORCH_INDEX_URL") or spec.indexes.pytorch,
        extras=tuple(ExtraIndex(x.name, x.url, x.packages) for x in spec.indexes.extra),
        paddle_base=args.paddle_index_url or os.environ.get("AIENV_PADDLE_INDEX_URL") or spec.indexes.paddle,
        release_mirror=args.release_mirror or os.environ.get("AIENV_RELEASE_MIRROR") or spec.indexes.release_mirror,
    )
    previous = None
    if out.exists() and not args.upgrade:
        try:
            previous = read_lock(out)
        except LockfileError as e:
            logging.getLogger("envspec").warning("ignoring the existing %s (%s)", out.name, e.message.splitlines()[0])
    progress = _Progress() if sys.stderr.isatty() and not args.json else None

    @contextlib.contextmanager
    def scope() -> Any:
        finder = PackageFinder(config, cache_dir=args.cache_dir, offline=args.offline, progress=progress)
        try:
            yield IndexSources(
                finder, config, previous=previous, upgrade=args.upgrade,
                upgrade_packages=frozenset(_normalize(n) for n in args.upgrade_package), conda=_conda_solver(args),
            )
        finally:
            finder.close()
            if progress is not None:
                progress.clear()

    return scope()


def _conda_solver(args: argparse.Namespace) -> Any:
    import os

    from .sources.conda import DEFAULT_CHANNEL_ALIAS, CondaSolver

    alias = args.conda_channel_alias or os.environ.get("AIENV_CONDA_CHANNEL_ALIAS") or DEFAULT_CHANNEL_ALIAS
    return CondaSolver(channel_alias=alias, cache_dir=args.cache_dir, offline=args.offline)


def _normalize(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


class _Progress:
    """One status line on a terminal's stderr while pages, metadata and files are fetched (a
    file downloaded to hash it shows its megabytes)."""

    def __init__(self) -> None:
        self.shown = False

    def __call__(self, event: Any) -> None:
        what = event.url.rsplit("/", 2)[-2] if event.url.endswith("/") else event.url.rsplit("/", 1)[-1]
        count = f"{event.done}/{event.total}"
        if event.bytes_done is not None:
            count += f" ({event.bytes_done / 1e6:.0f}" + (f"/{event.bytes_total / 1e6:.0f}" if event.bytes_total else "") + " MB)"
        line = f"fetching {event.kind} {count}: {what}"[:100]
        sys.stderr.write("\r\x1b[K" + line)
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _print_lock_summary(lock: Any, out: Path) -> None:
    from .spec import STACK_PACKAGES

    for name, target in sorted(lock.targets.items()):
        torch = target.package("torch")
        head = f"{name}: {target.platform}, Python {target.python}, {target.variant}"
        if target.driver_floor:
            head += f" (driver >= {target.driver_floor})"
        print(head)
        for package in target.packages:
            if package.name in STACK_PACKAGES:
                print(f"  {package.name} {package.version}")
        others = [p for p in target.packages if p.name not in STACK_PACKAGES]
        if others:
            print(f"  … and {len(others)} more packages (`aienv explain NAME` says why each is there)")
        for omission in target.omitted:
            print(f"  {omission.name} omitted: {omission.reason}")
        if target.conda is not None and target.conda.packages:
            print(f"  conda: {len(target.conda.packages)} packages from {', '.join(target.conda.channels)}")
        if torch and torch.reason:
            print(f"  why: {torch.reason}")
    n = len(lock.targets)
    closures = {t.closure for t in lock.targets.values()}
    if closures == {"full"}:
        files = sum(len(p.files) for t in lock.targets.values() for p in t.packages)
        kind = f"full closure, {files} files" + (" with sha256" if all(t.hashes for t in lock.targets.values()) else "; some files have no sha256")
    else:
        kind = "stack only, no hashes: resolved from the embedded matrix (--no-index)"
    print(f"wrote {out.name} ({n} target{'s' if n != 1 else ''}; {kind})")


def _with_project_python(host: Any, spec: Any) -> Any:
    from dataclasses import replace

    return replace(host, python=host.python & spec.project.python) if str(spec.project.python) else host


# --- export -----------------------------------------------------------------------------------


def _cmd_export(args: argparse.Namespace) -> int:
    import os

    from .backends import RenderError, get_backend
    from .lockfile import atomic_write, read_lock

    backend = get_backend(args.format)
    lock_path = args.lock or args.directory / LOCK_NAME
    lock = read_lock(lock_path)
    names = list(dict.fromkeys(args.target)) if args.target else sorted(lock.targets)
    for name in names:
        lock.target(name)  # an unknown target fails before anything is rendered
    out: Path | None = args.output
    into_directory = out is not None and (out.is_dir() or str(out).endswith(("/", os.sep)) or len(names) > 1)
    if out is None and len(names) > 1:
        raise _UsageError(
            f"the lock has {len(names)} targets ({', '.join(names)}); stdout takes one",
            hint="choose one with --target NAME, or write one file per target with -o DIRECTORY",
        )
    if out is not None and not into_directory and out.exists() and not out.is_file():
        raise _UsageError(f"{out} exists and is not a file")
    # Render every target before writing any file: a target that cannot be rendered leaves nothing half-written.
    # Targets the format cannot serve (a Windows target in a bash script) are skipped, with a
    # note, when no --target asked for them.
    rendered: dict[str, str] = {}
    skipped: list[RenderError] = []
    for name in names:
        try:
            rendered[name] = backend.render(lock, name)
        except RenderError as e:
            if args.target or e.code != "unsupported-platform":
                raise
            skipped.append(e)
    for e in skipped:
        print(f"note: skipped: {e.message}", file=sys.stderr)
    if not rendered:
        raise skipped[0]
    if out is None:
        (name, text), = rendered.items()
        if args.json:
            print(json.dumps({"format": backend.name, "target": name, "text": text}, indent=2))
        else:
            sys.stdout.write(text)
        return 0
    written = []
    if into_directory:
        out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        path = out / backend.filename_for(name) if into_directory else out
        atomic_write(path, text, executable=backend.executable)
        written.append({"format": backend.name, "target": name, "path": str(path)})
    if args.json:
        print(json.dumps({"files": written}, indent=2))
    else:
        for item in written:
            print(f"wrote {item['path']} ({backend.name}, target {item['target']})")
    return 0


# --- explain ----------------------------------------------------------------------------------


def _cmd_explain(args: argparse.Namespace) -> int:
    from packaging.utils import canonicalize_name

    from .lockfile import read_lock

    lock = read_lock(args.lock or args.directory / LOCK_NAME)
    name = canonicalize_name(args.package)
    names = [args.target] if args.target else sorted(lock.targets)
    found: dict[str, Any] = {}
    for target_name in names:
        target = lock.target(target_name)
        package = target.package(name)
        if package is not None:
            found[target_name] = (target, package)
    if not found:
        raise _NotInLock(f"{name} is not in the lock" + (f" for target {args.target!r}" if args.target else ""))
    if args.json:
        print(json.dumps({t: p.model_dump(mode="json", by_alias=True, exclude_none=True) for t, (_, p) in found.items()}, indent=2))
        return 0
    for target_name, (target, package) in found.items():
        print(f"{target_name}: {package.name} {package.version}")
        print(f"  from: {package.index or (package.files[0].url if package.files else 'source build')}")
        if package.reason:
            print(f"  why: {package.reason}")
        if package.build:
            print(f"  build: {package.build.command} ({package.build.note})")
        required_by = sorted(p.name for p in target.packages if package.name in p.dependencies)
        if required_by:
            print(f"  required by: {', '.join(required_by)}")
        chain = _chain_to_root(target, package.name)
        if chain:
            print(f"  path: aienv.toml -> {' -> '.join(chain)}")
        print(f"  target: {target.platform}, Python {target.python}, variant {target.variant}, GPUs "
              + (", ".join(f"{g.name} ({g.compute_capability})" for g in target.gpus) or "none"))
    return 0


def _chain_to_root(target: Any, name: str) -> list[str]:
    """The shortest chain of dependency edges from a requirement of aienv.toml to ``name``."""
    from collections import deque

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from .spec import STACK_PACKAGES

    roots = {canonicalize_name(Requirement(r).name) for r in target.requirements} | set(STACK_PACKAGES)
    parents: dict[str, str | None] = {n: None for n in roots if target.package(n) is not None}
    queue = deque(parents)
    while queue:
        current = queue.popleft()
        if current == name:
            chain = [current]
            while parents[chain[-1]] is not None:
                chain.append(parents[chain[-1]])  # type: ignore[arg-type]
            return chain[::-1]
        package = target.package(current)
        for dep in package.dependencies if package else ():
            if dep not in parents:
                parents[dep] = current
                queue.append(dep)
    return []


class _NotInLock(EnvspecError):
    code = "not-in-lock"
    exit_code = 1


# --- detect -----------------------------------------------------------------------------------


def _cmd_detect(args: argparse.Namespace) -> int:
    from .detect import detect, format_detection

    found = detect(driver=args.driver, gpus=args.gpus, python=args.python)
    if args.json:
        print(json.dumps(found.to_dict(), indent=2))
    else:
        sys.stdout.write(format_detection(found))
    return 0


# --- doctor -----------------------------------------------------------------------------------


def _cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import (
        diagnose,
        find_python,
        format_report,
        probe_environment,
        select_target,
    )
    from .host import probe_host
    from .lockfile import read_lock

    python = find_python(args.prefix) if args.prefix is not None else Path(sys.executable)
    lock_path = args.lock or args.directory / LOCK_NAME
    lock = read_lock(lock_path) if args.lock is not None or lock_path.exists() else None
    if lock is None and args.target:
        raise _UsageError(f"--target {args.target}: there is no {LOCK_NAME} in {args.directory}", hint="name the lock with --lock FILE")
    host = probe_host()
    target_name, target = select_target(lock, host, args.target) if lock is not None else (None, None)
    env = probe_environment(python, timeout=args.timeout)
    findings = diagnose(env, host, target, target_name=target_name, lock_name=lock_path.name)
    if args.json:
        print(json.dumps({
            "host": host.to_dict(),
            "environment": env.to_dict(),
            "lock": {"path": str(lock_path), "target": target_name} if lock is not None else None,
            "findings": [f.to_dict() for f in findings],
        }, indent=2))
    else:
        sys.stdout.write(format_report(env, host, findings, lock=str(lock_path) if lock else None, target=target_name))
    return 1 if any(f.severity == "error" for f in findings) else 0


# --- apply ------------------------------------------------------------------------------------


def _cmd_apply(args: argparse.Namespace) -> int:
    import atexit
    import gc
    import signal

    from .apply import ApplyError, ApplyRequest, VerifyError, apply

    # At exit the interpreter's last garbage collections walk every object the lock's models and
    # the doctor created (pydantic's schemas): 30-60 ms of an apply that takes a few tenths.
    # Frozen objects are skipped; nothing of aienv's needs collecting at exit (files are closed,
    # the staging directory is gone). Registered once however often main() runs in one process.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)

    def terminate(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # the same clean-up as Ctrl-C: the staging environment is removed

    previous = signal.signal(signal.SIGTERM, terminate)
    quiet = args.quiet or args.json

    def say(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    def installer_line(line: str) -> None:
        if not quiet and line.strip():
            print(f"    {line}", file=sys.stderr, flush=True)

    request = ApplyRequest(
        lock_path=args.lock or args.directory / LOCK_NAME, prefix=args.prefix or args.directory / ".venv",
        target=args.target, force=args.force, replace=args.replace, reinstall=args.reinstall, dry_run=args.dry_run,
        installer=args.installer, python=args.python, verify=args.verify, timeout=args.timeout,
    )
    try:
        result = apply(request, progress=say, output=installer_line)
    except VerifyError as e:
        if not args.json:
            sys.stderr.write(e.report)
        raise
    except ApplyError as e:
        if args.quiet and not args.json and e.output:  # the installer's lines were not shown as they came
            sys.stderr.write("".join(f"    {line}\n" for line in e.output))
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    sys.stdout.write(_format_apply(result))
    return 0


def _format_apply(result: Any) -> str:
    plan = result.plan
    where = f"{plan.prefix} (target {plan.target_name} of {plan.lock_path.name})"
    if result.status == "current":
        return f"nothing to do: {where} already matches the lock ({plan.package_count} packages); --reinstall rebuilds it\n"
    if result.status == "dry-run":
        return _format_plan(plan) + "".join(f"note: {n}\n" for n in result.notes)
    what = f"{len(plan.items)} packages with {plan.installer}"
    if plan.kind == "conda":
        what = f"a conda prefix of {len(plan.conda)} conda packages (py-rattler) and {what}"
    lines = [f"applied {where}: {what} in {result.seconds:.1f} s"]
    env = result.environment
    if env is not None and env.torch is not None and env.torch.imported:
        t = env.torch
        cuda = f"CUDA {t.cuda}" if t.cuda else "CPU build"
        available = "" if t.cuda_available is None else f", CUDA available: {'yes' if t.cuda_available else 'no'}"
        lines.append(f"verified: torch {t.version} ({cuda}{available})")
    elif env is not None:
        lines.append("verified")
    for f in result.findings:
        lines.append(f"{f.severity}: [{f.code}] {f.message}")
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines) + "\n"


def _format_plan(plan: Any) -> str:
    from .apply._plan import format_size

    state = {
        "create": "create it", "current": "nothing to do (it already matches the lock)",
        "update": "rebuild it and swap it in", "foreign": "replace it (--replace)",
    }[plan.state]
    lines = [
        f"target: {plan.choice.name} ({plan.choice.why})",
        *(f"  forced over: {r}" for r in plan.choice.overridden),
        f"prefix: {plan.prefix}: {state}",
        *(f"  because {c}" for c in plan.changes),
        f"python: {plan.target.python} ({plan.interpreter}{', the locked conda python' if plan.kind == 'conda' else ''})",
        f"installer: {plan.installer}" + (" (the wheels; the conda packages: py-rattler)" if plan.kind == "conda" else ""),
    ]
    if plan.kind == "conda":
        lines.append(f"conda packages: {len(plan.conda)} (a conda prefix)")
        lines += [f"  {c.name} {c.version}  {c.build}  {c.url.rsplit('/', 1)[-1]}" for c in plan.conda]
    lines.append(f"packages: {len(plan.items)}, {format_size(plan.download_size)}")
    for item in sorted(plan.items, key=lambda i: (-(i.size or 0), i.name)):
        lines.append(f"  {format_size(item.size):>9}  {item.name} {item.version}  {item.filename}")
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines) + "\n"


_COMMANDS = {
    "lock": _cmd_lock, "export": _cmd_export, "explain": _cmd_explain, "detect": _cmd_detect, "doctor": _cmd_doctor,
    "apply": _cmd_apply,
}
