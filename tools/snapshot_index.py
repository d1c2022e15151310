#!/usr/bin/env python3
"""Snapshot package-index metadata for the offline index tests (stdlib + packaging, Python 3.10+).

Without --require (the ComfyUI run), writes two JSON files (sorted keys, indent 1):

  tests/data/index/pypi-comfyui.json
      The dependency closure, as found on PyPI, of examples/comfyui/requirements.txt without
      torch/torchvision/torchaudio, plus everything those three require (read from PyPI's
      torch 2.10.0 / torchvision 0.25.0 / torchaudio 2.10.0 wheels: sympy, nvidia-*, triton, ...).
      Every requirement met in the walk keeps the newest 2 final, non-yanked versions that satisfy
      it and have a file installable on a target, plus, per target Python whose Requires-Python
      those exclude, the newest version that admits it. Kept versions' Requires-Dist are walked
      in turn (with the extras the referencing requirement names); a requirement is followed when
      its marker holds for any target (CPython 3.10-3.13 on linux x86_64 glibc, windows amd64,
      macOS arm64). Files: wheels installable on a target, plus one sdist.
  tests/data/index/pytorch.json
      A FAKE download.pytorch.org-style index for tests, per variant (cu128, cpu): torch 2.10.0,
      torchvision 0.25.0, torchaudio 2.10.0 with local labels (2.10.0+cu128, ...) and
      download.pytorch.org-style file names, Requires-Dist copied from PyPI's wheels (PyPI's Linux
      torch 2.10.0 is the cu128 build); the cpu variant drops the CUDA-only lines.

With --require (repeatable) and/or --requirements FILE, writes the closure of those root
requirements by the same walk rules to --out (default tests/data/index/pypi-NAME.json), for the
targets --python 3.N (repeatable) x --platform P (repeatable); --glibc 2.N drops Linux wheels
needing a newer glibc; --per-requirement N changes the 2 versions kept per requirement;
--constraint REQ (repeatable, e.g. 'numpy<2') keeps only versions that agree with it: none of the
constrained project outside it, none whose Requires-Dist asks for that project only outside it
(the walk then looks further back, e.g. to the last opencv-python that accepts numpy 1).
--paddle-fixture FILE also writes a FAKE www.paddlepaddle.org.cn/packages/stable/<variant>/-style
index for the --require paddlepaddle-gpu==V pin: per --paddle-variants cuNNN (default cu120,cu117),
paddlepaddle-gpu V.postNNN with the Requires-Dist/Requires-Python of PyPI's Linux x86_64 V wheel
and its file names (the version changed). Each file's "source" says how to regenerate it:

  python tools/snapshot_index.py --name tensorflow --require 'tensorflow[and-cuda]==2.19.1' \
      --require tensorflow==2.19.1 --require 'pandas>=2.2' --require 'pillow>=10' \
      --python 3.10 --python 3.11 --python 3.12 --platform linux-x86_64 --platform macos-arm64 \
      --glibc 2.28 --out tests/data/index/pypi-tensorflow.json

Metadata of a version comes from its wheels' *.dist-info/METADATA: PEP 658 core metadata when
the index offers it, else HTTP Range reads of the wheel's zip directory (functions of
tools/gen_pypi_facts.py; a wheel is never downloaded whole). A version with no wheel on the
targets takes it from the project JSON's info (latest version only) or from its sdist's
PKG-INFO; such versions carry "requires_dist_from" saying which.

Usage (from the repository root): python tools/snapshot_index.py [--out-dir tests/data/index]
       python tools/snapshot_index.py --name NAME --require REQ ... [options; see --help]
"""
import argparse
import datetime
import io
import itertools
import json
import os
import re
import shlex
import sys
import tarfile
import time
import urllib.parse
import zipfile
from concurrent.futures import ThreadPoolExecutor
from email.parser import HeaderParser

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_pypi_facts import http, zip_metadata

COMMAND = "python tools/snapshot_index.py"
PROJECT = "https://pypi.org/pypi/{}/json"
REQUIREMENTS = "examples/comfyui/requirements.txt"
STACK = {"torch": "2.10.0", "torchvision": "0.25.0", "torchaudio": "2.10.0"}  # from the PyTorch index
PER_REQUIREMENT = 2
MINORS = (10, 11, 12, 13)
PLATFORMS = {  # name: (platform-tag regex, os_name, sys_platform, platform_system, platform_machine)
    "linux-x86_64": (r"^manylinux(1|2010|2014|_2_\d+)_x86_64$", "posix", "linux", "Linux", "x86_64"),
    "windows-x86_64": (r"^win_amd64$", "nt", "win32", "Windows", "AMD64"),
    "macos-arm64": (r"^macosx_\d+_\d+_(arm64|universal2)$", "posix", "darwin", "Darwin", "arm64"),
}
ALL_PLATFORMS = dict(PLATFORMS)
GLIBC = None  # newest glibc minor (2.GLIBC) a manylinux_2_N wheel may need; None: any
CONSTRAINTS = {}  # project: SpecifierSet that kept versions agree with (see agrees)
ENVS = []


def configure(minors=MINORS, platforms=tuple(PLATFORMS), glibc=None, per_requirement=PER_REQUIREMENT,
              constraints=()):
    """Set the targets (CPython 3.<minor> on each platform) the walk evaluates markers and files for,
    the versions kept per requirement and the constraints (requirement strings) they agree with."""
    global MINORS, PLATFORMS, GLIBC, PER_REQUIREMENT, CONSTRAINTS, ENVS
    MINORS, GLIBC, PER_REQUIREMENT = tuple(sorted(minors)), glibc, per_requirement
    CONSTRAINTS = {}
    for text in constraints:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        CONSTRAINTS[name] = CONSTRAINTS.get(name, SpecifierSet()) & req.specifier
    PLATFORMS = {p: ALL_PLATFORMS[p] for p in ALL_PLATFORMS if p in platforms}
    # Marker environments: each target Python at both ends of its patch series (python_full_version).
    ENVS = [{"implementation_name": "cpython", "platform_python_implementation": "CPython",
             "python_version": f"3.{m}", "python_full_version": f"3.{m}.{patch}",
             "implementation_version": f"3.{m}.{patch}", "os_name": os_name, "sys_platform": sys_platform,
             "platform_system": system, "platform_machine": machine, "platform_release": "", "platform_version": "",
             "_minor": m, "_platform": plat}
            for plat, (_, os_name, sys_platform, system, machine) in PLATFORMS.items()
            for m in MINORS for patch in (0, 99)]


configure()


def log(*a, **kw):
    print(*a, file=sys.stderr, flush=True, **kw)


# ---------------------------------------------------------------- files and tags

def on_platform(platform, tag):
    """Whether a wheel's platform tag installs on a target platform (manylinux_2_N within GLIBC)."""
    if not re.match(PLATFORMS[platform][0], tag):
        return False
    glibc = re.match(r"manylinux_2_(\d+)_", tag)
    return not (GLIBC is not None and glibc and int(glibc[1]) > GLIBC)


def wheel_targets(filename):
    """{(minor, platform)} of the targets a wheel installs on (empty: none)."""
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except Exception:  # noqa: BLE001 - an odd name installs nowhere
        return set()
    out = set()
    for t in tags:
        plats = [p for p in PLATFORMS if t.platform == "any" or on_platform(p, t.platform)]
        for m in MINORS:
            cp = f"cp3{m}"
            ok = ((t.interpreter in ("py3", f"py3{m}") and t.abi == "none")
                  or (t.interpreter == cp and t.abi in (cp, "none", "abi3"))
                  or (t.abi == "abi3" and re.fullmatch(r"cp3\d+", t.interpreter) and int(t.interpreter[3:]) <= m))
            if ok:
                out |= {(m, p) for p in plats}
    return out


def build_tag(filename):
    parts = filename[:-4].split("-")
    return int(re.match(r"\d*", parts[2])[0] or 0) if len(parts) == 6 else 0


def keep_files(files):
    """(wheels installable on a target, the sdist or None) of a release's file entries."""
    wheels = [f for f in files if f["filename"].endswith(".whl") and wheel_targets(f["filename"])]
    sdists = sorted((f for f in files if f["packagetype"] == "sdist"),
                    key=lambda f: (not f["filename"].endswith(".tar.gz"), f["filename"]))
    return wheels, (sdists[0] if sdists else None)


def python_ok(requires_python, minor):
    """Whether Requires-Python admits some 3.<minor>.x (checked at .0 and .99)."""
    if not requires_python:
        return True
    try:
        spec = SpecifierSet(requires_python)
    except Exception:  # noqa: BLE001 - unparsable: installers ignore it
        return True
    return any(spec.contains(f"3.{minor}.{p}", prereleases=True) for p in (0, 99))


# ---------------------------------------------------------------- index reads

class Index:
    def __init__(self, workers=8):
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.projects = {}   # name -> project JSON
        self.meta = {}       # (name, version) -> version record
        self.requests = 0

    def load_projects(self, names):
        names = sorted(set(names) - set(self.projects))
        for n, data in zip(names, self.pool.map(self._project, names)):
            self.projects[n] = data

    def _project(self, name):
        url = PROJECT.format(name)
        data = json.loads(http(url)[0])
        for files in data["releases"].values():
            for f in files:
                f["abs_url"] = urllib.parse.urljoin(url, f["url"])
        return data

    def releases(self, name):
        """[(Version, files)] of a project, newest first (unparsable versions dropped)."""
        out = []
        for v, files in self.projects[name]["releases"].items():
            try:
                out.append((Version(v), v, files))
            except InvalidVersion:
                pass
        return sorted(out, key=lambda t: t[0], reverse=True)

    def load_meta(self, keys):
        keys = sorted(set(keys) - set(self.meta))
        for k, rec in zip(keys, self.pool.map(lambda k: self._meta(*k), keys)):
            self.meta[k] = rec

    def _meta(self, name, version):
        data = self.projects[name]
        files = data["releases"][version]
        wheels, sdist = keep_files(files)
        rec = {"yanked": bool(files) and all(f["yanked"] for f in files),
               "files": sorted([f["filename"] for f in wheels] + ([sdist["filename"]] if sdist else []))}
        if wheels:
            reads = {}
            for w in self._probe_wheels(wheels):
                reads[w["filename"]] = self._read_wheel(w)
            texts = list(reads.values())
            first = texts[0]
            rec |= first
            diff = set().union(*(set(r["requires_dist"]) ^ set(first["requires_dist"]) for r in texts))
            if diff:  # wheels of one release disagree: logged; recorded per file unless only extras differ
                only_extras = all(re.search(r"\bextra\s*==", d) for d in diff)
                log(f"note: {name} {version}: wheels differ in Requires-Dist ({'extras only, ' if only_extras else ''}"
                    f"recorded: {next(iter(reads))}): {sorted(diff)}")
                if not only_extras:
                    rec["requires_dist_by_file"] = {fn: r["requires_dist"] for fn, r in reads.items()}
            return rec
        if version == data["info"]["version"] and data["info"].get("requires_dist") is not None:
            return rec | {"requires_python": data["info"].get("requires_python") or None,
                          "requires_dist": list(data["info"]["requires_dist"]),
                          "provides_extra": list(data["info"].get("provides_extra") or []),
                          "requires_dist_from": "PyPI project JSON info (latest release; no wheel on the targets)"}
        if sdist and sdist["size"] < 20 * 2 ** 20:
            text, mv, dynamic = self._sdist_pkg_info(sdist)
            how = (f"sdist PKG-INFO, Metadata-Version {mv}"
                   + ("" if Version(mv) >= Version("2.2") and "requires-dist" not in dynamic
                      else " (may be incomplete: Requires-Dist not declared static)"))
            return rec | self._fields(text) | {"requires_dist_from": how}
        return rec | {"requires_python": (files[0].get("requires_python") or None) if files else None,
                      "requires_dist": [], "provides_extra": [],
                      "requires_dist_from": "unknown (no wheel, no readable sdist)"}

    @staticmethod
    def _probe_wheels(wheels):
        """One wheel per target platform (a pure wheel alone covers them all), best first."""
        def order(f):
            tgt = wheel_targets(f["filename"])
            return (-len(tgt), -build_tag(f["filename"]), -max(m for m, _ in tgt), f["filename"])
        out, covered = [], set()
        for f in sorted(wheels, key=order):
            plats = {p for _, p in wheel_targets(f["filename"])}
            if plats - covered:
                out.append(f)
                covered |= plats
        # Linux first: its Requires-Dist is the one recorded.
        return sorted(out, key=lambda f: ("linux-x86_64" not in {p for _, p in wheel_targets(f["filename"])},
                                          order(f)))

    def _read_wheel(self, f):
        text = None
        if f.get("core-metadata") or f.get("data-dist-info-metadata"):
            try:
                text = http(f["abs_url"] + ".metadata")[0].decode("utf-8")
            except Exception:  # noqa: BLE001 - fall back to the zip directory
                text = None
        if text is None:
            text = zip_metadata(f["abs_url"])
        self.requests += 1
        return self._fields(text)

    @staticmethod
    def _fields(text):
        msg = HeaderParser().parsestr(text)
        return {"requires_python": msg.get("Requires-Python") or None,
                "requires_dist": msg.get_all("Requires-Dist") or [],
                "provides_extra": msg.get_all("Provides-Extra") or []}

    def _sdist_pkg_info(self, sdist):
        blob = http(sdist["abs_url"])[0]
        text = None
        if sdist["filename"].endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(blob)) as z:
                names = sorted((n for n in z.namelist() if re.fullmatch(r"[^/]+/PKG-INFO", n)), key=len)
                text = z.read(names[0]).decode("utf-8") if names else None
        else:
            with tarfile.open(fileobj=io.BytesIO(blob)) as t:
                names = sorted((m for m in t.getmembers() if re.fullmatch(r"[^/]+/PKG-INFO", m.name)),
                               key=lambda m: len(m.name))
                text = t.extractfile(names[0]).read().decode("utf-8") if names else None
        if text is None:
            raise ValueError("no PKG-INFO in " + sdist["filename"])
        msg = HeaderParser().parsestr(text)
        return text, msg.get("Metadata-Version", "1.0"), {d.lower() for d in msg.get_all("Dynamic") or []}


def installable(rec):
    """The marker environments (indices into ENVS) a version record installs in: its Requires-Python
    admits the Python and it has a wheel for that Python and platform, or an sdist."""
    files = rec["files"]
    return {i for i, env in enumerate(ENVS) if python_ok(rec["requires_python"], env["_minor"])
            and any(fn == "*" or not fn.endswith(".whl") or (env["_minor"], env["_platform"]) in wheel_targets(fn)
                    for fn in files)}


# ---------------------------------------------------------------- closure walk

def holds(req, extras=()):
    """The marker environments (indices into ENVS) in which req applies, given requested extras."""
    if req.marker is None:
        return set(range(len(ENVS)))
    out = set()
    for i, env in enumerate(ENVS):
        base = {k: v for k, v in env.items() if not k.startswith("_")}
        if any(req.marker.evaluate(base | {"extra": e}) for e in ("", *extras)):
            out.add(i)
    return out


def agrees(index, name, version, extras=()):
    """Whether a version agrees with CONSTRAINTS: it is not a constrained project's version outside
    them, and for no target it installs on does it require a constrained project only outside them."""
    if name in CONSTRAINTS and not CONSTRAINTS[name].contains(version, prereleases=True):
        return False
    if not CONSTRAINTS:
        return True
    index.load_meta({(name, version)})
    rec = index.meta[(name, version)]
    envs = installable(rec)
    for text in rec["requires_dist"]:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        dep = canonicalize_name(req.name)
        if dep in CONSTRAINTS and holds(req, extras) & envs:
            index.load_projects([dep])
            if not any(req.specifier.contains(v, prereleases=True) and CONSTRAINTS[dep].contains(v, prereleases=True)
                       for v, _, _ in index.releases(dep)):
                return False
    return True


def select(index, name, spec, minors, extras=()):
    """Versions kept for one requirement (see the module docstring), newest first."""
    def candidates(pre, yanked):
        out = []
        for v, vs, files in index.releases(name):
            wheels, sdist = keep_files(files)
            if not (wheels or sdist) or (v.is_prerelease and not pre) or not spec.contains(v, prereleases=True):
                continue
            if all(f["yanked"] for f in files) and not yanked:
                continue
            rp = next((f.get("requires_python") for f in files if f.get("requires_python")), None)
            ok = {m for m in MINORS if python_ok(rp, m)}
            if ok:
                out.append((vs, ok))
        return out
    verdicts = {}

    def agreeing(cands):  # lazily: agrees() may read a version's metadata
        for vs, ok in cands:
            if vs not in verdicts:
                verdicts[vs] = agrees(index, name, vs, extras)
            if verdicts[vs]:
                yield vs, ok
    cands = candidates(False, False) or candidates(True, False) or candidates(True, True)
    top = list(itertools.islice(agreeing(cands), PER_REQUIREMENT))
    chosen = [vs for vs, _ in top]
    covered = set().union(*(ok for _, ok in top))
    for m in sorted(minors - covered):
        extra = next((vs for vs, ok in agreeing(cands) if m in ok), None)
        if extra and extra not in chosen:
            chosen.append(extra)
    return chosen


def walk(index, seeds, exclude=()):
    """Closure from seed requirement strings, not entering the projects in `exclude`; returns
    ({name: {version: record}}, the (name, version, extras) walked, log of skips)."""
    kept, seen_req, walked, skipped = {}, set(), set(), []
    everywhere = set(range(len(ENVS)))
    # (requirement, who requires it, extras requested of that one, the targets that one installs on)
    pending = [(r, None, (), everywhere) for r in seeds]
    while pending:
        reqs = []
        for text, parent, parent_extras, parent_envs in pending:
            try:
                req = Requirement(text)
            except InvalidRequirement as e:
                skipped.append(f"{parent}: unparsable {text!r}: {str(e).splitlines()[0]}")
                continue
            name = canonicalize_name(req.name)
            envs = holds(req, parent_extras) & parent_envs
            if not envs or name in exclude:
                continue
            if req.url:
                skipped.append(f"{parent}: URL requirement {text!r}")
                continue
            minors = {ENVS[i]["_minor"] for i in envs}
            key = (name, str(req.specifier), tuple(sorted(map(canonicalize_name, req.extras))), tuple(sorted(minors)))
            if key not in seen_req:
                seen_req.add(key)
                reqs.append((key, req))
        index.load_projects({k[0] for k, _ in reqs})
        to_walk = []
        for (name, _, extras, minors), req in sorted(reqs, key=lambda t: t[0]):
            versions = select(index, name, req.specifier, set(minors), extras)
            if not versions:
                skipped.append(f"no version of {name} satisfies {req}")
            for v in versions:
                kept.setdefault(name, set()).add(v)
                if (name, v, extras) not in walked:
                    walked.add((name, v, extras))
                    to_walk.append((name, v, extras))
        index.load_meta({(n, v) for n, v, _ in to_walk})
        log(f"round: {len(reqs)} new requirements, {len(to_walk)} versions walked, "
            f"{sum(map(len, kept.values()))} versions of {len(kept)} projects kept")
        pending = []
        for name, v, extras in sorted(to_walk):
            rec = index.meta[(name, v)]
            pending += [(text, f"{name} {v}", extras, installable(rec)) for text in rec["requires_dist"]]
    return ({n: {v: index.meta[(n, v)] for v in sorted(vs, key=Version)} for n, vs in sorted(kept.items())},
            walked, skipped)


# ---------------------------------------------------------------- the PyTorch fixture

def stack_metadata(index):
    """{name: (record from PyPI's Linux x86_64 wheel, PyPI file names)} for the STACK releases."""
    index.load_projects(STACK)
    out = {}
    for name, v in STACK.items():
        files = index.projects[name]["releases"][v]
        linux = sorted((f for f in files if f["filename"].endswith(".whl")
                        and any(on_platform("linux-x86_64", t.platform)
                                for t in parse_wheel_filename(f["filename"])[3])),
                       key=lambda f: (-build_tag(f["filename"]), f["filename"]))
        rec = index._read_wheel(linux[0])
        out[name] = (rec | {"metadata_wheel": linux[0]["filename"]}, [f["filename"] for f in files])
    return out


def pytorch_fixture(stack, date):
    cuda_only = re.compile(r"^(nvidia-|triton\b|cuda-bindings\b|cuda-toolkit\b)")
    variants = {}
    for variant in ("cu128", "cpu"):
        projects = {}
        for name, v in STACK.items():
            rec, pypi_files = stack[name]
            reqs = [r for r in rec["requires_dist"] if variant != "cpu" or not cuda_only.match(r)]
            local = {"requires_python": rec["requires_python"], "requires_dist": reqs,
                     "provides_extra": rec["provides_extra"], "yanked": False, "files": []}
            mac = {**local, "files": []}
            for fn in pypi_files:
                if not fn.endswith(".whl"):
                    continue
                _, _, build, tags = parse_wheel_filename(fn)
                tag = min(tags, key=str)
                if tag.interpreter not in {f"cp3{m}" for m in MINORS} or tag.abi.endswith("t") or build:
                    continue
                rest = fn.split("-", 2)[2]  # python-abi-platform.whl (no build tag, checked above)
                if on_platform("linux-x86_64", tag.platform) or tag.platform == "win_amd64":
                    local["files"].append(f"{name}-{v}+{variant}-{rest}")
                elif variant == "cpu" and on_platform("macos-arm64", tag.platform):
                    mac["files"].append(f"{name}-{v}-{rest}")  # the CPU index names macOS wheels unlabelled
            projects[name] = {f"{v}+{variant}": local | {"files": sorted(local["files"])}}
            if mac["files"]:
                projects[name][v] = mac | {"files": sorted(mac["files"])}
        variants[variant] = {"projects": projects}
    return {
        "source": (f"TEST FIXTURE, not a capture of download.pytorch.org: a PyTorch-style index modelled on PyPI's "
                   f"metadata as captured {date} from https://pypi.org. Requires-Dist, Requires-Python and "
                   f"Provides-Extra are copied from PyPI's Linux x86_64 wheels ("
                   + ", ".join(stack[n][0]["metadata_wheel"] for n in STACK) +
                   "); PyPI's Linux torch 2.10.0 is the CUDA 12.8 build, so its nvidia-*/triton/cuda-bindings "
                   "pins are the cu128 ones. The cpu variant drops the nvidia-*, triton and cuda-bindings lines. "
                   "File names follow download.pytorch.org's convention (local label +cu128/+cpu; macOS arm64 "
                   "wheels unlabelled, cpu variant only) with the Python/ABI/platform tags of PyPI's wheels, "
                   f"cp310-cp313, no free-threaded builds. Regenerate with: {COMMAND}"),
        "variants": variants,
    }


# ---------------------------------------------------------------- checks

def check(projects, walked, stack_versions):
    """Unsatisfied requirements of kept versions (marker holding for a target), and per-target gaps."""
    problems, gaps, invalid = [], [], []

    def versions_of(name):
        if name in stack_versions:
            return {v: {"requires_python": ">=3.10", "files": ["*"]} for v in stack_versions[name]}
        return projects.get(name, {})

    extras_of = {}
    for name, v, extras in walked:
        extras_of.setdefault((name, v), set()).update(extras)
    for name, vers in projects.items():
        for v, rec in vers.items():
            for text in rec["requires_dist"]:
                try:
                    req = Requirement(text)
                except InvalidRequirement as e:
                    invalid.append(f"{name} {v}: {text!r} is not PEP 508 ({str(e).splitlines()[0]}); not followed")
                    continue
                # targets where the marker holds (with the extras requested), and of those where this
                # version installs; only the latter are followed by the walk
                anywhere = holds(req, tuple(sorted(extras_of.get((name, v), ()))))
                envs = anywhere & installable(rec)
                if not anywhere:
                    continue
                dep = canonicalize_name(req.name)
                ok = [dv for dv in versions_of(dep) if req.specifier.contains(dv, prereleases=True)]
                if not ok:
                    problems.append(f"{name} {v}: {text} -> nothing in the snapshot satisfies it"
                                    + ("" if envs else f" (its marker holds only where {name} {v} has no file)"))
                    continue
                for i in sorted(envs):
                    if not any(i in installable(versions_of(dep)[dv]) for dv in ok):
                        gaps.append((dep, ENVS[i]["_platform"], ENVS[i]["_minor"], f"{name} {v}"))
    return problems, gaps, invalid


def report(t0, sizes, index, projects, walked, skipped, problems, gaps, invalid):
    nvers = sum(map(len, projects.values()))
    log(f"\nwrote {', '.join(f'{k} ({v} bytes)' for k, v in sizes.items())} in {time.time() - t0:.1f} s; "
        f"{len(projects)} projects, {nvers} versions, {index.requests} wheel METADATA reads")
    other = {f"{n} {v}: {r['requires_dist_from']}" for n, vs in projects.items() for v, r in vs.items()
             if "requires_dist_from" in r}
    log("versions without wheel METADATA:", *sorted(other) or ["none"], sep="\n  ")
    log("extras walked:", *sorted({f"{n}[{','.join(e)}] {v}" for n, v, e in walked if e}) or ["none"], sep="\n  ")
    log("skipped in the walk:", *skipped or ["none"], sep="\n  ")
    log("requirements that are not PEP 508 (kept verbatim in requires_dist):", *invalid or ["none"], sep="\n  ")
    log("unsatisfied requirements:", *problems or ["none"], sep="\n  ")
    summary = {}
    for dep, plat, minor, parent in gaps:
        summary.setdefault((dep, plat), (set(), set()))
        summary[(dep, plat)][0].add(minor)
        summary[(dep, plat)][1].add(parent)
    log("targets where a requirement has no installable version (dep platform pythons <- required by):",
        *[f"{d} {p} 3.{{{','.join(map(str, sorted(m)))}}} <- {', '.join(sorted(par))}"
          for (d, p), (m, par) in sorted(summary.items())] or ["none"], sep="\n  ")
    return 1 if problems else 0


def write_json(path, doc):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return os.path.getsize(path)


def comfyui(args, index, date, t0):
    """The original run: pypi-comfyui.json and pytorch.json (see the module docstring)."""
    stack = stack_metadata(index)
    with open(args.requirements or REQUIREMENTS, encoding="utf-8") as fh:
        comfy = [ln.split("#")[0].strip() for ln in fh]
    comfy = [r for r in comfy if r and canonicalize_name(Requirement(r).name) not in STACK]
    seeds = comfy + [r for n in STACK for r in stack[n][0]["requires_dist"]]
    projects, walked, skipped = walk(index, seeds, exclude=STACK)

    pypi = {
        "source": (f"PyPI (https://pypi.org), captured {date}: project JSON for versions, files and yanked flags; "
                   "requires_python/requires_dist/provides_extra from each version's wheel METADATA (PEP 658 or "
                   "HTTP Range reads of the wheel), else as 'requires_dist_from' says. Closure of "
                   f"{args.requirements or REQUIREMENTS} without torch/torchvision/torchaudio (see pytorch.json) plus "
                   f"what PyPI's torch {STACK['torch']} (Linux x86_64 wheel), torchvision {STACK['torchvision']} and "
                   f"torchaudio {STACK['torchaudio']} require; per requirement the newest {PER_REQUIREMENT} final "
                   "non-yanked versions satisfying it (plus the newest admitting a target Python they exclude); "
                   f"markers evaluated for {targets_text()}; "
                   f"files: wheels installable there and one sdist. Regenerate with: {COMMAND}"),
        "projects": projects,
    }
    torch_fx = pytorch_fixture(stack, date)
    sizes = {fname: write_json(os.path.join(args.out_dir, fname), doc)
             for fname, doc in (("pypi-comfyui.json", pypi), ("pytorch.json", torch_fx))}
    stack_versions = {n: [v for var in torch_fx["variants"].values() for v in var["projects"][n]] for n in STACK}
    return report(t0, sizes, index, projects, walked, skipped, *check(projects, walked, stack_versions))


# ---------------------------------------------------------------- any set of root requirements

PLATFORM_WORDS = {"linux-x86_64": "linux x86_64", "windows-x86_64": "windows amd64", "macos-arm64": "macOS arm64"}


def targets_text():
    plats = [PLATFORM_WORDS[p] + (f" (glibc <= 2.{GLIBC})" if p.startswith("linux") and GLIBC is not None
                                  else " (glibc)" if p.startswith("linux") else "") for p in PLATFORMS]
    pythons = f"3.{MINORS[0]}-3.{MINORS[-1]}" if len(MINORS) > 1 else f"3.{MINORS[0]}"
    return f"CPython {pythons} on " + (" and ".join(plats) if len(plats) < 3 else ", ".join(plats[:-1]) + " and " + plats[-1])


def command_line(args):
    """The command that regenerates a snapshot, from the parsed options (repository-relative paths)."""
    parts = ["--name", args.name]
    for r in args.require:
        parts += ["--require", r]
    if args.requirements:
        parts += ["--requirements", args.requirements]
    for m in MINORS:
        parts += ["--python", f"3.{m}"]
    for p in PLATFORMS:
        parts += ["--platform", p]
    if GLIBC is not None:
        parts += ["--glibc", f"2.{GLIBC}"]
    if PER_REQUIREMENT != 2:
        parts += ["--per-requirement", str(PER_REQUIREMENT)]
    for c in args.constraint:
        parts += ["--constraint", c]
    parts += ["--out", args.out]
    if args.paddle_fixture:
        parts += ["--paddle-fixture", args.paddle_fixture, "--paddle-variants", ",".join(args.paddle_variants)]
    return " ".join([COMMAND, *map(shlex.quote, parts)])


def snapshot(args, index, date, t0):
    """The closure of --require/--requirements for the configured targets, written to --out."""
    roots = list(args.require)
    if args.requirements:
        with open(args.requirements, encoding="utf-8") as fh:
            roots += [r for r in (ln.split("#")[0].strip() for ln in fh) if r]
    projects, walked, skipped = walk(index, roots)
    command = command_line(args)
    doc = {
        "source": (f"PyPI (https://pypi.org), captured {date}: project JSON for versions, files and yanked flags; "
                   "requires_python/requires_dist/provides_extra from each version's wheel METADATA (PEP 658 or "
                   "HTTP Range reads of the wheel), else as 'requires_dist_from' says. The closure of the root "
                   f"requirements of '{args.name}': " + "; ".join(roots) + f". Per requirement the newest "
                   f"{PER_REQUIREMENT} final "
                   "non-yanked versions satisfying it (plus the newest admitting a target Python they exclude)"
                   + (f" that agree with the constraints {'; '.join(args.constraint)} (no version outside them, none "
                      "requiring a constrained project only outside them)" if args.constraint else "")
                   + f"; markers evaluated for {targets_text()}; files: wheels installable there and one sdist. "
                   f"Regenerate with: {command}"),
        "projects": projects,
    }
    sizes = {args.out: write_json(args.out, doc)}
    if args.paddle_fixture:
        version = next((s.version for r in roots for s in Requirement(r).specifier
                        if canonicalize_name(Requirement(r).name) == "paddlepaddle-gpu" and s.operator == "=="), None)
        if version is None:
            raise SystemExit("--paddle-fixture needs a --require paddlepaddle-gpu==<version>")
        sizes[args.paddle_fixture] = write_json(args.paddle_fixture,
                                                paddle_fixture(index, version, args.paddle_variants, date, command))
    return report(t0, sizes, index, projects, walked, skipped, *check(projects, walked, {}))


# ---------------------------------------------------------------- the PaddlePaddle fixture

PYPI_PADDLE_CUDA = {"2.6.2": "11.8"}  # the CUDA build PyPI's paddlepaddle-gpu wheels are (Paddle's install pages)


def paddle_fixture(index, version, variants, date, command):
    """A FAKE paddlepaddle.org.cn/packages/stable/<variant>/-style index: per variant cuNNN,
    paddlepaddle-gpu <version>.postNNN with the metadata of PyPI's Linux x86_64 <version> wheel."""
    name = "paddlepaddle-gpu"
    index.load_projects([name])
    files = index.projects[name]["releases"][version]
    linux = sorted((f for f in files if f["filename"].endswith(".whl")
                    and any(p == "linux-x86_64" for _, p in wheel_targets(f["filename"]))),
                   key=lambda f: (-build_tag(f["filename"]), f["filename"]))
    if not linux:
        raise SystemExit(f"no Linux x86_64 wheel of {name} {version} for the targets on PyPI")
    rec = index._read_wheel(linux[0])
    out, builds = {}, []
    for variant in variants:
        post = re.fullmatch(r"cu(\d+)", variant)
        if not post:
            raise SystemExit(f"--paddle-variants: {variant!r} is not cuNNN")
        local = f"{version}.post{post[1]}"
        names = sorted(f"paddlepaddle_gpu-{local}-{f['filename'].split('-', 2)[2]}" for f in linux
                       if not build_tag(f["filename"]))
        out[variant] = {"projects": {name: {local: {**rec, "yanked": False, "files": names}}}}
        builds.append(f"{variant} serves {local}, the CUDA {post[1][:-1]}.{post[1][-1]} build")
    cuda = PYPI_PADDLE_CUDA.get(version)
    nvidia = any(canonicalize_name(Requirement(r).name).startswith("nvidia-") for r in rec["requires_dist"])
    parts = [f"PyPI's paddlepaddle-gpu {version} is the CUDA {cuda} build"] if cuda else []
    if not nvidia:
        parts.append("its Requires-Dist names no CUDA packages: the system's CUDA is used")
    note = f" ({'; '.join(parts)})" if parts else ""
    return {
        "source": ("TEST FIXTURE, not a capture of www.paddlepaddle.org.cn: a PaddlePaddle-style per-CUDA index "
                   "(like https://www.paddlepaddle.org.cn/packages/stable/<variant>/: " + "; ".join(builds) + ") "
                   f"modelled on PyPI's paddlepaddle-gpu {version} as captured "
                   f"{date} from https://pypi.org. Requires-Dist, Requires-Python and Provides-Extra are copied from "
                   f"PyPI's {linux[0]['filename']}{note}. File names are those of PyPI's "
                   f"Linux x86_64 wheels for {targets_text()}, with the version {version}.postNNN. "
                   f"Regenerate with: {command}"),
        "variants": out,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default="tests/data/index",
                    help="where the ComfyUI run writes (default: %(default)s)")
    ap.add_argument("--name", default="comfyui", help="the snapshot's name (default: %(default)s)")
    ap.add_argument("--require", action="append", default=[], metavar="REQ",
                    help="a root requirement (repeatable); without any, the ComfyUI run (module docstring)")
    ap.add_argument("--requirements", metavar="FILE",
                    help=f"root requirements from a file (the ComfyUI run's default: {REQUIREMENTS})")
    ap.add_argument("--python", action="append", metavar="3.N", help="a target CPython minor (repeatable; "
                    f"default: {', '.join(f'3.{m}' for m in MINORS)})")
    ap.add_argument("--platform", action="append", choices=list(ALL_PLATFORMS),
                    help=f"a target platform (repeatable; default: {', '.join(PLATFORMS)})")
    ap.add_argument("--glibc", metavar="2.N", help="the newest glibc a Linux wheel may need (default: any)")
    ap.add_argument("--per-requirement", type=int, default=PER_REQUIREMENT, metavar="N",
                    help="versions kept per requirement (default: %(default)s)")
    ap.add_argument("--constraint", action="append", default=[], metavar="REQ",
                    help="keep only versions that agree with it (e.g. 'numpy<2'): none outside it, and none "
                         "requiring that project only outside it (repeatable)")
    ap.add_argument("--out", metavar="FILE", help="the snapshot (default: OUT_DIR/pypi-NAME.json)")
    ap.add_argument("--paddle-fixture", metavar="FILE",
                    help="also write a fake per-CUDA Paddle index for the --require paddlepaddle-gpu==V pin")
    ap.add_argument("--paddle-variants", default="cu120,cu117", type=lambda s: s.split(","),
                    help="its variants, cuNNN serving V.postNNN (default: %(default)s)")
    args = ap.parse_args()
    minors = [int(re.fullmatch(r"3\.(\d+)", p)[1]) for p in args.python] if args.python else MINORS
    glibc = int(re.fullmatch(r"2\.(\d+)", args.glibc)[1]) if args.glibc else None
    configure(minors, args.platform or tuple(PLATFORMS), glibc, args.per_requirement, args.constraint)
    args.out = args.out or os.path.join(args.out_dir, f"pypi-{args.name}.json")
    t0 = time.time()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    index = Index()
    if not args.require and args.name == "comfyui":
        return comfyui(args, index, date, t0)
    if not (args.require or args.requirements):
        ap.error(f"--name {args.name} needs --require or --requirements")
    return snapshot(args, index, date, t0)


if __name__ == "__main__":
    sys.exit(main())
