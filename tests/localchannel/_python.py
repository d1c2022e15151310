"""A conda `python` package holding a real CPython (this interpreter's own installation), and a
`pip` package holding this interpreter's pip.

`python_package_files()` returns the files of a conda package that installs, under a prefix,
the interpreter running the tests: `bin/python3.X` (with `bin/python3` and `bin/python` linking
to it), the standard library from `sys.base_prefix` (`lib/python3.X`, `lib-dynload` included)
and an empty `site-packages`, as conda-forge's python package lays them out. Trimmed to what a
program needs: no test suites, GUI toolkits, IDLE, bundled pip wheels, byte code or the site
packages of this installation (about 20 MB, 700 files).

As in conda-forge's package, `_sysconfigdata_*.py` names its install prefix through the prefix
placeholder (the installer writes the real prefix there), so `sysconfig.get_config_var("prefix")`
in the installed prefix is the prefix it was installed for. The binary is this interpreter's:
when it loads `libpython` through an `$ORIGIN`-relative path the library is copied too;
otherwise it finds it where this installation keeps it (its absolute RUNPATH, or the system's
library path), and everything else in the prefix, from its own location.

Stdlib only.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

from ._channel import PLACEHOLDER, CondaFile

__all__ = ["pip_package_files", "python_package_files"]

_SKIP_DIRS = {
    "site-packages", "dist-packages", "test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
    "pydoc_data", "__pycache__",
}
_SKIP_EXTENSIONS = (
    "_test", "_ctypes_test", "_xx", "xx", "_tkinter", "_curses", "_dbm", "_gdbm", "_sqlite3", "_codecs_", "audioop",
    "nis", "ossaudiodev", "spwd", "_crypt",
)


def python_package_files() -> dict[str, CondaFile]:
    """The files of a `python` conda package made from this interpreter (see the module
    docstring). Raises FileNotFoundError when this installation has no `bin/python3.X`."""
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    base = Path(sys.base_prefix)
    binary = base / "bin" / f"python{minor}"
    stdlib = Path(sysconfig.get_path("stdlib", vars={"installed_base": str(base), "base": str(base)}))
    data = binary.read_bytes()
    files: dict[str, CondaFile] = {
        f"bin/python{minor}": CondaFile(data, 0o755),
        "bin/python3": CondaFile(link_to=f"python{minor}"),
        "bin/python": CondaFile(link_to=f"python{minor}"),
        f"lib/python{minor}/site-packages/README.txt": CondaFile(b"This directory exists so that 3rd party packages can be installed here.\n"),
    }
    library = sysconfig.get_config_var("INSTSONAME")
    libdir = sysconfig.get_config_var("LIBDIR")
    if b"$ORIGIN" in data and sysconfig.get_config_var("Py_ENABLE_SHARED") and library and libdir:
        files[f"lib/{library}"] = CondaFile((Path(libdir) / library).read_bytes(), 0o755)
    for root, dirs, names in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("config-"))
        where = Path(root)
        for name in sorted(names):
            if name.endswith((".pyc", ".pyo")) or name == "EXTERNALLY-MANAGED":
                continue
            if where.name == "lib-dynload" and name.startswith(_SKIP_EXTENSIONS):
                continue
            path = where / name
            if path.is_symlink() or not path.is_file():
                continue
            relative = f"lib/python{minor}/{path.relative_to(stdlib).as_posix()}"
            content = path.read_bytes()
            if name.startswith("_sysconfigdata") and name.endswith(".py") and str(base).encode() in content:
                files[relative] = CondaFile(content.replace(str(base).encode(), PLACEHOLDER.encode()), 0o644, placeholder=True)
            else:
                files[relative] = CondaFile(content, path.stat().st_mode & 0o777)
    return files


def pip_package_files() -> tuple[str, dict[str, CondaFile]]:
    """The version and files of a `noarch: python` conda package of the pip installed here
    (`site-packages/pip/...` and its dist-info, no byte code, no scripts), as conda-forge's pip
    package holds it. Raises PackageNotFoundError without pip."""
    from importlib import metadata

    dist = metadata.distribution("pip")
    files = {}
    for entry in dist.files or ():
        name = entry.as_posix()
        if name.startswith("..") or name.endswith(".pyc") or "__pycache__" in name:
            continue
        path = Path(str(dist.locate_file(entry)))
        if path.is_file():
            files[f"site-packages/{name}"] = CondaFile(path.read_bytes())
    return dist.version, files
