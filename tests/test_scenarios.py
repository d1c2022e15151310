"""Resolver scenarios as data (resolvelib's functional tests): ``tests/cases/*.toml``.

Each case holds an inline ``[spec]`` (an aienv.toml) and, per target, ``[expect.TARGET]`` with
the expected ``variant``, ``python``, ``pins`` (package -> exact version) and ``absent``
packages, ``omitted`` optional packages, ``reason`` phrases, ``conda-route`` (package -> its
documented conda route, ``{}`` for none); or ``[expect.TARGET.error]`` with
the expected error ``code`` and phrases the explanation must ``contain``. Known failures go in
XFAIL_CASES with a reason (strict).
"""

from __future__ import annotations

import sys

import pytest

from envspec.errors import ResolutionError
from envspec.host import hosts_from_spec
from envspec.matrix import get_matrix
from envspec.resolver import resolve_target
from envspec.spec import spec_from_dict

from .conftest import CASES

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

XFAIL_CASES: dict[str, str] = {}

CASE_FILES = sorted(CASES.glob("*.toml"))


def _params():
    for path in CASE_FILES:
        marks = [pytest.mark.xfail(reason=XFAIL_CASES[path.stem], strict=True)] if path.stem in XFAIL_CASES else []
        yield pytest.param(path, id=path.stem, marks=marks)


@pytest.mark.parametrize("path", list(_params()))
def test_scenario(path) -> None:
    case = tomllib.loads(path.read_text())
    assert case.get("description"), "every case says what it tests"
    spec = spec_from_dict(case["spec"])
    matrix = get_matrix()
    hosts = hosts_from_spec(spec, matrix)
    expectations = case["expect"]
    assert set(expectations) == set(hosts), "expect one table per target"
    for name, expect in expectations.items():
        if "error" in expect:
            with pytest.raises(ResolutionError) as info:
                resolve_target(spec, hosts[name], matrix)
            error = info.value
            text = error.message + "\nhint: " + (error.hint or "")
            assert error.code == expect["error"]["code"], text
            for phrase in expect["error"].get("contains", []):
                assert phrase in text, f"{phrase!r} not in:\n{text}"
            continue
        target = resolve_target(spec, hosts[name], matrix)
        pins = {p.name: p.version for p in target.packages}
        if "variant" in expect:
            assert target.variant == expect["variant"], target.reason
        if "python" in expect:
            assert target.python == expect["python"]
        for package, version in expect.get("pins", {}).items():
            assert pins.get(package) == version, f"{package}: {pins.get(package)} != {version}\n{target.reason}"
        for package in expect.get("absent", []):
            assert package not in pins, f"{package} should not be locked"
        assert sorted(o.name for o in target.omitted) == sorted(expect.get("omitted", []))
        reasons = " | ".join([target.reason, *(p.reason or "" for p in target.packages), *(o.reason for o in target.omitted)])
        for phrase in expect.get("reason", []):
            assert phrase in reasons, f"{phrase!r} not in: {reasons}"
        if "driver-floor" in expect:
            assert target.driver_floor == expect["driver-floor"]
        if "files" in expect:
            files = [f.url.rsplit("/", 1)[1] for p in target.packages for f in p.files]
            assert files == expect["files"]
        if "build" in expect:
            build = target.package("flash-attn").build
            assert build is not None and build.nvcc_major == expect["build"]["nvcc-major"]
        for package, route in expect.get("conda-route", {}).items():
            locked = target.package(package)
            assert locked is not None, f"{package} is not locked"
            found = locked.conda_route.model_dump(mode="json", by_alias=True) if locked.conda_route else None
            assert found == (route or None), f"{package}: conda route {found} != {route}"
