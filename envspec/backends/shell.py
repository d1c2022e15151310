"""A bash script that installs one target of a lock on the machine it was locked for.

``render(lock, target)`` returns the script's text; it touches no disk and no network. Run on
the target machine (``bash install-TARGET.sh [VENV_DIR]``), the script:

1. checks the machine against what the target assumed, and refuses (a message on stderr, exit
   1, nothing created) when it differs: the platform (``uname -s``/``-m``); for a CUDA target
   the NVIDIA driver (``nvidia-smi``, every GPU) against the variant's floor and every GPU's
   compute capability against the capabilities the target was locked for; a Python of the
   locked major.minor (``AIENV_PYTHON``, default ``python3.X``, checked by running it) and, on
   Linux, a glibc at least the target's floor (its wheels are ``manylinux_2_NN``);
2. creates a virtual environment (the first argument, else ``AIENV_VENV``, else ``.venv``), or
   reuses one of the same Python; a path that exists and is not a virtual environment (nor an
   empty directory) is refused, never deleted;
3. installs exactly the locked packages: the pip backend's requirements (the same text, written
   to a temporary file a trap removes) with ``--require-hashes --no-deps --only-binary=:all:``.
   A package the lock has only as an sdist is named in ``--no-binary`` and built by pip (its
   build dependencies are then fetched without hashes, which pip cannot check; the script says
   so); a package with a build recipe and no file is not installed, and the script says how to
   build it;
4. verifies the environment: imports every stack package, checks ``torch.__version__`` against
   the lock and, for a CUDA target, ``torch.version.cuda`` and ``torch.cuda.is_available()``; for
   a CPU target, that torch is a build without CUDA.

Compute capabilities: the lock checked the torch build's kernels (and an extension's floor,
flash-attn's sm80) for the GPUs the target names, not for others, so a GPU of another capability
is refused, with a sharper message when it is older than every locked one (the build may have
no kernel for it). ``AIENV_SKIP_HOST_CHECK=1`` skips the driver and GPU checks (to prepare an
environment on a machine without the GPU), with a warning; platform and Python are always
checked, since the locked wheels need them.

Every lock value enters the script once, as a ``shlex.quote``-d assignment in one block at the
top, and is used only as ``"$VAR"``: nothing in a lock can become code. Values the script
compares as numbers (Python, driver floor, glibc, compute capabilities) must be numbers, else
:class:`RenderError`. The script keeps to bash 3.2 (macOS's ``/bin/bash``).

Windows targets are refused with :class:`RenderError` pointing to the pip format: a bash script
there would run under Git Bash/MSYS with another Python launcher (``py -3.X``), another venv
layout (``Scripts\\python.exe``) and path conversions between the two worlds, none of which is
tested here; the pip requirements install there with pip's own commands.
"""

from __future__ import annotations

import re
import shlex

from ..lockfile import Lock, LockedTarget
from . import pip
from ._common import IMPORT_NAMES, RenderError, filename_of, full_target

__all__ = ["render"]

#: aienv's platforms → what ``uname -s`` and ``uname -m`` print there.
UNAME = {
    "linux-x86_64": ("Linux", "x86_64"),
    "linux-aarch64": ("Linux", "aarch64"),
    "macos-arm64": ("Darwin", "arm64"),
}

_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_VALUES_START = "# --- lock values: each quoted by aienv; data, never code ---"
_VALUES_END = "# --- end of lock values ---"


def render(lock: Lock, target: str) -> str:
    """The bash script installing ``target``. Raises :class:`RenderError` for a stack-only
    lock, a Windows target, or a number-like value (Python, driver floor, glibc, capability)
    that is not a number."""
    locked = full_target(lock, target)
    if locked.platform not in UNAME:
        raise RenderError(
            f"target {target!r} is {locked.platform}: the shell format renders bash scripts for Linux and macOS targets",
            hint=f"use `aienv export --format pip --target {target}` and install it with pip --require-hashes --no-deps",
            code="unsupported-platform",
        )
    _check_numbers(target, locked)
    uname_s, uname_m = UNAME[locked.platform]
    built = {p.name for p in pip.source_builds(locked)}
    installed = [p for p in locked.packages if p.name not in built]
    torch = locked.package("torch")
    caps = sorted({g.compute_capability for g in locked.gpus}, key=_number)
    values = {
        "TARGET": target,
        "PLATFORM": locked.platform,
        "UNAME_S": uname_s,
        "UNAME_M": uname_m,
        "PYTHON_VERSION": locked.python,
        "GLIBC": (locked.glibc or "2.28") if uname_s == "Linux" else "",
        "ACCELERATOR": locked.accelerator,
        "VARIANT": locked.variant,
        "CUDA": locked.cuda or "",
        "DRIVER_FLOOR": locked.driver_floor or "",
        "GPU_CAPS": " ".join(caps),
        "GPU_CAP_MIN": caps[0] if caps else "",
        "GPUS": ", ".join(f"{g.name} ({g.compute_capability})" for g in locked.gpus),
        "TORCH_VERSION": torch.version if torch is not None and torch.name not in built else "",
        "IMPORTS": " ".join(IMPORT_NAMES[p.name] for p in installed if p.name in IMPORT_NAMES),
        "PACKAGE_COUNT": str(len(installed)),
        "NO_BINARY": ",".join(
            p.name for p in installed if p.files and not any(filename_of(f).endswith(".whl") for f in p.files)
        ),
        "NOT_INSTALLED": "; ".join(
            f"{p.name}=={p.version}: {p.build.command}" for p in locked.packages if p.name in built and p.build
        ),
        "REQUIREMENTS": pip.render(lock, target),
    }
    text = "\n".join([
        "#!/usr/bin/env bash",
        *(_one_line(line) for line in _header(lock, target, locked)),
        "set -euo pipefail",
        "",
        _VALUES_START,
        "# Single quotes are the point here: a $, ` or \\ in a value is text (SC2016, SC1003 do not apply).",
        "# shellcheck disable=SC2016,SC1003",
        "{",
        *(f"  {name}={shlex.quote(value)}" for name, value in values.items()),
        "}",
        _VALUES_END,
        _BODY,
    ])
    if "\x00" in text:
        raise RenderError(f"target {target!r}: the lock holds a NUL character, which bash cannot carry")
    return text


def _number(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _check_numbers(target: str, locked: LockedTarget) -> None:
    fields = [("python", locked.python, 2), ("driver-floor", locked.driver_floor, 0), ("glibc", locked.glibc, 0)]
    fields += [(f"gpus[{i}].compute-capability", g.compute_capability, 2) for i, g in enumerate(locked.gpus)]
    for key, value, parts in fields:
        if value is None:
            continue
        if not _NUMBER.fullmatch(value) or (parts and value.count(".") != parts - 1):
            raise RenderError(
                f"target {target!r}: {key} = {value!r} is not a version number the script can compare",
                hint="re-create the lock with `aienv lock`",
            )


def _one_line(text: str) -> str:
    """A header line as it may appear in the script: one ``#`` line, whatever the lock holds."""
    return text if text.isprintable() else ascii(text)[1:-1]


def _header(lock: Lock, target: str, locked: LockedTarget) -> list[str]:
    gpus = ", ".join(f"{g.name} ({g.compute_capability})" for g in locked.gpus) or "none"
    if locked.accelerator == "cuda":
        accel = f"{locked.variant} (CUDA {locked.cuda}, NVIDIA driver >= {locked.driver_floor}), GPUs: {gpus}"
    else:
        accel = locked.variant
    python = f"python{locked.python}"
    return [
        f"# Generated by aienv from aienv.lock (written by {lock.generated_by}), project {lock.project}:",
        f"#   spec {lock.spec_digest}, matrix {lock.matrix_version}.",
        "# Do not edit it; re-create it with `aienv export --format shell`.",
        f"# Target {target}: {locked.platform}, Python {locked.python}, {accel}.",
        "#",
        "# Run it on that machine, in the directory that should hold the environment:",
        f"#   bash install-{target}.sh [VENV_DIR]     (default: $AIENV_VENV, else .venv)",
        "# It checks this machine against the target (platform, NVIDIA driver and GPUs, Python),",
        "# refusing with a message and creating nothing when it differs; creates the virtual",
        "# environment (or reuses one of the same Python; any other existing path is refused);",
        "# installs exactly the locked packages with pip --require-hashes --no-deps; and verifies",
        "# that the stack imports, with the locked torch build.",
        "#",
        "# Environment:",
        "#   AIENV_VENV=DIR            where to create the environment when no argument is given",
        f"#   AIENV_PYTHON=PATH         the Python {locked.python} to create it with (default: {python})",
        "#   AIENV_SKIP_HOST_CHECK=1   skip the NVIDIA driver and GPU checks and torch.cuda.is_available(),",
        "#                             with a warning (e.g. to prepare it on a machine without the GPU)",
        "",
    ]


# The script's logic: fixed text, no lock value in it (those are the variables above).
_BODY = r"""
say() { printf 'aienv: %s\n' "$*" >&2; }
warn() { printf 'aienv: warning: %s\n' "$*" >&2; }
die() { printf 'aienv: error: %s\n' "$*" >&2; exit 1; }

# is_number TEXT: digits and dots, as version_ge and the comparisons below need.
is_number() { local re='^[0-9]+(\.[0-9]+)*$'; [[ $1 =~ $re ]]; }

# version_ge A B: A >= B, numerically field by field (550.54.14 >= 525.60.13; 12.0 >= 8.9).
version_ge() {
  local a=$1 b=$2 x y
  while [[ -n $a || -n $b ]]; do
    x=${a%%.*} y=${b%%.*}
    x=$((10#${x:-0})) y=$((10#${y:-0}))
    if ((x != y)); then return $((x < y)); fi
    if [[ $a == *.* ]]; then a=${a#*.}; else a=''; fi
    if [[ $b == *.* ]]; then b=${b#*.}; else b=''; fi
  done
}

SKIP_HINT='set AIENV_SKIP_HOST_CHECK=1 to install anyway'
RELOCK_HINT="or describe this machine in [targets.$TARGET] of aienv.toml and run aienv lock; or $SKIP_HINT"

check_nvidia() {
  local out drv cap name
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    die "target $TARGET is for NVIDIA GPUs ($GPUS; driver >= $DRIVER_FLOOR), but nvidia-smi is not on PATH: install the NVIDIA driver, or $SKIP_HINT"
  fi
  if ! out=$(nvidia-smi --query-gpu=driver_version,compute_cap,name --format=csv,noheader 2>&1); then
    die "nvidia-smi failed (a driver older than 510 cannot report compute_cap): $out; $SKIP_HINT"
  fi
  [[ -n $out ]] || die "nvidia-smi lists no GPU; target $TARGET is for $GPUS"
  while IFS=', ' read -r drv cap name; do
    drv=${drv%$'\r'} cap=${cap%$'\r'} name=${name%$'\r'}
    [[ -n $drv$cap$name ]] || continue
    if ! is_number "$drv" || ! is_number "$cap"; then
      die "cannot read nvidia-smi's line '$drv, $cap, $name' (driver version, compute capability, name)"
    fi
    if [[ -n $DRIVER_FLOOR ]] && ! version_ge "$drv" "$DRIVER_FLOOR"; then
      die "the NVIDIA driver $drv ($name) is older than $DRIVER_FLOOR, the floor of $VARIANT (CUDA $CUDA) that target $TARGET was locked for: upgrade the driver to $DRIVER_FLOOR or newer (an older CUDA variant may fit driver $drv: $RELOCK_HINT)"
    fi
    if [[ -n $GPU_CAPS && " $GPU_CAPS " != *" $cap "* ]]; then
      if ! version_ge "$cap" "$GPU_CAP_MIN"; then
        die "GPU $name has compute capability $cap, older than every GPU target $TARGET was locked for ($GPUS): its torch build may have no kernels for it ('no kernel image is available for execution on the device'): use a GPU the target names, $RELOCK_HINT"
      fi
      die "GPU $name (compute capability $cap) is not one target $TARGET was locked for ($GPUS): the lock checked its builds' kernels (and extensions' GPU floors) only for those: use a GPU the target names, $RELOCK_HINT"
    fi
  done <<<"$out"
}

if [[ $# -gt 1 || ${1:-} == -* ]]; then
  printf 'usage: bash %s [VENV_DIR]   (see the comments at the top of this script)\n' "$0" >&2
  exit 2
fi
VENV=${1:-${AIENV_VENV:-.venv}}
PYTHON=${AIENV_PYTHON:-python$PYTHON_VERSION}
SKIP=${AIENV_SKIP_HOST_CHECK:-0}

# 1. The machine: platform, NVIDIA driver and GPUs, Python, glibc. Nothing is created before these pass.
os=$(uname -s) arch=$(uname -m)
if [[ $os != "$UNAME_S" || $arch != "$UNAME_M" ]]; then
  die "target $TARGET is $PLATFORM ($UNAME_S $UNAME_M), this machine is $os $arch"
fi
if [[ $ACCELERATOR == cuda ]]; then
  if [[ $SKIP == 1 ]]; then
    warn "AIENV_SKIP_HOST_CHECK=1: not checking the NVIDIA driver (target $TARGET needs >= $DRIVER_FLOOR) nor the GPUs ($GPUS)"
  else
    check_nvidia
  fi
fi
probe='import platform, sys; print("%d.%d" % sys.version_info[:2], *platform.libc_ver())'
if ! found=$("$PYTHON" -c "$probe" 2>/dev/null); then
  die "cannot run $PYTHON: target $TARGET needs Python $PYTHON_VERSION; install it, or set AIENV_PYTHON to its path"
fi
read -r pyver libc libcver <<<"$found" || true
if [[ $pyver != "$PYTHON_VERSION" ]]; then
  die "$PYTHON is Python $pyver; target $TARGET needs Python $PYTHON_VERSION (set AIENV_PYTHON to one)"
fi
if [[ -n $GLIBC ]] && ! { [[ ${libc:-} == glibc ]] && is_number "${libcver:-}" && version_ge "$libcver" "$GLIBC"; }; then
  die "target $TARGET needs glibc $GLIBC or newer (its wheels are manylinux); this machine has ${libc:-no glibc} ${libcver:-}"
fi

# 2. The virtual environment: created, or reused when it is one of the same Python; never deleted.
case $VENV in /*) ;; *) VENV=$PWD/$VENV ;; esac
VENV_PY=$VENV/bin/python
if [[ -f $VENV/pyvenv.cfg ]]; then
  venv_ver=$("$VENV_PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || venv_ver='none (it does not run)'
  if [[ $venv_ver != "$PYTHON_VERSION" ]]; then
    die "the virtual environment $VENV has Python $venv_ver, target $TARGET needs $PYTHON_VERSION: remove it or choose another path"
  fi
  say "reusing the virtual environment $VENV (packages the lock does not list stay as they are)"
elif [[ -L $VENV || -e $VENV ]] && [[ ! -d $VENV || -L $VENV || -n $(ls -A "$VENV") ]]; then
  die "$VENV exists and is not a virtual environment (no pyvenv.cfg): not touching it; choose another path (first argument or AIENV_VENV)"
else
  say "creating the virtual environment $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV" || die "creating $VENV failed (on Debian/Ubuntu: apt install python$PYTHON_VERSION-venv); remove it and run again"
fi

# 3. Exactly the locked packages: hashes checked, no dependency resolution.
req=''
trap '[[ -z $req ]] || rm -f -- "$req"' EXIT
req=$(mktemp "${TMPDIR:-/tmp}/aienv-requirements.XXXXXX")
printf '%s' "$REQUIREMENTS" >"$req"
if [[ -n $NO_BINARY ]]; then
  warn "built from source (the lock has no wheel that fits): $NO_BINARY; pip fetches their build dependencies without hash checking"
fi
say "installing $PACKAGE_COUNT locked packages (target $TARGET, $VARIANT) into $VENV"
"$VENV_PY" -m pip install --disable-pip-version-check --no-input --require-hashes --no-deps \
  --only-binary=:all: --no-binary="${NO_BINARY:-:none:}" -r "$req"

# 4. Verify: the stack imports, the torch build is the locked one and sees its accelerator.
say "verifying the environment"
"$VENV_PY" - "$TORCH_VERSION" "$ACCELERATOR" "$CUDA" "$SKIP" "$IMPORTS" <<'PY'
import importlib
import sys

torch_version, accelerator, cuda, skip, imports = sys.argv[1:]
errors = []
for module in imports.split():
    try:
        importlib.import_module(module)
    except Exception as e:  # every failed import is reported, not only the first
        errors.append(f"import {module} failed: {e!r}")
torch = sys.modules.get("torch")
if torch_version and torch is not None:
    found = str(getattr(torch, "__version__", ""))
    built_cuda = getattr(getattr(torch, "version", None), "cuda", None)
    if found != torch_version:
        errors.append(f"torch is {found}, the lock has {torch_version}")
    if accelerator == "cuda":
        if not built_cuda or not (built_cuda == cuda or built_cuda.startswith(cuda + ".")):
            errors.append(f"torch {found} is built for CUDA {built_cuda}, the lock has CUDA {cuda}")
        elif skip == "1":
            print("aienv: warning: AIENV_SKIP_HOST_CHECK=1: not checking torch.cuda.is_available()", file=sys.stderr)
        elif not getattr(getattr(torch, "cuda", None), "is_available", lambda: False)():
            errors.append("torch.cuda.is_available() is False: torch cannot use the GPU (driver, or CUDA_VISIBLE_DEVICES?)")
    elif accelerator == "cpu" and built_cuda is not None:
        errors.append(f"torch {found} is a CUDA {built_cuda} build; the target is a CPU build")
for error in errors:
    print(f"aienv: error: {error}", file=sys.stderr)
if errors:
    sys.exit(1)
checked = f"torch {torch_version} ({accelerator})" if torch_version else "no torch"
print(f"aienv: verified: import {', '.join(imports.split()) or 'nothing to import'}; {checked}", file=sys.stderr)
PY
if [[ -n $NOT_INSTALLED ]]; then
  warn "not installed (no wheel fits; build from source): $NOT_INSTALLED"
fi
say "done: $VENV (activate it with: . $VENV/bin/activate)"
"""
