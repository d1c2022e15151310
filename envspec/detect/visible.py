"""``CUDA_VISIBLE_DEVICES``: which of the machine's GPUs a CUDA program will see.

NVML and ``nvidia-smi`` list every GPU and ignore the variable; CUDA applies it. The rules, from
NVIDIA's CUDA C++ Programming Guide ("CUDA Environment Variables") and the MPS guide:

- a comma-separated list of GPU indices or UUIDs (``GPU-…``; a unique prefix is enough);
  only those GPUs are visible, enumerated in the order given;
- an invalid entry (an index out of range, ``-1``, an unknown UUID) ends the list: the entries
  before it stay visible, the rest are ignored (``0,2,-1,1`` shows GPUs 0 and 2);
- set but empty: no GPU is visible;
- MIG instances are named ``MIG-…``: they cannot be mapped to a GPU here, so every GPU is kept.

Indices are CUDA's, and CUDA numbers GPUs fastest first unless ``CUDA_DEVICE_ORDER=PCI_BUS_ID``;
``nvidia-smi`` numbers them in PCI bus order. aienv maps indices in PCI bus order, which is
right when the GPUs are all the same model or ``CUDA_DEVICE_ORDER=PCI_BUS_ID``; otherwise it
says so in a note.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._report import NvidiaGpu

__all__ = ["apply_visible_devices", "wants_uuids"]


def wants_uuids(value: str | None) -> bool:
    """Whether ``value`` names GPUs by UUID (so the GPUs' UUIDs are needed to apply it)."""
    return value is not None and any(t.strip().upper().startswith("GPU-") for t in value.split(","))


def apply_visible_devices(
    value: str | None, gpus: Sequence[NvidiaGpu], *, device_order: str | None = None
) -> tuple[list[NvidiaGpu], list[str]]:
    """The GPUs CUDA will see under ``CUDA_VISIBLE_DEVICES=value``, and notes on how it was read."""
    if value is None:
        return list(gpus), []
    if not value.strip():
        return [], ["CUDA_VISIBLE_DEVICES is set and empty: CUDA programs see no GPU"]
    chosen: list[NvidiaGpu] = []
    notes: list[str] = []
    by_index = {g.index: g for g in gpus}
    used_index = False
    for token in (t.strip() for t in value.split(",")):
        upper = token.upper()
        if upper.startswith("MIG-"):
            return list(gpus), [f"CUDA_VISIBLE_DEVICES names a MIG instance ({token}); every GPU is kept"]
        if upper.startswith("GPU-"):
            if any(g.uuid is None for g in gpus):
                return list(gpus), ["CUDA_VISIBLE_DEVICES names GPUs by UUID but their UUIDs are unknown; every GPU is kept"]
            matches = [g for g in gpus if g.uuid and g.uuid.upper().startswith(upper)]
            gpu = matches[0] if len(matches) == 1 else None
        else:
            try:
                number = int(token)
            except ValueError:
                number = -1
            gpu = by_index.get(number)
            used_index = used_index or gpu is not None
        if gpu is None:
            notes.append(
                f"CUDA_VISIBLE_DEVICES={value}: {token!r} is not a GPU here, so CUDA ignores it and every entry after it"
            )
            break
        if gpu not in chosen:
            chosen.append(gpu)
    if used_index and len({g.name for g in gpus}) > 1 and device_order != "PCI_BUS_ID":
        notes.append(
            "CUDA_VISIBLE_DEVICES uses indices on a machine with different GPU models: CUDA numbers GPUs "
            "fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, while these indices were read in nvidia-smi's "
            "PCI bus order; set CUDA_DEVICE_ORDER=PCI_BUS_ID to make them agree"
        )
    return chosen, notes
