"""The embedded compatibility data: internally consistent, sourced, and covering what it must."""

from __future__ import annotations

import pytest
from packaging.version import Version

from envspec.matrix import Arch, get_matrix

M = get_matrix()

# Every torch release from 1.13.0 to 2.15.0 (final releases on PyPI): the data covers, not samples.
TORCH_RELEASES = [
    "1.13.0", "1.13.1", "2.0.0", "2.0.1", "2.1.0", "2.1.1", "2.1.2", "2.2.0", "2.2.1", "2.2.2",
    "2.3.0", "2.3.1", "2.4.0", "2.4.1", "2.5.0", "2.5.1", "2.6.0", "2.7.0", "2.7.1", "2.8.0",
    "2.9.0", "2.9.1", "2.10.0", "2.11.0", "2.12.0", "2.12.1", "2.13.0", "2.14.0", "2.14.1", "2.15.0",
]


class TestArch:
    @pytest.mark.parametrize(
        ("text", "major", "minor", "suffix"),
        [("8.6", 8, 6, ""), ("sm_86", 8, 6, ""), ("86", 8, 6, ""), ("9.0a", 9, 0, "a"), ("sm_120", 12, 0, ""), ("10.0", 10, 0, "")],
    )
    def test_parse(self, text: str, major: int, minor: int, suffix: str) -> None:
        assert Arch.parse(text) == Arch(major, minor, suffix)

    @pytest.mark.parametrize("text", ["", "eight", "8", "sm_8x"])
    def test_parse_rejects(self, text: str) -> None:
        with pytest.raises(ValueError, match="compute capability"):
            Arch.parse(text)

    @pytest.mark.parametrize(
        ("built", "gpu", "cubin", "ptx"),
        [
            # binary compatibility: same major, equal or higher minor
            ("8.0", "8.6", True, True),
            ("8.0", "8.9", True, True),
            ("8.6", "8.0", False, False),
            # never across majors for cubin; PTX JIT goes forward only
            ("9.0", "12.0", False, True),
            ("12.0", "9.0", False, False),
            # arch-specific targets run on exactly that GPU
            ("9.0a", "9.0", True, True),
            ("9.0a", "10.0", False, False),
        ],
    )
    def test_compatibility(self, built: str, gpu: str, cubin: bool, ptx: bool) -> None:
        assert Arch.parse(built).cubin_runs_on(Arch.parse(gpu)) is cubin
        assert Arch.parse(built).ptx_runs_on(Arch.parse(gpu)) is ptx


def test_covers_every_torch_release() -> None:
    have = {str(r.version) for r in M.torch_releases}
    assert set(TORCH_RELEASES) <= have, sorted(set(TORCH_RELEASES) - have, key=Version)


@pytest.mark.parametrize("version", TORCH_RELEASES)
def test_torch_release_is_complete(version: str) -> None:
    release = M.torch_release(version)
    assert release is not None
    assert release.sources, "a release without a source"
    assert release.python.get("linux-x86_64"), "no Linux Python versions"
    kinds = {b.variant.kind for b in release.builds}
    assert "cuda" in kinds and "cpu" in kinds
    for build in release.builds:
        assert build.sources, f"{build.variant.name} has no source"
        assert build.platforms, f"{build.variant.name} has no platform"
        if build.variant.kind == "cuda" and build.verified:
            assert build.sm, f"{build.variant.name} has no arch list"
    # the companions that pair with it are real releases of theirs
    facts = M.raw["pypi_facts.json"]
    for name in ("torchvision", "torchaudio"):
        paired = getattr(release, name)
        if paired is not None:
            assert facts[name][str(paired)]["torch"] == version


def test_every_cuda_variant_has_a_driver_floor() -> None:
    for build in M.torch_builds():
        if build.variant.cuda is None or not build.verified:
            continue
        for platform in build.platforms:
            for policy in ("toolkit", "minor-version"):
                floor = M.driver_floor(build.variant.cuda, platform, policy)
                if platform.startswith("windows") and build.variant.cuda.major >= 13:
                    continue  # NVIDIA's table has no Windows driver for 13.x (N/A): conservative
                assert floor is not None, (build.torch, build.variant.name, platform, policy)
                assert floor.source


@pytest.mark.parametrize(
    ("cuda", "policy", "platform", "driver"),
    [
        # NVIDIA CUDA Toolkit release notes: toolkit driver of each x.y GA, and minor-version floors
        ("12.8", "toolkit", "linux-x86_64", "570.26"),
        ("12.4", "toolkit", "linux-x86_64", "550.54.14"),
        ("11.8", "toolkit", "linux-x86_64", "520.61.05"),
        ("12.8", "minor-version", "linux-x86_64", "525.60.13"),
        ("11.8", "minor-version", "linux-x86_64", "450.80.02"),
        ("11.8", "minor-version", "windows-x86_64", "452.39"),
        ("13.0", "minor-version", "linux-x86_64", "580"),
    ],
)
def test_driver_floors(cuda: str, policy: str, platform: str, driver: str) -> None:
    floor = M.driver_floor(Version(cuda), platform, policy)
    assert floor is not None and floor.driver == Version(driver)


@pytest.mark.parametrize(
    ("name", "cc"),
    [("RTX 4090", "8.9"), ("NVIDIA GeForce RTX 4090", "8.9"), ("rtx 3090", "8.6"), ("A100", "8.0"),
     ("H100", "9.0"), ("RTX 5090", "12.0"), ("GTX 1080 Ti", "6.1"), ("T4", "7.5"), ("V100", "7.0"),
     ("L40S", "8.9"), ("B200", "10.0")],
)
def test_gpu_lookup(name: str, cc: str) -> None:
    gpu = M.gpu(name)
    assert gpu is not None and gpu.cc == Arch.parse(cc)


def test_gpu_names_unique_and_sourced() -> None:
    seen: dict[str, str] = {}
    for gpu in M.gpus:
        assert gpu.source, gpu.name
        for alias in (gpu.name, *gpu.aliases):
            key = alias.casefold()
            assert key not in seen or seen[key] == gpu.name, f"{alias!r} names {seen.get(key)} and {gpu.name}"
            seen[key] = gpu.name


def test_flash_attn_releases() -> None:
    versions = [str(r.version) for r in M.flash_attn_releases]
    assert versions[-1] == "2.5.0" and "2.8.3.post2" in versions
    for release in M.flash_attn_releases:
        assert release.sources
        if release.verified:
            assert release.wheels, release.version
        minors = {str(r.version.major) + "." + str(r.version.minor) for r in M.torch_releases}
        for wheel in release.wheels:
            assert wheel.filename.startswith(f"flash_attn-{release.version}+cu")
            assert wheel.url.endswith("/" + wheel.filename)
            # every torch minor a wheel is built for is a torch release we know (or a nightly of one)
            assert wheel.torch_minor in minors or Version(wheel.torch_minor) < Version("1.13"), wheel.filename


def test_flash_attn_known_filename() -> None:
    # published asset of v2.7.4.post1 (release workflow matrix: torch 2.6 x cu12 x cxx11abi x cp312)
    release = next(r for r in M.flash_attn_releases if str(r.version) == "2.7.4.post1")
    names = {w.filename for w in release.wheels}
    assert "flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp312-cp312-linux_x86_64.whl" in names
    assert not any("torch2.2" in n and "cp313" in n for n in names)  # excluded by the workflow


def test_every_row_names_a_known_source() -> None:
    # rows cite source keys; each key must be defined in the file's "sources" table (or be a URL)
    for name in ("torch_builds.json", "torch_abi.json", "flash_attn.json", "cuda.json", "gpus.json"):
        data = M.raw[name]
        keys = set(data.get("sources", {}))
        for cited in _cited(data):
            assert cited in keys or cited.startswith("http"), f"{name}: unknown source {cited!r}"


def _cited(data: object):
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "source":
                yield from ([v] if isinstance(v, str) else v if isinstance(v, list) else [])
            elif k not in ("sources",):
                yield from _cited(v)
    elif isinstance(data, list):
        for item in data:
            yield from _cited(item)


def test_matrix_version_is_stable() -> None:
    assert M.version == get_matrix().version
    assert len(M.version.split("+")[1]) == 12
