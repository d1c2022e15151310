"""The user's intent: strict models of ``aienv.toml`` (contract version 1) and :func:`load_spec`.

A spec says *what* a project needs (framework versions, CUDA runtime, other requirements) and
*where* it must run (targets). It never says how: that is the resolver's job. Models are frozen
and strict (``extra="forbid"``), so a typo fails with the nearest valid key suggested, and every
problem in a file is reported at once with its key path and line.

Version fields take PEP 440 specifiers; a bare version means that series, as people write it:
``python = "3.12"`` is ``==3.12.*`` and ``cuda = "12"`` is ``==12.*``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    WithJsonSchema,
)

from .errors import Problem, SpecError
from .vocabulary import (
    DEFAULT_GLIBC,
    DEFAULT_MACOS,
    PLATFORMS,
    STACK_PACKAGES,
    Accelerator,
    Platform,
    parse_specifier,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "DEFAULT_GLIBC",
    "DEFAULT_MACOS",
    "PLATFORMS",
    "STACK_PACKAGES",
    "Conda",
    "Dependencies",
    "ExtraIndex",
    "Indexes",
    "Platform",
    "Policy",
    "Project",
    "Spec",
    "StackEntry",
    "Target",
    "json_schema",
    "load_spec",
    "parse_specifier",
]


def _to_specifier(value: Any) -> SpecifierSet:
    if isinstance(value, SpecifierSet):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a version specifier string, got {type(value).__name__}")
    try:
        return parse_specifier(value)
    except InvalidSpecifier:
        raise ValueError(
            f"{value!r} is not a version specifier (write e.g. \">=2.7\", \"==2.7.1\" or \"2.7\")"
        ) from None


_SPECIFIER_SCHEMA = {
    "type": "string",
    "description": "PEP 440 specifier, '*' for any, or a bare version meaning that series ('3.12' is ==3.12.*)",
}

Specifier = Annotated[
    SpecifierSet,
    BeforeValidator(_to_specifier),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(_SPECIFIER_SCHEMA),
]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, arbitrary_types_allowed=True
    )


class Project(_Strict):
    """``[project]``: the project's name and the Python versions it supports."""

    name: str = Field(min_length=1)
    python: Specifier = Field(default_factory=SpecifierSet)


class StackEntry(_Strict):
    """One ``[stack]`` package in table form: ``{ version = ">=2.7", optional = true }``.

    ``optional`` packages are dropped from a target (with the reason recorded) when nothing
    fits, instead of failing the whole lock.
    """

    version: Specifier = Field(default_factory=SpecifierSet)
    optional: bool = False


def _to_stack_entry(value: Any) -> Any:
    if isinstance(value, str):
        return {"version": value}
    return value


StackValue = Annotated[StackEntry, BeforeValidator(_to_stack_entry)]


def _to_cuda(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() == "cpu":
        return "cpu"
    return _to_specifier(value)


CudaField = Annotated[
    Literal["cpu"] | SpecifierSet,
    BeforeValidator(_to_cuda),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "description": "'cpu', or a PEP 440 specifier over CUDA versions ('12.6', '>=12.6')"}),
]


class Stack(_Strict):
    """``[stack]``: the hardware-sensitive packages and the CUDA runtime of the framework build."""

    cuda: CudaField | None = None
    torch: StackValue | None = None
    tensorflow: StackValue | None = None
    jax: StackValue | None = None
    paddlepaddle: StackValue | None = None
    paddlepaddle_gpu: StackValue | None = Field(default=None, alias="paddlepaddle-gpu")
    torchvision: StackValue | None = None
    torchaudio: StackValue | None = None
    triton: StackValue | None = None
    xformers: StackValue | None = None
    flash_attn: StackValue | None = Field(default=None, alias="flash-attn")

    @property
    def cpu_only(self) -> bool:
        """``cuda = "cpu"``: the spec asks for a CPU build even where a GPU is present."""
        return isinstance(self.cuda, str)

    @property
    def cuda_specifier(self) -> SpecifierSet | None:
        """The CUDA runtime range asked for, or None (any, or a CPU build)."""
        return self.cuda if isinstance(self.cuda, SpecifierSet) and str(self.cuda) else None

    def packages(self) -> dict[str, StackEntry]:
        """The declared stack packages by normalized name, in the order of STACK_PACKAGES."""
        out = {}
        for name in STACK_PACKAGES:
            entry = getattr(self, name.replace("-", "_"))
            if entry is not None:
                out[name] = entry
        return out


def _to_requirement(value: Any) -> Requirement:
    if isinstance(value, Requirement):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a PEP 508 requirement string, got {type(value).__name__}")
    try:
        return Requirement(value)
    except InvalidRequirement as e:
        raise ValueError(f"{value!r} is not a PEP 508 requirement: {e}") from None


RequirementField = Annotated[
    Requirement,
    BeforeValidator(_to_requirement),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "description": "PEP 508 requirement"}),
]


class Dependencies(_Strict):
    """``[dependencies]``: everything that is not hardware-sensitive, as PEP 508 requirements."""

    packages: tuple[RequirementField, ...] = ()
    files: tuple[str, ...] = ()


class Conda(_Strict):
    """``[conda]``: channels and packages used only by the conda backends."""

    channels: tuple[str, ...] = ("conda-forge",)
    packages: tuple[str, ...] = ()


def _to_os_version(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r"\d+\.\d+", value.strip()):
        raise ValueError(f"{value!r} is not a MAJOR.MINOR version (like \"2.28\" or \"14.0\")")
    return value.strip() if isinstance(value, str) else value


OsVersion = Annotated[str, BeforeValidator(_to_os_version)]

#: The OS floors a target assumes when it names none: glibc 2.28 (RHEL 8, Debian 10, Ubuntu
#: 18.10; the manylinux_2_28 floor PyTorch's wheels need from 2.7) and macOS 11.0 (the first
#: release on Apple silicon).


class Target(_Strict):
    """``[targets.NAME]``: one machine (kind) the lock must work on.

    ``gpus`` holds model names or compute capabilities; an empty list means a CPU-only machine.
    ``driver`` is the NVIDIA driver version (``nvidia-smi``); ``python`` narrows project.python.
    ``glibc`` (Linux) and ``macos`` (macOS) are the oldest OS the target has: wheels are chosen
    by the tags that OS accepts (``manylinux_2_28``, ``macosx_11_0``).

    ``gpus`` may name NVIDIA GPUs (models or compute capabilities), AMD GPUs (models or LLVM
    targets like ``"gfx1100"``) or Intel GPUs (``"Arc A770"``). ``accelerator`` says what the
    framework runs on when the GPUs alone do not: it is inferred as ``cuda`` for NVIDIA GPUs,
    ``rocm`` for AMD, ``xpu`` for a discrete Intel GPU, ``mps`` on macos-arm64, else ``cpu``;
    an integrated Intel GPU is an ``xpu`` target only when it says ``accelerator = "xpu"``, and
    ``accelerator = "cpu"`` makes any target a CPU one.
    """

    platform: Platform = "linux-x86_64"
    gpus: tuple[str, ...] = ()
    accelerator: Accelerator | None = None
    driver: str | None = None
    python: Specifier | None = None
    glibc: OsVersion | None = None
    macos: OsVersion | None = None


class ExtraIndex(_Strict):
    """``[[indexes.extra]]``: another package index. With ``packages``, those packages come
    from it and nowhere else; without, it is searched before the default index, and the first
    index that has a project is the only one used for it (no dependency confusion)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    url: str = Field(pattern=r"^(https?|file)://")
    packages: tuple[str, ...] = ()


class Indexes(_Strict):
    """``[indexes]``: where packages come from. ``default`` is the simple index of everything
    else (PyPI or a mirror of it); ``pytorch`` the base of PyTorch's per-variant indexes
    (``<pytorch>/cu128``; a mirror replaces ``https://download.pytorch.org/whl``). torch and its
    companions only ever come from their variant's index. ``release-mirror`` replaces the
    ``https://github.com/`` prefix of release assets (flash-attn's wheels) when aienv fetches
    them; the lock keeps the github.com URL, so it is not part of the spec's digest
    (:mod:`envspec.sources._assets`). URLs hold no credentials: those come from
    ``AIENV_INDEX_<NAME>_USERNAME``/``_PASSWORD`` or netrc. ``paddle`` is the base of
    PaddlePaddle's per-CUDA indexes (``<paddle>/cu120/``), replaced the same way."""

    default: str = Field(default="https://pypi.org/simple", pattern=r"^(https?|file)://")
    pytorch: str = Field(default="https://download.pytorch.org/whl", pattern=r"^(https?|file)://")
    paddle: str = Field(default="https://www.paddlepaddle.org.cn/packages/stable", pattern=r"^(https?|file)://")
    extra: tuple[ExtraIndex, ...] = ()
    release_mirror: str | None = Field(default=None, alias="release-mirror", pattern=r"^https?://")


class Policy(_Strict):
    """``[policy]``: how strictly to apply compatibility rules."""

    driver_compat: Literal["minor-version", "toolkit"] = Field(
        default="minor-version", alias="driver-compat"
    )
    source_builds: bool = Field(default=False, alias="source-builds")


_LATER_STACK_KEYS = ("tensorflow", "jax", "paddlepaddle", "paddlepaddle-gpu")


class Spec(_Strict):
    """A whole ``aienv.toml``. ``path`` and ``text`` say where it came from (not part of its digest)."""

    project: Project
    stack: Stack = Field(default_factory=Stack)
    dependencies: Dependencies = Field(default_factory=Dependencies)
    conda: Conda = Field(default_factory=Conda)
    # Target names become file names and appear in rendered scripts: letters, digits, . _ -
    targets: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")], Target] = Field(default_factory=dict)
    policy: Policy = Field(default_factory=Policy)
    indexes: Indexes = Field(default_factory=Indexes)

    # Where the spec was read from, and what dependencies.files held: set by load_spec.
    _path: Path | None = PrivateAttr(default=None)
    _table_prefix: str = PrivateAttr(default="")
    _text: str = PrivateAttr(default="")
    _file_requirements: tuple[Requirement, ...] = PrivateAttr(default=())

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def file_requirements(self) -> tuple[Requirement, ...]:
        return self._file_requirements

    @property
    def filename(self) -> str:
        return self.path.name if self.path else "aienv.toml"

    def requirements(self) -> tuple[Requirement, ...]:
        """``dependencies.packages`` followed by the requirements read from ``dependencies.files``."""
        return self.dependencies.packages + self.file_requirements

    def normalized(self) -> dict[str, Any]:
        """The spec as canonical plain data: what the digest covers.

        It holds every field of every table (defaults filled in, specifiers normalized by
        ``packaging``, requirement strings as ``packaging`` prints them) plus the requirements
        read from ``dependencies.files`` — the inputs that change a resolution. It excludes
        the file's formatting, comments and location, and the matrix data version (a data update
        must not make every committed lock stale; ``aienv lock`` re-resolves on demand).
        """
        data = self.model_dump(mode="json", by_alias=True)
        data["dependencies"]["file-requirements"] = [str(r) for r in self.file_requirements]
        # Where release assets are fetched from changes no pin: the lock keeps their github.com URLs.
        del data["indexes"]["release-mirror"]
        # Keys added after the first release are left out while unset, so the digest of a spec
        # that does not use them is what earlier aienv versions computed (their locks stay current).
        for key in _LATER_STACK_KEYS:
            if data["stack"].get(key) is None:
                data["stack"].pop(key, None)
        if data["indexes"]["paddle"] == Indexes.model_fields["paddle"].default:
            del data["indexes"]["paddle"]
        for target in data["targets"].values():
            if target.get("accelerator") is None:
                target.pop("accelerator", None)
        return data

    def digest(self) -> str:
        """``sha256:`` of the canonical JSON of :meth:`normalized` (sorted keys, no spaces)."""
        blob = json.dumps(self.normalized(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()

    def locate(self, path: str) -> int | None:
        """The 1-based line of a dotted key path in the source text, when it can be found."""
        return locate_key(self._text, self._table_prefix + path)


# --- loading -------------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``aienv.toml`` (committed as ``schemas/aienv.toml.schema.json``)."""
    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "aienv.toml"
    return schema


def load_spec(path: str | Path) -> Spec:
    """Read and validate ``aienv.toml``, or ``[tool.aienv]`` of a ``pyproject.toml``.

    ``path`` may be a file or a directory holding either file (``aienv.toml`` wins). Raises
    :class:`~envspec.errors.SpecError` listing every problem with key path and line.
    """
    file = _find_spec_file(Path(path))
    name = file.name
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError(name, [Problem("", f"cannot read: {e.strerror or e}")]) from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise SpecError(name, [Problem("", f"not valid TOML: {e}", int(m.group(1)) if m else None)]) from e
    prefix = ""
    if name == "pyproject.toml":
        data = data.get("tool", {}).get("aienv")
        prefix = "tool.aienv."
        if not isinstance(data, dict):
            raise SpecError(name, [Problem("tool.aienv", "has no [tool.aienv] table")])
    return spec_from_dict(data, path=file, text=text, table_prefix=prefix)


def spec_from_dict(
    data: Mapping[str, Any], *, path: Path | None = None, text: str = "", table_prefix: str = ""
) -> Spec:
    """Validate already-parsed TOML data; see :func:`load_spec`."""
    filename = path.name if path else "aienv.toml"
    problems: list[Problem] = []
    try:
        spec = Spec.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            problems.append(_problem_from_pydantic(err, text, table_prefix, data))
        raise SpecError(filename, _dedupe(problems)) from None
    spec._path, spec._text, spec._table_prefix = path, text, table_prefix
    file_reqs: list[Requirement] = []
    base = path.parent if path else Path.cwd()
    for i, rel in enumerate(spec.dependencies.files):
        key = f"dependencies.files[{i}]"
        try:
            file_reqs += read_requirements_file(base / rel)
        except _RequirementsFileError as e:
            problems.append(Problem(key, str(e), spec.locate("dependencies.files")))
    problems += _check_combinations(spec)
    if problems:
        raise SpecError(filename, _dedupe(problems))
    spec._file_requirements = tuple(file_reqs)
    return spec


def _find_spec_file(path: Path) -> Path:
    if path.is_dir():
        for candidate in ("aienv.toml", "pyproject.toml"):
            if (path / candidate).is_file():
                return path / candidate
        raise SpecError(
            str(path / "aienv.toml"),
            [Problem("", "not found (nor a pyproject.toml with [tool.aienv]) in this directory")],
            hint="create an aienv.toml; see the README for its format",
        )
    if not path.is_file():
        raise SpecError(str(path), [Problem("", "file not found")])
    return path


def _check_combinations(spec: Spec) -> list[Problem]:
    """Combinations each valid alone but impossible together."""
    problems = []
    cuda = spec.stack.cuda_specifier
    wants_cuda = cuda is not None
    for name, target in spec.targets.items():
        where = f"targets.{name}"
        if wants_cuda and target.gpus == () and target.platform != "macos-arm64":
            problems.append(Problem(
                f"{where}.gpus",
                f"stack.cuda = \"{cuda}\" asks for a CUDA build, but this target has no GPU "
                "(gpus = []); use cuda = \"cpu\", or give the target its GPUs",
                spec.locate(f"{where}.gpus"),
            ))
        if target.platform == "macos-arm64":
            if wants_cuda:
                problems.append(Problem(
                    f"{where}.platform",
                    "macOS has no CUDA: torch on macos-arm64 uses MPS; drop stack.cuda or this target",
                    spec.locate(f"{where}.platform"),
                ))
            if spec.stack.flash_attn is not None and not spec.stack.flash_attn.optional:
                problems.append(Problem(
                    f"{where}.platform",
                    "flash-attn needs an NVIDIA GPU (sm80+) and has no macOS build; "
                    "make it optional (flash-attn = { version = \"...\", optional = true }) or drop this target",
                    spec.locate(f"{where}.platform"),
                ))
            if target.gpus:
                problems.append(Problem(
                    f"{where}.gpus", "a macos-arm64 target has no NVIDIA GPUs; use gpus = []",
                    spec.locate(f"{where}.gpus"),
                ))
    for key, url in [
        ("indexes.default", spec.indexes.default), ("indexes.pytorch", spec.indexes.pytorch), ("indexes.paddle", spec.indexes.paddle),
    ] + [
        (f"indexes.extra[{i}].url", x.url) for i, x in enumerate(spec.indexes.extra)
    ] + [("indexes.release-mirror", spec.indexes.release_mirror or "")]:
        if re.match(r"^[a-z]+://[^/@]*@", url):
            problems.append(Problem(
                key, "holds credentials, which would be committed with aienv.toml; put them in "
                "AIENV_INDEX_<NAME>_USERNAME/_PASSWORD or ~/.netrc", spec.locate(key.split("[")[0]),
            ))
    names = [x.name for x in spec.indexes.extra]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(Problem("indexes.extra", f"index name {dup!r} is used twice", spec.locate("indexes.extra")))
    if spec.stack.cpu_only and spec.stack.flash_attn is not None and not spec.stack.flash_attn.optional:
        problems.append(Problem(
            "stack.flash-attn", "flash-attn needs a CUDA build of torch, but stack.cuda = \"cpu\"",
            spec.locate("stack.flash-attn"),
        ))
    if spec.stack.paddlepaddle is not None and spec.stack.paddlepaddle_gpu is not None:
        problems.append(Problem(
            "stack.paddlepaddle-gpu", "give PaddlePaddle once: paddlepaddle (a GPU build where the target has one, "
            "else the CPU build) or paddlepaddle-gpu (GPU targets only)", spec.locate("stack.paddlepaddle-gpu"),
        ))
    return problems


# --- requirement files -----------------------------------------------------------------------


class _RequirementsFileError(ValueError):
    pass


def read_requirements_file(path: Path, _seen: frozenset[Path] = frozenset()) -> list[Requirement]:
    """Parse a pip requirements file: PEP 508 lines, comments, ``-r`` includes.

    Index options (``--index-url`` …) are rejected: in aienv the index of each package is the
    resolver's decision, written into the lock.
    """
    path = path.resolve()
    if path in _seen:
        raise _RequirementsFileError(f"{path.name}: includes itself (-r loop)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise _RequirementsFileError(f"cannot read {path.name}: {e.strerror or e}") from None
    out: list[Requirement] = []
    for number, raw in enumerate(lines, 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ", "-r", "--requirement=")):
            target = re.sub(r"^(-r|--requirement)=?\s*", "", line)
            out += read_requirements_file(path.parent / target, _seen | {path})
            continue
        if line.startswith("-"):
            raise _RequirementsFileError(
                f"{path.name}:{number}: option {line.split()[0]!r} is not supported here; "
                "aienv chooses each package's index itself"
            )
        try:
            out.append(Requirement(line))
        except InvalidRequirement as e:
            raise _RequirementsFileError(f"{path.name}:{number}: {line!r} is not a requirement: {e}") from None
    return out


# --- error formatting ------------------------------------------------------------------------


def _problem_from_pydantic(err: Mapping[str, Any], text: str, prefix: str, data: Mapping[str, Any]) -> Problem:
    # pydantic adds the union/annotated member it tried ('literal[...]', 'function-before[...]')
    # to loc: drop those, so the path is the user's key path.
    loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
    # A stack entry written as a string is validated as its table form: report the user's key.
    if len(loc) == 3 and loc[0] == "stack" and loc[2] == "version":
        if isinstance(data.get("stack", {}).get(loc[1]), str):
            loc = loc[:2]
    path = _format_loc(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        parent_model = _model_at(loc[:-1])
        valid = sorted(_keys_of(parent_model)) if parent_model else []
        key = str(loc[-1])
        near = difflib.get_close_matches(key, valid, n=1, cutoff=0.6) or difflib.get_close_matches(
            key.replace("_", "-"), valid, n=1, cutoff=0.6
        )
        message = f"unknown key {key!r}"
        message += f"; did you mean {near[0]!r}?" if near else f" (valid keys: {', '.join(valid)})"
    elif kind == "missing":
        message = "is required"
    elif kind == "literal_error":
        message = f"{err['input']!r} is not one of: {err['ctx']['expected']}"
    elif kind == "string_pattern_mismatch" and err["loc"][0] == "targets" and err["loc"][-1] == "[key]":
        message = f"target name {loc[1]!r} may only use letters, digits, '.', '_' and '-' (it names files and appears in scripts)"
    else:
        message = str(err["msg"]).removeprefix("Value error, ")
    line = None
    for n in range(len(loc), 0, -1):  # the key itself, else its nearest parent
        line = locate_key(text, prefix + _format_loc(loc[:n]))
        if line:
            break
    return Problem(path, message, line)


def _format_loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(loc: list[Any]) -> type[BaseModel] | None:
    """Walk the Spec model along a loc to find the model whose keys apply there."""
    model: type[BaseModel] | None = Spec
    i = 0
    while model is not None and i < len(loc):
        part = loc[i]
        field = next(
            (f for name, f in model.model_fields.items() if part in (name, f.alias)), None
        )
        if field is None:
            return None
        annotation = field.annotation
        origin = getattr(annotation, "__origin__", None)
        if origin is dict:
            annotation = annotation.__args__[1]
            i += 1  # skip the dict key (target name)
        model = _first_model(annotation)
        i += 1
    return model


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found:
            return found
    meta = getattr(annotation, "__origin__", None)
    if meta is not None and isinstance(meta, type) and issubclass(meta, BaseModel):
        return meta
    return None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    out = []
    for p in problems:
        if (p.path, p.message) not in seen:
            seen.add((p.path, p.message))
            out.append(p)
    return out


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*(\"[^\"]+\"|'[^']+'|[A-Za-z0-9_-]+)\s*=")


def locate_key(text: str, path: str) -> int | None:
    """Best-effort 1-based line of a dotted key path (``stack.cuda``, ``targets.ws.gpus[1]``).

    Tracks ``[table]`` headers and ``key =`` lines; returns the table's header line when the key
    itself is absent, or None.
    """
    if not text or not path:
        return None
    parts = [p for p in re.sub(r"\[\d+\]", "", path).split(".") if p]
    table: list[str] = []
    best: int | None = None
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            table = [p.strip().strip("\"'") for p in header.group(1).split(".")]
            if table == parts[: len(table)] and len(table) == len(parts):
                best = best or number
            elif table == parts[: len(table)] and best is None and len(table) == len(parts) - 1:
                best = number
            continue
        key = _KEY.match(line)
        if key:
            full = [*table, key.group(1).strip("\"'")]
            if full == parts:
                return number
    return best
