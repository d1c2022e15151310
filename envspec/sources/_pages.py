"""Parse a project page of a simple index into a :class:`ProjectPage`.

Two formats, picked by content type (:func:`parse_page`):

- PEP 691 JSON (``application/vnd.pypi.simple.v1+json``, API version 1.x): per file
  ``filename``, ``url`` (relative to the page), ``hashes``, ``requires-python``, ``yanked``
  (bool or reason), ``size``, and ``core-metadata`` (PEP 714) preferred over the older
  ``dist-info-metadata`` (PEP 658): ``true`` or a mapping of hashes.
- PEP 503 HTML: every ``<a href>``; the hash from the ``#sha256=…`` fragment, attributes
  ``data-requires-python`` (HTML-unescaped), ``data-yanked``, ``data-core-metadata`` /
  ``data-dist-info-metadata`` (``"true"`` or ``"sha256=…"``); ``<base href>`` honoured.

Files whose names do not parse as a wheel or an sdist (``.tar.gz``, ``.zip``) of this project are
skipped. URLs are made absolute, their fragments stripped, their credentials removed.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import re
from collections.abc import Mapping
from urllib.parse import unquote, urljoin

from packaging.tags import Tag, parse_tag
from packaging.utils import (
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from envspec.errors import SourceError
from envspec.sources._config import redact
from envspec.sources._model import DistFile, Index, ProjectPage

__all__ = ["JSON_TYPE", "make_file", "parse_html", "parse_json", "parse_page"]

logger = logging.getLogger(__name__)

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
_HTML_TYPES = ("text/html", "application/vnd.pypi.simple.v1+html")


def _bad(url: str, message: str) -> SourceError:
    return SourceError(url, message, code="index-bad-response")



# Pages list thousands of files whose names repeat the same few versions, tag sets and project
# spellings: parse each once (a warm lock of a large closure spent most of its time here).
@functools.cache
def _canonical(name: str) -> str:
    return canonicalize_name(name)


@functools.cache
def _tags(text: str) -> frozenset[Tag]:
    return frozenset(parse_tag(text))


@functools.lru_cache(maxsize=65536)
def _version(text: str) -> Version:
    return Version(text)


def _parse_wheel(filename: str) -> tuple[str, Version, frozenset[Tag]]:
    """``packaging.utils.parse_wheel_filename`` with its parts memoized; raises ValueError."""
    parts = filename[:-4].split("-")
    if len(parts) == 5 or (len(parts) == 6 and parts[2][:1].isdigit()):
        return parts[0], _version(parts[1]), _tags("-".join(parts[-3:]))
    name, version, _build, tags = parse_wheel_filename(filename)  # raises InvalidWheelFilename
    return name, version, frozenset(tags)


def _absolute(base: str, href: str) -> str:
    """``href`` resolved against ``base`` (urljoin only when needed: it is slow, pages are long)."""
    return href if href.startswith(("https://", "http://")) else urljoin(base, href)


def make_file(
    name: NormalizedName,
    filename: str,
    url: str,
    *,
    hashes: Mapping[str, str] | None = None,
    requires_python: str | None = None,
    yanked: bool = False,
    size: int | None = None,
    metadata: Mapping[str, str] | None = None,
) -> DistFile | None:
    """A :class:`DistFile`, or None when ``filename`` is not a wheel or sdist of ``name``."""
    try:
        if filename.endswith(".whl"):
            project, version, tags = _parse_wheel(filename)
            kind = "wheel"
        elif filename.endswith((".tar.gz", ".zip")):
            project, version = parse_sdist_filename(filename)
            tags = frozenset()
            kind = "sdist"
        else:
            return None
    except ValueError:  # InvalidWheelFilename, InvalidSdistFilename, InvalidVersion
        return None
    if _canonical(project) != name:
        return None
    return DistFile(
        filename=filename,
        url=redact(url) if "@" in url else url,
        name=name,
        version=version,
        kind=kind,
        tags=frozenset(tags),
        hashes=tuple(sorted((k.lower(), v.lower()) for k, v in (hashes or {}).items())),
        requires_python=requires_python or None,
        yanked=yanked,
        size=size,
        metadata=None
        if metadata is None
        else tuple(sorted((k.lower(), v.lower()) for k, v in metadata.items())),
    )


def parse_page(
    body: bytes, content_type: str | None, url: str, index: Index, name: str, *, base: str | None = None
) -> ProjectPage:
    """Parse ``body`` as JSON or HTML by ``content_type`` (sniffed when absent or unknown).
    ``url`` is the page asked for; ``base`` the URL it was served from after redirects (relative
    links resolve against it), ``url`` when None."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == JSON_TYPE or ctype == "application/json":
        return parse_json(body, url, index, name, base=base)
    if ctype in _HTML_TYPES:
        return parse_html(body, url, index, name, base=base)
    if body.lstrip()[:1] == b"{":
        return parse_json(body, url, index, name, base=base)
    return parse_html(body, url, index, name, base=base)


# --- PEP 691 JSON ---------------------------------------------------------------------------


def _json_metadata(entry: Mapping[str, object]) -> Mapping[str, str] | None:
    # PEP 714: "core-metadata" is the name; "dist-info-metadata" is what older servers send,
    # "data-dist-info-metadata" what PyPI sent by mistake before PEP 714.
    value = next(
        (entry[k] for k in ("core-metadata", "dist-info-metadata", "data-dist-info-metadata") if k in entry),
        None,
    )
    if value is True:
        return {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return None


def parse_json(body: bytes, url: str, index: Index, name: str, *, base: str | None = None) -> ProjectPage:
    """Parse a PEP 691 JSON project page; a truncated or ill-shaped page raises
    :class:`SourceError` (``index-bad-response``) naming ``url``."""
    project = canonicalize_name(name)
    url = redact(url)
    base = redact(base) if base else url
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise _bad(url, f"the JSON page is truncated or invalid ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise _bad(url, "the JSON page has no 'files' list (not a PEP 691 project page)")
    meta = data.get("meta")
    version = meta.get("api-version") if isinstance(meta, dict) else None
    if isinstance(version, str) and not version.startswith("1."):
        raise _bad(url, f"unsupported simple API version {version} (aienv reads 1.x)")
    files: list[DistFile] = []
    for entry in data["files"]:
        if not isinstance(entry, dict):
            raise _bad(url, "a 'files' entry is not an object")
        filename, href = entry.get("filename"), entry.get("url")
        hashes = entry.get("hashes", {})
        if not isinstance(filename, str) or not isinstance(href, str) or not isinstance(hashes, dict):
            raise _bad(url, f"a 'files' entry lacks a string filename/url or a hashes object: {entry!r:.200}")
        requires_python = entry.get("requires-python")
        size = entry.get("size")
        yanked = entry.get("yanked", False)
        file = make_file(
            project,
            filename,
            _absolute(base, href).partition("#")[0],
            hashes={str(k): str(v) for k, v in hashes.items()},
            requires_python=requires_python if isinstance(requires_python, str) else None,
            yanked=bool(yanked),  # a reason string means yanked (PEP 592)
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            metadata=_json_metadata(entry),
        )
        if file is None:
            logger.debug("%s: skipping %s (not a wheel or sdist of %s)", url, filename, project)
        else:
            files.append(file)
    return ProjectPage(index, project, url, tuple(files))


# --- PEP 503 HTML ---------------------------------------------------------------------------


# PEP 503 pages are flat lists of anchors; a tokenizer for <a> and <base> tags is ten times
# faster than html.parser on the megabyte pages of large projects. Comments and scripts are
# dropped first so an anchor inside them is not taken for a file.
_TAG = re.compile(r"<(a|base)\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r"""([^\s"'>/=]+)(\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_IGNORED = re.compile(r"<!--.*?-->|<script\b.*?</script>", re.IGNORECASE | re.DOTALL)


def _anchors(text: str) -> tuple[str | None, list[dict[str, str | None]]]:
    """The page's ``<base href>`` (or None) and the attributes of each ``<a>``, unescaped."""
    base = None
    anchors = []
    for match in _TAG.finditer(_IGNORED.sub("", text)):
        attrs: dict[str, str | None] = {}
        for name, eq, dq, sq, bare in _ATTR.findall(match.group(2)):
            value = dq or sq or bare
            attrs.setdefault(name.lower(), (html.unescape(value) if "&" in value else value) if eq else None)
        if match.group(1).lower() == "a":
            anchors.append(attrs)
        elif base is None:
            base = attrs.get("href")
    return base, anchors


def _html_metadata(attrs: Mapping[str, str | None]) -> Mapping[str, str] | None:
    for key in ("data-core-metadata", "data-dist-info-metadata"):
        if key in attrs:
            value = (attrs[key] or "").strip()
            if value.lower() == "true":
                return {}
            alg, sep, digest = value.partition("=")
            return {alg: digest} if sep and digest else None
    return None


def parse_html(body: bytes, url: str, index: Index, name: str, *, base: str | None = None) -> ProjectPage:
    """Parse a PEP 503 HTML project page."""
    project = canonicalize_name(name)
    url = redact(url)
    base = redact(base) if base else url
    page_base, anchors = _anchors(body.decode("utf-8", errors="replace"))
    base = urljoin(base, page_base) if page_base else base
    files: list[DistFile] = []
    for attrs in anchors:
        href = attrs.get("href")
        if not href:
            continue
        file_url, _, fragment = _absolute(base, href).partition("#")
        filename = file_url.partition("?")[0].rsplit("/", 1)[-1]
        filename = unquote(filename) if "%" in filename else filename
        alg, sep, digest = fragment.partition("=")
        file = make_file(
            project,
            filename,
            file_url,
            hashes={alg: digest} if sep and digest else None,
            requires_python=attrs.get("data-requires-python"),
            yanked="data-yanked" in attrs,
            metadata=_html_metadata(attrs),
        )
        if file is None:
            logger.debug("%s: skipping %s (not a wheel or sdist of %s)", url, filename, project)
        else:
            files.append(file)
    return ProjectPage(index, project, url, tuple(files))
