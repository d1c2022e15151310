"""Running the external tools detection asks (``nvidia-smi``, ``lspci``, …) without trusting them.

A tool may be missing, exit non-zero, print garbage or hang. :func:`run_tool` never waits longer
than its timeout: the tool runs in its own process group, and the whole group is killed when
the time is up (a wrapper script's children too, so no orphan keeps the pipes open).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ToolRun", "ToolTimeout", "find_tool", "run_tool"]


class ToolTimeout(Exception):
    """The tool did not finish within the timeout (it was killed)."""


@dataclass(frozen=True)
class ToolRun:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        """stdout and stderr together (nvidia-smi prints its errors on stdout)."""
        return "\n".join(t for t in (self.stdout.strip(), self.stderr.strip()) if t)


def find_tool(name: str, env: Mapping[str, str], *fallbacks: Path) -> str | None:
    """``name`` on the ``PATH`` of ``env``, else the first of ``fallbacks`` that is executable."""
    found = shutil.which(name, path=env.get("PATH", ""))
    if found:
        return found
    for path in fallbacks:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def run_tool(argv: Sequence[str], *, timeout: float, env: Mapping[str, str]) -> ToolRun:
    """Run ``argv`` with ``env``; raise :class:`ToolTimeout` after ``timeout`` seconds, or
    ``OSError`` when it cannot be started. A non-zero exit is returned, not raised."""
    start = time.monotonic()
    posix = sys.platform != "win32"
    proc = subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(env), start_new_session=posix,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc, posix)
        try:
            proc.communicate(timeout=2)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that survives SIGKILL
            pass
        raise ToolTimeout(f"{Path(argv[0]).name} did not answer within {timeout:g} s (killed)") from None
    return ToolRun(
        tuple(argv), proc.returncode, _text(out), _text(err), time.monotonic() - start,
    )


def _kill(proc: subprocess.Popen[bytes], posix: bool) -> None:
    try:
        if posix:
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            proc.kill()
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
