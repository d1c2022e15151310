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
    lock.add_argument("--offline", action="store_true", help="use only the embedded compatibility data (no network)")
    lock.add_argument("--json", action="store_true", help="print the lock as JSON on stdout")
    _host_flags(lock)

    explain = sub.add_parser("explain", help="why a package has the version and variant it has in the lock")
    explain.add_argument("package")
    explain.add_argument("--target", "-t", help="only this target")
    explain.add_argument("--lock", type=Path, help=f"the lock (default: {LOCK_NAME} in DIR)")
    explain.add_argument("--json", action="store_true")

    detect = sub.add_parser("detect", help="show the facts of this machine that a lock depends on")
    detect.add_argument("--json", action="store_true")
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
    lock = lock_spec(spec, hosts, matrix)
    write_lock(lock, out)
    if args.json:
        sys.stdout.write(dumps_lock_json(lock))
        return 0
    for name, target in sorted(lock.targets.items()):
        torch = target.package("torch")
        head = f"{name}: {target.platform}, Python {target.python}, {target.variant}"
        if target.driver_floor:
            head += f" (driver >= {target.driver_floor})"
        print(head)
        for package in target.packages:
            print(f"  {package.name} {package.version}")
        for omission in target.omitted:
            print(f"  {omission.name} omitted: {omission.reason}")
        if torch and torch.reason:
            print(f"  why: {torch.reason}")
    print(f"wrote {out.name} ({len(lock.targets)} target{'s' if len(lock.targets) != 1 else ''}; "
          "stack only, no hashes: resolved offline from the embedded matrix)")
    return 0


def _with_project_python(host: Any, spec: Any) -> Any:
    from dataclasses import replace

    return replace(host, python=host.python & spec.project.python) if str(spec.project.python) else host


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
        print(f"  target: {target.platform}, Python {target.python}, variant {target.variant}, GPUs "
              + (", ".join(f"{g.name} ({g.compute_capability})" for g in target.gpus) or "none"))
    return 0


class _NotInLock(EnvspecError):
    code = "not-in-lock"
    exit_code = 1


# --- detect -----------------------------------------------------------------------------------


def _cmd_detect(args: argparse.Namespace) -> int:
    from .host import probe_host

    host = probe_host()
    data = host.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"platform: {host.platform}")
    print(f"python:   {host.python}")
    print(f"driver:   {host.driver or 'none found'}")
    print("gpus:     " + (", ".join(g.describe() for g in host.gpus) or "none found"))
    return 0


_COMMANDS = {"lock": _cmd_lock, "explain": _cmd_explain, "detect": _cmd_detect}
