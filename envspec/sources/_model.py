"""Value types shared by every package source: indexes, files on an index, core metadata.

These are the contract between :mod:`envspec.sources` and the resolver. They are frozen and
hashable; URLs never carry credentials (credentials are added per request, from the environment
or netrc, and never written anywhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.tags import Tag
from packaging.utils import NormalizedName
from packaging.version import Version

__all__ = ["CoreMetadata", "DistFile", "Index", "ProjectPage"]


@dataclass(frozen=True)
class Index:
    """A PEP 503/691 simple index: ``name`` for messages and the lock, ``url`` its base
    (``https://pypi.org/simple``, ``https://download.pytorch.org/whl/cu128``), no trailing slash,
    no credentials."""

    name: str
    url: str
    # A find-links page (pip's --find-links; PaddlePaddle 2.5's stable.html): one HTML page that
    # links the files of every project, so every project's page is the page itself.
    flat: bool = False

    def project_url(self, project: str) -> str:
        """The project page URL (PEP 503 normalized name, trailing slash); a flat page's own URL."""
        return self.url if self.flat else f"{self.url}/{project}/"


@dataclass(frozen=True)
class DistFile:
    """One file of a project page (a wheel or an sdist), as the index describes it.

    ``hashes`` maps algorithm to hex digest (``{"sha256": …}``); ``metadata`` is the PEP 658/714
    core-metadata entry: None when the index offers no ``.metadata`` file, else a (possibly
    empty) mapping of its hashes. ``tags`` is empty for sdists.
    """

    filename: str
    url: str
    name: NormalizedName
    version: Version
    kind: str  # "wheel" | "sdist"
    tags: frozenset[Tag] = frozenset()
    hashes: tuple[tuple[str, str], ...] = ()
    requires_python: str | None = None
    yanked: bool = False
    size: int | None = None
    metadata: tuple[tuple[str, str], ...] | None = None

    @property
    def sha256(self) -> str | None:
        return dict(self.hashes).get("sha256")


@dataclass(frozen=True)
class ProjectPage:
    """What one index lists for one project (files in the index's order). ``url`` is the page
    fetched; ``files`` skips names that do not parse as a wheel or sdist of this project."""

    index: Index
    name: NormalizedName
    url: str
    files: tuple[DistFile, ...]


@dataclass(frozen=True)
class CoreMetadata:
    """The parts of a distribution's core metadata the resolver needs."""

    name: NormalizedName
    version: Version
    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    provides_extra: tuple[str, ...] = field(default=())
