"""Package indexes: project pages, files and core metadata, for the full-closure lock.

The resolver uses a :class:`PackageFinder` (pages, metadata and the hashes of release assets,
concurrent and cached; release assets through a mirror with :func:`mirrored`), an
:class:`IndexConfig` (which indexes to consult for which project, first index wins) and a
:class:`TargetTags` (which wheels install on a target, best first). The value types
(:class:`Index`, :class:`ProjectPage`, :class:`DistFile`, :class:`CoreMetadata`) are the
contract, in :mod:`envspec.sources._model`.

Errors are :class:`envspec.errors.SourceError` (with a ``code``) and, offline,
:class:`NotCached` for metadata the cache lacks. Importing this package imports neither urllib3
nor build: they load when something is fetched or an sdist is built; and each name is imported
from its module when first used (PEP 562), so ``aienv apply``, which needs the file model and the
tags, does not import the finder and the cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envspec._lazy import exports

if TYPE_CHECKING:
    from envspec.sources._assets import FileHash, is_release_asset, mirrored
    from envspec.sources._cache import Cache, default_cache_dir
    from envspec.sources._config import PYPI, ExtraIndex, IndexConfig, redact
    from envspec.sources._finder import FetchEvent, NotCached, PackageFinder
    from envspec.sources._model import CoreMetadata, DistFile, Index, ProjectPage
    from envspec.sources._pages import parse_html, parse_json, parse_page
    from envspec.sources._tags import PLATFORMS, TargetTags

_HOME = {
    "FileHash": "._assets",
    "is_release_asset": "._assets",
    "mirrored": "._assets",
    "Cache": "._cache",
    "default_cache_dir": "._cache",
    "PYPI": "._config",
    "ExtraIndex": "._config",
    "IndexConfig": "._config",
    "redact": "._config",
    "FetchEvent": "._finder",
    "NotCached": "._finder",
    "PackageFinder": "._finder",
    "CoreMetadata": "._model",
    "DistFile": "._model",
    "Index": "._model",
    "ProjectPage": "._model",
    "parse_html": "._pages",
    "parse_json": "._pages",
    "parse_page": "._pages",
    "PLATFORMS": "._tags",
    "TargetTags": "._tags",
}

__all__ = [
    "PLATFORMS",
    "PYPI",
    "Cache",
    "CoreMetadata",
    "DistFile",
    "ExtraIndex",
    "FetchEvent",
    "FileHash",
    "Index",
    "IndexConfig",
    "NotCached",
    "PackageFinder",
    "ProjectPage",
    "TargetTags",
    "default_cache_dir",
    "is_release_asset",
    "mirrored",
    "parse_html",
    "parse_json",
    "parse_page",
    "redact",
]
assert set(__all__) == set(_HOME)

__getattr__, __dir__ = exports(__name__, _HOME)
