"""The resolvelib provider: thin, it delegates to the factory and the requirement objects.

Roles (after pip's ``resolution/resolvelib/provider.py``):

- the *provider* answers resolvelib's questions and owns the preference order;
- the *factory* (:mod:`.factory`) builds candidates and their dependencies from spec, host and
  matrix;
- *requirements* (:mod:`.requirements`) decide ``is_satisfied_by``; *candidates*
  (:mod:`.candidates`) are frozen values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from resolvelib.providers import AbstractProvider
from resolvelib.structs import RequirementInformation

from .base import HOST_IDENTIFIERS
from .factory import Factory

__all__ = ["StackProvider"]

# Order in which identifiers are pinned after the host facts: the framework first (its newest
# version wins over the newest CUDA variant), then its companions, then extensions.
_ORDER = {"torch": 1, "torchvision": 3, "torchaudio": 3, "triton": 4, "xformers": 5, "flash-attn": 6}


class StackProvider(AbstractProvider):  # type: ignore[type-arg]
    def __init__(self, factory: Factory) -> None:
        self.factory = factory
        # Requirements and candidates are frozen values, so a check's answer never changes, and
        # resolvelib repeats the same checks many times while it backtracks. Keyed by identity
        # (the factory hands out the same objects each time; hashing their fields is the cost
        # this saves); the entry keeps both objects alive so an id is never reused.
        self._satisfied: dict[tuple[int, int], tuple[Any, Any, bool]] = {}

    def _check(self, requirement: Any, candidate: Any) -> bool:
        key = (id(requirement), id(candidate))
        entry = self._satisfied.get(key)
        if entry is None:
            entry = self._satisfied[key] = (requirement, candidate, bool(requirement.is_satisfied_by(candidate)))
        return entry[2]

    def identify(self, requirement_or_candidate: Any) -> str:
        return str(requirement_or_candidate.identifier)

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Any],
        candidates: Mapping[str, Iterator[Any]],
        information: Mapping[str, Iterator[RequirementInformation[Any, Any]]],
        backtrack_causes: Sequence[RequirementInformation[Any, Any]],
    ) -> tuple[int, int, str]:
        """Lower sorts first. Positions:

        0. host facts (virtual packages, one candidate each) before anything else;
        1. the fixed stack order: torch, torchvision/torchaudio, triton, xformers, flash-attn — so the newest framework is chosen before the newest CUDA, and the
           extensions follow the framework rather than drag it;
        2. the identifier, for determinism.
        """
        host = 0 if identifier in HOST_IDENTIFIERS else 1
        return (host, _ORDER.get(identifier, 9), identifier)

    def narrow_requirement_selection(
        self,
        identifiers: Iterable[str],
        resolutions: Mapping[str, Any],
        candidates: Mapping[str, Iterator[Any]],
        information: Mapping[str, Iterator[RequirementInformation[Any, Any]]],
        backtrack_causes: Sequence[RequirementInformation[Any, Any]],
    ) -> Iterable[str]:
        identifiers = list(identifiers)
        hosts = [i for i in identifiers if i in HOST_IDENTIFIERS]
        return hosts or identifiers

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Any]],
        incompatibilities: Mapping[str, Iterator[Any]],
    ) -> Any:
        reqs = list(requirements[identifier])
        bad = set(incompatibilities[identifier])
        factory = self.factory

        def matches() -> Iterator[Any]:
            # Lazy (resolvelib takes a callable): a full-closure resolution checks that the
            # index has a file of a build only when the resolver gets to that build.
            for c in factory.candidates(identifier):
                if c not in bad and all(self._check(r, c) for r in reqs) and factory.available(c):
                    yield c

        if factory.indexed is None:
            return list(matches())
        return matches

    def is_satisfied_by(self, requirement: Any, candidate: Any) -> bool:
        return self._check(requirement, candidate)

    def get_dependencies(self, candidate: Any) -> list[Any]:
        return self.factory.dependencies(candidate)
