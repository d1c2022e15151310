"""The on-disk cache of index pages and core metadata.

Layout under the cache root (``$AIENV_CACHE_DIR``, else ``platformdirs.user_cache_dir("aienv")``,
or an explicit path), versioned so a format change starts afresh::

    sources-v1/pages/<h[:2]>/<h>          h = sha256 of the page URL
    sources-v1/metadata/sha256/<d[:2]>/<d>.json   d = the file's sha256 (immutable)
    sources-v1/metadata/url/<h[:2]>/<h>.json      files the index gave no sha256 for
    sources-v1/sizes/<k[:2]>/<k>                  k = the file's sha256, else h of its URL
    sources-v1/files/<h[:2]>/<h>.json             h = sha256 of the URL of a file downloaded
                                                  to hash it (a release asset; immutable)

A page entry is one line of JSON (URL, status, content type, ETag, Last-Modified, fetch time,
max-age, body length and sha256) followed by the raw body. Every write goes to a temporary file
in the same directory, then :func:`os.replace`: a reader sees the old entry or the new one, never
half of one. An entry that cannot be read or does not check out is logged and treated as
missing, never a crash; a cache that cannot be written is logged and skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envspec._cache_dir import default_cache_dir
from envspec.sources._assets import FileHash
from envspec.sources._model import CoreMetadata, DistFile

__all__ = ["SCHEMA", "Cache", "CachedPage", "default_cache_dir"]

logger = logging.getLogger(__name__)

SCHEMA = "sources-v1"


@dataclass(frozen=True)
class CachedPage:
    """A stored index response. ``status`` is 200 or 404 (a remembered "not here")."""

    url: str
    status: int
    body: bytes
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    fetched: float = 0.0
    max_age: int | None = None
    base: str | None = None  # where the body came from after redirects, when not ``url``

    def is_fresh(self, now: float | None = None) -> bool:
        """Whether the server's max-age has not run out yet."""
        if self.max_age is None:
            return False
        return (time.time() if now is None else now) < self.fetched + self.max_age


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Cache:
    """Pages and metadata on disk (see the module docstring). Thread-safe: entries are whole
    files replaced atomically."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root if root is not None else default_cache_dir()) / SCHEMA
        self._warned = False

    # --- paths ---

    def page_path(self, url: str) -> Path:
        h = _digest(url)
        return self.root / "pages" / h[:2] / h

    def metadata_path(self, file: DistFile) -> Path:
        sha = file.sha256
        if sha:
            return self.root / "metadata" / "sha256" / sha[:2] / f"{sha}.json"
        h = _digest(file.url)
        return self.root / "metadata" / "url" / h[:2] / f"{h}.json"

    # --- pages ---

    def get_page(self, url: str) -> CachedPage | None:
        """The stored response for ``url``, or None (absent or unreadable)."""
        path = self.page_path(url)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            logger.warning("cache entry %s unreadable (%s); ignoring it", path, e)
            return None
        try:
            head, sep, body = raw.partition(b"\n")
            meta = json.loads(head)
            if not sep or meta["url"] != url or len(body) != meta["length"]:
                raise ValueError("truncated or for another URL")
            if hashlib.sha256(body).hexdigest() != meta["sha256"]:
                raise ValueError("body does not match its checksum")
            return CachedPage(
                url=url,
                status=int(meta["status"]),
                body=body,
                content_type=meta.get("content_type"),
                etag=meta.get("etag"),
                last_modified=meta.get("last_modified"),
                fetched=float(meta["fetched"]),
                max_age=None if meta.get("max_age") is None else int(meta["max_age"]),
                base=meta.get("base"),
            )
        except (ValueError, KeyError, TypeError) as e:
            logger.warning("cache entry %s for %s is corrupt (%s); ignoring it", path, url, e)
            return None

    def put_page(self, page: CachedPage) -> None:
        """Store ``page`` (replacing any older entry for its URL)."""
        head = {
            "url": page.url,
            "status": page.status,
            "content_type": page.content_type,
            "etag": page.etag,
            "last_modified": page.last_modified,
            "fetched": page.fetched,
            "max_age": page.max_age,
            "base": page.base,
            "length": len(page.body),
            "sha256": hashlib.sha256(page.body).hexdigest(),
        }
        data = json.dumps(head, separators=(",", ":")).encode("utf-8") + b"\n" + page.body
        self._write(self.page_path(page.url), data)

    # --- metadata ---

    def get_metadata(self, file: DistFile) -> CoreMetadata | None:
        """The stored metadata of ``file``, or None (absent or unreadable)."""
        path = self.metadata_path(file)
        data = _read_entry(path)
        if data is None:
            return None
        try:
            if data.get("key") != (file.sha256 or file.url):
                raise ValueError("stored for another file")
            return CoreMetadata(
                name=canonicalize_name(data["name"]),
                version=Version(data["version"]),
                requires_dist=tuple(str(r) for r in data["requires_dist"]),
                requires_python=data.get("requires_python"),
                provides_extra=tuple(str(e) for e in data["provides_extra"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError, InvalidVersion) as e:
            logger.warning("cache entry %s is corrupt (%s); ignoring it", path, e)
            return None

    def put_metadata(self, file: DistFile, metadata: CoreMetadata) -> None:
        """Store the metadata of ``file``."""
        data = {
            "key": file.sha256 or file.url,
            "name": metadata.name,
            "version": str(metadata.version),
            "requires_dist": list(metadata.requires_dist),
            "requires_python": metadata.requires_python,
            "provides_extra": list(metadata.provides_extra),
        }
        self._write(self.metadata_path(file), json.dumps(data, indent=1).encode("utf-8"))

    # --- file sizes (HTML indexes give none; learned once per immutable file) ---

    def size_path(self, file: DistFile) -> Path:
        key = file.sha256 or _digest(file.url)
        return self.root / "sizes" / key[:2] / key

    def get_size(self, file: DistFile) -> int | None:
        try:
            text = self.size_path(file).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return int(text) if text.isdigit() else None

    def put_size(self, file: DistFile, size: int) -> None:
        self._write(self.size_path(file), str(size).encode("ascii"))

    # --- hashes of files downloaded to hash them (by URL: release assets are immutable) ---

    def file_hash_path(self, url: str) -> Path:
        h = _digest(url)
        return self.root / "files" / h[:2] / f"{h}.json"

    def get_file_hash(self, url: str) -> FileHash | None:
        """The stored sha256 and size of the file at ``url``, or None (absent or unreadable)."""
        path = self.file_hash_path(url)
        data = _read_entry(path)
        if data is None:
            return None
        try:
            sha256, size = str(data["sha256"]), data["size"]
            if data["url"] != url or len(sha256) != 64 or not isinstance(size, int) or size < 0:
                raise ValueError("stored for another URL, or not a sha256 and a size")
            int(sha256, 16)
            return FileHash(
                url=url, sha256=sha256, size=size, etag=data.get("etag"),
                last_modified=data.get("last_modified"), source=data.get("source"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            logger.warning("cache entry %s is corrupt (%s); ignoring it", path, e)
            return None

    def put_file_hash(self, found: FileHash) -> None:
        """Store what downloading ``found.url`` taught (its sha256, size and validators)."""
        data = {
            "url": found.url,
            "sha256": found.sha256,
            "size": found.size,
            "etag": found.etag,
            "last_modified": found.last_modified,
            "source": found.source,
            "fetched": time.time(),
        }
        self._write(self.file_hash_path(found.url), json.dumps(data, indent=1).encode("utf-8"))

    # --- writing ---

    def _write(self, path: Path, data: bytes) -> None:
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            tmp = None
        except OSError as e:
            if not self._warned:
                self._warned = True
                logger.warning("cannot write the cache under %s (%s); going on without it", self.root, e)
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass


def _read_entry(path: Path) -> Any:
    """A JSON cache entry, or None when it is absent or unreadable (a corrupt one is logged)."""
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        logger.warning("cache entry %s is corrupt (%s); ignoring it", path, e)
        return None
