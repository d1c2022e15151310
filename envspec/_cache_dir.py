"""Where aienv keeps its cache: one place, imported by the index cache and by apply's plan cache
(which must not import :mod:`envspec.sources`, whose package brings in the index client)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_cache_dir"]


def default_cache_dir() -> Path:
    """``$AIENV_CACHE_DIR``, else the platform's user cache directory for aienv."""
    env = os.environ.get("AIENV_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("aienv"))
