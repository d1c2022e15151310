"""Conda channels: solve conda match specs for one platform with py-rattler.

:class:`CondaSolver` solves a list of match specs (``python 3.12.*``, ``pip``, ``ffmpeg``)
against conda channels for one conda subdir (plus ``noarch``), with the target's virtual
packages (``__glibc``, ``__cuda`` …) as the only system facts, and returns every package of the
solution with its URL and hashes from the channels' repodata. It never looks at this machine.

py-rattler (``pip install 'envspec[conda]'``) is an optional dependency, imported on the first
solve. Its repodata cache lives under the aienv cache directory (``conda-repodata/``); offline,
only that cache is read, however old. Errors:

- :class:`CondaSolveError` (exit 1): the specs cannot be met; carries the solver's explanation;
- :class:`~envspec.errors.SourceError` (exit 1): a channel is unreachable or answers badly;
- :class:`~envspec.errors.OfflineCacheMiss` (exit 1): offline, and the cache lacks repodata;
- :class:`CondaSpecError` (exit 2): a match spec or channel that does not parse;
- :class:`CondaUnavailable` (exit 1): py-rattler is not installed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envspec.errors import EnvspecError, OfflineCacheMiss, SourceError
from envspec.sources._config import redact

if TYPE_CHECKING:
    from os import PathLike

__all__ = [
    "CONDA_SUBDIRS",
    "DEFAULT_CHANNEL_ALIAS",
    "CondaRecord",
    "CondaSolveError",
    "CondaSolver",
    "CondaSpecError",
    "CondaUnavailable",
    "VirtualPackage",
    "channel_url",
]


def __dir__() -> list[str]:
    return __all__


#: The conda subdir of each target platform (conda's ``platform-arch`` names).
CONDA_SUBDIRS = {
    "linux-x86_64": "linux-64",
    "linux-aarch64": "linux-aarch64",
    "windows-x86_64": "win-64",
    "macos-arm64": "osx-arm64",
}

#: Where channel names (``conda-forge``) live, as conda's own ``channel_alias`` default.
DEFAULT_CHANNEL_ALIAS = "https://conda.anaconda.org"

#: The directory under the aienv cache root that holds rattler's repodata cache.
CACHE_SUBDIR = "conda-repodata"


def channel_url(channel: str, alias: str = DEFAULT_CHANNEL_ALIAS) -> str:
    """The URL of a channel: a full URL as given, a name (``conda-forge``,
    ``conda-forge/label/dev``) under ``alias``; never with a trailing slash."""
    channel = channel.strip()
    if re.match(r"^(?:https?|file)://", channel):
        return channel.rstrip("/")
    return f"{alias.rstrip('/')}/{channel.strip('/')}"


@dataclass(frozen=True)
class VirtualPackage:
    """A system fact as conda sees it: ``__glibc 2.28``, ``__cuda 12.4``, ``__archspec 1 x86_64``."""

    name: str
    version: str
    build: str = "0"

    def __str__(self) -> str:
        return f"{self.name}={self.version}={self.build}"


@dataclass(frozen=True)
class CondaRecord:
    """One package of a solution, as the channel's repodata describes it.

    ``channel`` is the channel's URL (no trailing slash); ``sha256``/``md5`` are lower-case hex,
    None where the repodata has none.
    """

    name: str
    version: str
    build: str
    channel: str
    subdir: str
    url: str
    sha256: str | None
    md5: str | None
    depends: tuple[str, ...]


class CondaSolveError(EnvspecError):
    """The match specs cannot be met from the channels for the subdir; ``detail`` is the
    solver's explanation (one line per step of its reasoning)."""

    code = "conda-unsatisfiable"
    exit_code = 1

    def __init__(self, specs: Sequence[str], channels: Sequence[str], subdir: str, detail: str) -> None:
        self.specs, self.channels, self.subdir = tuple(specs), tuple(channels), subdir
        self.detail = detail.removeprefix("Cannot solve the request because of: ").strip()
        super().__init__(
            f"conda: {', '.join(self.specs)} cannot be solved for {subdir} from {', '.join(self.channels)}:\n"
            + "\n".join(f"  {line}" for line in self.detail.splitlines()),
            hint="check the names and versions in [conda] packages exist in these channels for this platform",
        )


class CondaSpecError(EnvspecError, ValueError):
    """A conda match spec or channel that does not parse."""

    code = "invalid-conda-spec"
    exit_code = 2


class CondaUnavailable(EnvspecError):
    """py-rattler, which solves the conda side, is not installed."""

    code = "conda-solver-missing"
    exit_code = 1


class CondaSolver:
    """Solves conda match specs against channels, one platform at a time.

    ``channel_alias`` is where channel names resolve (a mirror of ``https://conda.anaconda.org``);
    ``cache_dir`` the aienv cache root (None: the default one), under which rattler keeps its
    repodata; ``offline`` reads that cache alone, whatever its age. One solver shares the
    repodata it read between solves (targets of one lock).
    """

    def __init__(
        self,
        *,
        channel_alias: str = DEFAULT_CHANNEL_ALIAS,
        cache_dir: str | PathLike[str] | None = None,
        offline: bool = False,
    ) -> None:
        self.channel_alias = channel_alias
        self.offline = offline
        self._cache_root = Path(cache_dir) if cache_dir is not None else None
        self._gateway: Any = None

    @property
    def cache_dir(self) -> Path:
        from envspec.sources._cache import default_cache_dir

        return (self._cache_root if self._cache_root is not None else default_cache_dir()) / CACHE_SUBDIR

    def solve(
        self,
        specs: Sequence[str],
        channels: Sequence[str],
        subdir: str,
        virtual_packages: Sequence[VirtualPackage] = (),
        prefer: Mapping[str, str] | None = None,
    ) -> tuple[CondaRecord, ...]:
        """Every package of the solution of ``specs`` for ``subdir``, sorted by name.

        Channels are in priority order (strict: a package found in an earlier channel is taken
        only from there). The only system facts are ``virtual_packages``: a package that needs
        one the list lacks (``__cuda`` on a CPU target) is not chosen. ``prefer`` maps names to
        the file URLs an earlier lock pinned: those are kept while they still fit.
        """
        rattler = _import_rattler()
        urls = [channel_url(c, self.channel_alias) for c in channels]
        parsed = [_match_spec(rattler, s) for s in specs]
        virtual = [
            rattler.GenericVirtualPackage(rattler.PackageName(v.name), rattler.Version(v.version), rattler.BuildString(v.build))
            for v in virtual_packages
        ]
        gateway = self._gateway_for(rattler)
        platforms = [subdir, "noarch"]

        async def run() -> Any:
            locked = []
            if prefer:
                found = await gateway.query(urls, platforms, sorted(prefer), recursive=False, channel_relations="disabled")
                wanted = set(prefer.values())
                locked = [r for records in found for r in records if r.url in wanted]
            return await rattler.solve(
                sources=urls, specs=parsed, gateway=gateway, platforms=platforms, locked_packages=locked,
                virtual_packages=virtual, channel_relations="disabled",
            )

        shown = [redact(u) for u in urls]
        try:
            records = _run_sync(run)
        except rattler.exceptions.SolverError as e:
            raise CondaSolveError(specs, shown, subdir, _redact_urls(str(e))) from e
        except (rattler.exceptions.GatewayError, rattler.exceptions.FetchRepoDataError) as e:
            raise self._fetch_error(_redact_urls(str(e)), shown, subdir) from e
        return tuple(sorted((_record(r) for r in records), key=lambda r: r.name))

    def _gateway_for(self, rattler: Any) -> Any:
        if self._gateway is None:
            action = "force-cache-only" if self.offline else "cache-or-fetch"
            self._gateway = rattler.Gateway(
                cache_dir=self.cache_dir, default_config=rattler.SourceConfig(cache_action=action)
            )
        return self._gateway

    def _fetch_error(self, message: str, urls: Sequence[str], subdir: str) -> EnvspecError:
        # rattler's errors are text: "... for url (URL)" names the request that failed, else the
        # first URL in it does.
        found = re.search(r"for url \((\S+)\)", message) or re.search(f"({_URL.pattern})", message)
        if self.offline:
            # "no usable repodata cache for <channel>/<subdir>/"
            if found and "cache" in message:
                missing = [found.group(1).rstrip("/") + "/repodata.json"]
            else:
                missing = [f"{u}/{s}/repodata.json" for u in urls for s in (subdir, "noarch")]
            return OfflineCacheMiss(missing)
        url = found.group(1) if found else urls[0]
        detail = " ".join(line.strip() for line in message.splitlines() if line.strip())
        if "HTTP status" in message:
            code = "index-http-error"
        elif re.search(r"connect|dns|resolve|timed out|timeout", message, re.IGNORECASE):
            # The channel is what cannot be reached, not the one file rattler tried first.
            code = "index-unreachable"
            url = next((u for u in urls if url.startswith(u + "/")), url)
        else:
            code = "index-bad-response"
        return SourceError(
            url, f"conda channel: {detail}", code=code,
            hint="check [conda] channels and the channel alias (--conda-channel-alias, AIENV_CONDA_CHANNEL_ALIAS)",
        )


_URL = re.compile(r"(?:https?|file)://[^\s)'\"]+")


def _redact_urls(text: str) -> str:
    # A channel alias may carry credentials (user:password@mirror); no message shows them.
    return _URL.sub(lambda m: redact(m.group(0)), text)


def _run_sync(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to its end: here, or in a worker thread when this thread already runs an
    event loop (a notebook), where asyncio.run would refuse."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def _import_rattler() -> Any:
    try:
        import rattler
        import rattler.exceptions
    except ImportError as e:
        raise CondaUnavailable(
            "locking the [conda] packages needs py-rattler, which is not installed",
            hint="pip install 'envspec[conda]'",
        ) from e
    return rattler


def _match_spec(rattler: Any, text: str) -> Any:
    try:
        return rattler.MatchSpec(text)
    except rattler.exceptions.InvalidMatchSpecError as e:
        raise CondaSpecError(
            f"{text!r} is not a conda match spec: {e}", hint="a match spec looks like `ffmpeg`, `ffmpeg >=6`, `python 3.12.*`"
        ) from e


def _record(r: Any) -> CondaRecord:
    return CondaRecord(
        name=r.name.normalized,
        version=str(r.version),
        build=str(r.build),
        channel=redact(str(r.channel)).rstrip("/"),
        subdir=r.subdir,
        url=redact(r.url),
        sha256=r.sha256.hex() if r.sha256 else None,
        md5=r.md5.hex() if r.md5 else None,
        depends=tuple(r.depends),
    )
