"""The exception tree of aienv.

The library raises these; only :mod:`envspec.cli` prints them and turns them into exit codes.
Every error carries a stable kebab-case ``code`` (for ``--json`` output and the docs), a
``message``, and an optional ``hint`` saying what to try next. ``exit_code`` follows the
contract in DESIGN.md: 2 for bad input, 1 for a request that cannot be met.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "EnvspecError",
    "HostError",
    "LockfileError",
    "MatrixError",
    "OfflineCacheMiss",
    "Problem",
    "ResolutionError",
    "SourceError",
    "SpecError",
    "StaleLockError",
]


class EnvspecError(Exception):
    """Base class of every error aienv raises on purpose."""

    code = "aienv-error"
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, object]:
        """The error as plain data, for ``--json`` output."""
        out: dict[str, object] = {"code": self.code, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        return out


@dataclass(frozen=True)
class Problem:
    """One problem in an input file: where it is and what is wrong.

    ``path`` is the dotted key path (``stack.cuda``, ``targets.ws.gpus[1]``); ``line`` is
    1-based when it could be found in the file's text.
    """

    path: str
    message: str
    line: int | None = None

    def format(self, filename: str) -> str:
        where = f"{filename}:{self.line}" if self.line else filename
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class SpecError(EnvspecError, ValueError):
    """``aienv.toml`` (or ``[tool.aienv]``) is invalid; carries every problem found."""

    code = "invalid-spec"
    exit_code = 2

    def __init__(self, filename: str, problems: Sequence[Problem], *, hint: str | None = None) -> None:
        self.filename = filename
        self.problems = tuple(problems)
        lines = [p.format(filename) for p in self.problems]
        head = f"{filename} is invalid ({len(lines)} problem{'s' if len(lines) != 1 else ''}):"
        super().__init__("\n".join([head, *("  " + line for line in lines)]), hint=hint)

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["problems"] = [
            {"path": p.path, "message": p.message, "line": p.line} for p in self.problems
        ]
        return out


class HostError(EnvspecError, ValueError):
    """A declared host fact (GPU name, driver version, platform, Python) is invalid."""

    code = "invalid-host"
    exit_code = 2


class MatrixError(EnvspecError):
    """The embedded compatibility data is inconsistent: a bug in aienv's data, not the user's."""

    code = "matrix-data-error"
    exit_code = 1


class ResolutionError(EnvspecError):
    """No set of packages satisfies the spec on a target.

    ``target`` names the target; ``blockers`` holds one line per blocking fact, most specific
    first; ``suggestions`` what would unblock it; ``conflicts`` the dependency chain lines.
    """

    code = "resolution-impossible"
    exit_code = 1

    def __init__(
        self,
        target: str,
        blockers: Sequence[str],
        *,
        suggestions: Sequence[str] = (),
        conflicts: Sequence[str] = (),
        code: str | None = None,
    ) -> None:
        self.target = target
        self.blockers = tuple(blockers)
        self.suggestions = tuple(suggestions)
        self.conflicts = tuple(conflicts)
        lines = [f"target {target!r} cannot be resolved:"]
        lines += [f"  {b}" for b in self.blockers]
        if self.conflicts:
            lines.append("  because:")
            lines += [f"    {c}" for c in self.conflicts]
        hint = "; or ".join(self.suggestions) if self.suggestions else None
        super().__init__("\n".join(lines), hint=hint, code=code)

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out.update(
            target=self.target,
            blockers=list(self.blockers),
            suggestions=list(self.suggestions),
            conflicts=list(self.conflicts),
        )
        return out


class LockfileError(EnvspecError, ValueError):
    """``aienv.lock`` is missing, unreadable, of an unknown version, or invalid."""

    code = "invalid-lock"
    exit_code = 2


class StaleLockError(EnvspecError):
    """``aienv.lock`` does not match ``aienv.toml`` any more (``aienv lock --check``)."""

    code = "stale-lock"
    exit_code = 1


class SourceError(EnvspecError):
    """A package index or file answered badly: an HTTP error, a truncated or unparsable page, a
    hash that does not match, metadata that disagrees with the index. ``url`` names what was
    fetched (without credentials).

    Codes: ``index-http-error``, ``index-bad-response``, ``hash-mismatch``,
    ``metadata-mismatch``, ``metadata-build-failed``, ``index-unreachable``.
    """

    code = "index-error"
    exit_code = 1

    def __init__(self, url: str, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        self.url = url
        super().__init__(f"{url}: {message}", hint=hint, code=code)

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["url"] = self.url
        return out


class OfflineCacheMiss(EnvspecError):
    """``--offline`` was asked, and the cache lacks pages, metadata or the hash of a release
    asset that the lock needs. ``missing`` lists every URL that would have been fetched."""

    code = "offline-cache-miss"
    exit_code = 1

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = tuple(sorted(set(missing)))
        shown = "\n".join(f"  {u}" for u in self.missing[:20])
        more = f"\n  … and {len(self.missing) - 20} more" if len(self.missing) > 20 else ""
        super().__init__(
            f"--offline: {len(self.missing)} page(s), metadata file(s) or file hash(es) are not in the cache:\n{shown}{more}",
            hint="run `aienv lock` once with network access to fill the cache, "
            "or `aienv lock --no-index` for a lock of the stack alone",
        )

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["missing"] = list(self.missing)
        return out
