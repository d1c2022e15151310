"""A small HTTP client for index pages and files, over one thread-safe ``urllib3.PoolManager``.

- Retries connection errors and 429/502/503/504 answers with a short backoff (``Retry``).
- Honours ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` (:func:`urllib.request.getproxies`,
  :func:`urllib.request.proxy_bypass`).
- Adds basic auth per request from :class:`~envspec.sources._credentials.Credentials`;
  urllib3 drops the header on a redirect to another host.
- Raises :class:`SourceError` naming the URL (which never carries credentials):
  ``index-http-error`` for an unexpected status, ``index-unreachable`` when no answer came,
  ``index-bad-response`` when the body was cut short.

urllib3 is imported here only, and this module only when something is fetched.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError, MaxRetryError, ProtocolError, SSLError
from urllib3.util import Retry, Timeout, make_headers

from envspec._version import __version__
from envspec.errors import SourceError
from envspec.sources._config import redact, split_credentials
from envspec.sources._credentials import Credentials

__all__ = ["BACKOFF", "RETRIES", "USER_AGENT", "HttpClient", "Response"]

logger = logging.getLogger(__name__)

USER_AGENT = f"aienv/{__version__}"
_CHUNK = 1 << 16
RETRIES = 3  # per request, for connection errors and 429/502/503/504
BACKOFF = 0.25  # seconds; urllib3 waits 0, 2*BACKOFF, 4*BACKOFF… between retries (at most 4 s)
_OFFLINE_HINT = "check the network and proxy settings (HTTPS_PROXY, NO_PROXY), or run with --offline to use the cache"


@dataclass
class Response:
    """A finished response. ``url`` is where it came from after redirects. ``too_large`` is set
    (and ``body`` empty) when the body was longer than the ``max_body`` asked for;
    ``wire_bytes`` counts what came over the network."""

    url: str
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes = b""
    wire_bytes: int = 0
    too_large: bool = False
    length: int | None = field(default=None)


class HttpClient:
    """GET with pooling, retries, proxies and auth. Thread-safe; ``close()`` when done."""

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        maxsize: int = 16,
        timeout: float = 30.0,
        retries: int | None = None,
        backoff: float | None = None,
    ) -> None:
        self._credentials = credentials or Credentials()
        retries = RETRIES if retries is None else retries
        backoff = BACKOFF if backoff is None else backoff
        self._retry = Retry(
            total=retries,
            connect=retries,
            read=2,
            status=retries,
            status_forcelist=(429, 502, 503, 504),
            backoff_factor=backoff,
            backoff_max=4.0,
            respect_retry_after_header=False,
            raise_on_status=False,
        )
        self._pool_kw = {
            "maxsize": maxsize,
            "block": False,
            "timeout": Timeout(connect=min(timeout, 15.0), read=timeout),
            "retries": self._retry,
            "headers": {"User-Agent": USER_AGENT},
        }
        self._direct = urllib3.PoolManager(num_pools=16, **self._pool_kw)
        self._proxied: dict[str, urllib3.ProxyManager] = {}
        self._proxies = {k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https")}

    def _manager(self, url: str) -> urllib3.PoolManager:
        parts = urlsplit(url)
        proxy = self._proxies.get(parts.scheme)
        if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
            return self._direct
        manager = self._proxied.get(proxy)
        if manager is None:
            clean, creds = split_credentials(proxy)
            headers = make_headers(proxy_basic_auth=f"{creds[0]}:{creds[1]}") if creds else None
            manager = urllib3.ProxyManager(clean, num_pools=16, proxy_headers=headers, **self._pool_kw)
            self._proxied.setdefault(proxy, manager)
        return self._proxied[proxy]

    def get(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        ok: Collection[int] = (200,),
        max_body: int | None = None,
        sink: BinaryIO | None = None,
        on_length: Callable[[int | None], None] | None = None,
    ) -> Response:
        """GET ``url``; answer statuses in ``ok``, raise :class:`SourceError` for others.

        With ``max_body``, a body longer than that (by Content-Length, or as it arrives) is not
        read: the response comes back with ``too_large`` set and the connection is dropped.
        With ``sink``, the body is written there as it arrives instead of kept in ``body``.
        ``on_length`` is called with the Content-Length (None when unsaid) before the body is read.
        """
        url = redact(url)
        all_headers = dict(headers or {})
        creds = self._credentials.for_url(url)
        if creds is not None:
            all_headers.update(make_headers(basic_auth=f"{creds[0]}:{creds[1]}"))
        try:
            resp = self._manager(url).request(
                "GET", url, headers=all_headers, preload_content=False, redirect=True
            )
        except MaxRetryError as e:
            raise self._unreachable(url, e.reason or e) from e
        except HTTPError as e:
            raise self._unreachable(url, e) from e
        complete = False
        try:
            status, reason = resp.status, resp.reason or ""
            logger.debug("GET %s -> %s", url, status)
            length_header = resp.headers.get("Content-Length")
            length = int(length_header) if length_header and length_header.isdigit() else None
            if status not in ok:
                if length is not None and length <= _CHUNK:
                    resp.drain_conn()  # a small error page: keep the connection alive
                    complete = True
                raise _status_error(url, status, reason)
            out = Response(_final_url(url, resp), status, reason, resp.headers, length=length)
            if max_body is not None and length is not None and length > max_body:
                out.too_large = True
                return out
            if on_length is not None:
                on_length(length)
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.stream(_CHUNK):
                if sink is not None:
                    sink.write(chunk)
                else:
                    chunks.append(chunk)
                size += len(chunk)
                if max_body is not None and size > max_body:
                    out.too_large = True
                    return out
            complete = True
            out.body = b"".join(chunks)
            out.wire_bytes = resp.tell()
            return out
        except (ProtocolError, HTTPError) as e:
            raise SourceError(
                url,
                f"the response was cut short or garbled ({type(e).__name__}: {e})",
                code="index-bad-response",
                hint="try again; if it persists the index or a proxy is truncating responses",
            ) from e
        finally:
            if not complete:
                # Not read to the end: drop the connection rather than drain a large body.
                resp.close()
            resp.release_conn()

    def _unreachable(self, url: str, reason: object) -> SourceError:
        what = "TLS error" if isinstance(reason, SSLError) else "cannot connect"
        return SourceError(url, f"{what}: {reason}", code="index-unreachable", hint=_OFFLINE_HINT)

    def close(self) -> None:
        """Close every pooled connection."""
        self._direct.clear()
        for manager in self._proxied.values():
            manager.clear()


def _final_url(url: str, resp: urllib3.BaseHTTPResponse) -> str:
    """Where the response came from: the last redirect's target, else ``url``."""
    history = resp.retries.history if resp.retries is not None else ()
    for step in reversed(history):
        if step.redirect_location:
            return redact(urljoin(step.url, step.redirect_location))
    return url


def _status_error(url: str, status: int, reason: str) -> SourceError:
    hint = None
    if status in (401, 403):
        hint = (
            "the index wants credentials: set AIENV_INDEX_<NAME>_USERNAME and "
            "AIENV_INDEX_<NAME>_PASSWORD, or add the host to ~/.netrc"
        )
    elif status >= 500 or status == 429:
        hint = "the index is failing or rate-limiting; try again later, or run with --offline to use the cache"
    return SourceError(url, f"HTTP {status} {reason}".rstrip(), code="index-http-error", hint=hint)
