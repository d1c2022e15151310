"""Every example is resolved: its committed aienv.lock is exactly what `aienv lock` writes now,
and the unresolvable one fails with its expected explanation."""

from __future__ import annotations

import shutil

import pytest

from envspec.cli import main

from .conftest import EXAMPLES

LOCKED = sorted(p.parent.name for p in EXAMPLES.glob("*/aienv.lock"))
ALL = sorted(p.parent.name for p in EXAMPLES.glob("*/aienv.toml"))


def test_every_example_is_covered() -> None:
    expected_errors = {p.parent.name for p in EXAMPLES.glob("*/expected-error.txt")}
    assert set(ALL) == set(LOCKED) | expected_errors
    assert {"comfyui", "llm-finetune", "fleet", "unresolvable"} <= set(ALL)


@pytest.mark.parametrize("name", LOCKED)
def test_example_lock_is_current_and_deterministic(name: str, tmp_path, capsys) -> None:
    src = EXAMPLES / name
    work = tmp_path / name
    shutil.copytree(src, work)
    committed = (src / "aienv.lock").read_text()
    assert main(["-C", str(work), "lock", "--check"]) == 0
    assert main(["-C", str(work), "lock", "--no-index"]) == 0
    first = (work / "aienv.lock").read_text()
    assert main(["-C", str(work), "lock", "--no-index"]) == 0
    assert (work / "aienv.lock").read_text() == first, "same input, different bytes"
    assert first == committed, f"examples/{name}/aienv.lock is stale: run `aienv -C examples/{name} lock`"


def test_unresolvable_example_explains_itself(tmp_path, capsys) -> None:
    work = tmp_path / "unresolvable"
    shutil.copytree(EXAMPLES / "unresolvable", work)
    assert main(["-C", str(work), "lock", "--no-index"]) == 1
    err = capsys.readouterr().err
    assert err == (EXAMPLES / "unresolvable" / "expected-error.txt").read_text()
    assert "Traceback" not in err
    assert not (work / "aienv.lock").exists()


def test_comfyui_targets() -> None:
    from envspec.lockfile import read_lock

    lock = read_lock(EXAMPLES / "comfyui" / "aienv.lock")
    assert set(lock.targets) == {"rtx4090", "rtx5090-windows", "cpu"}
    cpu = lock.targets["cpu"]
    assert cpu.variant == "cpu" and cpu.package("torch").version.endswith("+cpu")
    for name in ("rtx4090", "rtx5090-windows"):
        target = lock.targets[name]
        variants = {p.version.split("+")[1] for p in target.packages if "+" in p.version}
        assert variants == {target.variant}, "a lock never mixes variants"
    assert "transformers>=4.50.3" in lock.targets["rtx4090"].requirements
