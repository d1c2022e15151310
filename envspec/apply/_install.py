"""Making the new environment: a venv of the locked Python, then exactly the locked files.

Both installers get the same requirements file: one ``name @ URL --hash=sha256:...`` line per
package, the URL being the very file the lock chose for the target, and they run with
``--require-hashes --no-deps``: nothing is resolved at install time, nothing but the locked
files can be installed, and a file whose bytes differ from the lock's hash is refused. With only
wheels, ``--no-index`` and ``--only-binary :all:`` keep the installer off every index; a
package the lock has only as an sdist gets the lock's indexes for its build dependencies (which
no installer can hash-check).

uv (``uv venv`` + ``uv pip install``) is used when it is on PATH; else ``python -m venv`` (which
seeds pip) and the new environment's pip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ._errors import ApplyError
from ._layout import env_python
from ._plan import Plan, PlanItem
from ._run import RunResult, run_streaming

__all__ = ["create_venv", "install_command", "install_packages", "requirements_text"]

#: Phrases of uv's and pip's hash errors: the failure is then ``hash-mismatch``.
_HASH_ERRORS = ("THESE PACKAGES DO NOT MATCH THE HASHES", "Hash mismatch", "hash mismatch", "do not match the hashes")


def requirements_text(plan: Plan) -> str:
    """The requirements file handed to the installer (direct URLs with hashes)."""
    lines = [f"# aienv apply: target {plan.choice.name} of {plan.lock_path.name}"]
    if any(not i.is_wheel for i in plan.items):
        # Only a plan made from the lock has sdists (the plan cache keeps wheels only).
        from ..backends.pip import index_options

        lines += index_options(plan.target)
    lines += [f"{i.name} @ {i.url} --hash=sha256:{i.sha256}" for i in plan.items]
    return "\n".join(lines) + "\n"


def _only_binary(items: Sequence[PlanItem]) -> bool:
    return all(i.is_wheel for i in items)


def install_command(plan: Plan, prefix: Path, requirements: Path) -> list[str]:
    """The installer's command line for installing ``requirements`` into the environment at
    ``prefix`` (a venv, or a conda prefix: its own Python)."""
    wheels_only = _only_binary(plan.items)
    python = str(plan.python_in(prefix))
    if plan.installer == "uv":
        command = [plan.installer_path, "pip", "install", "--no-config", "--python", python,
                   "--require-hashes", "--no-deps", "-r", str(requirements)]
        return command + (["--no-index", "--only-binary", ":all:"] if wheels_only else [])
    command = [python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
               "--require-hashes", "--no-deps", "-r", str(requirements)]
    return command + (["--no-index", "--only-binary=:all:"] if wheels_only else [])


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    # The environment is made by aienv alone: no user/site pip configuration may add indexes,
    # constraints or --user; uv gets --no-config on its command line.
    env["PIP_CONFIG_FILE"] = os.devnull
    env.pop("PIP_REQUIRE_VIRTUALENV", None)
    env.pop("VIRTUAL_ENV", None)
    return env


def _check(result: RunResult, what: str, code: str = "install-failed") -> None:
    if result.returncode == 0:
        return
    text = "\n".join(result.tail)
    if any(p in text for p in _HASH_ERRORS):
        raise ApplyError(
            f"{what} failed: a downloaded file does not match the lock's sha256 (a tampered or replaced file, or a "
            "truncated download); nothing was changed", code="hash-mismatch", output=result.tail,
            hint="if the index really re-published the file, re-lock with `aienv lock -P NAME`; otherwise do not trust it",
        )
    raise ApplyError(f"{what} failed (exit status {result.returncode}); nothing was changed", code=code, output=result.tail,
                     hint="the installer's last lines are above; run again with -v to see all of them")


def create_venv(plan: Plan, stage: Path, on_line: Callable[[str], None] | None = None) -> None:
    """A new venv of the plan's interpreter at ``stage``, prompting as the prefix will (the
    default prompt would be the staging directory's name)."""
    prompt = plan.prefix.parent.name if plan.prefix.name == ".venv" else plan.prefix.name
    if plan.installer == "uv":
        command = [plan.installer_path, "venv", "--no-config", "--no-project", "--quiet", "--prompt", prompt,
                   "--python", str(plan.interpreter), str(stage)]
    else:
        command = [str(plan.interpreter), "-m", "venv", "--prompt", prompt, str(stage)]
    _check(run_streaming(command, on_line, env=_environment()), "creating the virtual environment", "venv-failed")
    if not env_python(stage).exists():
        raise ApplyError(f"creating the virtual environment left no {env_python(stage).name} in it", code="venv-failed")


def install_packages(
    plan: Plan, stage: Path, scratch: Path, on_line: Callable[[str], None] | None = None,
) -> None:
    """Install the plan's files into the environment at ``stage``. ``scratch`` holds the requirements
    file (outside the environment)."""
    if not plan.items:
        return
    requirements = scratch / "requirements.txt"
    requirements.write_text(requirements_text(plan), encoding="utf-8")  # in a directory of this apply's own
    _check(run_streaming(install_command(plan, stage, requirements), on_line, env=_environment()),
           f"installing {len(plan.items)} packages with {plan.installer}")
