"""Packages from package indexes: the full-closure part of the factory.

A full-closure resolution runs the same resolver as a stack resolution, for one concrete Python
(wheel tags and environment markers need one). The matrix still decides which builds of the
stack fit the target; this module adds what the indexes know: which files exist (a stack build
the index lacks is skipped), their hashes, and every package's dependencies from its core
metadata, with markers evaluated for the target, not for the machine running aienv.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as Pep508
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from ..errors import SourceError
from ..sources._model import CoreMetadata, DistFile, ProjectPage
from .base import python_allows
from .candidates import IndexCandidate
from .requirements import PackageRequirement, PythonRequirement

if TYPE_CHECKING:  # the sources package (and its HTTP stack) loads only for online locks
    from ..sources import IndexConfig, PackageFinder, TargetTags

__all__ = ["Closure", "IndexedPackages", "LazyCandidates", "identifier_for", "split_identifier"]


@dataclass
class Closure:
    """What a full-closure resolution adds to spec, host and matrix.

    ``python`` is the one Python version resolved for.
    """

    finder: PackageFinder
    config: IndexConfig
    python: str


def identifier_for(name: str, extras: Iterable[str] = ()) -> str:
    """``transformers`` or ``transformers[sentencepiece,torch]`` (normalized, extras sorted)."""
    base = canonicalize_name(name)
    extras = sorted({canonicalize_name(e) for e in extras})
    return f"{base}[{','.join(extras)}]" if extras else base


def split_identifier(identifier: str) -> tuple[str, frozenset[str]]:
    if identifier.endswith("]") and "[" in identifier:
        name, _, rest = identifier.partition("[")
        return name, frozenset(rest[:-1].split(","))
    return identifier, frozenset()


class IndexedPackages:
    """Candidates, files and metadata dependencies of packages that come from indexes."""

    def __init__(self, closure: Closure, tags: TargetTags, env: Mapping[str, str]) -> None:
        self.closure = closure
        self.finder = closure.finder
        self.config = closure.config
        self.tags = tags
        self.env = dict(env)

    # --- files -----------------------------------------------------------------------------

    def select(self, files: Sequence[DistFile]) -> tuple[DistFile, ...]:
        """The files of one version that an installer on the target may pick, best first; ()
        when none fits. Wheels installable at the target's OS floor decide whether the version
        fits; wheels for the same Python and platform at a newer OS level are listed too (pip on
        a newer machine prefers them, and its hash check needs them). Without a fitting wheel,
        the sdist."""
        ok = [f for f in files if not f.yanked and _python_ok(f.requires_python, self.closure.python)]
        ranked = sorted((r, f.filename, f) for f in ok if f.kind == "wheel" and (r := self.tags.rank(f)) is not None)
        if ranked:
            best = [f for _, _, f in ranked]
            chosen = {id(f) for f in best}
            newer = sorted((f for f in ok if f.kind == "wheel" and id(f) not in chosen and self.tags.same_family(f)), key=lambda f: f.filename)
            return (*best, *newer)
        sdists = [f for f in ok if f.kind == "sdist"]
        return (sdists[0],) if sdists else ()

    def files_of_version(self, page: ProjectPage, version: Version) -> tuple[DistFile, ...]:
        """Files of exactly ``version`` (local label included) on a page that fit the target."""
        return self.select([f for f in page.files if f.version == version and str(f.version) == str(version)])

    # --- candidates --------------------------------------------------------------------------

    def page(self, name: str) -> ProjectPage:
        return self.finder.find(name, self.config.indexes_for(name))

    def candidates(self, name: str, preferred: str | None = None) -> LazyCandidates:
        """Every version of ``name`` with a file that fits the target: ``preferred`` (the version
        an existing lock pinned) first, then final releases newest first, then pre-releases
        (chosen only when no final release satisfies, uv's "if necessary"). Lazy: files are
        selected only for the versions the resolver gets to (usually the first)."""
        page = self.page(name)
        by_version: dict[Version, list[DistFile]] = {}
        for f in page.files:
            by_version.setdefault(f.version, []).append(f)

        def generate() -> Iterator[IndexCandidate]:
            order = sorted(by_version, reverse=True)
            if preferred is not None:
                order.sort(key=lambda v: str(v) != preferred)  # stable: the pin first
            later = []
            for i, version in enumerate(order):
                if version.is_prerelease and not (i == 0 and preferred is not None):
                    later.append(version)
                    continue
                if files := self.select(by_version[version]):
                    yield IndexCandidate(name, version, page.index, files)
            for version in later:
                if files := self.select(by_version[version]):
                    yield IndexCandidate(name, version, page.index, files)

        found = LazyCandidates(generate())
        first = next(iter(found), None)
        if first is not None:
            self.finder.prefetch_metadata([first.files[0]])  # the resolver will ask for it next
        return found

    # --- dependencies ------------------------------------------------------------------------

    def metadata(self, file: DistFile) -> CoreMetadata | None:
        """Core metadata of a file; None when an offline run lacks it (the finder records it in
        ``missing``)."""
        from ..sources import NotCached

        try:
            return self.finder.metadata(file)
        except NotCached:
            return None

    def requirements(self, owner: str, metadata: CoreMetadata, extras: frozenset[str] = frozenset()) -> list[object]:
        """Requires-Python and Requires-Dist of ``metadata`` as requirements on this target.

        For the base package (no extras) a requirement counts when its marker holds with
        ``extra == ""``; for ``name[extras]``, when it holds for one of the extras."""
        out: list[object] = []
        if not extras and metadata.requires_python:
            allowed = frozenset({self.closure.python}) if _python_ok(metadata.requires_python, self.closure.python) else frozenset()
            out.append(PythonRequirement(allowed, f"{owner} requires Python {metadata.requires_python}"))
        names: list[tuple[str, frozenset[str]]] = []
        for line in metadata.requires_dist:
            try:
                req = Pep508(line)
            except InvalidRequirement as e:
                raise SourceError(owner, f"has an invalid Requires-Dist {line!r}: {e}", code="index-bad-response") from e
            if not self._marker_holds(req.marker, extras):
                continue
            identifier = identifier_for(req.name, req.extras)
            if req.url:
                # A direct reference cannot be pinned from an index; nothing satisfies it.
                out.append(PackageRequirement(identifier, SpecifierSet("<0"), f"{owner} requires {req} (a direct URL: not supported)"))
                continue
            out.append(PackageRequirement(identifier, req.specifier, f"{owner} requires {_short(req)}"))
            names.append((canonicalize_name(req.name), frozenset(req.extras)))
        self.prefetch(n for n, _ in names)
        return out

    def _marker_holds(self, marker: Marker | None, extras: frozenset[str]) -> bool:
        if marker is None:
            return not extras  # an unconditional requirement belongs to the base candidate
        if not extras:
            return marker.evaluate({**self.env, "extra": ""})
        return any(marker.evaluate({**self.env, "extra": e}) for e in extras)

    def prefetch(self, names: Iterable[str]) -> None:
        from ..spec import STACK_PACKAGES

        self.finder.prefetch(
            (index, name) for name in names if name not in STACK_PACKAGES for index in self.config.indexes_for(name)[:1]
        )


class LazyCandidates:
    """A sequence of candidates made on demand and kept, so it can be iterated again."""

    def __init__(self, source: Iterator[object]) -> None:
        self._source: Iterator[object] | None = source
        self._made: list[object] = []

    def __iter__(self) -> Iterator[object]:
        i = 0
        while True:
            if i < len(self._made):
                yield self._made[i]
            elif self._source is None:
                return
            else:
                item = next(self._source, _END)
                if item is _END:
                    self._source = None
                    return
                self._made.append(item)
                yield item
            i += 1


_END = object()


@functools.lru_cache(maxsize=4096)  # a page repeats a handful of Requires-Python values thousands of times
def _python_ok(requires_python: str | None, python: str) -> bool:
    if not requires_python:
        return True
    try:
        spec = SpecifierSet(requires_python)
    except ValueError:
        return True  # an unparsable Requires-Python is ignored, as pip does
    return python_allows(spec, python)


def _short(req: Pep508) -> str:
    text = f"{req.name}{'[' + ','.join(sorted(req.extras)) + ']' if req.extras else ''}{req.specifier}"
    return text
