"""The core metadata of one file on an index, the cheapest way first.

1. PEP 658/714: when the page offers it, ``<file url>.metadata``; its sha256 is checked against
   the page's (``hash-mismatch``). A 404 there falls through to 2.
2. Wheels: HTTP range reads. A seekable file over Range requests (:class:`RangeFile`) fetches
   the last 64 KiB (learning the size from Content-Range), then only the blocks
   :mod:`zipfile` asks for, and ``*.dist-info/METADATA`` is read from the archive: a multi-GB
   wheel costs a few KiB. A server that ignores Range (200 with the whole body) is accepted only
   for a small file (:data:`WHOLE_FILE_LIMIT`), whose sha256 is then checked against the index.
3. Sdists: download (sha256 checked), unpack safely into a temporary directory and ask the
   build backend, in an isolated environment (``build.util.project_wheel_metadata``), with the
   build requirements installed from the default index. One build at a time (it sets
   ``PIP_INDEX_URL`` in the process environment). A failure is ``metadata-build-failed`` with
   the last lines of the output.

The metadata's Name and Version must equal the file name's (``metadata-mismatch``).
"""

from __future__ import annotations

import contextlib
import email.parser
import hashlib
import io
import logging
import os
import re
import subprocess
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envspec.errors import SourceError
from envspec.sources._model import CoreMetadata, DistFile

if TYPE_CHECKING:
    from envspec.sources._http import HttpClient

__all__ = [
    "TAIL_SIZE",
    "WHOLE_FILE_LIMIT",
    "BuildIndex",
    "Fetched",
    "RangeFile",
    "check_matches",
    "fetch_metadata",
    "parse_metadata",
]

logger = logging.getLogger(__name__)

TAIL_SIZE = 64 * 1024  # the first range read: the end of the archive (central directory)
BLOCK_SIZE = 16 * 1024  # the smallest later range read
WHOLE_FILE_LIMIT = 10 * 1024 * 1024  # a server without Range support: largest file accepted
_IDENTITY = {"Accept-Encoding": "identity"}
_BUILD_LOCK = threading.Lock()


@dataclass(frozen=True)
class Fetched:
    """Metadata and how it came: ``method`` is ``pep658``, ``range`` or ``sdist``."""

    metadata: CoreMetadata
    method: str
    wire_bytes: int


@dataclass(frozen=True)
class BuildIndex:
    """Where sdist builds install their build requirements from (the default index)."""

    url: str
    credentials: tuple[str, str] | None = None

    def pip_index_url(self) -> str:
        if self.credentials is None:
            return self.url
        user, password = (quote(c, safe="") for c in self.credentials)
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, f"{user}:{password}@{parts.netloc}", *parts[2:]))


# --- parsing and checking -------------------------------------------------------------------


def _bad(url: str, message: str) -> SourceError:
    return SourceError(url, message, code="index-bad-response")


def _from_message(msg: Any, url: str) -> CoreMetadata:
    name, version = msg.get("Name"), msg.get("Version")
    if not name or not version:
        raise _bad(url, "the metadata has no Name or no Version")
    try:
        parsed_version = Version(str(version).strip())
    except InvalidVersion as e:
        raise _bad(url, f"the metadata's Version {version!r} is invalid") from e
    requires_python = msg.get("Requires-Python")
    return CoreMetadata(
        name=canonicalize_name(str(name).strip()),
        version=parsed_version,
        requires_dist=tuple(str(r).strip() for r in msg.get_all("Requires-Dist") or ()),
        requires_python=str(requires_python).strip() or None if requires_python else None,
        provides_extra=tuple(str(e).strip() for e in msg.get_all("Provides-Extra") or ()),
    )


def parse_metadata(data: bytes, url: str) -> CoreMetadata:
    """Parse a METADATA / PKG-INFO file (RFC 822 headers; the body is ignored)."""
    msg = email.parser.Parser().parsestr(data.decode("utf-8", errors="replace"), headersonly=True)
    return _from_message(msg, url)


def check_matches(metadata: CoreMetadata, file: DistFile, url: str | None = None) -> None:
    """Raise ``metadata-mismatch`` unless the metadata's name and version are the file's."""
    if metadata.name != file.name or metadata.version != file.version:
        raise SourceError(
            url or file.url,
            f"metadata says {metadata.name} {metadata.version} but the index file is "
            f"{file.name} {file.version}",
            code="metadata-mismatch",
            hint="the index serves inconsistent files; report it to the index's maintainers",
        )


def _check_sha256(data_sha256: str, expected: str | None, url: str) -> None:
    if expected and data_sha256 != expected.lower():
        raise SourceError(
            url,
            f"sha256 {data_sha256} does not match the index's {expected}",
            code="hash-mismatch",
            hint="the file changed on the index or was corrupted in transit; try again, and "
            "distrust the index if it persists",
        )


# --- the three ways -------------------------------------------------------------------------


def fetch_metadata(file: DistFile, http: HttpClient, build_index: BuildIndex | None = None) -> Fetched:
    """The core metadata of ``file``, checked against its name and version (module docstring)."""
    if file.metadata is not None:
        fetched = _pep658(file, http)
        if fetched is not None:
            return fetched
    if file.kind == "wheel":
        return _from_wheel(file, http)
    if build_index is None:
        raise SourceError(file.url, "no index to install build requirements from", code="metadata-build-failed")
    return _from_sdist(file, http, build_index)


def _pep658(file: DistFile, http: HttpClient) -> Fetched | None:
    url = file.url + ".metadata"
    resp = http.get(url, ok=(200, 404))
    if resp.status == 404:
        logger.debug("%s: advertised but missing; falling back", url)
        return None
    _check_sha256(hashlib.sha256(resp.body).hexdigest(), dict(file.metadata or ()).get("sha256"), url)
    metadata = parse_metadata(resp.body, url)
    check_matches(metadata, file, url)
    return Fetched(metadata, "pep658", resp.wire_bytes)


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over HTTP Range requests: :meth:`open` fetches the tail; later
    reads fetch only what is missing (at least :data:`BLOCK_SIZE`). ``wire_bytes`` counts the
    bytes downloaded; ``requests`` the requests made."""

    def __init__(self, http: HttpClient, url: str, size: int, tail_start: int, tail: bytes) -> None:
        super().__init__()
        self._http, self._url, self._size = http, url, size
        self._chunks: list[tuple[int, bytes]] = [(tail_start, tail)]
        self._pos = 0
        self.wire_bytes = len(tail)
        self.requests = 1

    @classmethod
    def open(cls, http: HttpClient, file: DistFile) -> RangeFile | _WholeFile:
        """A :class:`RangeFile`, or the whole file in memory when the server ignores Range and
        the file is small (then checked against the index's sha256)."""
        url = file.url
        headers = {**_IDENTITY, "Range": f"bytes=-{TAIL_SIZE}"}
        resp = http.get(url, headers, ok=(200, 206), max_body=WHOLE_FILE_LIMIT)
        if resp.status == 200:
            if resp.too_large:
                size = f"{resp.length / 1e6:.0f} MB" if resp.length else f"over {WHOLE_FILE_LIMIT // 10**6} MB"
                raise SourceError(
                    url,
                    f"the server ignores HTTP range requests and the wheel is {size}; aienv does "
                    "not download whole large wheels to read their metadata",
                    code="index-bad-response",
                    hint="use an index that supports Range requests or serves PEP 658 .metadata files",
                )
            _check_sha256(hashlib.sha256(resp.body).hexdigest(), file.sha256, url)
            return _WholeFile(resp.body, resp.wire_bytes)
        start, _end, size = _content_range(resp, url)
        if file.size is not None and size != file.size:
            raise _bad(url, f"the file is {size} bytes but the index says {file.size}")
        return cls(http, url, size, start, resp.body)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        end = min(self._pos + len(view), self._size)
        if end <= self._pos:
            return 0
        data = self._read(self._pos, end)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def prefetch(self, start: int, end: int) -> None:
        """Fetch ``[start, end)`` now, in as few requests as possible."""
        self._ensure(max(0, start), min(end, self._size))

    def _ensure(self, start: int, end: int) -> None:
        gaps, pos = [], start
        for s, data in sorted(self._chunks):
            e = s + len(data)
            if e <= pos:
                continue
            if s >= end:
                break
            if s > pos:
                gaps.append((pos, s))
            pos = max(pos, e)
            if pos >= end:
                break
        if pos < end:
            gaps.append((pos, end))
        for gap_start, gap_end in gaps:
            gap_end = min(self._size, max(gap_end, gap_start + BLOCK_SIZE))
            self._chunks.append((gap_start, self._fetch(gap_start, gap_end)))

    def _read(self, start: int, end: int) -> bytes:
        self._ensure(start, end)
        out = bytearray()
        pos = start
        while pos < end:
            for s, data in self._chunks:
                if s <= pos < s + len(data):
                    take = data[pos - s : end - s]
                    out += take
                    pos += len(take)
                    break
            else:  # pragma: no cover - _ensure covered [start, end)
                raise AssertionError("range not fetched")
        return bytes(out)

    def _fetch(self, start: int, end: int) -> bytes:
        resp = self._http.get(self._url, {**_IDENTITY, "Range": f"bytes={start}-{end - 1}"}, ok=(206,))
        got_start, got_end, _ = _content_range(resp, self._url)
        if got_start != start or len(resp.body) != end - start or got_end != end - 1:
            raise _bad(self._url, f"asked for bytes {start}-{end - 1}, got {got_start}-{got_end} ({len(resp.body)} bytes)")
        self.wire_bytes += resp.wire_bytes
        self.requests += 1
        return resp.body


class _WholeFile(io.BytesIO):
    """A whole (small) file from a server that ignores Range."""

    def __init__(self, data: bytes, wire_bytes: int) -> None:
        super().__init__(data)
        self.wire_bytes = wire_bytes


def _content_range(resp: Any, url: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+)\s*", resp.headers.get("Content-Range", ""))
    if not m:
        raise _bad(url, f"a range answer without a usable Content-Range ({resp.headers.get('Content-Range')!r})")
    start, end, size = (int(g) for g in m.groups())
    if len(resp.body) != end - start + 1:
        raise _bad(url, f"Content-Range says {end - start + 1} bytes, got {len(resp.body)}")
    return start, end, size


def _metadata_member(names: list[str], project: str) -> str | None:
    found = [n for n in names if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
    for name in found:  # several .dist-info dirs (a broken wheel): prefer this project's
        if canonicalize_name(name.split("/")[0][: -len(".dist-info")].rsplit("-", 1)[0]) == project:
            return name
    return found[0] if found else None


def _from_wheel(file: DistFile, http: HttpClient) -> Fetched:
    url = file.url
    reader = RangeFile.open(http, file)
    try:
        with reader, zipfile.ZipFile(reader) as archive:  # type: ignore[arg-type]
            member = _metadata_member(archive.namelist(), file.name)
            if member is None:
                raise _bad(url, "the wheel has no .dist-info/METADATA")
            info = archive.getinfo(member)
            if isinstance(reader, RangeFile):
                # Local header (30 bytes + name + extra, the extra may differ from the central
                # one, hence the slack) and the data, in one request.
                head = 30 + len(info.filename.encode()) + len(info.extra) + 1024
                reader.prefetch(info.header_offset, info.header_offset + head + info.compress_size)
            data = archive.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as e:
        raise _bad(url, f"cannot read the wheel's METADATA ({type(e).__name__}: {e})") from e
    metadata = parse_metadata(data, url)
    check_matches(metadata, file)
    wire = reader.wire_bytes
    logger.debug("%s: metadata by range reads, %d bytes", url, wire)
    return Fetched(metadata, "range", wire)


# --- sdists ---------------------------------------------------------------------------------


def _safe_extract(archive: Path, dest: Path, url: str) -> Path:
    """Unpack an sdist into ``dest``, refusing paths that leave it; return the project root."""
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                root = dest.resolve()
                for name in zf.namelist():
                    target = (root / name).resolve()
                    if name.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", name) or not target.is_relative_to(root):
                        raise _bad(url, f"the sdist holds an unsafe path {name!r}")
                zf.extractall(root)
        else:
            with tarfile.open(archive) as tf:
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(dest, filter="data")
                else:  # Python < 3.10.12 / 3.11.4: the same checks by hand
                    tf.extractall(dest, members=_checked_members(tf, dest, url))
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as e:
        raise _bad(url, f"cannot unpack the sdist ({type(e).__name__}: {e})") from e
    entries = list(dest.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


def _checked_members(tf: tarfile.TarFile, dest: Path, url: str) -> Iterator[tarfile.TarInfo]:
    root = dest.resolve()
    for member in tf.getmembers():
        target = (root / member.name).resolve()
        ok = target.is_relative_to(root) and (
            member.isfile() or member.isdir() or member.issym() or member.islnk()
        )
        if ok and (member.issym() or member.islnk()):
            base = target.parent if member.issym() else root
            ok = not os.path.isabs(member.linkname) and (base / member.linkname).resolve().is_relative_to(root)
        if not ok:
            raise _bad(url, f"the sdist holds an unsafe member {member.name!r}")
        yield member


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _output_tail(exc: BaseException, lines: int = 15) -> str:
    """The last lines of a failed subprocess's output, found on build's exception chain."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        for attr in ("output", "stdout", "stderr"):
            value = getattr(current, attr, None)
            if value:
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                tail = [line for line in text.splitlines() if line.strip()][-lines:]
                return "\n".join(tail)
        nxt = getattr(current, "exception", None)
        current = nxt if isinstance(nxt, BaseException) else current.__cause__ or current.__context__
    return ""


def _from_sdist(file: DistFile, http: HttpClient, build_index: BuildIndex) -> Fetched:
    url = file.url
    with tempfile.TemporaryDirectory(prefix="aienv-sdist-") as tmp:
        archive = Path(tmp) / re.sub(r"[^A-Za-z0-9._+-]", "_", file.filename)
        with archive.open("wb") as sink:
            resp = http.get(url, sink=sink)
        digest = hashlib.sha256()
        with archive.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _check_sha256(digest.hexdigest(), file.sha256, url)
        unpacked = Path(tmp) / "src"
        unpacked.mkdir()
        srcdir = _safe_extract(archive, unpacked, url)
        import build  # lazy: only sdists need it
        import build.util

        logger.debug("%s: building metadata in %s", url, srcdir)
        with _BUILD_LOCK, _environ({"PIP_INDEX_URL": build_index.pip_index_url()}):
            try:
                msg = build.util.project_wheel_metadata(srcdir, isolated=True)
            except (
                build.BuildException,
                build.BuildBackendException,
                build.FailedProcessError,
                subprocess.CalledProcessError,
                OSError,
            ) as e:
                tail = _output_tail(e)
                detail = f"{type(e).__name__}: {e}" + (f"\n{tail}" if tail else "")
                raise SourceError(
                    url,
                    f"building the sdist's metadata failed ({detail})",
                    code="metadata-build-failed",
                    hint="the package may need system libraries or a newer build backend; "
                    "pin a version that ships wheels for the target",
                ) from e
    metadata = _from_message(msg, url)
    check_matches(metadata, file)
    return Fetched(metadata, "sdist", resp.wire_bytes)
