"""Output shared by the benchmark scripts: the result as Markdown on stdout, or as JSON on stdout
(``--json -``) or in a file (``--json FILE``, Markdown still on stdout)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def emit(result: dict[str, Any], json_arg: str | None, markdown: Callable[[dict[str, Any]], str]) -> None:
    if json_arg:
        text = json.dumps(result, indent=2)
        if json_arg == "-":
            print(text)
            return
        Path(json_arg).write_text(text + "\n", encoding="utf-8")
    print(markdown(result))
