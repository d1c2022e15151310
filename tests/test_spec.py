"""aienv.toml: parsing, normalization, and one fixture file per failure mode."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet

from envspec.errors import SpecError
from envspec.spec import load_spec, locate_key, parse_specifier

from .conftest import SPECS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a bare version means that series, as people write it
        ("3.12", "==3.12.*"),
        ("12", "==12.*"),
        ("12.6", "==12.6.*"),
        ("2.7.1", "==2.7.1.*"),
        ("12.*", "==12.*"),
        # anything goes
        ("*", ""),
        ("", ""),
        # ordinary PEP 440 specifiers pass through packaging
        (">=2.7", ">=2.7"),
        (">=3.10,<3.14", "<3.14,>=3.10"),
        ("~=2.0", "~=2.0"),
    ],
)
def test_parse_specifier(text: str, expected: str) -> None:
    assert parse_specifier(text) == SpecifierSet(expected)


def test_bare_version_matches_local_builds() -> None:
    # torch = "2.7.1" must accept the variant builds 2.7.1+cu128 (PEP 440 local labels)
    from packaging.version import Version

    assert parse_specifier("2.7.1").contains(Version("2.7.1+cu128"))
    assert not parse_specifier("2.7.1").contains(Version("2.7.0+cu128"))


# Each failure fixture: the key path and line the message must name, and a phrase it must say.
FAILURES = [
    ("typo-key.toml", "stack.flash_atn", 6, "did you mean 'flash-attn'?"),
    ("typo-key.toml", "polcy", 8, "did you mean 'policy'?"),
    ("bad-specifier.toml", "stack.torch", 6, "is not a version specifier"),
    ("bad-specifier.toml", "stack.cuda", 7, "is not a version specifier"),
    ("cuda-without-gpu.toml", "targets.ci.gpus", 10, "has no GPU"),
    ("flash-attn-macos.toml", "targets.mac.platform", 9, "no macOS build"),
    ("bad-platform.toml", "targets.ws.platform", 8, "is not one of"),
    ("bad-target-name.toml", "targets.rtx box; touch x", 4, "may only use letters, digits"),
    ("missing-project.toml", "project", None, "is required"),
    ("bad-toml.toml", "", 3, "not valid TOML"),
    ("missing-requirements-file.toml", "dependencies.files[0]", 5, "cannot read missing-requirements.txt"),
]


@pytest.mark.parametrize(("fixture", "path", "line", "phrase"), FAILURES, ids=[f"{f[0]}:{f[1]}" for f in FAILURES])
def test_invalid_spec_names_path_line_and_problem(fixture: str, path: str, line: int | None, phrase: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(SPECS / fixture)
    matching = [p for p in info.value.problems if p.path == path]
    assert matching, [p.path for p in info.value.problems]
    assert matching[0].line == line
    assert phrase in matching[0].message
    assert info.value.exit_code == 2


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(SpecError) as info:
        load_spec(SPECS / "typo-key.toml")
    assert len(info.value.problems) == 2
    assert "2 problems" in info.value.message


def test_table_form_and_optional(write_spec) -> None:
    spec = load_spec(write_spec(
        '[project]\nname = "x"\n[stack]\ntorch = "2.7"\nflash-attn = { version = ">=2.7", optional = true }\n'
    ))
    packages = spec.stack.packages()
    assert list(packages) == ["torch", "flash-attn"]
    assert packages["flash-attn"].optional
    assert str(packages["torch"].version) == "==2.7.*"


def test_cuda_cpu_and_specifier(write_spec) -> None:
    cpu = load_spec(write_spec('[project]\nname = "x"\n[stack]\ntorch = "*"\ncuda = "cpu"\n'))
    assert cpu.stack.cpu_only and cpu.stack.cuda_specifier is None
    cu = load_spec(write_spec('[project]\nname = "x"\n[stack]\ntorch = "*"\ncuda = "12.6"\n'))
    assert not cu.stack.cpu_only and cu.stack.cuda_specifier == SpecifierSet("==12.6.*")


def test_pyproject_tool_table(tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "pkg"\n\n[tool.aienv.project]\nname = "pkg"\n\n[tool.aienv.stack]\ntorch = ">=2.6"\ntorh = "1"\n'
    )
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path)
    (problem,) = info.value.problems
    assert problem.path == "stack.torh" and problem.line == 9 and "'torch'" in problem.message


def test_pyproject_without_table(tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "pkg"\n')
    with pytest.raises(SpecError, match=r"no \[tool.aienv\] table"):
        load_spec(tmp_path)


def test_directory_without_spec(tmp_path) -> None:
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path)


def test_requirements_file_with_include_and_markers(write_spec) -> None:
    spec = load_spec(write_spec(
        '[project]\nname = "x"\n[dependencies]\npackages = ["numpy>=1.26"]\nfiles = ["req.txt"]\n',
        req__txt="# comment\nrequests>=2  # inline\n-r more.txt\n",
        more__txt='pywin32; sys_platform == "win32"\n',
    ))
    assert [str(r) for r in spec.requirements()] == ["numpy>=1.26", "requests>=2", 'pywin32; sys_platform == "win32"']


def test_requirements_file_rejects_index_options(write_spec) -> None:
    with pytest.raises(SpecError, match="--extra-index-url"):
        load_spec(write_spec(
            '[project]\nname = "x"\n[dependencies]\nfiles = ["req.txt"]\n',
            req__txt="--extra-index-url https://example.invalid/simple\ntorch\n",
        ))


def test_digest_ignores_formatting_but_not_content(write_spec, tmp_path) -> None:
    a = load_spec(write_spec('[project]\nname = "x"\n[stack]\ntorch = ">=2.7"\n'))
    b = load_spec(write_spec('# a comment\n[project]\nname="x"\n\n[stack]\ntorch = ">= 2.7"\n'))
    c = load_spec(write_spec('[project]\nname = "x"\n[stack]\ntorch = ">=2.8"\n'))
    assert a.digest() == b.digest() != c.digest()
    assert a.digest().startswith("sha256:")


def test_digest_covers_requirement_files(write_spec) -> None:
    text = '[project]\nname = "x"\n[dependencies]\nfiles = ["r.txt"]\n'
    first = load_spec(write_spec(text, r__txt="numpy\n")).digest()
    second = load_spec(write_spec(text, r__txt="numpy<2\n")).digest()
    assert first != second


@pytest.mark.parametrize(
    ("path", "line"),
    [("project.name", 2), ("stack", 4), ("stack.torch", 5), ("targets.ws.gpus", 8), ("targets.ws.driver", None)],
)
def test_locate_key(path: str, line: int | None) -> None:
    text = '[project]\nname = "x"\n\n[stack]\ntorch = "*"\n\n[targets.ws]\ngpus = []\n'
    assert locate_key(text, path) == (line if line else 7)
