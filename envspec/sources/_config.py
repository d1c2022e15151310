"""Which package indexes aienv consults, and in what order.

An :class:`IndexConfig` names the default index (PyPI), the base of the PyTorch wheel indexes
and any extra indexes. :meth:`IndexConfig.indexes_for` answers, for one project, the indexes to
consult in order; the first that lists the project wins (uv's "first-index" strategy), so a
same-named package on a later index can never shadow it (dependency confusion).

Index URLs are stored without credentials (:func:`redact`); credentials found in a configured
URL are kept aside, in memory only, for the HTTP client (:meth:`IndexConfig.url_credentials`).
The release mirror (:mod:`envspec.sources._assets`) is kept here too, the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

from packaging.utils import canonicalize_name

from envspec.sources._assets import mirrored
from envspec.sources._model import Index

__all__ = ["PYPI", "ExtraIndex", "IndexConfig", "redact", "split_credentials"]

PYPI = Index("pypi", "https://pypi.org/simple")
#: PaddlePaddle's own base of per-CUDA indexes (``/cu120/``), as its install pages name them.
PADDLE_SITE = "https://www.paddlepaddle.org.cn"
PADDLE_BASE = PADDLE_SITE + "/packages/stable"


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``(url without userinfo, (username, password) or None)``; the parts are percent-decoded."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, (unquote(user), unquote(password))


def redact(url: str) -> str:
    """``url`` without its userinfo: ``https://user:pw@host/x`` → ``https://host/x``."""
    return split_credentials(url)[0]


def _clean_index_url(url: str) -> tuple[str, tuple[str, str] | None]:
    clean, creds = split_credentials(url)
    return clean.rstrip("/"), creds


@dataclass(frozen=True)
class ExtraIndex:
    """An index besides the default. With ``packages``, it is the only index consulted for those
    projects (and for nothing else); without, it is consulted for every project, before the
    default."""

    name: str
    url: str
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class IndexConfig:
    """The indexes of one run. URLs given with credentials are stored redacted; the credentials
    stay in memory (:meth:`url_credentials`), out of ``repr`` and equality."""

    default: Index = PYPI
    pytorch_base: str = "https://download.pytorch.org/whl"
    extras: tuple[ExtraIndex, ...] = ()
    paddle_base: str = PADDLE_BASE
    release_mirror: str | None = None  # replaces https://github.com/ when fetching release assets
    _secrets: dict[str, tuple[str, str]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        secrets: dict[str, tuple[str, str]] = {}

        def clean(url: str) -> str:
            url, creds = _clean_index_url(url)
            if creds is not None:
                secrets[url] = creds
            return url

        object.__setattr__(self, "default", Index(self.default.name, clean(self.default.url)))
        object.__setattr__(self, "pytorch_base", clean(self.pytorch_base))
        object.__setattr__(self, "paddle_base", clean(self.paddle_base).rstrip("/"))
        extras = tuple(
            ExtraIndex(e.name, clean(e.url), tuple(e.packages)) for e in self.extras
        )
        object.__setattr__(self, "extras", extras)
        if self.release_mirror:
            object.__setattr__(self, "release_mirror", clean(self.release_mirror) + "/")
        object.__setattr__(self, "_secrets", secrets)

    def pytorch(self, variant: str) -> Index:
        """The PyTorch index of one variant (``cu128``, ``cpu``, ``rocm6.2``…)."""
        return Index(f"pytorch-{variant}", f"{self.pytorch_base}/{variant}")

    def paddle(self, url: str) -> Index:
        """A PaddlePaddle per-CUDA index (``<paddle base>/cu120/``, as the matrix names it under
        PaddlePaddle's own base) under the configured base, so a mirror replaces it."""
        if url.startswith(PADDLE_BASE + "/"):
            url = self.paddle_base + url[len(PADDLE_BASE):]
        tail = url.rstrip("/").rsplit("/", 1)[-1]
        return Index(f"paddle-{tail}", url.rstrip("/"))

    def paddle_find_links(self, url: str) -> Index:
        """A PaddlePaddle find-links page (2.5's ``<site>/whl/linux/mkl/avx/stable.html``). A
        configured base that ends in ``/packages/stable``, as Paddle's own does, names a mirror of
        the whole site, whose ``/whl/`` pages then stand in for Paddle's."""
        if url.startswith(PADDLE_SITE + "/") and self.paddle_base.endswith("/packages/stable"):
            url = self.paddle_base[: -len("/packages/stable")] + url[len(PADDLE_SITE):]
        return Index("paddle-find-links", url, flat=True)

    def indexes_for(self, name: str) -> tuple[Index, ...]:
        """The indexes to consult for project ``name``, in order; the first that has the project
        wins. An extra index that lists the project is the only one; otherwise the extras that
        list no packages, then the default."""
        wanted = canonicalize_name(name)
        for extra in self.extras:
            if any(canonicalize_name(p) == wanted for p in extra.packages):
                return (Index(extra.name, extra.url),)
        general = tuple(Index(e.name, e.url) for e in self.extras if not e.packages)
        return (*general, self.default)

    def known_indexes(self) -> tuple[Index, ...]:
        """Every configured index, the PyTorch base as an index named ``pytorch``, the release
        mirror as ``release-mirror`` (its credentials: ``AIENV_INDEX_RELEASE_MIRROR_USERNAME``…)."""
        extras = tuple(Index(e.name, e.url) for e in self.extras)
        mirror = (Index("release-mirror", self.release_mirror.rstrip("/")),) if self.release_mirror else ()
        return (self.default, *extras, Index("pytorch", self.pytorch_base), Index("paddle", self.paddle_base), *mirror)

    def fetch_url(self, url: str) -> str:
        """Where to fetch ``url`` from: a GitHub release asset through the release mirror when
        one is configured (see :mod:`envspec.sources._assets`), anything else as it is."""
        return mirrored(url, self.release_mirror)

    def url_credentials(self) -> Mapping[str, tuple[str, str]]:
        """Credentials that were written in a configured URL: redacted URL → (user, password)."""
        return dict(self._secrets)
