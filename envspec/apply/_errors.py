"""The errors of ``aienv apply``: each says what was refused or failed, and what to do."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import EnvspecError

__all__ = ["ApplyError", "HostMismatch", "PrefixError", "VerifyError"]


class ApplyError(EnvspecError):
    """An apply that could not be done (exit 1): the installer failed (a bad hash, a network
    error), no interpreter of the locked Python, another apply holding the prefix.

    ``output`` keeps the last lines the installer printed, for the report.
    """

    code = "apply-failed"
    exit_code = 1

    def __init__(
        self, message: str, *, hint: str | None = None, code: str | None = None, output: Sequence[str] = (),
        exit_code: int | None = None,
    ) -> None:
        super().__init__(message, hint=hint, code=code)
        self.output = tuple(output)
        if exit_code is not None:  # 2 where the request itself is bad (a --python or --installer flag)
            self.exit_code = exit_code

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        if self.output:
            out["output"] = list(self.output)
        return out


class HostMismatch(ApplyError):
    """This machine cannot run the target (or any target) of the lock (exit 1): ``reasons``
    says why, one fact each."""

    code = "host-mismatch"

    def __init__(self, headline: str, reasons: Sequence[str], *, target: str | None = None, hint: str | None = None) -> None:
        self.target = target
        self.reasons = tuple(reasons)
        super().__init__("\n".join([headline, *(f"  {r}" for r in self.reasons)]), hint=hint)

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out.update(target=self.target, reasons=list(self.reasons))
        return out


class PrefixError(ApplyError):
    """The prefix is something apply must not replace (exit 2: a path that is not a virtual
    environment, or one aienv did not create, without ``--replace``)."""

    code = "prefix-refused"
    exit_code = 2


class VerifyError(ApplyError):
    """The new environment installed but failed verification (exit 1); it was not swapped in.
    ``findings`` are doctor findings (:class:`envspec.doctor.Finding`)."""

    code = "verify-failed"

    def __init__(self, message: str, findings: Sequence[object], *, hint: str | None = None, report: str = "") -> None:
        super().__init__(message, hint=hint)
        self.findings = tuple(findings)
        self.report = report

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["findings"] = [f.to_dict() for f in self.findings]  # type: ignore[attr-defined]
        return out
