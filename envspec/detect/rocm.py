"""AMD GPUs through ROCm's ``rocm_agent_enumerator``: one ``gfx`` target name per GPU.

It prints one line per agent (captured outputs under ``tests/data/detect/rocm/``). Older ROCm
releases print ``gfx000`` first, for the CPU agent; an output of ``gfx000`` alone means no GPU.
APUs show too (``gfx902``, ``gfx90c``: integrated Radeon graphics). The names become the probed
host's AMD GPUs, which ``aienv apply`` holds to the gfx list of a ROCm target.
"""

from __future__ import annotations

import re

__all__ = ["parse_agents"]

_GFX = re.compile(r"^gfx[0-9a-f]+$")


def parse_agents(text: str) -> list[str]:
    """The GPU targets, one per GPU in output order (``gfx000`` and anything else dropped;
    a ``:feature`` suffix such as ``:sramecc+:xnack-`` is removed)."""
    out = []
    for line in text.splitlines():
        name = line.strip().split(":", 1)[0]
        if _GFX.match(name) and name != "gfx000":
            out.append(name)
    return out
