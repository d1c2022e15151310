"""``nvidia-smi --query-gpu``: the NVIDIA driver version and every GPU, one CSV line each.

aienv runs ``nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total
--format=csv,noheader``. Facts about that output, each from a captured real output under
``tests/data/detect/nvidia-smi/`` (sources in its ``SOURCES.md``):

- one line per GPU, fields in query order, separated by ``", "``; with ``--format=csv`` (no
  ``noheader``) a first line names the fields, with units: ``memory.total [MiB]``;
- a value the driver cannot give is ``[N/A]`` (older drivers: ``N/A``, ``[Not Supported]``);
- a driver whose ``nvidia-smi`` does not know a field (``compute_cap`` is missing from 470-era
  drivers) prints ``Field "compute_cap" is not a valid field to query.`` and exits non-zero: aienv
  asks again without it and takes the compute capability from the GPU table
  (:func:`envspec.host.resolve_gpu`);
- with no driver loaded it prints "NVIDIA-SMI has failed because it couldn't communicate with the
  NVIDIA driver"; after a driver upgrade without a reboot, "Failed to initialize NVML:
  Driver/library version mismatch";
- ``nvidia-smi`` numbers GPUs in PCI bus order and ignores ``CUDA_VISIBLE_DEVICES``;
- under WSL2 it lives in ``/usr/lib/wsl/lib`` (a mount of the Windows driver store) and the
  ``driver_version`` it prints is the Windows driver's (two fields, like ``591.86``).

The parsers are pure: text in, values out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..matrix import Arch, Matrix
from ._report import NvidiaGpu
from ._tools import ToolRun, run_tool

__all__ = [
    "FALLBACK_FIELDS",
    "QUERY_FIELDS",
    "SmiAnswer",
    "SmiFailure",
    "classify_failure",
    "gpus_from_rows",
    "parse_query_csv",
    "query",
]

QUERY_FIELDS = ("name", "driver_version", "compute_cap", "memory.total")
# For an nvidia-smi that does not know compute_cap: the GPU table supplies it from the name.
FALLBACK_FIELDS = ("name", "driver_version", "memory.total")
UUID_FIELDS = ("index", "uuid")

_UNKNOWN_FIELD = re.compile(r'Field "([^"]+)" is not a valid field to query')
_NUMBER = re.compile(r"^(\d+)(?:\s*MiB)?$")


def parse_query_csv(text: str, fields: Sequence[str] | None = None) -> list[dict[str, str | None]]:
    """The rows of ``nvidia-smi --query-gpu=… --format=csv[,noheader][,nounits]`` output.

    Each row maps a field name to its value, or None for a value the driver could not give
    (``[N/A]``, ``N/A``, any ``[…]``). With ``fields`` (the query's field list) a headerless
    output is read in that order, and a header line, if present, is skipped; without it the
    first line must be the header, whose units (``memory.total [MiB]``) are dropped from the
    names. Blank lines are ignored. Raises ``ValueError`` for a row with the wrong number of
    values.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = [_field_name(h) for h in lines[0].split(",")]
    if fields is None:
        names = header
        lines = lines[1:]
    else:
        names = list(fields)
        if header == names:
            lines = lines[1:]
    rows = []
    for number, line in enumerate(lines, 1):
        values = [v.strip() for v in line.split(", ")]
        if len(values) != len(names):
            values = [v.strip() for v in line.split(",")]
        if len(values) != len(names):
            raise ValueError(f"line {number} has {len(values)} values for {len(names)} fields: {line!r}")
        rows.append({n: _value(v) for n, v in zip(names, values)})
    return rows


def _field_name(text: str) -> str:
    return text.strip().split(" [", 1)[0]


def _value(text: str) -> str | None:
    if not text or text == "N/A" or (text.startswith("[") and text.endswith("]")):
        return None
    return text


def gpus_from_rows(rows: Sequence[Mapping[str, str | None]], matrix: Matrix) -> list[NvidiaGpu]:
    """NVIDIA GPUs from parsed rows: the compute capability as reported, else from the GPU
    table by name (``cc_source="gpu-table"``), else unknown."""
    gpus = []
    for position, row in enumerate(rows):
        name = row.get("name") or f"GPU {position}"
        cc, source = None, "unknown"
        reported = row.get("compute_cap")
        if reported:
            try:
                cc, source = Arch.parse(reported), "reported"
            except ValueError:
                cc = None
        if cc is None:
            model = matrix.gpu(name)
            if model is not None:
                cc, source = model.cc, "gpu-table"
        index = row.get("index")
        gpus.append(
            NvidiaGpu(
                index=int(index) if index and index.isdigit() else position,
                name=name,
                cc=cc,
                memory_mib=_mib(row.get("memory.total")),
                uuid=row.get("uuid"),
                cc_source=source,
            )
        )
    return gpus


def _mib(text: str | None) -> int | None:
    m = _NUMBER.match(text or "")
    return int(m.group(1)) if m else None


def classify_failure(output: str) -> tuple[str, str]:
    """``(kind, message)`` for a failed ``nvidia-smi``: kind is ``unknown-field``, ``no-driver``,
    ``version-mismatch``, ``no-devices`` or ``other``; message is a one-line explanation."""
    text = output.strip()
    first = text.splitlines()[0] if text else "no output"
    m = _UNKNOWN_FIELD.search(text)
    if m:
        return "unknown-field", f"this nvidia-smi does not know the field {m.group(1)!r} (an older driver)"
    if "couldn't communicate with the NVIDIA driver" in text:
        return "no-driver", "nvidia-smi cannot reach the NVIDIA driver (not installed, or its kernel module is not loaded)"
    if "Driver/library version mismatch" in text:
        lib = re.search(r"NVML library version:\s*(\S+)", text)
        version = f" (user-space library {lib.group(1)})" if lib else ""
        return "version-mismatch", (
            f"the loaded NVIDIA kernel module and the user-space driver differ{version}: "
            "reboot (or reload the nvidia modules) after a driver upgrade"
        )
    if "No devices were found" in text:
        return "no-devices", "nvidia-smi found no NVIDIA GPU"
    return "other", first


class SmiFailure(Exception):
    """``nvidia-smi`` ran and failed; ``kind`` as :func:`classify_failure` names it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class SmiAnswer:
    driver: str | None
    gpus: tuple[NvidiaGpu, ...]
    detail: str


def query(smi: str, *, env: Mapping[str, str], timeout: float, matrix: Matrix, want_uuid: bool = False) -> SmiAnswer:
    """Ask ``smi`` for the driver and GPUs (falling back for drivers without ``compute_cap``).

    Raises :class:`SmiFailure` when it fails, :class:`~envspec.detect._tools.ToolTimeout` when it
    hangs, ``OSError`` when it cannot start, ``ValueError`` for output it cannot parse.
    """
    fields = QUERY_FIELDS
    run = _ask(smi, fields, env, timeout)
    detail = ""
    if run.returncode != 0 or _UNKNOWN_FIELD.search(run.output):
        kind, message = classify_failure(run.output)
        if kind != "unknown-field":
            raise SmiFailure(kind, f"{message} (exit {run.returncode})")
        fields = FALLBACK_FIELDS
        detail = f"{message}; compute capabilities from the GPU table"
        run = _ask(smi, fields, env, timeout)
        if run.returncode != 0:
            kind, message = classify_failure(run.output)
            raise SmiFailure(kind, f"{message} (exit {run.returncode})")
    rows = parse_query_csv(run.stdout, fields)
    gpus = gpus_from_rows(rows, matrix)
    if want_uuid and gpus:
        uuids = _ask(smi, UUID_FIELDS, env, timeout)
        if uuids.returncode == 0:
            by_index = {r["index"]: r["uuid"] for r in parse_query_csv(uuids.stdout, UUID_FIELDS)}
            gpus = [_with_uuid(g, by_index.get(str(g.index))) for g in gpus]
    driver = next((r["driver_version"] for r in rows if r.get("driver_version")), None)
    return SmiAnswer(driver, tuple(gpus), detail)


def _with_uuid(gpu: NvidiaGpu, uuid: str | None) -> NvidiaGpu:
    from dataclasses import replace

    return replace(gpu, uuid=uuid) if uuid else gpu


def _ask(smi: str, fields: Sequence[str], env: Mapping[str, str], timeout: float) -> ToolRun:
    return run_tool([smi, f"--query-gpu={','.join(fields)}", "--format=csv,noheader"], timeout=timeout, env=env)
