"""The committed JSON Schemas are what the models generate (conda-lock's schema test)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from .conftest import ROOT


def _generator():
    spec = importlib.util.spec_from_file_location("gen_schemas", ROOT / "tools" / "gen_schemas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["aienv.toml.schema.json", "aienv.lock.schema.json"])
def test_schema_is_current(name: str) -> None:
    committed = (ROOT / "schemas" / name).read_text()
    assert committed == _generator().render(name), f"run `python tools/gen_schemas.py` and commit schemas/{name}"
    assert json.loads(committed)["$schema"].startswith("https://json-schema.org/")
