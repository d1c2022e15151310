"""Shared fixtures: paths into the repository and a spec builder."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SPECS = Path(__file__).resolve().parent / "specs"
CASES = Path(__file__).resolve().parent / "cases"


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write an aienv.toml (and optional side files) into tmp_path; return its path."""

    def write(text: str, **files: str) -> Path:
        for name, content in files.items():
            (tmp_path / name.replace("__", ".")).write_text(content)
        path = tmp_path / "aienv.toml"
        path.write_text(text)
        return path

    return write
