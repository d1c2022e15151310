"""Running the tools apply drives (uv, pip, python -m venv): output streamed line by line to a
callback and its tail kept for the error report; the child dies with aienv (Linux: the parent
death signal), so a killed apply leaves no installer writing into a staging directory."""

from __future__ import annotations

import collections
import ctypes
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

__all__ = ["RunResult", "run_streaming"]

TAIL = 40


class RunResult(NamedTuple):
    """The exit status and the last lines of output."""

    returncode: int
    tail: tuple[str, ...]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # PR_SET_PDEATHSIG (1): the kernel sends SIGKILL to this child when aienv dies, even by SIGKILL.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def run_streaming(
    command: Sequence[str],
    on_line: Callable[[str], None] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> RunResult:
    """Run ``command`` with stdout and stderr merged, give each line to ``on_line``, and return
    the exit status with the last lines. An interrupt (Ctrl-C, or SIGTERM turned into one by the
    CLI) terminates the child before it propagates."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL)
    process = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else None, cwd=cwd,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509 - no threads fork here
    )
    assert process.stdout is not None
    try:
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            # Progress bars redraw with \r: keep the last state of the line.
            line = line.rsplit("\r", 1)[-1]
            tail.append(line)
            if on_line is not None:
                on_line(line)
        returncode = process.wait()
    except BaseException:
        _stop(process)
        raise
    finally:
        process.stdout.close()
    return RunResult(returncode, tuple(tail))


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
