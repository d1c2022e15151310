"""Files no index hashes (GitHub release assets), hashed at lock time; the release mirror.

flash-attn's prebuilt wheels are GitHub release assets
(``https://github.com/Dao-AILab/flash-attention/releases/download/v2.8.3/flash_attn-….whl``, a
URL the matrix builds). No index lists them and GitHub publishes no digest, yet
``pip install --require-hashes`` needs one. So a full-closure lock downloads each file it pins
that has no sha256 (:meth:`PackageFinder.hashes <envspec.sources.PackageFinder.hashes>`) once,
streaming — these are 100–500 MB; nothing is kept but the digest — and records its sha256 and
size. The answer is cached by URL with the ETag and Last-Modified the server sent
(``sources-v1/files/``, :mod:`envspec.sources._cache`): a release asset's URL names immutable
bytes (a rebuild gets a new tag or file name), so a cached file is never downloaded again, and
``--offline`` uses the cache alone (a miss is an ``OfflineCacheMiss`` naming the URL).

**The release mirror.** Companies mirror GitHub releases (an Artifactory or Nexus "generic
remote" repository, a ghproxy-style prefix), and some machines reach only the mirror.
``[indexes] release-mirror`` in aienv.toml, ``--release-mirror URL`` or
``AIENV_RELEASE_MIRROR`` (flag, then environment, then aienv.toml) replaces the
``https://github.com/`` prefix of a release asset's URL (``…/OWNER/REPO/releases/download/…``)
in every request aienv makes for it (metadata range reads, the download):

- ``https://mirror.example/github/`` fetches
  ``https://mirror.example/github/Dao-AILab/flash-attention/releases/download/…``;
- ``https://ghproxy.example/https://github.com/`` gives ghproxy's full-URL form.

Its credentials come as an index's do (``AIENV_INDEX_RELEASE_MIRROR_USERNAME``/``_PASSWORD``,
netrc, or written in the flag's or variable's URL), never from aienv.toml, and are never sent to
another host when the mirror (or GitHub, to ``objects.githubusercontent.com``) redirects.

**The lock records the original github.com URL, not the mirror's.** The URL names the file
and the sha256 pins its bytes; a mirror is how one machine reaches them, like a proxy:

- the same spec locked with or without a mirror gives a byte-identical lock, so locks made on
  a laptop and on a corporate CI agree and review diffs do not churn with the network a lock
  was made on; for the same reason ``release-mirror`` is left out of the spec digest;
- a lock is committed and installed on other machines, where that mirror may be unreachable
  (an internal host) while github.com is not, or the reverse. An installer that must use a
  mirror rewrites the prefix when it installs (:func:`mirrored`, the same rule); the hash
  still holds, since a faithful mirror serves the same bytes — and one that does not fails the
  installer's hash check rather than installing something else.

Package indexes differ on purpose: a PyPI mirror given as ``--index-url`` *is* the index the
lock names, since pip resolves through it; a release asset is installed by its URL.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from envspec.errors import SourceError

if TYPE_CHECKING:
    from envspec.sources._http import HttpClient

__all__ = ["GITHUB", "FileHash", "download_hash", "is_release_asset", "mirror_error", "mirrored"]

GITHUB = "https://github.com/"
_PROGRESS_EVERY = 0.2  # seconds between progress reports of one download


def is_release_asset(url: str) -> bool:
    """Whether ``url`` is a GitHub release asset (``https://github.com/O/R/releases/download/…``)."""
    parts = url[len(GITHUB) :].split("/") if url.startswith(GITHUB) else []
    return len(parts) >= 5 and parts[2:4] == ["releases", "download"]


def mirrored(url: str, mirror: str | None) -> str:
    """``url`` fetched through ``mirror``: a release asset's ``https://github.com/`` prefix
    replaced by the mirror (with a trailing slash added when missing); any other URL, or any URL
    without a mirror, unchanged."""
    if not mirror or not is_release_asset(url):
        return url
    return mirror.rstrip("/") + "/" + url[len(GITHUB) :]


def mirror_error(error: SourceError, url: str) -> SourceError:
    """``error``, raised fetching the mirror's copy of ``url``, saying so (and, for a 404, what to do)."""
    message = error.message.removeprefix(f"{error.url}: ")
    hint = error.hint
    if "HTTP 404" in message:
        hint = f"the release mirror has no copy of {url}: add it there, or lock without the mirror"
    return SourceError(error.url, f"{message} (the release mirror's copy of {url})", hint=hint, code=error.code)


@dataclass(frozen=True)
class FileHash:
    """What downloading a file taught: its sha256 (hex) and size in bytes, and the validators
    the server sent. ``url`` is the file's own URL (the one a lock records); ``source`` where it
    was downloaded from when that differs (a mirror, after redirects)."""

    url: str
    sha256: str
    size: int
    etag: str | None = None
    last_modified: str | None = None
    source: str | None = None


class _HashingSink:
    """A write-only file that hashes and counts what it is given, reporting progress now and then."""

    def __init__(self, progress: Callable[[int, int | None], None] | None) -> None:
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.expected: int | None = None
        self._progress = progress
        self._last = 0.0

    def expect(self, length: int | None) -> None:
        self.expected = length
        self._report(force=True)

    def write(self, chunk: bytes) -> int:
        self.sha256.update(chunk)
        self.size += len(chunk)
        self._report()
        return len(chunk)

    def _report(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._progress is not None and (force or now - self._last >= _PROGRESS_EVERY):
            self._last = now
            self._progress(self.size, self.expected)


def download_hash(
    http: HttpClient,
    url: str,
    *,
    fetch_url: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> FileHash:
    """Download ``url`` (from ``fetch_url`` when given: the mirror's copy) whole, streaming, and
    answer its sha256 and size. ``progress(bytes so far, Content-Length or None)`` is called as
    it goes. Raises :class:`SourceError` naming the URL fetched (and, for a mirror, the original)."""
    source = fetch_url or url
    sink = _HashingSink(progress)
    try:
        resp = http.get(source, {"Accept-Encoding": "identity"}, sink=sink, on_length=sink.expect)  # type: ignore[arg-type]
    except SourceError as e:
        if source == url:
            raise
        raise mirror_error(e, url) from e
    if resp.length is not None and resp.length != sink.size:
        raise SourceError(source, f"the server announced {resp.length} bytes and sent {sink.size}", code="index-bad-response")
    if progress is not None:
        progress(sink.size, sink.size)
    return FileHash(
        url=url,
        sha256=sink.sha256.hexdigest(),
        size=sink.size,
        etag=resp.headers.get("ETag"),
        last_modified=resp.headers.get("Last-Modified"),
        source=resp.url if resp.url != url else None,
    )
