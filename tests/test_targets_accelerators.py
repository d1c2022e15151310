"""Targets of every accelerator kind (issue #7): how `gpus` and `accelerator` in aienv.toml
become a Host, and the clear errors for combinations that cannot be."""

from __future__ import annotations

import pytest

from envspec.errors import SpecError
from envspec.host import AmdGpu, IntelGpu, hosts_from_spec, resolve_device
from envspec.matrix import get_matrix
from envspec.spec import spec_from_dict


def _hosts(**target):
    spec = spec_from_dict({"project": {"name": "p"}, "stack": {"torch": "*"}, "targets": {"t": target}})
    return hosts_from_spec(spec, get_matrix())


def test_devices_by_name_and_gfx() -> None:
    m = get_matrix()
    assert resolve_device("gfx1100", m) == AmdGpu("gfx1100", "gfx1100")
    assert resolve_device("MI300X", m) == AmdGpu("AMD Instinct MI300X", "gfx942")
    assert resolve_device("Arc A770", m) == IntelGpu("Intel Arc A770", False)
    assert resolve_device("RTX 4090", m).cc.sm == "sm_89"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="did you mean"):
        resolve_device("Radeon RX 7900 XTXX", m)


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ({"gpus": ["RTX 4090"], "driver": "550.54.14"}, "cuda"),
        ({"gpus": ["gfx90a"]}, "rocm"),
        ({"gpus": ["Arc B580"]}, "xpu"),
        ({"gpus": ["Arc 140V"]}, "cpu"),  # integrated: never chosen unless asked
        ({"gpus": ["Arc 140V"], "accelerator": "xpu"}, "xpu"),
        ({"platform": "macos-arm64"}, "mps"),
        ({"gpus": ["A100"], "accelerator": "cpu"}, "cpu"),
        ({"gpus": []}, "cpu"),
    ],
)
def test_accelerator_kind(target, kind) -> None:
    assert _hosts(**target)["t"].kind == kind


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"gpus": ["RTX 4090", "gfx1100"]}, "NVIDIA and AMD GPUs: say which one"),
        ({"gpus": [], "accelerator": "rocm"}, "needs the target's AMD GPUs"),
        ({"gpus": ["gfx1100"], "accelerator": "cuda"}, "needs the target's NVIDIA GPUs"),
        ({"accelerator": "mps"}, "only a macos-arm64 target"),
    ],
)
def test_impossible_combinations_are_spec_errors(target, message) -> None:
    with pytest.raises(SpecError) as info:
        _hosts(**target)
    assert message in str(info.value)
    assert "targets.t." in str(info.value)


def test_mixed_vendors_with_accelerator_chosen() -> None:
    host = _hosts(gpus=["RTX 4090", "gfx1100"], accelerator="rocm", driver="550.54.14")["t"]
    assert host.kind == "rocm" and not host.has_nvidia_gpu and host.amd_gpus == (AmdGpu("gfx1100", "gfx1100"),)
