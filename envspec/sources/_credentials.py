"""Credentials for index requests: basic auth per request URL. Nothing here is ever logged.

For a request URL, the indexes it belongs to are those whose URL is a prefix of it (longest
first), then those on the same scheme, host and port (files are often served beside the
index). For each of those indexes in turn, credentials are looked up:

1. written in the configured index URL (``https://user:pw@host/simple``), kept in memory only;
2. environment variables ``AIENV_INDEX_<NAME>_USERNAME`` / ``AIENV_INDEX_<NAME>_PASSWORD``,
   ``<NAME>`` being the index name upper-cased, every other character than A-Z and 0-9 made
   ``_`` (index ``pytorch-cu128`` → ``AIENV_INDEX_PYTORCH_CU128_USERNAME``);

and last:

3. netrc (``$NETRC``, else ``~/.netrc``), by host.

Credentials of an index are never sent to another host.
"""

from __future__ import annotations

import logging
import netrc
import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from envspec.sources._model import Index

__all__ = ["Credentials", "env_prefix"]

logger = logging.getLogger(__name__)


def env_prefix(index_name: str) -> str:
    """``AIENV_INDEX_<NAME>_`` for an index name."""
    return "AIENV_INDEX_" + re.sub(r"[^A-Z0-9]", "_", index_name.upper()) + "_"


def _realm(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port or default


class Credentials:
    """Answers the basic-auth pair for a request URL (see the module docstring).

    ``url_credentials`` maps a redacted index URL to the pair that was written in it;
    ``environ`` and ``netrc_path`` default to the process environment and ``$NETRC`` or
    ``~/.netrc``.
    """

    def __init__(
        self,
        indexes: Iterable[Index] = (),
        url_credentials: Mapping[str, tuple[str, str]] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        netrc_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._indexes: dict[str, Index] = {}
        self._url_creds = {u.rstrip("/"): c for u, c in (url_credentials or {}).items()}
        self._environ = os.environ if environ is None else environ
        self._netrc_path = netrc_path
        self._netrc: netrc.netrc | None = None
        self._netrc_loaded = False
        for index in indexes:
            self.add_index(index)

    def add_index(self, index: Index) -> None:
        """Make ``index`` known, so its environment variables apply to its URLs."""
        with self._lock:
            self._indexes.setdefault(index.name, index)

    def _matching(self, url: str) -> list[Index]:
        with self._lock:
            indexes = list(self._indexes.values())
        prefixed = sorted(
            (i for i in indexes if url == i.url or url.startswith(i.url.rstrip("/") + "/")),
            key=lambda i: -len(i.url),
        )
        realm = _realm(url)
        same_host = [i for i in indexes if i not in prefixed and _realm(i.url) == realm]
        return prefixed + same_host

    def for_url(self, url: str) -> tuple[str, str] | None:
        """The ``(username, password)`` to send with a request to ``url``, or None."""
        for index in self._matching(url):
            creds = self._url_creds.get(index.url.rstrip("/"))
            if creds is not None:
                return creds
            prefix = env_prefix(index.name)
            user = self._environ.get(prefix + "USERNAME")
            if user:
                return user, self._environ.get(prefix + "PASSWORD", "")
        return self._from_netrc(url)

    def _from_netrc(self, url: str) -> tuple[str, str] | None:
        host = urlsplit(url).hostname
        if not host:
            return None
        rc = self._load_netrc()
        if rc is None:
            return None
        found = rc.authenticators(host)
        if not found:
            return None
        login, _account, password = found
        return login or "", password or ""

    def _load_netrc(self) -> netrc.netrc | None:
        with self._lock:
            if not self._netrc_loaded:
                self._netrc_loaded = True
                path = self._netrc_path or self._environ.get("NETRC") or Path.home() / ".netrc"
                try:
                    if Path(path).is_file():
                        self._netrc = netrc.netrc(os.fspath(path))
                except (OSError, netrc.NetrcParseError) as e:
                    # Say which file and why, never its content.
                    logger.debug("ignoring netrc file %s: %s", path, type(e).__name__)
            return self._netrc
