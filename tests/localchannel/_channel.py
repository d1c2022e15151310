"""Tiny real conda packages and a channel of them, served by an IndexServer (see __init__)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.localindex import IndexServer

__all__ = ["SUBDIRS", "CondaPackage", "LocalChannel", "add_demo_packages", "build_conda_package", "read_index_json"]

#: The subdirs a LocalChannel always publishes a repodata.json for (empty until packages come).
SUBDIRS = ("linux-64", "linux-aarch64", "win-64", "osx-arm64", "noarch")
# A fixed build time (2025-01-01, in ms as conda writes it): the same inputs give the same bytes.
TIMESTAMP = 1735689600000


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
) -> CondaPackage:
    """A real `.tar.bz2` conda package holding `info/index.json` and an empty `info/paths.json`
    (deterministic bytes), with its repodata record."""
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
    members = {
        "info/index.json": json.dumps(index, indent=2, sort_keys=True).encode(),
        "info/paths.json": json.dumps({"paths": [], "paths_version": 1}).encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:bz2") as tar:
        for member, content in members.items():
            info = tarfile.TarInfo(member)
            info.size, info.mtime, info.mode = len(content), TIMESTAMP // 1000, 0o644
            tar.addfile(info, io.BytesIO(content))
    data = buffer.getvalue()
    record = {
        **index,
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    return CondaPackage(subdir, f"{name}-{version}-{build}.tar.bz2", data, record)


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
        return {
            "info": {"subdir": subdir},
            "packages": {f: p.record for f, p in sorted(self.packages.get(subdir, {}).items())},
            "packages.conda": {},
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
