"""Which wheels install on a target, and which is preferred.

A :class:`TargetTags` is a target platform and Python, with the oldest OS it assumes (glibc for
Linux, macOS version). Its tag list follows :mod:`packaging.tags`' priority: ``cpython_tags``
then ``compatible_tags``, each platform newest first:

- Linux: ``manylinux_2_{glibc…5}_<arch>`` (from 2.17 on aarch64), each with its legacy alias
  (``manylinux2014`` = 2.17, ``manylinux2010`` = 2.12, ``manylinux1`` = 2.5; PEP 599, 571, 513),
  then ``linux_<arch>`` last: download.pytorch.org's older wheels carry that tag.
- macOS: ``packaging.tags.mac_platforms(version, "arm64")``, universal2 included.
- Windows: ``win_amd64``.

The target is a standard (GIL) CPython build: ``cp313t`` wheels do not fit ``3.13``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from packaging import tags as _tags
from packaging.tags import Tag

from envspec.sources._model import DistFile

__all__ = ["PLATFORMS", "TargetTags"]

PLATFORMS = ("linux-x86_64", "linux-aarch64", "windows-x86_64", "macos-arm64")

# PEP 600: the manylinux2014/2010/1 names are aliases of these glibc versions.
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


def _version(text: str, what: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)\.(\d+)", text.strip())
    if not m:
        raise ValueError(f"invalid {what} version {text!r}: expected MAJOR.MINOR")
    return int(m.group(1)), int(m.group(2))


def _linux_platforms(arch: str, glibc: tuple[int, int]) -> list[str]:
    # packaging/_manylinux.py: x86_64/i686 go down to glibc 2.5, other arches to 2.17.
    oldest = 5 if arch in ("x86_64", "i686") else 17
    out: list[str] = []
    for minor in range(glibc[1], oldest - 1, -1):
        out.append(f"manylinux_2_{minor}_{arch}")
        legacy = _LEGACY_MANYLINUX.get((2, minor))
        if legacy and (arch in ("x86_64", "i686") or legacy == "manylinux2014"):
            out.append(f"{legacy}_{arch}")
    out.append(f"linux_{arch}")
    return out


@dataclass(frozen=True)
class TargetTags:
    """The wheel tags of one target: ``platform`` one of :data:`PLATFORMS`, ``python`` like
    ``"3.12"``, ``glibc`` and ``macos`` the oldest OS assumed there (``"2.28"``, ``"11.0"``)."""

    platform: str
    python: str
    glibc: str = "2.28"
    macos: str = "11.0"
    _priority: dict[Tag, int] = field(init=False, repr=False, compare=False)
    _family_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _family: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise ValueError(f"unknown platform {self.platform!r}: expected one of {', '.join(PLATFORMS)}")
        py = _version(self.python, "Python")
        os_name, _, arch = self.platform.partition("-")
        if os_name == "linux":
            platforms = _linux_platforms(arch, _version(self.glibc, "glibc"))
            family = rf"(?:manylinux_\d+_\d+|manylinux1|manylinux2010|manylinux2014|linux)_(?P<fmt>{arch})"
        elif os_name == "macos":
            platforms = list(_tags.mac_platforms(_version(self.macos, "macOS"), "arm64"))
            family = r"macosx_\d+_\d+_(?P<fmt>arm64|universal2)"
        else:
            platforms = ["win_amd64"]
            family = r"win_(?P<fmt>amd64)"
        interpreter = f"cp{py[0]}{py[1]}"
        ordered = [
            *_tags.cpython_tags(py, [interpreter], platforms),
            *_tags.compatible_tags(py, interpreter, platforms),
        ]
        priority: dict[Tag, int] = {}
        for i, tag in enumerate(ordered):
            priority.setdefault(tag, i)
        # same_family maps a platform of the family at any OS level to one of the target's
        # platforms with the same binary format (x86_64, arm64, universal2…).
        family_re = re.compile(family)
        representative: dict[str, str] = {}
        for plat in platforms:
            if (m := family_re.fullmatch(plat)) is not None:
                representative.setdefault(m["fmt"], plat)
        object.__setattr__(self, "_priority", priority)
        object.__setattr__(self, "_family_re", family_re)
        object.__setattr__(self, "_family", representative)

    @property
    def tags(self) -> tuple[Tag, ...]:
        """Every installable tag, most preferred first."""
        return tuple(sorted(self._priority, key=self._priority.__getitem__))

    def rank(self, file: DistFile) -> int | None:
        """The priority of a wheel's best tag, lower is better; None if no tag of the wheel
        installs on this target at the assumed OS floor, and for sdists (the caller decides)."""
        if file.kind != "wheel":
            return None
        ranks = [r for t in file.tags if (r := self._priority.get(t)) is not None]
        return min(ranks) if ranks else None

    def same_family(self, file: DistFile) -> bool:
        """Whether a wheel is for this Python/ABI and platform family at ANY OS level (a
        ``manylinux_2_34`` wheel for a glibc 2.28 target): pip on a newer machine may pick it,
        so the lock lists its hash too."""
        if file.kind != "wheel":
            return False
        for tag in file.tags:
            platform = tag.platform
            if (m := self._family_re.fullmatch(platform)) is not None:
                platform = self._family.get(m["fmt"], platform)
            if Tag(tag.interpreter, tag.abi, platform) in self._priority:
                return True
        return False
