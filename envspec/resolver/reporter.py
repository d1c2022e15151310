"""A resolvelib reporter that logs the resolution at debug level (``aienv -v``)."""

from __future__ import annotations

import logging
from typing import Any

from resolvelib.reporters import BaseReporter

__all__ = ["DebugReporter"]

log = logging.getLogger("envspec.resolver")


class DebugReporter(BaseReporter):  # type: ignore[type-arg]
    """Logs pins, rejections and backtracking; silent unless debug logging is on."""

    def __init__(self) -> None:
        self.rejected = 0

    def pinning(self, candidate: Any) -> None:
        log.debug("pin %s", candidate.format_for_error())

    def rejecting_candidate(self, criterion: Any, candidate: Any) -> None:
        self.rejected += 1
        log.debug("reject %s", candidate.format_for_error())

    def resolving_conflicts(self, causes: Any) -> None:
        log.debug("backtrack on %s", ", ".join(c.requirement.format_for_error() for c in causes))
