#!/usr/bin/env python3
"""Generate envspec/matrix/data/pypi_facts.json from PyPI (stdlib only, Python 3.10+).

Release and file lists come from the project JSON https://pypi.org/pypi/<name>/json
(releases[<version>] holds the same file entries as /pypi/<name>/<version>/json).
A wheel's Requires-Dist is read, in order of preference, from:
  1. its PEP 658 core metadata, <wheel url>.metadata
  2. its own *.dist-info/METADATA, fetched with HTTP Range requests on the zip
     central directory (KiB to a few MiB; a wheel is never downloaded whole)
  3. info.requires_dist of the project JSON (describes the latest release only)
Torch facts are read per platform from a wheel of that platform, because PyPI
wheels of one release may carry different Requires-Dist (e.g. torch 1.13.0).

triton's releases are listed with their wheels' Pythons and platforms (no metadata read).

Usage: python tools/gen_pypi_facts.py [--output PATH]
"""
import argparse, json, re, struct, sys, time, urllib.error, urllib.parse, urllib.request, zlib
from concurrent.futures import ThreadPoolExecutor
from email.parser import HeaderParser

PROJECT = "https://pypi.org/pypi/{}/json"
PLATFORMS = {  # our name: (platform-tag regex, PEP 508 platform_system, sys_platform, platform_machine)
    "linux-x86_64": (r"^(many)?linux.*_x86_64$", ("Linux", "linux", "x86_64")),
    "linux-aarch64": (r"^(many)?linux.*_aarch64$", ("Linux", "linux", "aarch64")),
    "windows-x86_64": (r"^win_amd64$", ("Windows", "win32", "AMD64")),
    "macos-arm64": (r"^macosx_.*_arm64$", ("Darwin", "darwin", "arm64")),
    "macos-x86_64": (r"^macosx_.*_x86_64$", ("Darwin", "darwin", "x86_64")),
}
FINAL = re.compile(r"^\d+(\.\d+)*(\.post\d+)?$")  # final releases (post-releases included)
FIRST = {"torch": "1.13.0", "torchvision": "0.14.0", "torchaudio": "0.13.0", "xformers": "0.0.16", "triton": "2.0.0"}
LAST_TORCH = "2.15.0"


def vkey(v):
    """Sort key for a final release version such as '2.7.1', '3.10' or '0.0.29.post3'."""
    rel, _, post = v.partition(".post")
    return tuple(int(p) for p in rel.split(".")) + (0,) * (4 - rel.count(".")) + (int(post or -1),)


def http(url, rng=None):
    """GET url, or a byte range of it (refusing a server that ignores Range); retries; 404 raises."""
    for attempt in range(6):
        req = urllib.request.Request(url, headers={"User-Agent": "envspec-gen-pypi-facts/1"})
        if rng:
            req.add_header("Range", "bytes=" + rng)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                if rng and r.status != 206:
                    raise ValueError("server ignored Range for " + url)
                return r.read(), r.headers
        except urllib.error.HTTPError as e:
            if e.code == 404 or attempt == 5:
                raise
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            if attempt == 5:
                raise
        time.sleep(2 ** attempt)


def parse_wheel(filename):
    """Split a wheel filename into (build tag or None, python tags, abi tags, platform tags)."""
    parts = filename[:-4].split("-")
    py, abi, plat = (p.split(".") for p in parts[-3:])
    return (parts[2] if len(parts) == 6 else None), py, abi, plat


def zip_metadata(url):
    """Read *.dist-info/METADATA of a remote wheel through HTTP Range requests."""
    tail, hdr = http(url, "-65536")
    base = int(hdr["Content-Range"].rsplit("/", 1)[1]) - len(tail)
    eocd = tail.rfind(b"PK\x05\x06")
    cd_size, cd_off = struct.unpack("<II", tail[eocd + 12:eocd + 20])
    if 0xFFFFFFFF in (cd_off, cd_size):  # zip64: its locator precedes the EOCD record
        z64 = struct.unpack("<Q", tail[eocd - 12:eocd - 4])[0]
        rec = tail[z64 - base:z64 - base + 56] if z64 >= base else http(url, f"{z64}-{z64 + 55}")[0]
        cd_size, cd_off = struct.unpack("<QQ", rec[40:56])
    cd = (tail[cd_off - base:cd_off - base + cd_size] if cd_off >= base
          else http(url, f"{cd_off}-{cd_off + cd_size - 1}")[0])
    i = 0
    while cd[i:i + 4] == b"PK\x01\x02":
        method, = struct.unpack("<H", cd[i + 10:i + 12])
        csize, usize, nlen, xlen, clen = struct.unpack("<IIHHH", cd[i + 20:i + 34])
        off, = struct.unpack("<I", cd[i + 42:i + 46])
        extra, j = cd[i + 46 + nlen:i + 46 + nlen + xlen], 0
        if re.fullmatch(r"[^/]+\.dist-info/METADATA", cd[i + 46:i + 46 + nlen].decode("utf-8", "replace")):
            while off == 0xFFFFFFFF and j + 4 <= len(extra):  # zip64 extra: offset follows saturated sizes
                hid, hlen = struct.unpack("<HH", extra[j:j + 4])
                k = j + 4 + 8 * ((usize == 0xFFFFFFFF) + (csize == 0xFFFFFFFF))
                off = struct.unpack("<Q", extra[k:k + 8])[0] if hid == 1 else off
                j += 4 + hlen
            blob = http(url, f"{off}-{off + 30 + 4096 + csize}")[0]
            start = 30 + sum(struct.unpack("<HH", blob[26:30]))
            data = blob[start:start + csize]
            return (zlib.decompress(data, -15) if method == 8 else data).decode("utf-8")
        i += 46 + nlen + xlen + clen
    raise ValueError("no .dist-info/METADATA in " + url)


def read_requires(info, files):
    """Requires-Dist of the first readable wheel in files, as (list or None, 'filename (method)')."""
    def reqs(text):
        return HeaderParser().parsestr(text).get_all("Requires-Dist") or []
    for f in files:
        try:
            return reqs(http(f["abs_url"] + ".metadata")[0].decode("utf-8")), f["filename"] + " (pep658)"
        except urllib.error.HTTPError:
            continue
    for f in files[:2]:
        try:
            return reqs(zip_metadata(f["abs_url"])), f["filename"] + " (wheel-range)"
        except Exception as e:  # noqa: BLE001 - reported, then the next source is tried
            print(f"warning: {f['filename']}: {e}", file=sys.stderr)
    if files and info["version"] == files[0]["version"] and info.get("requires_dist") is not None:
        return info["requires_dist"], "info.requires_dist"
    return None, "unreadable"


def parse_req(req):
    """Split a Requires-Dist value into (normalized name, extras, specifier, marker)."""
    req, _, marker = req.partition(";")
    m = re.match(r"\s*([A-Za-z0-9._-]+)\s*(\[[^\]]*\])?\s*\(?([^)]*)\)?", req)
    return m[1].lower().replace("_", "-"), m[2] or "", m[3].replace(" ", ""), marker.strip()


def marker_ok(marker, env):
    """Evaluate a PEP 508 marker (and/or/parentheses/comparisons) in env; '' is true."""
    toks = re.findall(r"\(|\)|===|==|!=|<=|>=|~=|<|>|not\s+in\b|\bin\b|\band\b|\bor\b"
                      r"|\"[^\"]*\"|'[^']*'|[\w.]+", marker)
    toks.reverse()  # consumed with pop()

    def atom():
        if toks[-1] == "(":
            toks.pop(); r = expr(); toks.pop(); return r
        left, op, right = toks.pop(), " ".join(toks.pop().split()), toks.pop()
        a, b = (t[1:-1] if t[0] in "'\"" else env.get(t, "") for t in (left, right))
        if op in ("in", "not in"):
            return (a in b) == (op == "in")
        if "version" in left + right and re.fullmatch(r"[\d.]+", a) and re.fullmatch(r"[\d.]+", b):
            a, b = tuple(map(int, a.split("."))), tuple(map(int, b.split(".")))
            if op == "~=":
                return a >= b and a[:len(b) - 1] == b[:-1]
        return {"==": a == b, "===": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]

    def expr(word="or"):
        sub = atom if word == "and" else (lambda: expr("and"))
        r = sub()
        while toks and toks[-1] == word:
            toks.pop(); nxt = sub(); r = (r and nxt) if word == "and" else (r or nxt)
        return r
    return expr() if toks else True


def wheel_summary(files):
    """CPython minors, platform tags and build tags of a release's wheels, overall and per platform.

    cpXY wheels give python minors (ABI cpXYt: python_freethreaded); abi3 and pyXY wheels
    name no single minor and are listed under "generic" instead."""
    out = {"python": set(), "python_freethreaded": set(), "generic": set(), "platforms": {}}
    for f in files:
        build, py, abi, plat = f["wheel"]
        minors = {"3." + p[3:] for p in py if re.fullmatch(r"cp3\d+", p)} if abi != ["abi3"] else set()
        key = "python_freethreaded" if any(re.fullmatch(r"cp3\d+t", a) for a in abi) else "python"
        generic = set() if minors else {f"{'.'.join(py)}-{'.'.join(abi)}"}
        out[key] |= minors
        out["generic"] |= generic
        for name, (rx, _) in PLATFORMS.items():
            if any(re.match(rx, t) for t in plat):
                p = out["platforms"].setdefault(name, {k: set() for k in (
                    "python", "python_freethreaded", "tags", "generic", "build_tags")})
                p[key] |= minors
                p["tags"] |= {t for t in plat if re.match(rx, t)}
                p["generic"] |= generic
                p["build_tags"] |= {build} - {None}

    def clean(d):  # sets -> sorted lists; empty optional fields dropped
        return {k: sorted(v, key=vkey if k.startswith("python") else None) if isinstance(v, set) else clean(v)
                for k, v in d.items() if k in ("python", "platforms") or v}
    return clean(out)


def candidates(files, platform=None):
    """Wheels of platform (else all, linux-x86_64 first): non-free-threaded, newest python, highest build first."""
    def fits(f, plat):
        return any(re.match(PLATFORMS[plat][0], t) for t in f["wheel"][3])

    def order(f):
        build, py, abi, _ = f["wheel"]
        pyv = max((int(p[3:]) for p in py if re.fullmatch(r"cp3\d+", p)), default=0)
        return (not fits(f, platform or "linux-x86_64"), any(a.endswith("t") for a in abi), -pyv,
                -int(re.match(r"\d*", build or "")[0] or 0))
    return sorted((f for f in files if platform is None or fits(f, platform)), key=order)


def load(name):
    """Project JSON info, and final releases from FIRST[name] on (torch: to LAST_TORCH) with wheels."""
    url = PROJECT.format(name)
    data = json.loads(http(url)[0])
    rel = {}
    for v, files in data["releases"].items():
        if FINAL.match(v) and vkey(FIRST[name]) <= vkey(v) and (name != "torch" or vkey(v) <= vkey(LAST_TORCH)):
            whl = [dict(f, version=v, abs_url=urllib.parse.urljoin(url, f["url"]), wheel=parse_wheel(f["filename"]))
                   for f in files if f["filename"].endswith(".whl")]
            rel[v] = {"files": files, "wheels": sorted(whl, key=lambda f: f["filename"])}
    return data["info"], rel


def common(name, v, r):
    """Fields every entry has: source, released (first upload), requires_python, yanked."""
    rp = sorted({f["requires_python"] for f in r["files"]}, key=str)
    out = {"source": f"https://pypi.org/pypi/{name}/{v}/json",
           "released": min(f["upload_time"] for f in r["files"])[:10] if r["files"] else None,
           "requires_python": rp[0] if len(rp) == 1 else rp}  # None: no Requires-Python
    return out | ({"yanked": True} if any(f["yanked"] for f in r["files"]) else {})


def pin_of(reqs, dep):
    """('dep[extras]<spec>[; marker]', exact '==' version or None) of dep in reqs (extras' deps skipped)."""
    for name, extras, spec, marker in map(parse_req, reqs or []):
        if name == dep and "extra" not in marker:
            exact = spec[2:] if re.fullmatch(r"==[^,*]+", spec) else None
            return dep + extras + spec + (f"; {marker}" if marker else ""), exact
    return None, None


def torch_entry(v, r, reads):
    """Facts of one torch release: wheels, per-platform CUDA of the PyPI wheel, triton pin."""
    out = common("torch", v, r) | wheel_summary(r["wheels"]) | {"pypi_cuda": {}, "triton": None}
    for plat in out["platforms"]:
        reqs, how = reads[("torch", v, plat)]
        cands = candidates(r["wheels"], plat)
        py = ([w for w in cands if how.startswith(w["filename"] + " ")] or cands)[0]["wheel"][1][0]
        env = dict(zip(("platform_system", "sys_platform", "platform_machine"), PLATFORMS[plat][1]),
                   python_version="3." + py[3:], extra="")
        entry = {"cuda": None if reqs is None else "cpu"}
        for name, extras, spec, marker in map(parse_req, reqs or []):
            m = re.fullmatch(r"==(\d+)\.(\d+)[.\d]*", spec)
            if m and marker_ok(marker, env) and (re.fullmatch(r"nvidia-cuda-runtime(-cu\d+)?", name)
                                                 or (name == "cuda-toolkit" and "cudart" in extras)):
                entry = {"cuda": f"{m[1]}.{m[2]}", "pin": name + extras + spec, "marker": marker}
                break
        out["pypi_cuda"][plat] = entry | {"metadata": how}
        if plat == "linux-x86_64" and reqs is not None:
            req, exact = pin_of(reqs, "triton")
            if req:
                out["triton"] = {"requirement": req.split("; ")[0], "version": exact, "marker": req.partition("; ")[2]}
            else:
                other = pin_of(reqs, "pytorch-triton")[0]
                out["triton_note"] = f"requires {other} (not on PyPI)" if other else "no triton in Requires-Dist"
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", default="envspec/matrix/data/pypi_facts.json")
    args = ap.parse_args()
    pkgs = {n: load(n) for n in FIRST}
    jobs = {}
    for v, r in pkgs["torch"][1].items():
        for plat in wheel_summary(r["wheels"])["platforms"]:
            jobs[("torch", v, plat)] = (pkgs["torch"][0], candidates(r["wheels"], plat))
    for n in ("torchvision", "torchaudio", "xformers"):
        for v, r in pkgs[n][1].items():
            jobs[(n, v, None)] = (pkgs[n][0], candidates(r["wheels"]))
    with ThreadPoolExecutor(max_workers=8) as pool:
        reads = dict(zip(jobs, pool.map(lambda a: read_requires(*a), jobs.values())))
    out = {"generated_by": "tools/gen_pypi_facts.py",
           "source": "PyPI JSON API (https://pypi.org/pypi/<name>/<version>/json) and PEP 658 core metadata of the "
                     "wheels, else the wheel's own METADATA read by HTTP Range requests ('metadata' names which)",
           "torch": {}, "torchvision": {}, "torchaudio": {}, "xformers": {}, "triton": {}}
    # triton: which releases exist, for which Pythons and platforms (torch 2.14+ pins it with ~=).
    for v, r in pkgs["triton"][1].items():
        out["triton"][v] = common("triton", v, r) | wheel_summary(r["wheels"])
    for n in ("torchvision", "torchaudio", "xformers"):
        for v, r in pkgs[n][1].items():
            reqs, how = reads[(n, v, None)]
            req, exact = pin_of(reqs, "torch")
            extra = ({"torch": req} | wheel_summary(r["wheels"]) if n == "xformers"
                     else {"torch": exact, "requirement": req})
            out[n][v] = common(n, v, r) | {"metadata": how} | extra
    for v, r in pkgs["torch"][1].items():
        out["torch"][v] = torch_entry(v, r, reads)
        out["torch"][v]["companions"] = {n: max((cv for cv, ce in out[n].items() if ce["torch"] == v and not ce.get(
            "yanked")), key=vkey, default=None) for n in ("torchvision", "torchaudio")}
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(out, indent=1, sort_keys=True) + "\n")
    bad = [" ".join(filter(None, k)) for k, (reqs, _) in sorted(reads.items(), key=str) if reqs is None]
    print(f"wrote {args.output}: {len(out['torch'])} torch releases; unreadable: {bad or 'none'}", file=sys.stderr)


if __name__ == "__main__":
    main()
