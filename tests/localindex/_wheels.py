"""Builders of tiny but real wheels and sdists, with deterministic bytes.

Every archive member gets a fixed timestamp, mode and creator system, so the same arguments give
the same bytes (and so the same sha256) on every run on one machine. Wheel members are deflated
(as in real wheels; the zlib build could in principle change the bytes between machines), the
optional padding member is stored.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import random
import tarfile
import zipfile
from collections.abc import Iterable
from email.parser import HeaderParser

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = [
    "build_sdist",
    "build_wheel",
    "expand_tags",
    "metadata_text",
    "read_sdist_metadata",
    "read_wheel_metadata",
]

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_TAR_MTIME = 315532800  # 1980-01-01T00:00:00Z, the same instant as the zip timestamps
GENERATOR = "envspec-tests-localindex 1.0"
SDIST_SUFFIXES = (".tar.gz", ".zip")


def escape_name(name: str) -> str:
    """Return `name` as written in wheel and sdist filenames: PEP 503-normalized, `-` as `_`."""
    return canonicalize_name(name).replace("-", "_")


def escape_version(version: str) -> str:
    """Return `version` as written in filenames: normalized when it parses, else `-` as `_`."""
    try:
        return str(Version(version))
    except InvalidVersion:
        return version.replace("-", "_")


def expand_tags(tag: str) -> list[str]:
    """Expand a compressed tag set (`py2.py3-none-any`, `cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64`)
    into its single tags, in the order given (interpreter, then ABI, then platform)."""
    parts = tag.split("-")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"not a wheel tag set: {tag!r}")
    interpreters, abis, platforms = (part.split(".") for part in parts)
    return [f"{i}-{a}-{p}" for i in interpreters for a in abis for p in platforms]


def metadata_text(
    name: str,
    version: str,
    *,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    provides_extra: Iterable[str] = (),
    summary: str = "test package",
) -> bytes:
    """Return core metadata (Metadata-Version 2.1) as UTF-8 bytes: the METADATA of a wheel or the PKG-INFO of an sdist."""
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Provides-Extra: {extra}" for extra in provides_extra)
    lines.extend(f"Requires-Dist: {req}" for req in requires_dist)
    return ("\n".join(lines) + "\n").encode("utf-8")


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _pad_bytes(seed: str, size: int) -> bytes:
    return random.Random(seed).randbytes(size) if size > 0 else b""


def _zipinfo(path: str, compress_type: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
    info.compress_type = compress_type
    info.create_system = 3  # unix, also when built on Windows: same bytes everywhere
    info.external_attr = 0o100644 << 16
    return info


def _split_wheel_filename(filename: str) -> tuple[str, str, str | None, str]:
    """Return (name part, version part, build tag or None, tag set) of a wheel filename."""
    if not filename.endswith(".whl"):
        raise ValueError(f"not a wheel filename: {filename!r}")
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        raise ValueError(f"not a wheel filename: {filename!r}")
    build = parts[2] if len(parts) == 6 else None
    return parts[0], parts[1], build, "-".join(parts[-3:])


def build_wheel_parts(
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    provides_extra: Iterable[str] = (),
    summary: str = "test package",
    extra_files: dict[str, bytes] | None = None,
    filename: str | None = None,
    pad: int = 0,
) -> tuple[str, bytes, bytes]:
    """Like `build_wheel`, but return (filename, wheel bytes, METADATA bytes)."""
    if filename is None:
        name_part, version_part, build = escape_name(name), escape_version(version), None
        filename = f"{name_part}-{version_part}-{tag}.whl"
    else:
        name_part, version_part, build, tag = _split_wheel_filename(filename)
    tags = expand_tags(tag)
    purelib = all(t.endswith("-none-any") for t in tags)
    package = escape_name(name)
    dist_info = f"{name_part}-{version_part}.dist-info"

    metadata = metadata_text(
        name,
        version,
        requires_dist=requires_dist,
        requires_python=requires_python,
        provides_extra=provides_extra,
        summary=summary,
    )
    wheel_lines = ["Wheel-Version: 1.0", f"Generator: {GENERATOR}", f"Root-Is-Purelib: {'true' if purelib else 'false'}"]
    wheel_lines.extend(f"Tag: {t}" for t in tags)
    if build is not None:
        wheel_lines.append(f"Build: {build}")
    wheel_file = ("\n".join(wheel_lines) + "\n").encode("utf-8")

    members: list[tuple[str, bytes, int]] = []
    if f"{package}/__init__.py" not in (extra_files or {}):  # a package may bring its own
        init = f'"""{name} {version}: a test package."""\n__version__ = "{version}"\n'.encode()
        members.append((f"{package}/__init__.py", init, zipfile.ZIP_DEFLATED))
    for path in sorted(extra_files or {}):
        members.append((path, (extra_files or {})[path], zipfile.ZIP_DEFLATED))
    if pad > 0:
        members.append((f"{package}/_pad.bin", _pad_bytes(f"{filename}:{pad}", pad), zipfile.ZIP_STORED))
    # The .dist-info last, as real wheels have it: a reader of the archive's tail finds METADATA there.
    members.append((f"{dist_info}/METADATA", metadata, zipfile.ZIP_DEFLATED))
    members.append((f"{dist_info}/WHEEL", wheel_file, zipfile.ZIP_DEFLATED))

    record_path = f"{dist_info}/RECORD"
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data, _ in members)
    record += f"{record_path},,\n"
    members.append((record_path, record.encode("utf-8"), zipfile.ZIP_DEFLATED))

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data, compress_type in members:
            archive.writestr(_zipinfo(path, compress_type), data)
    return filename, buffer.getvalue(), metadata


def build_wheel(
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    provides_extra: Iterable[str] = (),
    summary: str = "test package",
    extra_files: dict[str, bytes] | None = None,
    filename: str | None = None,
    pad: int = 0,
) -> tuple[str, bytes]:
    """Build a tiny, valid wheel; return (filename, bytes).

    It holds `<pkg>/__init__.py`, `extra_files` (archive path -> bytes), an optional stored member
    `<pkg>/_pad.bin` of `pad` seeded random (incompressible) bytes, then `<dist>.dist-info/METADATA`,
    `WHEEL` (one `Tag:` line per tag of the expanded `tag` set) and `RECORD`. `filename` overrides
    the name built from `name`/`version`/`tag`; its own name, version and tag parts then name the
    .dist-info directory and the WHEEL tags. The bytes are the same on every run.
    """
    filename, data, _ = build_wheel_parts(
        name,
        version,
        tag=tag,
        requires_dist=requires_dist,
        requires_python=requires_python,
        provides_extra=provides_extra,
        summary=summary,
        extra_files=extra_files,
        filename=filename,
        pad=pad,
    )
    return filename, data


# The in-tree PEP 517 backend shipped in every sdist: stdlib only, no build requirements. It finds
# its files next to itself, so it works whatever the working directory of the caller.
_BACKEND = '''\
"""In-tree PEP 517 build backend of a test sdist (stdlib only, builds from PKG-INFO)."""

import base64
import gzip
import hashlib
import io
import os
import re
import tarfile
import zipfile
from email.parser import HeaderParser

HERE = os.path.dirname(os.path.abspath(__file__))
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _read(name):
    with open(os.path.join(HERE, name), "rb") as f:
        return f.read()


def _dist():
    msg = HeaderParser().parsestr(_read("PKG-INFO").decode("utf-8"))
    name = re.sub(r"[-_.]+", "_", msg["Name"]).lower()
    return name, msg["Version"].replace("-", "_")


def _wheel_file():
    return b"Wheel-Version: 1.0\\nGenerator: test-backend 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"


def _package_files(package):
    out = []
    root = os.path.join(HERE, package)
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for fname in sorted(files):
            if fname.endswith(".pyc"):
                continue
            full = os.path.join(folder, fname)
            rel = os.path.relpath(full, HERE).replace(os.sep, "/")
            with open(full, "rb") as f:
                out.append((rel, f.read()))
    return out


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, version = _dist()
    dist_info = name + "-" + version + ".dist-info"
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "wb") as f:
        f.write(_read("PKG-INFO"))
    with open(os.path.join(metadata_directory, dist_info, "WHEEL"), "wb") as f:
        f.write(_wheel_file())
    return dist_info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version = _dist()
    dist_info = name + "-" + version + ".dist-info"
    members = _package_files(name)
    members.append((dist_info + "/METADATA", _read("PKG-INFO")))
    members.append((dist_info + "/WHEEL", _wheel_file()))
    record = ""
    for path, data in members:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += path + ",sha256=" + digest + "," + str(len(data)) + "\\n"
    record += dist_info + "/RECORD,,\\n"
    members.append((dist_info + "/RECORD", record.encode()))
    filename = name + "-" + version + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for path, data in members:
            info = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            archive.writestr(info, data)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    name, version = _dist()
    top = name + "-" + version
    members = [("PKG-INFO", _read("PKG-INFO")), ("pyproject.toml", _read("pyproject.toml")),
               ("backend.py", _read("backend.py"))] + _package_files(name)
    filename = top + ".tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in members:
            info = tarfile.TarInfo(top + "/" + path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    with open(os.path.join(sdist_directory, filename), "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
            gz.write(buffer.getvalue())
    return filename
'''

_PYPROJECT = """\
[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]
"""


def build_sdist_parts(
    name: str,
    version: str,
    *,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    provides_extra: Iterable[str] = (),
    summary: str = "test package",
    filename: str | None = None,
) -> tuple[str, bytes, bytes]:
    """Like `build_sdist`, but return (filename, sdist bytes, PKG-INFO bytes)."""
    if filename is None:
        filename = f"{escape_name(name)}-{escape_version(version)}.tar.gz"
    suffix = next((s for s in SDIST_SUFFIXES if filename.endswith(s)), None)
    if suffix is None:
        raise ValueError(f"not an sdist filename (.tar.gz or .zip): {filename!r}")
    top = filename[: -len(suffix)]
    package = escape_name(name)
    pkg_info = metadata_text(
        name,
        version,
        requires_dist=requires_dist,
        requires_python=requires_python,
        provides_extra=provides_extra,
        summary=summary,
    )
    members = [
        ("PKG-INFO", pkg_info),
        ("pyproject.toml", _PYPROJECT.encode("utf-8")),
        ("backend.py", _BACKEND.encode("utf-8")),
        (f"{package}/__init__.py", f'"""{name} {version}: a test package."""\n__version__ = "{version}"\n'.encode()),
    ]
    buffer = io.BytesIO()
    if suffix == ".zip":
        with zipfile.ZipFile(buffer, "w") as archive:
            for path, data in members:
                archive.writestr(_zipinfo(f"{top}/{path}", zipfile.ZIP_DEFLATED), data)
        return filename, buffer.getvalue(), pkg_info
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in members:
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = _TAR_MTIME
            tar.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as gz:
        gz.write(buffer.getvalue())
    return filename, compressed.getvalue(), pkg_info


def build_sdist(
    name: str,
    version: str,
    *,
    requires_dist: Iterable[str] = (),
    requires_python: str | None = None,
    provides_extra: Iterable[str] = (),
    summary: str = "test package",
    filename: str | None = None,
) -> tuple[str, bytes]:
    """Build a real sdist; return (filename, bytes).

    A `.tar.gz` (or a `.zip` when `filename` ends so) with one top directory holding `PKG-INFO`
    (Metadata-Version 2.1, so readers may not trust it and must build), a `pyproject.toml` whose
    build backend is in-tree (`requires = []`, `build-backend = "backend"`, `backend-path = ["."]`),
    that `backend.py` (PEP 517 hooks, stdlib only; the metadata it prepares is PKG-INFO) and
    `<pkg>/__init__.py`. An isolated PEP 517 build needs nothing from any index. Same bytes every run.
    """
    filename, data, _ = build_sdist_parts(
        name,
        version,
        requires_dist=requires_dist,
        requires_python=requires_python,
        provides_extra=provides_extra,
        summary=summary,
        filename=filename,
    )
    return filename, data


def read_wheel_metadata(data: bytes) -> bytes:
    """Return the METADATA bytes of a wheel (the top-level `*.dist-info/METADATA` member)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.namelist():
            parts = member.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                return archive.read(member)
    raise ValueError("wheel has no .dist-info/METADATA")


def read_sdist_metadata(data: bytes, filename: str) -> bytes:
    """Return the PKG-INFO bytes at the top directory of an sdist (.tar.gz or .zip by `filename`)."""
    if filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                parts = member.split("/")
                if len(parts) == 2 and parts[1] == "PKG-INFO":
                    return archive.read(member)
    else:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar.getmembers():
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == "PKG-INFO" and member.isfile():
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        return extracted.read()
    raise ValueError(f"sdist {filename} has no PKG-INFO")


def parse_metadata(data: bytes) -> dict[str, list[str]]:
    """Parse core metadata bytes into {field: [values]} (fields as written, values in order)."""
    message = HeaderParser().parsestr(data.decode("utf-8"))
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key, []).append(value)
    return fields
