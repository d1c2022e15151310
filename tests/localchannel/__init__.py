"""A real conda channel on 127.0.0.1: tiny real packages (`.tar.bz2` with `info/index.json` and
`info/paths.json`) built by the tests, and `<subdir>/repodata.json` listing them with their
sha256, md5, size, depends and constrains, served by tests.localindex's IndexServer.

    from tests.localchannel import LocalChannel
    from tests.localindex import IndexServer

    with IndexServer() as server:
        channel = LocalChannel(server, "demo-forge")     # http://127.0.0.1:PORT/demo-forge
        channel.add("ffmpeg", "7.1", subdir="linux-64", depends=["libfoo >=1.1"])

Stdlib only.
"""

from __future__ import annotations

from ._channel import (
    PLACEHOLDER,
    SUBDIRS,
    CondaFile,
    CondaPackage,
    LocalChannel,
    add_demo_packages,
    build_conda_package,
    read_index_json,
)

__all__ = [
    "PLACEHOLDER", "SUBDIRS", "CondaFile", "CondaPackage", "LocalChannel", "add_demo_packages", "build_conda_package",
    "read_index_json",
]
