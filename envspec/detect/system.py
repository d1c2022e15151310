"""The operating system side: the platform name, WSL, glibc, and the Python that will run the
environment.

WSL. ``/proc/version`` names the kernel (captured outputs under ``tests/data/detect/proc-version/``):
WSL 1 prints ``Linux version 4.4.0-18985-Microsoft (Microsoft@Microsoft.com) …``, WSL 2 a real
kernel built by Microsoft, ``5.4.72-microsoft-standard-WSL2`` (older: ``4.19.67-microsoft-standard``).
Under WSL 2 the GPU is the Windows driver's: no ``nvidia`` kernel module and no
``/proc/driver/nvidia``; ``nvidia-smi`` and ``libcuda`` come from ``/usr/lib/wsl/lib``, a mount of
the Windows driver store, and the driver version they report is the Windows driver's (NVIDIA: on
WSL, install the Windows driver only, never a Linux display driver). The platform is still Linux.
WSL 1 has no GPU access.

glibc. ``os.confstr("CS_GNU_LIBC_VERSION")`` answers ``"glibc 2.36"`` on glibc systems (it is
what ``platform.libc_ver()`` tries first); on musl it fails. It is asked inside the target
interpreter, since that interpreter's C library is what wheels must match.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from ..errors import HostError
from ._report import PythonInfo
from ._tools import ToolTimeout, run_tool

__all__ = ["parse_glibc", "parse_wsl", "platform_name", "probe_python"]

_GLIBC = re.compile(r"^glibc\s+(\d+\.\d+)")


def platform_name(sys_platform: str, machine: str) -> str:
    """aienv's platform name (``linux-x86_64``, ``macos-arm64``, …) for an interpreter's
    ``sys.platform`` and ``platform.machine()``."""
    machine = machine.lower()
    if sys_platform.startswith("linux"):
        return "linux-" + {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    if sys_platform == "win32":
        return "windows-x86_64" if machine in ("amd64", "x86_64") else f"windows-{machine}"
    if sys_platform == "darwin":
        return "macos-arm64" if machine in ("arm64", "aarch64") else f"macos-{machine}"
    return f"{sys_platform}-{machine}"


def parse_wsl(proc_version: str) -> str | None:
    """``"wsl2"``, ``"wsl1"`` or None, from the text of ``/proc/version``."""
    text = proc_version.strip()
    if re.search(r"microsoft-standard", text, re.IGNORECASE):
        return "wsl2"
    if re.search(r"-Microsoft\b", text):
        return "wsl1"
    if "microsoft" in text.lower():
        return "wsl2"
    return None


def parse_glibc(confstr: str | None) -> str | None:
    """``"2.36"`` from ``os.confstr("CS_GNU_LIBC_VERSION")``'s ``"glibc 2.36"``; None otherwise."""
    m = _GLIBC.match((confstr or "").strip())
    return m.group(1) if m else None


# Runs inside the target interpreter (any Python 3): keep it to the standard library and to
# syntax old interpreters accept. ``facts()`` is also called in-process for this interpreter.
_PROBE = r'''
import os, platform, struct, sys
def facts():
    try:
        confstr = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        confstr = None
    try:
        libc = platform.libc_ver()[0] or None
    except Exception:
        libc = None
    return {
        "executable": sys.executable,
        "version": list(sys.version_info[:3]),
        "implementation": sys.implementation.name,
        "sys_platform": sys.platform,
        "machine": platform.machine(),
        "confstr": confstr,
        "libc": libc,
        "bits": struct.calcsize("P") * 8,
        "macos": platform.mac_ver()[0] or None,
    }
'''


def probe_python(python: str | None, *, env: Mapping[str, str], timeout: float) -> PythonInfo:
    """Facts about the interpreter at ``python`` (run it), or about this one (None).

    Raises :class:`~envspec.errors.HostError` when ``python`` cannot be run or is not a Python.
    """
    if python is None:
        namespace: dict[str, object] = {}
        exec(compile(_PROBE, "<aienv python probe>", "exec"), namespace)  # noqa: S102 - our own constant
        data = namespace["facts"]()  # type: ignore[operator]
    else:
        data = _run_probe(python, env=env, timeout=timeout)
    try:
        version = tuple(int(p) for p in data["version"])
        return PythonInfo(
            executable=str(data["executable"] or python or sys.executable),
            version=(version[0], version[1], version[2]),
            implementation=str(data["implementation"]),
            sys_platform=str(data["sys_platform"]),
            machine=str(data["machine"]),
            glibc=parse_glibc(data.get("confstr")),
            libc=data.get("libc") or ("glibc" if parse_glibc(data.get("confstr")) else None),
            bits=int(data["bits"]),
            macos=data.get("macos") or None,
        )
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise HostError(f"--python {python}: its answer is not what a Python interpreter prints ({e})") from e


def _run_probe(python: str, *, env: Mapping[str, str], timeout: float) -> dict:  # type: ignore[type-arg]
    if not Path(python).exists():
        found = shutil.which(python, path=env.get("PATH", "")) if os.sep not in python else None
        if found is None:
            raise HostError(f"--python {python}: no such file", hint="give the path of a Python interpreter")
        python = found
    script = _PROBE + "\nimport json\nprint(json.dumps(facts()))\n"
    try:
        run = run_tool([python, "-c", script], timeout=timeout, env=env)
    except ToolTimeout as e:
        raise HostError(f"--python {python}: {e}") from e
    except OSError as e:
        raise HostError(f"--python {python}: cannot run it ({e.strerror or e})") from e
    if run.returncode != 0:
        first = (run.output.splitlines() or ["no output"])[-1]
        raise HostError(f"--python {python}: exited {run.returncode} ({first})", hint="give the path of a Python 3 interpreter")
    try:
        data = json.loads(run.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        raise HostError(f"--python {python}: its answer is not what a Python interpreter prints") from e
    if not isinstance(data, dict):
        raise HostError(f"--python {python}: its answer is not what a Python interpreter prints")
    return data
