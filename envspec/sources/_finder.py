"""The :class:`PackageFinder`: project pages, core metadata and the hashes of release assets,
fetched concurrently and cached."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from packaging.utils import canonicalize_name

from envspec.errors import SourceError
from envspec.sources._assets import FileHash, download_hash, mirror_error
from envspec.sources._cache import Cache, CachedPage
from envspec.sources._config import IndexConfig
from envspec.sources._credentials import Credentials
from envspec.sources._metadata import BuildIndex, fetch_metadata
from envspec.sources._model import CoreMetadata, DistFile, Index, ProjectPage
from envspec.sources._pages import JSON_TYPE, parse_page

if TYPE_CHECKING:
    from typing_extensions import Self

    from envspec.sources._http import HttpClient, Response

__all__ = ["ACCEPT", "FetchEvent", "NotCached", "PackageFinder"]

logger = logging.getLogger(__name__)

# PEP 691 content negotiation: JSON preferred, HTML accepted (download.pytorch.org is HTML only).
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"

_STATS = (
    "pages_fetched",
    "pages_revalidated",
    "pages_cached",
    "metadata_cached",
    "metadata_pep658",
    "metadata_range",
    "metadata_sdist",
    "files_hashed",
    "files_cached",
    "bytes_downloaded",
)

T = TypeVar("T")


class NotCached(LookupError):
    """An offline run needs metadata the cache lacks. ``str(e)`` and ``url`` are the file's URL;
    the finder has recorded it in :attr:`PackageFinder.missing`."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


_Kind = Literal["page", "metadata", "file"]


@dataclass(frozen=True)
class FetchEvent:
    """A fetch started (``done`` unchanged, ``total`` grown) or finished (``done`` grown).
    ``done``/``total`` count the fetches of this ``kind`` so far; cache hits count too.

    A ``"file"`` fetch is a whole file downloaded to hash it (:meth:`PackageFinder.hashes`):
    while it runs, events with ``bytes_done`` (and ``bytes_total``, the Content-Length when the
    server said it) report its progress, a few times a second."""

    kind: _Kind
    url: str
    done: int
    total: int
    bytes_done: int | None = None
    bytes_total: int | None = None


@dataclass(frozen=True)
class _PageResult:
    page: ProjectPage
    missing: str | None = None  # offline: the page URL the cache lacked


def _max_age(headers: Mapping[str, str]) -> int | None:
    """Seconds the response stays fresh, from Cache-Control (minus Age); None when unsaid."""
    directives = [d.strip().lower() for d in (headers.get("Cache-Control") or "").split(",")]
    if "no-cache" in directives or "no-store" in directives:
        return 0
    for d in directives:
        key, _, value = d.partition("=")
        if key.strip() == "max-age" and value.strip().isdigit():
            age = headers.get("Age") or "0"
            return max(0, int(value) - (int(age) if age.isdigit() else 0))
    return None


class PackageFinder:
    """Project pages and core metadata from the configured indexes, with an on-disk cache.

    - :meth:`page` fetches one index's page of a project (``files=()`` for a 404 or an offline
      cache miss); :meth:`find` consults indexes in order and the first whose page has files
      wins (first-index: a later index cannot shadow it).
    - :meth:`metadata` answers a file's core metadata (cache, then PEP 658, range reads, or an
      sdist build; see :mod:`envspec.sources._metadata`); offline, a miss raises
      :class:`NotCached`.
    - :meth:`hashes` answers the sha256 and size of files no index hashed (release assets),
      downloading each once (cache, else the file through the release mirror, if any).
    - :meth:`prefetch` and :meth:`prefetch_metadata` start fetches in the background. Every fetch
      runs once per finder: a later :meth:`page`/:meth:`metadata` waits for the prefetched one,
      and its error (a :class:`SourceError`) surfaces there; errors of fetches nobody asks for are
      dropped.
    - ``missing``: URLs an offline run needed (asked for) but the cache lacked.
      ``not_found``: project → page URLs that answered 404. ``stats``: counters (module
      ``_STATS``). ``progress`` receives a :class:`FetchEvent` as each fetch starts and ends,
      from worker threads.

    Offline, nothing is imported from urllib3 or build and nothing touches the network.
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        config: IndexConfig,
        *,
        cache_dir: str | PathLike[str] | None = None,
        offline: bool = False,
        progress: Callable[[FetchEvent], None] | None = None,
        workers: int = 16,
    ) -> None:
        self.config = config
        self.offline = offline
        self.missing: list[str] = []
        self.not_found: dict[str, list[str]] = {}
        self.stats: dict[str, int] = dict.fromkeys(_STATS, 0)
        self._cache = Cache(Path(cache_dir) if cache_dir is not None else None)
        self._credentials = Credentials(config.known_indexes(), config.url_credentials())
        self._progress = progress
        self._workers = max(1, workers)
        self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="aienv-fetch")
        self._lock = threading.Lock()
        self._futures: dict[tuple[Any, ...], Future[Any]] = {}
        self._counts: dict[str, list[int]] = {"page": [0, 0], "metadata": [0, 0], "file": [0, 0]}
        self._http: HttpClient | None = None
        self._closed = False

    # --- life cycle ---

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop background fetches not yet started, wait for running ones, close connections.
        Errors of fetches nobody asked for are not raised."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._http is not None:
            self._http.close()

    # --- pages ---

    def page(self, index: Index, name: str) -> ProjectPage:
        """``index``'s page of project ``name``; blocks. A 404, or an offline cache miss
        (recorded in :attr:`missing`), gives a page with ``files=()``."""
        result: _PageResult = self._page_future(index, name).result()
        if result.missing is not None:
            with self._lock:
                if result.missing not in self.missing:
                    self.missing.append(result.missing)
        return result.page

    def find(self, name: str, indexes: Sequence[Index]) -> ProjectPage:
        """The page of the first of ``indexes`` that has files of ``name``; else the (empty)
        page of the first. Indexes are asked one after another, so a project found on a
        private index is never looked up on the next (its name does not leak there)."""
        if not indexes:
            raise ValueError("find() needs at least one index")
        pages = []
        for index in indexes:
            page = self.page(index, name)
            if page.files:
                return page
            pages.append(page)
        return pages[0]

    def prefetch(self, requests: Iterable[tuple[Index, str]]) -> None:
        """Start fetching these ``(index, project)`` pages in the background; returns at once."""
        for index, name in requests:
            self._page_future(index, name)

    def _page_future(self, index: Index, name: str) -> Future[_PageResult]:
        project = canonicalize_name(name)
        url = index.project_url(project)
        self._credentials.add_index(index)
        return self._submit("page", url, ("page", index, project), lambda: self._load_page(index, project, url))

    def _load_page(self, index: Index, name: str, url: str) -> _PageResult:
        cached = self._cache.get_page(url)
        if cached is not None and (self.offline or cached.is_fresh()):
            page = self._from_cached(cached, index, name)
            if page is not None:
                self._count("pages_cached")
                return _PageResult(page)
            cached = None  # unparsable: as if absent
        if self.offline:
            return _PageResult(ProjectPage(index, name, url, ()), missing=url)
        resp = self._request_page(url, cached)
        if resp.status == 304:
            assert cached is not None
            page = self._from_cached(cached, index, name)
            if page is not None:
                age = _max_age(resp.headers)
                updated = replace(
                    cached,
                    fetched=time.time(),
                    max_age=cached.max_age if age is None else age,
                    etag=resp.headers.get("ETag") or cached.etag,
                    last_modified=resp.headers.get("Last-Modified") or cached.last_modified,
                )
                # Rewrite the entry only when something a later run reads changed: with a
                # max-age the fetch time matters (freshness), else only new validators do.
                if updated.max_age or (updated.etag, updated.last_modified) != (cached.etag, cached.last_modified):
                    self._cache.put_page(updated)
                self._count("pages_revalidated")
                return _PageResult(page)
            resp = self._request_page(url, None)  # the cached body is bad: fetch it whole
        entry = CachedPage(
            url=url,
            status=200 if resp.status == 200 else 404,
            body=resp.body if resp.status == 200 else b"",
            content_type=resp.headers.get("Content-Type"),
            etag=resp.headers.get("ETag"),
            last_modified=resp.headers.get("Last-Modified"),
            fetched=time.time(),
            max_age=_max_age(resp.headers),
            base=resp.url if resp.url != url else None,
        )
        if entry.status == 404:
            self._cache.put_page(entry)
            self._not_found(name, url)
            return _PageResult(ProjectPage(index, name, url, ()))
        page = parse_page(resp.body, entry.content_type, url, index, name, base=entry.base)  # raises before caching
        self._cache.put_page(entry)
        self._count("pages_fetched")
        return _PageResult(page)

    def _request_page(self, url: str, cached: CachedPage | None) -> Response:
        headers = {"Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
        if cached is not None and cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached is not None and cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
        ok = (200, 304, 404, 410) if cached is not None else (200, 404, 410)
        resp = self._client().get(url, headers, ok=ok)
        self._count("bytes_downloaded", resp.wire_bytes)
        return resp

    def _from_cached(self, cached: CachedPage, index: Index, name: str) -> ProjectPage | None:
        if cached.status == 404:
            self._not_found(name, cached.url)
            return ProjectPage(index, name, cached.url, ())
        try:
            return parse_page(cached.body, cached.content_type, cached.url, index, name, base=cached.base)
        except SourceError as e:
            logger.warning("cached page %s cannot be parsed (%s); ignoring it", cached.url, e.message)
            return None

    def _not_found(self, name: str, url: str) -> None:
        with self._lock:
            urls = self.not_found.setdefault(name, [])
            if url not in urls:
                urls.append(url)

    # --- metadata ---

    def metadata(self, file: DistFile) -> CoreMetadata:
        """The core metadata of ``file``; blocks. Offline, a cache miss is recorded in
        :attr:`missing` and raises :class:`NotCached`."""
        try:
            return self._metadata_future(file).result()
        except NotCached as e:
            with self._lock:
                if e.url not in self.missing:
                    self.missing.append(e.url)
            raise NotCached(e.url) from None

    def prefetch_metadata(self, files: Iterable[DistFile]) -> None:
        """Start fetching the metadata of ``files`` in the background; returns at once."""
        for file in files:
            self._metadata_future(file)

    def _metadata_future(self, file: DistFile) -> Future[CoreMetadata]:
        return self._submit("metadata", file.url, ("metadata", file), lambda: self._load_metadata(file))

    def _load_metadata(self, file: DistFile) -> CoreMetadata:
        cached = self._cache.get_metadata(file)
        if cached is not None:
            self._count("metadata_cached")
            return cached
        if self.offline:
            raise NotCached(file.url)
        default = self.config.default
        build_index = BuildIndex(default.url, self._credentials.for_url(default.url + "/"))
        source = self.config.fetch_url(file.url)  # a release asset through the release mirror
        try:
            fetched = fetch_metadata(replace(file, url=source) if source != file.url else file, self._client(), build_index)
        except SourceError as e:
            if source == file.url:
                raise
            raise mirror_error(e, file.url) from e
        self._count(f"metadata_{fetched.method}")
        self._count("bytes_downloaded", fetched.wire_bytes)
        self._cache.put_metadata(file, fetched.metadata)
        return fetched.metadata

    # --- file sizes ---

    def sizes(self, files: Iterable[DistFile]) -> dict[str, int]:
        """The size in bytes of each file (by URL): from the index when it said (PEP 691), else
        from the cache, else one ``Range: bytes=0-0`` request per file, run concurrently
        (PEP 503 HTML pages, like download.pytorch.org's, carry no size). Offline, an unknown
        size is left out rather than failing the lock."""
        out: dict[str, int] = {}
        pending = []
        for file in files:
            if file.size is not None:
                out[file.url] = file.size
            elif (cached := self._cache.get_size(file)) is not None:
                out[file.url] = cached
            elif not self.offline:
                pending.append((file, self._executor.submit(self._fetch_size, file)))
        for file, future in pending:
            size = future.result()
            if size is not None:
                out[file.url] = size
                self._cache.put_size(file, size)
        return out

    def _fetch_size(self, file: DistFile) -> int | None:
        url = self.config.fetch_url(file.url)
        resp = self._client().get(url, {"Range": "bytes=0-0", "Accept-Encoding": "identity"}, ok=(200, 206), max_body=1)
        total = resp.headers.get("Content-Range", "").rpartition("/")[2]
        if resp.status == 206 and total.isdigit():
            return int(total)
        return resp.length

    # --- hashes of files no index hashed (release assets) ---

    def hashes(self, files: Iterable[DistFile]) -> dict[str, FileHash]:
        """The sha256 and size of each file whose index gave no sha256 (a release asset, like
        flash-attn's GitHub wheels), by URL: from the cache, else downloaded whole, once per
        URL, streaming and concurrently — through the release mirror when one is configured
        (:mod:`envspec.sources._assets`) — then cached by URL. Files with a sha256 are skipped.
        Offline, a file the cache lacks is recorded in :attr:`missing` and left out. A failed
        download raises :class:`SourceError` naming the URL."""
        pending = []
        for file in files:
            if not file.sha256:
                pending.append((file, self._submit("file", file.url, ("file", file.url), functools.partial(self._load_hash, file))))
        out: dict[str, FileHash] = {}
        for file, future in pending:
            try:
                out[file.url] = future.result()
            except NotCached:
                with self._lock:
                    if file.url not in self.missing:
                        self.missing.append(file.url)
        return out

    def _load_hash(self, file: DistFile) -> FileHash:
        cached = self._cache.get_file_hash(file.url)
        if cached is not None:
            self._count("files_cached")
            return cached
        if self.offline:
            raise NotCached(file.url)
        source = self.config.fetch_url(file.url)
        with self._lock:
            counts = tuple(self._counts["file"])

        def progress(done: int, total: int | None) -> None:
            self._emit(FetchEvent("file", file.url, counts[0], counts[1], done, total))

        found = download_hash(self._client(), file.url, fetch_url=source, progress=progress if self._progress else None)
        self._count("files_hashed")
        self._count("bytes_downloaded", found.size)
        self._cache.put_file_hash(found)
        return found

    # --- machinery ---

    def _client(self) -> HttpClient:
        with self._lock:
            if self._http is None:
                # urllib3 loads only when something is fetched.
                from envspec.sources._http import HttpClient

                self._http = HttpClient(self._credentials, maxsize=self._workers)
            return self._http

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] += n

    def _submit(self, kind: _Kind, url: str, key: tuple[Any, ...], fn: Callable[[], T]) -> Future[T]:
        with self._lock:
            future = self._futures.get(key)
            if future is not None:
                return future
            if self._closed:
                raise RuntimeError("the PackageFinder is closed")
            counts = self._counts[kind]
            counts[1] += 1
            event = FetchEvent(kind, url, counts[0], counts[1])
            future = self._executor.submit(self._run, kind, url, fn)
            self._futures[key] = future
        self._emit(event)
        return future

    def _run(self, kind: _Kind, url: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        finally:
            with self._lock:
                counts = self._counts[kind]
                counts[0] += 1
                event = FetchEvent(kind, url, counts[0], counts[1])
            self._emit(event)

    def _emit(self, event: FetchEvent) -> None:
        if self._progress is not None:
            self._progress(event)
