"""What a Python environment holds, read by running the probe inside it.

:func:`probe_environment` is the only code of ``envspec.doctor`` that runs anything: it starts the
environment's own interpreter on ``_probe.py`` (a stdlib-only script shipped in this package)
and turns the JSON lines it prints into an :class:`Environment`. Parsing is pure
(:meth:`Environment.from_probe`, :func:`parse_nvcc_release`, :func:`parse_library`) and tested on
captured text. A probe that hangs or crashes still gives an ``Environment``, with
``incomplete`` saying which step it was in; a failing import inside it is data, never an error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import EnvspecError

__all__ = [
    "DEFAULT_TIMEOUT",
    "Distribution",
    "Environment",
    "FrameworkInfo",
    "ImportResult",
    "Library",
    "Nvcc",
    "ProbeError",
    "RunningProbe",
    "TorchDevice",
    "TorchInfo",
    "find_python",
    "parse_library",
    "parse_nvcc_release",
    "probe_environment",
    "start_probe",
]

log = logging.getLogger(__name__)

#: Seconds the whole probe may take: importing torch and initializing CUDA can take a while.
DEFAULT_TIMEOUT = 60.0


class ProbeError(EnvspecError, ValueError):
    """The environment to inspect has no usable Python (exit 2: bad input)."""

    code = "no-python"
    exit_code = 2


# --- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    """An installed distribution: normalized name, version, and (for the stack) Requires-Dist."""

    name: str
    version: str
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class TorchDevice:
    index: int
    name: str | None
    capability: str | None  # "8.9"


@dataclass(frozen=True)
class TorchInfo:
    """What torch says about itself. ``import_error`` is set when ``import torch`` failed;
    ``errors`` holds the attributes that could not be read (attribute -> "Type: message")."""

    import_error: str | None = None
    version: str | None = None
    cuda: str | None = None
    hip: str | None = None
    cuda_available: bool | None = None
    device_count: int | None = None
    arch_list: tuple[str, ...] = ()
    cudnn: int | None = None
    cxx11_abi: bool | None = None
    devices: tuple[TorchDevice, ...] = ()
    warnings: tuple[str, ...] = ()
    location: str | None = None
    errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def imported(self) -> bool:
        return self.import_error is None

    @property
    def cudnn_version(self) -> Version | None:
        """``torch.backends.cudnn.version()`` as a version: 90100 -> 9.1.0, 8902 -> 8.9.2."""
        if not self.cudnn:
            return None
        v = int(self.cudnn)
        if v >= 90000:  # cuDNN 9 encodes major * 10000 + minor * 100 + patch
            return Version(f"{v // 10000}.{v % 10000 // 100}.{v % 100}")
        return Version(f"{v // 1000}.{v % 1000 // 100}.{v % 100}")


@dataclass(frozen=True)
class ImportResult:
    """The import of a package after torch: ok, or the error of ``module`` (the submodule that
    loads its compiled extension, e.g. ``flash_attn.flash_attn_interface``)."""

    ok: bool
    version: str | None = None
    module: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class FrameworkInfo:
    """What TensorFlow, JAX or PaddlePaddle says about itself once imported.

    ``cuda_build`` is whether the build has CUDA (TensorFlow's build info, Paddle's
    ``is_compiled_with_cuda()``; None for JAX, whose CUDA is a plugin distribution); ``gpus`` the
    GPU devices it sees (TensorFlow's ``list_physical_devices("GPU")``, JAX's GPU devices);
    ``run_check`` Paddle's ``paddle.utils.run_check()``: (ok, error, what it printed).
    """

    name: str  # tensorflow | jax | paddle
    import_error: str | None = None
    version: str | None = None
    cuda_build: bool | None = None
    cuda: str | None = None
    cudnn: str | None = None
    backend: str | None = None
    gpus: tuple[str, ...] | None = None
    device_count: int | None = None
    run_check: tuple[bool, str | None, str] | None = None
    errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def imported(self) -> bool:
        return self.import_error is None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "import-error": self.import_error, "version": self.version, "cuda-build": self.cuda_build, "cuda": self.cuda,
            "cudnn": self.cudnn, "backend": self.backend, "gpus": list(self.gpus) if self.gpus is not None else None,
            "device-count": self.device_count, "errors": dict(self.errors) or None,
        }
        if self.run_check is not None:
            out["run-check"] = {"ok": self.run_check[0], "error": self.run_check[1], "output": self.run_check[2]}
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Library:
    """A CUDA library file found in a directory of ``LD_LIBRARY_PATH``."""

    directory: str
    file: str
    kind: str  # cudnn | cudart | cublas
    version: Version | None  # from the file name; None for an unversioned libfoo.so


@dataclass(frozen=True)
class Nvcc:
    """An ``nvcc`` the environment would use: from ``CUDA_HOME``/``CUDA_PATH`` or on ``PATH``."""

    source: str  # CUDA_HOME | CUDA_PATH | PATH
    path: str
    release: Version | None
    output: str = ""
    error: str | None = None


@dataclass(frozen=True)
class Environment:
    """Everything the probe read from one environment.

    ``distributions`` is keyed by normalized name. ``torch`` is None when torch is not
    installed. ``incomplete`` says why the probe did not finish (a hang or a crash, and in which
    step); what it read before that is kept.
    """

    python: str
    python_version: str | None = None
    prefix: str | None = None
    base_prefix: str | None = None  # differs from prefix in a virtual environment
    distributions: Mapping[str, Distribution] = field(default_factory=dict)
    torch: TorchInfo | None = None
    imports: Mapping[str, ImportResult] = field(default_factory=dict)
    frameworks: Mapping[str, FrameworkInfo] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    libraries: tuple[Library, ...] = ()
    nvcc: tuple[Nvcc, ...] = ()
    incomplete: str | None = None
    step_errors: Mapping[str, str] = field(default_factory=dict)
    stderr_tail: str | None = None  # the probe's last stderr line, when it did not finish

    def version_of(self, name: str) -> str | None:
        dist = self.distributions.get(canonicalize_name(name))
        return dist.version if dist else None

    @property
    def python_minor(self) -> str | None:
        """``"3.12"`` for Python 3.12.4."""
        if not self.python_version:
            return None
        return ".".join(self.python_version.split(".")[:2])

    @property
    def effective_nvcc(self) -> Nvcc | None:
        """The nvcc a source build would use: torch's ``cpp_extension`` takes ``CUDA_HOME`` (or
        ``CUDA_PATH``) first, then ``nvcc`` on ``PATH``."""
        return self.nvcc[0] if self.nvcc else None

    @classmethod
    def from_probe(
        cls, python: str, lines: str, *, incomplete: str | None = None, stderr_tail: str | None = None
    ) -> Environment:
        """Parse the probe's output (JSON lines). Lines that are not JSON are ignored; a step
        that began but never reported marks the environment incomplete."""
        sections: dict[str, dict[str, Any]] = {}
        begun: str | None = None
        done = False
        for line in lines.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if not isinstance(item, dict):
                continue
            if "begin" in item:
                begun = str(item["begin"])
            elif "section" in item and isinstance(item.get("data"), dict):
                sections[str(item["section"])] = item["data"]
                begun = None
            elif item.get("done"):
                done = True
        if not done and incomplete is None:
            incomplete = "the probe stopped"
        if incomplete is not None and begun is not None:
            incomplete = f"{incomplete} during step {begun!r}"
        env = _build(python, sections, incomplete)
        if incomplete is not None and stderr_tail:
            env = replace(env, stderr_tail=stderr_tail)
        return env

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        torch = None
        if self.torch is not None:
            t = self.torch
            torch = {
                "import-error": t.import_error, "version": t.version, "cuda": t.cuda, "hip": t.hip,
                "cuda-available": t.cuda_available, "device-count": t.device_count,
                "arch-list": list(t.arch_list), "cudnn": t.cudnn, "cxx11-abi": t.cxx11_abi,
                "devices": [{"index": d.index, "name": d.name, "capability": d.capability} for d in t.devices],
                "warnings": list(t.warnings), "location": t.location, "errors": dict(t.errors),
            }
            torch = {k: v for k, v in torch.items() if v not in (None, [], {})}
        out: dict[str, Any] = {
            "python": self.python,
            "python-version": self.python_version,
            "prefix": self.prefix,
            "base-prefix": self.base_prefix,
            "distributions": [
                {"name": d.name, "version": d.version} for d in sorted(self.distributions.values(), key=lambda d: d.name)
            ],
            "torch": torch,
            "imports": {
                name: {k: v for k, v in vars(r).items() if v is not None} for name, r in sorted(self.imports.items())
            },
            "frameworks": {name: f.to_dict() for name, f in sorted(self.frameworks.items())},
            "env": dict(self.env),
            "libraries": [
                {"path": os.path.join(lib.directory, lib.file), "kind": lib.kind, "version": str(lib.version) if lib.version else None}
                for lib in self.libraries
            ],
            "nvcc": [
                {"source": n.source, "path": n.path, "release": str(n.release) if n.release else None, "error": n.error}
                for n in self.nvcc
            ],
        }
        if self.incomplete:
            out["incomplete"] = self.incomplete
        if self.step_errors:
            out["step-errors"] = dict(self.step_errors)
        if self.stderr_tail:
            out["stderr-tail"] = self.stderr_tail
        return out


# --- pure parsing -----------------------------------------------------------------------------

_NVCC_RELEASE = re.compile(r"\brelease (\d+)\.(\d+)")
_LIBRARY = re.compile(r"^lib(cudnn|cudart|cublas)(?:\w*)\.so(?:\.(\d+(?:\.\d+)*))?$")


def parse_nvcc_release(text: str) -> Version | None:
    """The CUDA release of ``nvcc --version`` output: ``Cuda compilation tools, release 12.8,
    V12.8.93`` -> 12.8."""
    m = _NVCC_RELEASE.search(text)
    return Version(f"{m.group(1)}.{m.group(2)}") if m else None


def parse_library(file: str) -> tuple[str, Version | None] | None:
    """The kind and version of a CUDA library file name: ``libcudnn.so.8.9.2`` -> (cudnn, 8.9.2),
    ``libcublasLt.so.12`` -> (cublas, 12), ``libcudart.so`` -> (cudart, None); None otherwise."""
    m = _LIBRARY.match(file)
    if not m:
        return None
    try:
        version = Version(m.group(2)) if m.group(2) else None
    except InvalidVersion:
        version = None
    return m.group(1), version


def _build(python: str, s: dict[str, dict[str, Any]], incomplete: str | None) -> Environment:
    step_errors = {name: str(data["error"]) for name, data in s.items() if "error" in data and len(data) == 1}
    py = s.get("python", {})
    distributions = {}
    for row in s.get("distributions", {}).get("distributions", []):
        name = str(canonicalize_name(str(row.get("name", ""))))
        if name and name not in distributions:
            distributions[name] = Distribution(name, str(row.get("version", "")), tuple(str(r) for r in row.get("requires", ())))
    libraries = []
    # Several files of one library in a directory (libcudnn.so -> .so.8 -> .so.8.9.2): keep the
    # most specific version.
    best: dict[tuple[str, str, str], Library] = {}
    for row in s.get("libraries", {}).get("libraries", []):
        parsed = parse_library(str(row.get("file", "")))
        if parsed is None:
            continue
        kind, version = parsed
        lib = Library(str(row.get("dir", "")), str(row["file"]), kind, version)
        base = str(row["file"]).split(".so")[0]
        key = (lib.directory, base, str(version.major) if version else "")
        old = best.get(key)
        if old is None or (version is not None and (old.version is None or len(version.release) > len(old.version.release))):
            best[key] = lib
    libraries = [lib for lib in best.values() if lib.version is not None]
    nvcc = []
    for row in s.get("nvcc", {}).get("nvcc", []):
        output = str(row.get("output", ""))
        error = row.get("error")
        if error is None and row.get("returncode") not in (0, None):
            error = f"exit status {row['returncode']}"
        nvcc.append(Nvcc(str(row.get("source", "")), str(row.get("path", "")), parse_nvcc_release(output), output, error))
    return Environment(
        python=python,
        python_version=py.get("version"),
        prefix=py.get("prefix"),
        base_prefix=py.get("base_prefix"),
        distributions=distributions,
        torch=_torch(s["torch"]) if "torch" in s else None,
        imports={
            str(name): ImportResult(bool(r.get("ok")), r.get("version"), r.get("module"), r.get("error"))
            for name, r in s.get("imports", {}).get("imports", {}).items()
        },
        frameworks={
            str(name): _framework(str(name), data)
            for name, data in s.get("frameworks", {}).get("frameworks", {}).items() if isinstance(data, dict)
        },
        env={str(k): str(v) for k, v in s.get("env", {}).get("vars", {}).items()},
        libraries=tuple(libraries),
        nvcc=tuple(nvcc),
        incomplete=incomplete,
        step_errors=step_errors,
    )


def _framework(name: str, data: dict[str, Any]) -> FrameworkInfo:
    check = data.get("run_check")
    gpus = data.get("gpus")
    count = data.get("device_count")
    return FrameworkInfo(
        name=name,
        import_error=data.get("import_error"),
        version=data.get("version"),
        cuda_build=data.get("cuda_build") if isinstance(data.get("cuda_build"), bool) else None,
        cuda=data.get("cuda") or None,
        cudnn=data.get("cudnn") or None,
        backend=data.get("backend"),
        gpus=tuple(str(g) for g in gpus) if isinstance(gpus, list) else None,
        device_count=count if isinstance(count, int) else None,
        run_check=(bool(check.get("ok")), check.get("error"), str(check.get("output", ""))) if isinstance(check, dict) else None,
        errors={str(k): str(v) for k, v in data.get("errors", {}).items()},
    )


def _torch(data: dict[str, Any]) -> TorchInfo | None:
    if not data.get("installed") and "import_error" not in data:
        return None
    devices = tuple(
        TorchDevice(int(d.get("index", i)), d.get("name"), d.get("capability"))
        for i, d in enumerate(data.get("devices", ()))
    )
    cudnn = data.get("cudnn")
    return TorchInfo(
        import_error=data.get("import_error"),
        version=data.get("version"),
        cuda=data.get("cuda"),
        hip=data.get("hip"),
        cuda_available=data.get("cuda_available"),
        device_count=data.get("device_count"),
        arch_list=tuple(str(a) for a in data.get("arch_list") or ()),
        cudnn=int(cudnn) if isinstance(cudnn, int) else None,
        cxx11_abi=data.get("cxx11_abi"),
        devices=devices,
        warnings=tuple(data.get("warnings", ())),
        location=data.get("location"),
        errors=dict(data.get("errors", {})),
    )


# --- running the probe ------------------------------------------------------------------------


def find_python(prefix: str | Path) -> Path:
    """The interpreter of the environment at ``prefix``: ``bin/python`` (venv, conda on Linux and
    macOS), ``Scripts/python.exe`` (venv on Windows) or ``python.exe`` (conda on Windows).

    Raises :class:`ProbeError` (exit 2) when there is none, naming a broken link.
    """
    prefix = Path(prefix)
    if not prefix.is_dir():
        raise ProbeError(f"--prefix {prefix}: no such directory", hint="give the directory of a virtual environment or conda prefix")
    candidates = [prefix / "bin" / "python", prefix / "bin" / "python3", prefix / "Scripts" / "python.exe", prefix / "python.exe"]
    for path in candidates:
        if path.is_file():
            return path
    for path in candidates:
        if path.is_symlink():
            raise ProbeError(
                f"{path} is a broken link (to {os.readlink(path)}): the Python this environment was created with is gone",
                hint="re-create the environment (python -m venv --clear DIR), then install into it again",
            )
    raise ProbeError(
        f"--prefix {prefix}: no Python in it (looked for bin/python, Scripts/python.exe, python.exe)",
        hint="give the directory of a virtual environment or conda prefix",
    )


def probe_environment(
    python: str | Path | None = None, *, timeout: float = DEFAULT_TIMEOUT, env: Mapping[str, str] | None = None
) -> Environment:
    """Run the probe with ``python`` (default: this interpreter) and return what it read.

    ``env`` replaces the probe's environment variables (default: this process's). The whole
    probe gets ``timeout`` seconds; on a timeout or a crash the result has ``incomplete`` set.
    Raises :class:`ProbeError` when ``python`` cannot be started at all.
    """
    return start_probe(python, timeout=timeout, env=env).result()


def start_probe(
    python: str | Path | None = None, *, timeout: float = DEFAULT_TIMEOUT, env: Mapping[str, str] | None = None
) -> RunningProbe:
    """Start the probe as :func:`probe_environment` runs it, and return without waiting: the
    caller can do other work while the environment's Python imports torch, then take
    :meth:`RunningProbe.result`. ``timeout`` counts from now. The child is forked and exec'd
    without Python code between the two, so threads may be running."""
    return RunningProbe(str(python or sys.executable), timeout, env)


class RunningProbe:
    """A probe started by :func:`start_probe`: :meth:`result` waits for what it read,
    :meth:`kill` stops it (and whatever it started) when the caller gives up on it."""

    def __init__(self, python: str, timeout: float, env: Mapping[str, str] | None) -> None:
        self.python = python
        self._deadline = time.monotonic() + timeout
        self._timeout = timeout
        self._done = False
        self._script = contextlib.ExitStack()
        script = self._script.enter_context(resources.as_file(resources.files(__package__).joinpath("_probe.py")))
        log.debug("probing %s with %s (timeout %ss)", python, script, timeout)
        try:
            self._proc = subprocess.Popen(
                [python, str(script)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=dict(env) if env is not None else None, start_new_session=os.name == "posix",
            )
        except OSError as e:
            self._script.close()
            raise ProbeError(f"cannot run {python}: {e.strerror or e}", hint="check that the environment's Python runs") from e

    @property
    def pid(self) -> int:
        """The probe's process (on POSIX also its process group: what it starts is in it)."""
        return self._proc.pid

    def result(self) -> Environment:
        """Wait for the probe (until the timeout given at its start) and return what it read.
        Called once."""
        proc = self._proc
        incomplete = None
        try:
            out, err = proc.communicate(timeout=max(0.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill(proc)
            out, err = proc.communicate()
            incomplete = f"the probe timed out after {self._timeout:g} s"
        else:
            if proc.returncode != 0:
                incomplete = f"the probe exited with {_status(proc.returncode)}"
        finally:
            self._script.close()
        self._done = True
        stderr = err.decode("utf-8", "replace").strip()
        if stderr:
            log.debug("probe stderr: %s", stderr[-4000:])
        text = out.decode("utf-8", "replace")
        if incomplete is None and '"aienv-probe"' not in text:
            incomplete = "the probe printed nothing"
        tail = stderr.splitlines()[-1][:500] if stderr else None
        return Environment.from_probe(self.python, text, incomplete=incomplete, stderr_tail=tail)

    def kill(self) -> None:
        """Stop the probe if it still runs, and wait for it (nothing of it is left running).
        Does nothing once :meth:`result` has returned."""
        if self._done:
            return
        self._done = True
        if self._proc.poll() is None:
            _kill(self._proc)
        self._proc.communicate()
        self._script.close()


def _status(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill the probe and anything it started (its own session on POSIX)."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except OSError:
        pass
