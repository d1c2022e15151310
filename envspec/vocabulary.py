"""The small shared vocabulary of aienv.toml and the lock, without the pydantic models: the
platform names, the stack packages, the OS floors assumed when a target names none, and how a
version field is read. :mod:`envspec.spec` re-exports all of it; modules that need only these
(``host``, ``doctor``, ``apply``) import them from here and so skip building the spec models
(a tenth of a second at start-up)."""

from __future__ import annotations

import re
from typing import Literal

from packaging.specifiers import SpecifierSet

__all__ = [
    "ACCELERATORS", "DEFAULT_GLIBC", "DEFAULT_MACOS", "FRAMEWORKS", "PLATFORMS", "STACK_PACKAGES",
    "Accelerator", "Platform", "parse_specifier",
]

#: The platforms a target may name, as ``os-machine``.
PLATFORMS = ("linux-x86_64", "linux-aarch64", "windows-x86_64", "macos-arm64")
Platform = Literal["linux-x86_64", "linux-aarch64", "windows-x86_64", "macos-arm64"]

#: Hardware-sensitive packages the ``[stack]`` table accepts (normalized names), plus ``cuda``.
#: Frameworks first (torch, then the others), then torch's companions and extensions.
STACK_PACKAGES = (
    "torch", "tensorflow", "jax", "paddlepaddle", "paddlepaddle-gpu",
    "torchvision", "torchaudio", "triton", "xformers", "flash-attn",
)

#: The frameworks beside torch: each resolves to a build for the target's accelerator.
FRAMEWORKS = ("tensorflow", "jax", "paddlepaddle", "paddlepaddle-gpu")

#: What a target runs its framework on. ``cuda``: NVIDIA; ``rocm``: AMD; ``xpu``: Intel GPUs;
#: ``mps``: Apple silicon's Metal; ``cpu``: no accelerator.
ACCELERATORS = ("cuda", "rocm", "xpu", "mps", "cpu")
Accelerator = Literal["cuda", "rocm", "xpu", "mps", "cpu"]

#: The oldest glibc / macOS a target is assumed to run when it names none.
DEFAULT_GLIBC = "2.28"
DEFAULT_MACOS = "11.0"

_BARE_VERSION = re.compile(r"^\d+(\.\d+)*(\.\*)?$")


def parse_specifier(text: str) -> SpecifierSet:
    """Parse a version field: a PEP 440 specifier, ``*``/empty for any, or a bare version series.

    >>> str(parse_specifier("3.12"))
    '==3.12.*'
    >>> str(parse_specifier(">=2.7,<2.9"))
    '<2.9,>=2.7'
    """
    text = text.strip()
    if text in ("", "*"):
        return SpecifierSet()
    if _BARE_VERSION.match(text):
        return SpecifierSet(f"=={text}" if text.endswith("*") else f"=={text}.*")
    return SpecifierSet(text)
