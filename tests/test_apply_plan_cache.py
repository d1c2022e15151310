"""``aienv apply``'s plan cache (envspec.apply._plancache): a second apply of the same lock's
named CPU target into a new prefix takes the plan from the cache, without the lock's models,
and does exactly what the apply from the lock did; an entry that does not hold is ignored.

Uses the project, index and hosts of tests/test_apply.py (real venvs, a local index).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

import tests.test_apply as base
from envspec.apply import ApplyRequest, TargetChoice, _plancache, apply
from envspec.apply._layout import MARKER
from envspec.apply._plan import PlannedChoice

pytestmark = base.pytestmark
CPU_HOST, GPU_HOST = base.CPU_HOST, base.GPU_HOST
# The fixtures of tests/test_apply.py: its index, its locked project, fresh installer caches.
server, project, fresh_installer_caches = base.server, base.project, base.fresh_installer_caches


@pytest.fixture(autouse=True)
def cache(monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("AIENV_CACHE_DIR", str(tmp_path / "aienv-cache"))
    return tmp_path / "aienv-cache" / "apply-plans"


def _request(project: Path, prefix: Path, **kw) -> ApplyRequest:
    return ApplyRequest(lock_path=project / "aienv.lock", prefix=prefix, **kw)


def _marker(prefix: Path) -> dict:
    """The marker without what names the prefix."""
    data = json.loads((prefix / MARKER).read_text())
    data["plan"].pop("prefix")
    data["no-op-key"].pop("installed")
    return data


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.json")) if cache.is_dir() else []


_IMPORTED = ("import sys; from envspec.cli import main; code = main(sys.argv[1:]); "
             "print(sorted(m for m in ('pydantic', 'envspec.lockfile', 'envspec.matrix', 'envspec.doctor', 'envspec.detect', "
             "'envspec.backends') if m in sys.modules), code)")


def test_a_second_apply_takes_the_plan_from_the_cache_and_does_the_same(project, tmp_path, cache):
    first = apply(_request(project, tmp_path / "a", target="cpu"), host=CPU_HOST)
    assert first.status == "applied" and isinstance(first.plan.choice, TargetChoice)
    assert len(_entries(cache)) == 1
    second = apply(_request(project, tmp_path / "b", target="cpu"), host=CPU_HOST)
    # Verified: the lock was read again from the same bytes, and the real choice put back.
    assert second.status == "applied" and isinstance(second.plan.choice, TargetChoice)
    assert second.plan.choice == first.plan.choice and second.plan.items == first.plan.items
    assert second.environment is not None and second.environment.torch.version == "2.8.0+cpu"
    assert _marker(tmp_path / "b") == _marker(tmp_path / "a")
    unverified = apply(_request(project, tmp_path / "c", target="cpu", verify=False), host=CPU_HOST)
    assert isinstance(unverified.plan.choice, PlannedChoice) and unverified.plan.from_cache
    expected = _marker(tmp_path / "a")
    expected["verified"] = False
    assert _marker(tmp_path / "c") == expected


def test_without_verification_the_lock_is_never_read_in_a_fresh_process(project, tmp_path, cache):
    args = ["-C", str(project), "apply", "--target", "cpu", "--no-verify", "-q"]
    for name, imported in (("a", True), ("b", False)):
        done = subprocess.run([sys.executable, "-c", _IMPORTED, *args, "--prefix", str(tmp_path / name)], capture_output=True,
                              text=True, check=True)
        modules, code = done.stdout.strip().splitlines()[-1].rsplit(" ", 1)
        assert code == "0"
        assert (modules != "[]") is imported, modules
    assert _marker(tmp_path / "b")["plan"] == _marker(tmp_path / "a")["plan"]
    # The no-op of an environment applied from the cache is decided from its marker as always.
    done = subprocess.run([sys.executable, "-c", _IMPORTED, *args, "--prefix", str(tmp_path / "b"), "--json"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip().endswith("[] 0") and '"status": "current"' in done.stdout


def _rewrite(entry: Path, change) -> None:
    data = json.loads(entry.read_text())
    change(data["body"])
    data["digest"] = _plancache._digest(data["body"])
    entry.write_text(json.dumps(data))


def test_a_corrupt_or_foreign_entry_is_ignored_and_rewritten(project, tmp_path, cache):
    apply(_request(project, tmp_path / "a", target="cpu", verify=False), host=CPU_HOST)
    [entry] = _entries(cache)
    good = entry.read_bytes()
    for n, damage in enumerate((
        lambda: entry.write_text("{not json"),
        lambda: entry.write_bytes(good.replace(b'"fingerprint": "', b'"fingerprint": "0')),  # the digest no longer holds
        lambda: _rewrite(entry, lambda b: b["key"].update({"lock-sha256": "0" * 64})),  # another lock's entry
        lambda: _rewrite(entry, lambda b: b["key"].update({"code": "another aienv"})),
        lambda: _rewrite(entry, lambda b: b["plan"]["items"][0].__setitem__(3, "0" * 64)),  # the fingerprint no longer holds
    )):
        damage()
        result = apply(_request(project, tmp_path / f"e{n}", target="cpu", verify=False), host=CPU_HOST)
        assert result.status == "applied" and isinstance(result.plan.choice, TargetChoice), n  # from the lock
        assert entry.read_bytes() == good, n  # written anew


def test_an_entry_that_disagrees_with_the_lock_is_dropped_before_the_swap(project, tmp_path, cache):
    """An entry that is consistent in itself but not what the lock says (as code changed
    without a new stamp would give): the verification reads the lock, finds the difference,
    and the apply starts over from the lock; what is swapped in is the lock's."""
    apply(_request(project, tmp_path / "a", target="cpu", verify=False), host=CPU_HOST)
    [entry] = _entries(cache)
    good = entry.read_bytes()
    _rewrite(entry, lambda b: b["plan"]["notes"].append("a note the lock does not give"))
    result = apply(_request(project, tmp_path / "b", target="cpu"), host=CPU_HOST)
    assert result.status == "applied" and isinstance(result.plan.choice, TargetChoice) and result.plan.notes == ()
    assert _marker(tmp_path / "b") == _marker(tmp_path / "a") | {"verified": True}
    assert entry.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir() if ".aienv-stage" in p.name) == []


def test_another_lock_or_machine_is_another_key_and_some_applies_are_not_cached(project, tmp_path, cache):
    apply(_request(project, tmp_path / "a", target="cpu", verify=False), host=CPU_HOST)
    assert len(_entries(cache)) == 1
    other = tmp_path / "other.lock"
    other.write_text((project / "aienv.lock").read_text() + "# a comment\n")
    apply(ApplyRequest(lock_path=other, prefix=tmp_path / "b", target="cpu", verify=False), host=CPU_HOST)
    assert len(_entries(cache)) == 2
    # Another C library: the entry's facts differ; the apply reads the lock and records the new facts.
    older = dataclasses.replace(CPU_HOST, glibc="2.31")
    result = apply(_request(project, tmp_path / "c", target="cpu", verify=False), host=older)
    assert isinstance(result.plan.choice, TargetChoice)
    assert len(_entries(cache)) == 2
    # Not cached: no --target (the choice reads the whole machine), --force, a CUDA target.
    for n, request in enumerate((
        _request(project, tmp_path / "d", verify=False), _request(project, tmp_path / "e", target="cpu", verify=False, force=True),
        _request(project, tmp_path / "f", target="gpu", verify=False),
    )):
        result = apply(request, host=GPU_HOST if request.target != "cpu" else CPU_HOST)
        assert isinstance(result.plan.choice, TargetChoice), n
    assert len(_entries(cache)) == 2
