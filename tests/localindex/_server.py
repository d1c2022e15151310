"""A real package index server on 127.0.0.1: PEP 503 HTML, PEP 691 JSON, PEP 658 metadata files,
HTTP ranges, conditional requests, a request log and fault injection. Stdlib only (plus packaging).

Static files at any path (`add_static`) let the same server carry other layouts, such as a conda
channel (tests/localchannel).
"""

from __future__ import annotations

import email.utils
import hashlib
import html
import json
import socket
import socketserver
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import quote, unquote, urlsplit

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from ._wheels import read_wheel_metadata

__all__ = ["IndexServer", "LogRecord"]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_V1_TYPE = "application/vnd.pypi.simple.v1+html"
HTML_TYPE = "text/html"
UPLOAD_TIME = "2025-01-01T00:00:00.000000Z"
_CHUNK = 256 * 1024
_CONNECTION_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class LogRecord(NamedTuple):
    """One answered request: the path is URL-decoded and without its query string."""

    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int


@dataclass
class _Index:
    prefix: str
    html_only: bool = False
    pep658: bool = True
    range_support: bool = True
    urls: str = "absolute"
    json_metadata_keys: tuple[str, ...] = ("core-metadata",)
    projects: dict[str, dict[str, _File]] = field(default_factory=dict)


@dataclass
class _File:
    prefix: str
    filename: str
    project: str
    data: bytes
    sha256: str
    requires_python: str | None
    yanked: bool | str
    metadata: bytes | None
    metadata_sha256: str | None
    corrupt: bool = False

    @property
    def path(self) -> str:
        return f"/files/{self.prefix}/{self.filename}"

    @property
    def quoted_path(self) -> str:
        return f"/files/{self.prefix}/{quote(self.filename)}"

    def advertised(self, digest: str) -> str:
        """The sha256 the index shows: the real one, or a wrong one after `corrupt_hash`."""
        return hashlib.sha256(b"corrupt:" + digest.encode()).hexdigest() if self.corrupt else digest


@dataclass
class _Static:
    data: bytes
    content_type: str
    cache_control: str


@dataclass
class _Fault:
    status: int | None
    body: bytes | None
    truncate: int | None
    times: int | None
    delay: float


@dataclass
class _Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""


def project_of(filename: str) -> str:
    """Return the PEP 503-normalized project name of a wheel or sdist filename."""
    try:
        if filename.endswith(".whl"):
            return canonicalize_name(parse_wheel_filename(filename)[0])
        return canonicalize_name(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        stem = filename.split("-", 1)[0] if filename.endswith(".whl") else filename.rsplit("-", 1)[0]
        return canonicalize_name(stem)


def _version_of(filename: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _etag_matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    bare = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == bare:
            return True
    return False


def _accept_choice(accept: str | None) -> str:
    """Pick JSON_TYPE, HTML_V1_TYPE or HTML_TYPE by the Accept header (HTML when none matches)."""
    if not accept:
        return HTML_TYPE
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        q = 1.0
        for param in pieces[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((pieces[0].lower(), q))
    # Per candidate: the q of the most specific matching range. Ties: explicit names prefer JSON,
    # wildcards alone prefer HTML (as PyPI answers `*/*`).
    candidates = {
        JSON_TYPE: ((JSON_TYPE, "application/vnd.pypi.simple.latest+json"), 2, 0),
        HTML_V1_TYPE: ((HTML_V1_TYPE, "application/vnd.pypi.simple.latest+html"), 1, 1),
        HTML_TYPE: ((HTML_TYPE,), 0, 2),
    }
    best: tuple[float, int, int, str] | None = None
    for candidate, (names, explicit_pref, wildcard_pref) in candidates.items():
        kind = candidate.split("/")[0]
        match: tuple[int, float] | None = None
        for media, q in ranges:
            specificity = 2 if media in names else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
            if specificity >= 0 and (match is None or specificity > match[0]):
                match = (specificity, q)
        if match is None or match[1] <= 0:
            continue
        key = (match[1], match[0], explicit_pref if match[0] == 2 else wildcard_pref, candidate)
        if best is None or key[:3] > best[:3]:
            best = key
    return best[3] if best else HTML_TYPE


def _parse_range(header: str, total: int) -> tuple[int, int] | None | str:
    """Return (first, last) inclusive, None to ignore the header, or "unsatisfiable"."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if not first_text:
            suffix = int(last_text)
            if suffix <= 0:
                return "unsatisfiable"
            return (max(0, total - suffix), total - 1) if total else "unsatisfiable"
        first = int(first_text)
        last = int(last_text) if last_text else total - 1
    except ValueError:
        return None
    if first < 0 or (last_text and last < first):
        return None
    if first >= total:
        return "unsatisfiable"
    return first, min(last, total - 1)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True  # server_close joins the handler threads (after close() cut their sockets)

    def __init__(self, owner: IndexServer) -> None:
        self.owner = owner
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn, a reverse DNS lookup that can be slow.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        # No Nagle: headers and body go out as separate writes; with delayed ACKs a keep-alive
        # client would otherwise wait ~40 ms per response.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.owner._record_error()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "localindex/1.0"
    timeout = 30  # an idle keep-alive connection ends after this many seconds
    server: _HTTPServer

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is `IndexServer.log`."""

    def _serve(self, *, head: bool) -> None:
        owner = self.server.owner
        path = unquote(urlsplit(self.path).path)
        try:
            response = owner._respond(path, self.headers)
        except Exception:  # noqa: BLE001 - a bug in the server: answer 500, keep the traceback for the test
            owner._record_error()
            response = _Response(500, [("Content-Type", "text/plain; charset=utf-8")], b"500 server error\n")
            response.headers.append(("Content-Length", str(len(response.body))))
        body = b"" if head or response.status == 304 else response.body
        record = owner._log_append(LogRecord(self.command, path, self.headers.get("Range"), response.status, len(body)))
        with owner._lock:
            owner.authorization.append((path, self.headers.get("Authorization")))
        sent = 0
        try:
            self.send_response(response.status)
            for key, value in response.headers:
                self.send_header(key, value)
            self.end_headers()
            view = memoryview(body)
            while sent < len(body):
                chunk = view[sent : sent + _CHUNK]
                self.wfile.write(chunk)
                sent += len(chunk)
        except _CONNECTION_ERRORS:
            self.close_connection = True
            owner._log_fix(record, sent)


class IndexServer:
    """Several package indexes under path prefixes of one HTTP server on 127.0.0.1.

    Starts serving (daemon thread, free port) on construction; use as a context manager or call
    `close()`. Pages are at `<url>/<prefix>/` and `<url>/<prefix>/<project>/`, files at
    `<url>/files/<prefix>/<filename>` and their PEP 658 metadata at that URL plus `.metadata`.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._indexes: dict[str, _Index] = {}
        self._files: dict[str, tuple[_File, bool]] = {}  # decoded path -> (file, is the .metadata)
        self._static: dict[str, _Static] = {}  # decoded path -> a file served as is (add_static)
        self._faults: dict[str, _Fault] = {}
        self._redirects: dict[str, tuple[int, str]] = {}  # decoded path -> (status, Location)
        self._pages: dict[tuple[str, str | None, str], tuple[bytes, str]] = {}
        self._serial = 0
        self._modified = email.utils.formatdate(time.time(), usegmt=True)
        self.log: list[LogRecord] = []
        self.errors: list[str] = []
        self.authorization: list[tuple[str, str | None]] = []  # (path, Authorization header) per request
        self._httpd = _HTTPServer(self)
        self.port: int = self._httpd.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"localindex:{self.port}", daemon=True
        )
        self._thread.start()
        self._closed = False

    # -- life cycle ----------------------------------------------------------------------------

    def __enter__(self) -> IndexServer:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving, cut open keep-alive connections, close the listening socket, join threads."""
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        with self._httpd.sockets_lock:
            open_sockets = list(self._httpd.open_sockets)
        for sock in open_sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        self._thread.join()

    # -- content -------------------------------------------------------------------------------

    def add_index(
        self,
        prefix: str,
        *,
        html_only: bool = False,
        pep658: bool = True,
        range_support: bool = True,
        urls: str | None = None,
        json_metadata_keys: tuple[str, ...] = ("core-metadata",),
    ) -> str:
        """Create (or reconfigure) the index at `/<prefix>/`; return its URL (with the trailing slash).

        `html_only` mimics download.pytorch.org/whl/<variant>: PEP 503 HTML whatever the Accept,
        hashes only as `#sha256=` fragments, no data-core-metadata and no .metadata files.
        `pep658=False` advertises and serves no .metadata files. `range_support=False` ignores
        Range headers (200 with the whole file) and sends no Accept-Ranges. `urls` is how pages
        link files: "absolute" (`http://127.0.0.1:PORT/files/...`, the default), "root"
        (`/files/...`, the default of html_only, as download.pytorch.org does) or "relative"
        (`../../files/...`). `json_metadata_keys`: the PEP 691 file keys that carry the PEP 658
        metadata hash (`{"sha256": ...}`, or false for a file without one). The default follows
        PEP 714: `core-metadata` only, since a JSON `dist-info-metadata` key crashes pip 22.3-23.1
        (e.g. the pip 23.0.1 of Python 3.10's ensurepip); add "dist-info-metadata" (the PEP 691
        name) or "data-dist-info-metadata" (PyPI's legacy misspelling) to test fallbacks. HTML
        always carries both `data-core-metadata` and `data-dist-info-metadata`.
        """
        prefix = self._check_prefix(prefix)
        style = urls or ("root" if html_only else "absolute")
        if style not in ("absolute", "root", "relative"):
            raise ValueError(f"urls must be 'absolute', 'root' or 'relative', not {urls!r}")
        with self._lock:
            index = self._indexes.get(prefix)
            if index is None:
                index = self._indexes[prefix] = _Index(prefix)
            index.html_only, index.pep658, index.range_support, index.urls = html_only, pep658, range_support, style
            index.json_metadata_keys = tuple(json_metadata_keys)
            self._changed()
        return self.index_url(prefix)

    def add_file(
        self,
        prefix: str,
        filename: str,
        data: bytes,
        *,
        requires_python: str | None = None,
        yanked: bool | str | None = None,
        pep658: bool = True,
        metadata: bytes | None = None,
    ) -> str:
        """Add (or replace) a file of the index at `/<prefix>/` (created with defaults if new); return its URL.

        The project is the PEP 503-normalized name from the filename. `yanked`: None/False, True,
        or a reason string ("" counts as True). The PEP 658 `.metadata` file is `metadata` when
        given, else a wheel's METADATA; sdists have none unless `metadata` is given. `pep658=False`
        gives the file no .metadata at all.
        """
        prefix = self._check_prefix(prefix)
        if "/" in filename or not filename:
            raise ValueError(f"bad filename: {filename!r}")
        if pep658 and metadata is None and filename.endswith(".whl"):
            metadata = read_wheel_metadata(data)
        if not pep658:
            metadata = None
        entry = _File(
            prefix=prefix,
            filename=filename,
            project=project_of(filename),
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            requires_python=requires_python,
            yanked=(True if yanked == "" else (yanked or False)),
            metadata=metadata,
            metadata_sha256=hashlib.sha256(metadata).hexdigest() if metadata is not None else None,
        )
        with self._lock:
            index = self._indexes.get(prefix)
            if index is None:
                index = self._indexes[prefix] = _Index(prefix)
            index.projects.setdefault(entry.project, {})[filename] = entry
            self._files[entry.path] = (entry, False)
            self._files[entry.path + ".metadata"] = (entry, True)
            self._changed()
        return self.url + entry.quoted_path

    def add_snapshot(
        self,
        prefix: str,
        snapshot: dict[str, Any] | str | Any,
        *,
        keep: Callable[[str], bool] = lambda filename: True,
        html_only: bool = False,
    ) -> list[str]:
        """Serve a snapshot (dict, or path of its JSON file) at `/<prefix>/`: tiny wheels and sdists
        with each version's requires_dist / requires_python / provides_extra, for the filenames
        `keep` accepts. Files of other kinds (.egg, .exe, .tar.bz2, ...) are skipped. Built bytes
        are cached per process. Return the filenames added, in snapshot order."""
        from ._snapshot import load_snapshot, snapshot_files

        if not isinstance(snapshot, dict):
            snapshot = load_snapshot(snapshot)
        with self._lock:
            index = self._indexes.get(self._check_prefix(prefix))
        if index is None:
            self.add_index(prefix, html_only=html_only)
        elif index.html_only != html_only:
            self.add_index(
                prefix,
                html_only=html_only,
                pep658=index.pep658,
                range_support=index.range_support,
                json_metadata_keys=index.json_metadata_keys,
            )
        added = []
        for item in snapshot_files(snapshot, keep=keep):
            self.add_file(prefix, item.filename, item.data, requires_python=item.requires_python, yanked=item.yanked, metadata=item.metadata)
            added.append(item.filename)
        return added

    def add_static(
        self,
        path: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        cache_control: str = "max-age=0, must-revalidate",
    ) -> str:
        """Serve `data` as is at the decoded `path` (`/channel/linux-64/repodata.json`), with an
        ETag (conditional requests answer 304), Range support and `cache_control`; replaces what
        was there. Index pages and files of the same path win. Return its URL."""
        if not path.startswith("/") or "//" in path:
            raise ValueError(f"bad static path: {path!r}")
        with self._lock:
            self._static[path] = _Static(data, content_type, cache_control)
        return self.url + quote(path)

    def add_redirect(self, path: str, location: str, *, status: int = 302) -> str:
        """Answer requests for the decoded `path` with `status` and `Location: location` (a URL,
        or a path of this server), as GitHub answers for a release asset (302 to
        objects.githubusercontent.com). Return the URL of `path`."""
        if not path.startswith("/") or "//" in path:
            raise ValueError(f"bad redirect path: {path!r}")
        with self._lock:
            self._redirects[path] = (status, location)
        return self.url + quote(path)

    def corrupt_hash(self, prefix: str, filename: str) -> None:
        """Make the index advertise a wrong sha256 for the file and for its .metadata file."""
        with self._lock:
            self._entry(prefix, filename).corrupt = True
            self._changed()

    def index_url(self, prefix: str) -> str:
        """Return `<url>/<prefix>/`."""
        return f"{self.url}/{self._check_prefix(prefix)}/"

    def file_url(self, prefix: str, filename: str) -> str:
        """Return the URL of a file of an index (add `.metadata` for its PEP 658 file)."""
        return self.url + self._entry(prefix, filename).quoted_path

    def sha256(self, prefix: str, filename: str) -> str:
        """Return the real sha256 (hex) of a file of an index."""
        return self._entry(prefix, filename).sha256

    # -- faults --------------------------------------------------------------------------------

    def fault(
        self,
        path: str,
        *,
        status: int | None = None,
        body: bytes | None = None,
        truncate: int | None = None,
        times: int | None = None,
        delay: float = 0.0,
    ) -> None:
        """Break the answers for the exact decoded `path` (a page, a file or a .metadata file).

        `status`: answer that status with a short text body. `body`: serve these bytes instead of
        the real ones (200 even for an unknown path). `truncate`: serve only the first `truncate`
        bytes, with a matching Content-Length. `times`: only the next `times` requests (then the
        fault is gone), else until `clear_faults()`. `delay`: seconds to wait before answering.
        A full URL is accepted too (its path is used).
        """
        if path.startswith(("http://", "https://")):
            path = urlsplit(path).path
        with self._lock:
            self._faults[unquote(path)] = _Fault(status, body, truncate, times, delay)

    def fault_pending(self, path: str) -> bool:
        """Whether a fault with `times` set is still waiting for its requests: False as soon as
        the last one arrived (before a `delay` ends, unlike the log, which records answers)."""
        if path.startswith(("http://", "https://")):
            path = urlsplit(path).path
        with self._lock:
            return unquote(path) in self._faults

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    # -- request log ---------------------------------------------------------------------------

    def clear_log(self) -> None:
        """Forget the logged requests."""
        with self._lock:
            self.log.clear()
            self.authorization.clear()

    def requests_for(self, path_substring: str) -> list[LogRecord]:
        """Return the logged requests whose decoded path contains `path_substring`."""
        with self._lock:
            return [record for record in self.log if path_substring in record.path]

    def bytes_sent(self, path_substring: str = "") -> int:
        """Return the body bytes sent for the logged requests whose path contains `path_substring`."""
        return sum(record.body_bytes for record in self.requests_for(path_substring))

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _check_prefix(prefix: str) -> str:
        prefix = prefix.strip("/")
        if not prefix or prefix == "files" or prefix.startswith("files/") or "//" in prefix:
            raise ValueError(f"bad index prefix: {prefix!r}")
        return prefix

    def _entry(self, prefix: str, filename: str) -> _File:
        prefix = self._check_prefix(prefix)
        with self._lock:
            found = self._files.get(f"/files/{prefix}/{filename}")
        if found is None:
            raise KeyError(f"no file {filename} in index {prefix}")
        return found[0]

    def _changed(self) -> None:
        self._serial += 1
        self._pages.clear()
        self._modified = email.utils.formatdate(time.time(), usegmt=True)

    def _record_error(self) -> None:
        text = traceback.format_exc()
        if not any(error.__name__ in text for error in _CONNECTION_ERRORS):
            with self._lock:
                self.errors.append(text)

    def _log_append(self, record: LogRecord) -> LogRecord:
        with self._lock:
            self.log.append(record)
        return record

    def _log_fix(self, record: LogRecord, sent: int) -> None:
        with self._lock:
            for i in range(len(self.log) - 1, -1, -1):
                if self.log[i] is record:
                    self.log[i] = record._replace(body_bytes=sent)
                    return

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            fault = self._faults.get(path)
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self._faults[path]
            return fault

    def _respond(self, path: str, headers: Any) -> _Response:
        fault = self._take_fault(path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            body = f"{fault.status} injected fault\n".encode()
            return _text(fault.status, body)
        with self._lock:
            redirect = self._redirects.get(path)
        if redirect is not None:
            return _redirect(redirect[1], redirect[0])

        with self._lock:
            found = self._files.get(path)
            if found is not None:
                entry, is_metadata = found
                index = self._indexes[entry.prefix]
                if is_metadata and (entry.metadata is None or index.html_only or not index.pep658):
                    found = None
            static = self._static.get(path) if found is None else None
            page = None if found is not None or static is not None else self._route_page(path, headers)
            modified = self._modified

        if found is None and page is None and static is None:
            if fault is not None and fault.body is not None:
                return _text(200, fault.body, "application/octet-stream")
            return _text(404, b"404 Not Found\n")
        if isinstance(page, _Response):
            return page

        if found is not None:
            entry, is_metadata = found
            body = entry.metadata if is_metadata else entry.data
            assert body is not None
            etag = '"' + (entry.metadata_sha256 if is_metadata else entry.sha256)[:32] + '"'
            content_type, ranges = "application/octet-stream", index.range_support
            extra = [("Cache-Control", "max-age=365000000, immutable, public")]
        elif static is not None:
            body, content_type, ranges = static.data, static.content_type, True
            etag = _etag(body)
            extra = [("Cache-Control", static.cache_control)]
        else:
            assert page is not None
            body, content_type = page[0], page[1]
            etag, ranges = _etag(body), False
            extra = [("Cache-Control", "max-age=0, must-revalidate"), ("Vary", "Accept")]

        if fault is not None and (fault.body is not None or fault.truncate is not None):
            body = fault.body if fault.body is not None else body
            body = body[: fault.truncate] if fault.truncate is not None else body
            etag = _etag(body)

        common = [("ETag", etag), ("Last-Modified", modified), *extra]
        if ranges:
            common.append(("Accept-Ranges", "bytes"))
        if_none_match = headers.get("If-None-Match")
        if _etag_matches(if_none_match, etag) or (if_none_match is None and headers.get("If-Modified-Since") == modified):
            return _Response(304, common)

        status = 200
        range_header = headers.get("Range")
        if ranges and range_header is not None:
            if_range = headers.get("If-Range")
            wanted = _parse_range(range_header, len(body)) if if_range is None or if_range == etag else None
            if wanted == "unsatisfiable":
                return _Response(416, [*common, ("Content-Range", f"bytes */{len(body)}"), ("Content-Length", "0")])
            if isinstance(wanted, tuple):
                first, last = wanted
                common.append(("Content-Range", f"bytes {first}-{last}/{len(body)}"))
                body, status = body[first : last + 1], 206
        return _Response(status, [("Content-Type", content_type), *common, ("Content-Length", str(len(body)))], body)

    def _route_page(self, path: str, headers: Any) -> tuple[bytes, str] | _Response | None:
        """Find the page of `path` (lock held): (body, content type), a redirect, or None."""
        for prefix in sorted(self._indexes, key=len, reverse=True):
            index = self._indexes[prefix]
            base = f"/{prefix}/"
            if path == base[:-1]:
                return _redirect(self.url + base)
            if not path.startswith(base):
                continue
            rest = path[len(base) :]
            kind = HTML_TYPE if index.html_only else _accept_choice(headers.get("Accept"))
            if not rest:
                return self._page(index, None, kind)
            name = rest.removesuffix("/")
            if not name or "/" in name:
                return None
            project = canonicalize_name(name)
            if project not in index.projects:
                return None
            if project != name or not rest.endswith("/"):
                return _redirect(f"{self.url}{base}{project}/")
            return self._page(index, project, kind)
        return None

    def _page(self, index: _Index, project: str | None, kind: str) -> tuple[bytes, str]:
        key = (index.prefix, project, kind)
        cached = self._pages.get(key)
        if cached is None:
            if project is None:
                body = _root_json(index, self._serial) if kind == JSON_TYPE else _root_html(index)
            elif kind == JSON_TYPE:
                body = _project_json(index, project, self._serial, self._link)
            else:
                body = _project_html(index, project, self._link)
            content_type = kind if kind == JSON_TYPE else f"{kind}; charset=utf-8"
            cached = self._pages[key] = (body, content_type)
        return cached

    def _link(self, index: _Index, entry: _File) -> str:
        if index.urls == "absolute":
            return self.url + entry.quoted_path
        if index.urls == "root":
            return entry.quoted_path
        depth = len(index.prefix.split("/")) + 1  # the page is /<prefix>/<project>/
        return "../" * depth + entry.quoted_path[1:]


def _text(status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> _Response:
    return _Response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))], body)


def _redirect(location: str, status: int = 301) -> _Response:
    body = f"moved to {location}\n".encode()
    return _Response(status, [("Location", location), ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))], body)


def _versions(files: Iterable[_File]) -> list[str]:
    found = {v for v in (_version_of(f.filename) for f in files) if v is not None}
    return [str(v) for v in sorted(found)]


def _root_json(index: _Index, serial: int) -> bytes:
    projects = [{"name": name, "_last-serial": serial} for name in sorted(index.projects)]
    return json.dumps({"meta": {"api-version": "1.1", "_last-serial": serial}, "projects": projects}).encode()


def _root_html(index: _Index) -> bytes:
    links = "".join(f'    <a href="{quote(name)}/">{html.escape(name)}</a><br />\n' for name in sorted(index.projects))
    head = "" if index.html_only else '  <head>\n    <meta name="pypi:repository-version" content="1.1">\n    <title>Simple index</title>\n  </head>\n'
    return f"<!DOCTYPE html>\n<html>\n{head}  <body>\n{links}  </body>\n</html>\n".encode()


def _project_json(index: _Index, project: str, serial: int, link: Callable[[_Index, _File], str]) -> bytes:
    entries = list(index.projects[project].values())
    files = []
    for entry in entries:
        metadata: dict[str, str] | bool = False
        if index.pep658 and entry.metadata_sha256 is not None:
            metadata = {"sha256": entry.advertised(entry.metadata_sha256)}
        files.append(
            {
                "filename": entry.filename,
                "url": link(index, entry),
                "hashes": {"sha256": entry.advertised(entry.sha256)},
                "requires-python": entry.requires_python,
                "yanked": entry.yanked,
                "size": len(entry.data),
                "upload-time": UPLOAD_TIME,
                **dict.fromkeys(index.json_metadata_keys, metadata),
            }
        )
    page = {"meta": {"api-version": "1.1", "_last-serial": serial}, "name": project, "files": files, "versions": _versions(entries)}
    return json.dumps(page).encode()


def _project_html(index: _Index, project: str, link: Callable[[_Index, _File], str]) -> bytes:
    lines = []
    for entry in index.projects[project].values():
        attrs = [f'href="{html.escape(link(index, entry))}#sha256={entry.advertised(entry.sha256)}"']
        if entry.requires_python:
            attrs.append(f'data-requires-python="{html.escape(entry.requires_python)}"')
        if not index.html_only and index.pep658 and entry.metadata_sha256 is not None:
            digest = entry.advertised(entry.metadata_sha256)
            attrs.append(f'data-core-metadata="sha256={digest}" data-dist-info-metadata="sha256={digest}"')
        if entry.yanked is not False:
            reason = "" if entry.yanked is True else str(entry.yanked)
            attrs.append(f'data-yanked="{html.escape(reason)}"')
        lines.append(f"    <a {' '.join(attrs)}>{html.escape(entry.filename)}</a><br />\n")
    head = (
        ""
        if index.html_only
        else f'  <head>\n    <meta name="pypi:repository-version" content="1.1">\n    <title>Links for {project}</title>\n  </head>\n'
    )
    return f"<!DOCTYPE html>\n<html>\n{head}  <body>\n    <h1>Links for {project}</h1>\n{''.join(lines)}  </body>\n</html>\n".encode()
