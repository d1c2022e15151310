"""Test infrastructure: a real local package index server and builders of tiny real wheels/sdists.

    from tests.localindex import IndexServer, build_wheel

    with IndexServer() as server:
        server.add_file("simple", *build_wheel("demo", "1.0", requires_dist=["numpy>=2"]))
        url = server.index_url("simple")  # http://127.0.0.1:PORT/simple/

Stdlib only, plus `packaging`.
"""

from __future__ import annotations

from ._server import IndexServer, LogRecord, project_of
from ._snapshot import SnapshotFile, load_snapshot, snapshot_files
from ._wheels import (
    build_sdist,
    build_wheel,
    expand_tags,
    metadata_text,
    parse_metadata,
    read_sdist_metadata,
    read_wheel_metadata,
)

__all__ = [
    "IndexServer",
    "LogRecord",
    "SnapshotFile",
    "build_sdist",
    "build_wheel",
    "expand_tags",
    "load_snapshot",
    "metadata_text",
    "parse_metadata",
    "project_of",
    "read_sdist_metadata",
    "read_wheel_metadata",
    "snapshot_files",
]
