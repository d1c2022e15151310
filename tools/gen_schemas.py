"""Regenerate ``schemas/*.schema.json`` from the models: ``python tools/gen_schemas.py``.

``tests/test_schemas.py`` fails when the committed files differ from what this writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envspec import lockfile, spec  # noqa: E402

SCHEMAS = {
    "aienv.toml.schema.json": spec.json_schema,
    "aienv.lock.schema.json": lockfile.json_schema,
}


def render(name: str) -> str:
    return json.dumps(SCHEMAS[name](), indent=2, sort_keys=True) + "\n"


def main() -> None:
    for name in SCHEMAS:
        lockfile.atomic_write(ROOT / "schemas" / name, render(name))
        print(f"wrote schemas/{name}")


if __name__ == "__main__":
    main()
