"""aienv's environment probe: run as a script by the interpreter of the environment to inspect.

    <prefix>/bin/python _probe.py

It reports what that environment holds, as JSON lines on its own copy of stdout: first
``{"aienv-probe": 1}``, then for each step ``{"begin": STEP}`` and ``{"section": STEP, "data":
{...}}``, and last ``{"done": true}``. Anything else written to stdout (by torch, by an
extension's loader) is sent to stderr, so the JSON stream stays clean; a step that hangs or
crashes the interpreter is the last one begun. Every step is guarded: a failing import or call
is recorded as data (``"ExceptionType: message"``), never raised.

Stdlib only and Python 3.8 syntax: it runs inside whatever environment it inspects, and imports
nothing of aienv. The parent (``envspec.doctor.environment``) enforces the timeout.
"""

import importlib
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import warnings

# Run as a script, Python puts this file's directory first on sys.path: take it off, so that
# nothing beside this file can shadow a module of the environment.
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _HERE:
    del sys.path[0]

PROTOCOL = 1
#: Distributions whose Requires-Dist the checks read (torch pins, triton pins).
REQUIRES_OF = ("torch", "torchvision", "torchaudio", "xformers", "flash-attn", "triton")
ENV_VARS = ("LD_LIBRARY_PATH", "LD_PRELOAD", "CUDA_HOME", "CUDA_PATH", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")
LIBRARY = re.compile(r"^lib(cudnn|cudart|cublas)\w*\.so(\.[0-9.]+)?$")
#: Modules imported after torch, and the submodule that really loads each one's extension.
IMPORTS = (
    ("torchvision", ("torchvision",)),
    ("torchaudio", ("torchaudio",)),
    ("xformers", ("xformers", "xformers.ops")),
    ("flash_attn", ("flash_attn", "flash_attn.flash_attn_interface")),
)
MAX_TEXT = 2000


def _error(exc):
    text = f"{type(exc).__name__}: {exc}"
    return text[:MAX_TEXT]


def _try(info, key, fn):
    """info[key] = fn(), or the error under info["errors"][key]."""
    try:
        info[key] = fn()
    except Exception as e:  # noqa: BLE001 - a failing call is data
        info.setdefault("errors", {})[key] = _error(e)


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def step_python():
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "platform": sys.platform,
        "machine": platform.machine(),
    }


def _named_by_path(dist):
    """(name, version) from a ``NAME-VERSION.dist-info`` directory's name, as installers write it
    (the wheel spec's escaped name and version, "Recording installed projects"), which spares
    parsing every METADATA file; None for anything else (``.egg-info``, an odd name)."""
    path = getattr(dist, "_path", None)
    stem = getattr(path, "name", "")
    if not stem.endswith(".dist-info"):
        return None
    name, sep, version = stem[: -len(".dist-info")].partition("-")
    if not (sep and name and version) or "-" in version:
        return None
    return name, version


def step_distributions():
    from importlib import metadata

    found = []
    seen = set()
    duplicates = []
    for dist in metadata.distributions():
        named = _named_by_path(dist)
        try:
            name, version = named or (dist.metadata["Name"], dist.version)
        except Exception:  # noqa: BLE001, S112 - an unreadable .dist-info is skipped
            continue
        if not name:
            continue
        key = _norm(name)
        if key in seen:  # sys.path order: the first one is what imports see
            duplicates.append({"name": key, "version": version})
            continue
        seen.add(key)
        row = {"name": key, "version": version}
        if key in REQUIRES_OF:
            try:
                row["requires"] = list(dist.requires or [])
            except Exception as e:  # noqa: BLE001
                row["requires_error"] = _error(e)
        found.append(row)
    return {"distributions": found, "duplicates": duplicates}


def step_env():
    return {"vars": {k: os.environ[k] for k in ENV_VARS if k in os.environ}}


def step_libraries():
    found = []
    for directory in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep):
        if not directory:
            continue
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            if LIBRARY.match(name):
                found.append({"dir": directory, "file": name})
    return {"libraries": found}


def _run_nvcc(path):
    try:
        done = subprocess.run(
            [path, "--version"], check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, timeout=20,
        )
        return {"output": done.stdout.decode("utf-8", "replace")[:MAX_TEXT], "returncode": done.returncode}
    except Exception as e:  # noqa: BLE001
        return {"error": _error(e)}


def step_nvcc():
    exe = "nvcc.exe" if os.name == "nt" else "nvcc"
    candidates = []
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home:
        candidates.append(("CUDA_HOME" if os.environ.get("CUDA_HOME") else "CUDA_PATH", os.path.join(home, "bin", exe)))
    on_path = shutil.which("nvcc")
    if on_path:
        candidates.append(("PATH", on_path))
    out = []
    for source, path in candidates:
        row = {"source": source, "path": path}
        if os.path.isfile(path):
            row.update(_run_nvcc(path))
        else:
            row["error"] = "not found"
        out.append(row)
    return {"nvcc": out}


def step_torch():
    if importlib.util.find_spec("torch") is None:
        return {"installed": False}
    info = {"installed": True}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            import torch
        except BaseException as e:  # a failed import of torch is what doctor reports
            if isinstance(e, KeyboardInterrupt):
                raise
            info["import_error"] = _error(e)
            return info
        info["location"] = getattr(torch, "__file__", None)
        _try(info, "version", lambda: str(torch.__version__))
        _try(info, "cuda", lambda: importlib.import_module("torch.version").cuda)
        _try(info, "hip", lambda: getattr(importlib.import_module("torch.version"), "hip", None))
        _try(info, "cxx11_abi", lambda: bool(importlib.import_module("torch._C")._GLIBCXX_USE_CXX11_ABI))
        _try(info, "cudnn", lambda: importlib.import_module("torch.backends.cudnn").version())
        cuda = None
        try:
            cuda = importlib.import_module("torch.cuda")
        except Exception as e:  # noqa: BLE001
            info.setdefault("errors", {})["torch.cuda"] = _error(e)
        if cuda is not None:
            _try(info, "cuda_available", lambda: bool(cuda.is_available()))
            _try(info, "arch_list", lambda: list(cuda.get_arch_list()))
            if info.get("cuda_available"):
                _try(info, "device_count", lambda: int(cuda.device_count()))
                devices = []
                for i in range(info.get("device_count") or 0):
                    device = {"index": i}
                    _try(device, "name", lambda i=i: str(cuda.get_device_name(i)))
                    _try(device, "capability", lambda i=i: "{}.{}".format(*cuda.get_device_capability(i)))
                    devices.append(device)
                info["devices"] = devices
    info["warnings"] = sorted({str(w.message)[:MAX_TEXT] for w in caught})
    return info


def step_imports():
    results = {}
    if "torch" not in sys.modules:  # torch is missing or broken: its companions cannot load
        return {"imports": results}
    for name, modules in IMPORTS:
        try:
            if importlib.util.find_spec(name) is None:
                continue
        except Exception as e:  # noqa: BLE001
            results[name] = {"ok": False, "error": _error(e)}
            continue
        row = {"ok": True}
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            for module in modules:
                try:
                    imported = importlib.import_module(module)
                except BaseException as e:  # ImportError, OSError, RuntimeError...
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    row = {"ok": False, "module": module, "error": _error(e)}
                    break
                if module == name:
                    version = getattr(imported, "__version__", None)
                    if version is not None:
                        row["version"] = str(version)
        results[name] = row
    return {"imports": results}


def _tensorflow(tf, info):
    _try(info, "version", lambda: str(tf.__version__))
    build = {}
    _try(build, "info", lambda: dict(tf.sysconfig.get_build_info()))
    data = build.get("info") or {}
    info["cuda_build"] = bool(data.get("is_cuda_build")) if "is_cuda_build" in data else None
    for key in ("cuda_version", "cudnn_version"):
        if data.get(key):
            info[key.split("_")[0]] = str(data[key])
    if "errors" in build:
        info.setdefault("errors", {}).update(build["errors"])
    _try(info, "gpus", lambda: [str(d.name) for d in tf.config.list_physical_devices("GPU")])


def _jax(jax, info):
    _try(info, "version", lambda: str(jax.__version__))
    _try(info, "backend", lambda: str(jax.default_backend()))
    _try(info, "gpus", lambda: [str(d) for d in jax.devices() if d.platform in ("gpu", "cuda", "rocm")])


def _paddle(paddle, info):
    _try(info, "version", lambda: str(paddle.__version__))
    _try(info, "cuda_build", lambda: bool(paddle.device.is_compiled_with_cuda()))
    if info.get("cuda_build"):
        _try(info, "cuda", lambda: str(paddle.version.cuda()))
        _try(info, "cudnn", lambda: str(paddle.version.cudnn()))
        _try(info, "device_count", lambda: int(paddle.device.cuda.device_count()))
    # paddle.utils.run_check() is Paddle's own install check: it trains a small network on one
    # device, then on all of them, and prints which (python/paddle/utils/install_check.py).
    import contextlib
    import io

    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            paddle.utils.run_check()
        info["run_check"] = {"ok": True}
    except BaseException as e:  # its failure is what doctor reports
        if isinstance(e, KeyboardInterrupt):
            raise
        info["run_check"] = {"ok": False, "error": _error(e)}
    info["run_check"]["output"] = printed.getvalue()[-MAX_TEXT:]


#: Frameworks beside torch: (name, module, what to read once imported).
FRAMEWORKS = (
    ("tensorflow", "tensorflow", _tensorflow),
    ("jax", "jax", _jax),
    ("paddle", "paddle", _paddle),
)


def step_frameworks():
    results = {}
    for name, module, read in FRAMEWORKS:
        try:
            if importlib.util.find_spec(module) is None:
                continue
        except Exception as e:  # noqa: BLE001
            results[name] = {"import_error": _error(e)}
            continue
        info = {}
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            try:
                imported = importlib.import_module(module)
            except BaseException as e:  # ImportError, OSError: a missing system library
                if isinstance(e, KeyboardInterrupt):
                    raise
                results[name] = {"import_error": _error(e)}
                continue
            try:
                read(imported, info)
            except Exception as e:  # noqa: BLE001
                info.setdefault("errors", {})["read"] = _error(e)
        results[name] = info
    return {"frameworks": results}


STEPS = (
    ("python", step_python),
    ("distributions", step_distributions),
    ("env", step_env),
    ("libraries", step_libraries),
    ("nvcc", step_nvcc),
    ("torch", step_torch),
    ("imports", step_imports),
    ("frameworks", step_frameworks),
)


def main():
    # Our own channel: a duplicate of stdout. Then fd 1 (and so sys.stdout and any C code that
    # prints) goes to stderr.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(2, 1)

    def emit(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    emit({"aienv-probe": PROTOCOL})
    for name, fn in STEPS:
        emit({"begin": name})
        try:
            data = fn()
        except BaseException as e:  # a step's failure is data
            if isinstance(e, KeyboardInterrupt):
                raise
            data = {"error": _error(e)}
        emit({"section": name, "data": data})
    emit({"done": True})
    out.close()


if __name__ == "__main__":
    main()
