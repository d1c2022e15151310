"""Tiny real conda packages and a channel of them, served by an IndexServer (see __init__)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.localindex import IndexServer

__all__ = [
    "PLACEHOLDER", "SUBDIRS", "CondaFile", "CondaPackage", "LocalChannel", "add_demo_packages", "build_conda_package",
    "read_index_json",
]

#: The prefix placeholder of text files (conda-build's historical one): the installer replaces it
#: with the prefix the package is installed into.
PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"

#: The subdirs a LocalChannel always publishes a repodata.json for (empty until packages come).
SUBDIRS = ("linux-64", "linux-aarch64", "win-64", "osx-arm64", "noarch")
# A fixed build time (2025-01-01, in ms as conda writes it): the same inputs give the same bytes.
TIMESTAMP = 1735689600000


@dataclass(frozen=True)
class CondaFile:
    """A file of a package: its bytes and mode, or a symbolic link (``link_to``); ``placeholder``
    marks a text file holding :data:`PLACEHOLDER` (paths.json's ``prefix_placeholder``)."""

    data: bytes = b""
    mode: int = 0o644
    placeholder: bool = False
    link_to: str | None = None


@dataclass(frozen=True)
class CondaPackage:
    """A built package: its file name, bytes and repodata record (index.json plus hashes)."""

    subdir: str
    filename: str
    data: bytes
    record: dict[str, Any]

    @property
    def sha256(self) -> str:
        return self.record["sha256"]

    @property
    def md5(self) -> str:
        return self.record["md5"]


def build_conda_package(
    name: str,
    version: str,
    build: str = "0",
    *,
    subdir: str,
    depends: Iterable[str] = (),
    constrains: Iterable[str] = (),
    noarch: str | None = None,
    build_number: int = 0,
    files: Mapping[str, bytes | CondaFile] | None = None,
    fmt: str = "tar.bz2",
) -> CondaPackage:
    """A real conda package holding `info/index.json` and `info/paths.json` (deterministic
    bytes), with its repodata record: `.tar.bz2`, or with `fmt="conda"` the `.conda` format (a
    zip of zstd-compressed `info-*.tar.zst` and `pkg-*.tar.zst`; needs the `zstandard` module).
    `files` are the package's files (paths relative to the prefix; for a `noarch: python`
    package, `site-packages/...`), listed in paths.json with sha256 and size; none by default."""
    index: dict[str, Any] = {
        "arch": None if subdir == "noarch" else {"64": "x86_64"}.get(subdir.rsplit("-", 1)[-1], subdir.rsplit("-", 1)[-1]),
        "build": build,
        "build_number": build_number,
        "constrains": list(constrains),
        "depends": list(depends),
        "license": "MIT",
        "name": name,
        "platform": None if subdir == "noarch" else subdir.split("-", 1)[0],
        "subdir": subdir,
        "timestamp": TIMESTAMP,
        "version": version,
    }
    if noarch:
        index["noarch"] = noarch
    content = {path: f if isinstance(f, CondaFile) else CondaFile(f) for path, f in sorted((files or {}).items())}
    info = {
        "info/index.json": CondaFile(json.dumps(index, indent=2, sort_keys=True).encode()),
        "info/paths.json": CondaFile(json.dumps({"paths": [_paths_entry(p, f) for p, f in content.items()], "paths_version": 1}).encode()),
    }
    if fmt == "conda":
        data = _dot_conda(f"{name}-{version}-{build}", info, content)
    else:
        data = _tar({**info, **content}, "w:bz2")
    record = {
        **index,
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    return CondaPackage(subdir, f"{name}-{version}-{build}.{fmt}", data, record)


def _paths_entry(path: str, f: CondaFile) -> dict[str, Any]:
    if f.link_to is not None:
        return {"_path": path, "path_type": "softlink", "sha256": hashlib.sha256(f.link_to.encode()).hexdigest(), "size_in_bytes": 0}
    entry = {"_path": path, "path_type": "hardlink", "sha256": hashlib.sha256(f.data).hexdigest(), "size_in_bytes": len(f.data)}
    if f.placeholder:
        entry.update(prefix_placeholder=PLACEHOLDER, file_mode="text")
    return entry


def _tar(members: Mapping[str, CondaFile], mode: str, **kw: Any) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode, **kw) as tar:  # type: ignore[call-overload]
        for member, f in members.items():
            info = tarfile.TarInfo(member)
            info.mtime, info.mode = TIMESTAMP // 1000, f.mode
            if f.link_to is not None:
                info.type, info.linkname = tarfile.SYMTYPE, f.link_to
                tar.addfile(info)
            else:
                info.size = len(f.data)
                tar.addfile(info, io.BytesIO(f.data))
    return buffer.getvalue()


def _dot_conda(stem: str, info: Mapping[str, CondaFile], content: Mapping[str, CondaFile]) -> bytes:
    import zstandard  # conda-lock's dependency, in the test extra

    compressor = zstandard.ZstdCompressor(level=1)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for member, data in (("metadata.json", json.dumps({"conda_pkg_format_version": 2}).encode()),
                             (f"info-{stem}.tar.zst", compressor.compress(_tar(info, "w"))),
                             (f"pkg-{stem}.tar.zst", compressor.compress(_tar(content, "w")))):
            entry = zipfile.ZipInfo(member, date_time=(2025, 1, 1, 0, 0, 0))
            z.writestr(entry, data)
    return out.getvalue()


def read_index_json(data: bytes) -> dict[str, Any]:
    """The `info/index.json` of a `.tar.bz2` package's bytes."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:bz2") as tar:
        member = tar.extractfile("info/index.json")
        assert member is not None
        return json.loads(member.read())


@dataclass
class LocalChannel:
    """A conda channel at `<server.url>/<name>`: packages at `/<name>/<subdir>/<file>`, each
    subdir's `repodata.json` rewritten on every `add` (ETag changes, so clients revalidate)."""

    server: IndexServer
    name: str
    packages: dict[str, dict[str, CondaPackage]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for subdir in SUBDIRS:
            self._publish(subdir)

    @property
    def url(self) -> str:
        return f"{self.server.url}/{self.name}"

    def add(self, name: str, version: str, build: str = "0", *, subdir: str, **kw: Any) -> CondaPackage:
        """Build a package (see `build_conda_package`), serve it, list it in its repodata.json."""
        package = build_conda_package(name, version, build, subdir=subdir, **kw)
        self.packages.setdefault(subdir, {})[package.filename] = package
        self.server.add_static(
            f"/{self.name}/{subdir}/{package.filename}", package.data,
            cache_control="max-age=365000000, immutable, public",
        )
        self._publish(subdir)
        return package

    def file_url(self, subdir: str, filename: str) -> str:
        return f"{self.url}/{subdir}/{filename}"

    def find(self, subdir: str, name: str, version: str) -> CondaPackage:
        return next(p for p in self.packages[subdir].values() if p.record["name"] == name and p.record["version"] == version)

    def repodata(self, subdir: str) -> dict[str, Any]:
        packages = sorted(self.packages.get(subdir, {}).items())
        return {
            "info": {"subdir": subdir},
            "packages": {f: p.record for f, p in packages if f.endswith(".tar.bz2")},
            "packages.conda": {f: p.record for f, p in packages if f.endswith(".conda")},
            "removed": [],
            "repodata_version": 1,
        }

    def _publish(self, subdir: str) -> None:
        body = json.dumps(self.repodata(subdir), indent=1, sort_keys=True).encode()
        self.server.add_static(f"/{self.name}/{subdir}/repodata.json", body, content_type="application/json")


def add_demo_packages(channel: LocalChannel) -> None:
    """What the conda tests solve: for linux-64 and win-64, python 3.11/3.12/3.13, ffmpeg (two
    versions; 7.1 needs libfoo >=1.1 and constrains libfoo <2), libfoo 1.0/1.2/2.0, cuda-nvcc
    12.4 and 12.8 (needing `__cuda` of their minor and, on Linux, `__glibc >=2.28`, as
    conda-forge's nvcc needs a driver and a sysroot); pip as a noarch python package."""
    for subdir in ("linux-64", "win-64"):
        linux = subdir.startswith("linux")
        glibc = ["__glibc >=2.17"] if linux else []
        for version, tag in (("3.11.11", "311"), ("3.12.8", "312"), ("3.13.1", "313")):
            channel.add("python", version, f"h{tag}_0_cpython", subdir=subdir, depends=[*glibc, "libfoo >=1.0"])
        for version in ("1.0", "1.2", "2.0"):
            channel.add("libfoo", version, "h0", subdir=subdir, depends=glibc)
        channel.add("ffmpeg", "6.1", "h1", subdir=subdir, depends=["libfoo >=1.0"])
        channel.add("ffmpeg", "7.1", "h2", subdir=subdir, depends=["libfoo >=1.1"], constrains=["libfoo <2"])
        for version, cuda in (("12.4.131", "12.4"), ("12.8.93", "12.8")):
            sysroot = ["__glibc >=2.28"] if linux else []
            channel.add("cuda-nvcc", version, "h0", subdir=subdir, depends=[f"__cuda >={cuda}", *sysroot])
    channel.add("pip", "25.0", "pyh8b19718_0", subdir="noarch", depends=["python >=3.9"], noarch="python")
