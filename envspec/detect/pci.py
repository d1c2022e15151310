"""Display controllers on the PCI bus, from ``lspci -nnk`` or ``/sys/bus/pci/devices``.

The last hint detection has: a GPU shows on the bus even when no driver is loaded, so an NVIDIA
card with no NVIDIA driver can be named, and so can AMD and Intel graphics. Only display
controllers (PCI class 03xx: "VGA compatible controller", "3D controller", "Display controller")
are kept. ``lspci`` output comes in several shapes, all read here (captured outputs under
``tests/data/detect/lspci/``): with or without ``-nn`` (``[0300]`` class and ``[10de:2204]``
vendor:device ids), with or without ``-k`` (indented "Kernel driver in use:" / "Kernel
modules:" lines), with a domain in the slot (``0000:01:00.0``) or without, and ``grep -A``
separators (``--``).

Integrated or discrete: Intel puts its integrated graphics on the root bus at ``00:02.0``; its
discrete cards (Arc, Data Center GPU) sit behind a PCIe port, on another bus. AMD's integrated
graphics sit behind a bridge like a card, so for AMD (and NVIDIA) the bus does not tell.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ._report import PciDevice

__all__ = ["is_integrated", "parse_lspci", "scan_sysfs", "vendor_of"]

_HEADER = re.compile(
    r"^(?P<slot>(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s+"
    r"(?P<cls>[^:\[]+?)(?:\s+\[(?P<clsid>[0-9a-fA-F]{4})\])?:\s+(?P<rest>.*)$"
)
_DISPLAY_CLASSES = {"vga compatible controller": "0300", "3d controller": "0302", "display controller": "0380"}
_KIND = {"0300": "VGA compatible controller", "0302": "3D controller", "0380": "Display controller"}
_VENDOR_IDS = {"10de": "nvidia", "1002": "amd", "1022": "amd", "8086": "intel"}
_IDS = re.compile(r"\s*\[(?P<vendor>[0-9a-fA-F]{4}):(?P<device>[0-9a-fA-F]{4})\]$")


def vendor_of(description: str, vendor_id: str | None = None) -> str:
    """``nvidia`` | ``amd`` | ``intel`` | ``other``, by PCI vendor id when known, else by name."""
    if vendor_id:
        return _VENDOR_IDS.get(vendor_id.lower(), "other")
    text = description.lower()
    if text.startswith("nvidia"):
        return "nvidia"
    if text.startswith(("advanced micro devices", "ati technologies", "amd")):
        return "amd"
    if text.startswith("intel"):
        return "intel"
    return "other"


def is_integrated(vendor: str, slot: str) -> bool | None:
    """True for Intel graphics on the root bus (``00:02.0``), False for Intel elsewhere (a
    discrete card), None for other vendors (the bus does not tell)."""
    if vendor != "intel":
        return None
    bus = slot.split(":")[-2]
    return bus == "00"


def parse_lspci(text: str) -> list[PciDevice]:
    """The display controllers in ``lspci`` output (any of ``-nn``, ``-k``, ``-v``, ``-d ::03xx``)."""
    lines = text.splitlines()
    reports_drivers = any(k in line for line in lines for k in ("Kernel driver in use:", "Kernel modules:"))
    devices: list[dict[str, object]] = []
    current: dict[str, object] | None = None
    for line in lines:
        if not line.strip() or line.strip() == "--":
            continue
        if not line[0].isspace():
            current = None
            m = _HEADER.match(line.strip())
            if not m:
                continue
            clsid = (m.group("clsid") or _DISPLAY_CLASSES.get(m.group("cls").strip().lower(), "")).lower()
            if not clsid.startswith("03"):
                continue
            rest = re.sub(r"\s*\(prog-if .*\)$", "", m.group("rest").strip())
            rest = re.sub(r"\s*\(rev [0-9a-fA-F]+\)$", "", rest)
            ids = _IDS.search(rest)
            if ids:
                rest = rest[: ids.start()]
            vendor = vendor_of(rest, ids.group("vendor") if ids else None)
            current = {
                "slot": m.group("slot"),
                "vendor": vendor,
                "kind": _KIND.get(clsid, m.group("cls").strip()),
                "description": rest.strip(),
                "driver": None,
                "modules": (),
            }
            devices.append(current)
        elif current is not None:
            key, _, value = line.strip().partition(":")
            if key == "Kernel driver in use":
                current["driver"] = value.strip()
            elif key == "Kernel modules":
                current["modules"] = tuple(v.strip() for v in value.split(",") if v.strip())
    return [
        PciDevice(
            slot=str(d["slot"]), vendor=str(d["vendor"]), kind=str(d["kind"]), description=str(d["description"]),
            driver=d["driver"],  # type: ignore[arg-type]
            modules=d["modules"],  # type: ignore[arg-type]
            integrated=is_integrated(str(d["vendor"]), str(d["slot"])),
            driver_known=reports_drivers,
        )
        for d in devices
    ]


def scan_sysfs(root: Path) -> list[PciDevice]:
    """The display controllers under ``<root>/sys/bus/pci/devices`` (for machines without
    ``lspci``): class, vendor and device ids, and the bound driver (the ``driver`` link)."""
    base = root / "sys" / "bus" / "pci" / "devices"
    found = []
    for entry in sorted(base.iterdir()) if base.is_dir() else ():
        try:
            pci_class = int(_read(entry / "class"), 16)
            vendor_id = _read(entry / "vendor").lower().removeprefix("0x")
            device_id = _read(entry / "device").lower().removeprefix("0x")
        except (OSError, ValueError):
            continue
        if pci_class >> 16 != 0x03:
            continue
        driver_link = entry / "driver"
        driver = os.path.basename(os.readlink(driver_link)) if driver_link.is_symlink() else None
        vendor = vendor_of("", vendor_id)
        found.append(
            PciDevice(
                slot=entry.name,
                vendor=vendor,
                kind=_KIND.get(f"{pci_class >> 8:04x}", "Display controller"),
                description=f"PCI device {vendor_id}:{device_id}",
                driver=driver,
                integrated=is_integrated(vendor, entry.name),
                driver_known=True,
            )
        )
    return found


def _read(path: Path) -> str:
    return path.read_text(encoding="ascii", errors="replace").strip()
