"""Where a fleet run's CPU goes, on the coordinator and on the hosts (issue 10, goal 1).

One run of the peer job on a real local sshd fleet (needs root), the fleet's sshd in one
cgroup and the coordinator in another, so host-side CPU (sshd, the SFTP server, remote
ffmpeg, sha1sum) and coordinator-side CPU are counted apart. On the coordinator, every ffmpeg
and ffprobe yaffmpegp starts goes through a logging shim that records its CPU by kind (split,
per-segment frame count, final mux, probes, preflight sample); the Python process's own CPU is
its rusage, and a second run under cProfile says which functions take it. SHA-1 in the
transfer check runs in threads cProfile does not see: its cost is measured apart.

Usage: python bench/profile_fleet.py [--seconds S] [--segment-length L] [--top N]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import OPTS, OUT, CpuGroup, Meter, noisy_capture, run_quiet, yaffmpegp  # noqa: E402
from tests.fleet import Fleet  # noqa: E402

SHIM = '''#!{python}
import json, os, resource, subprocess, sys, time
argv = sys.argv[1:]
t0 = time.perf_counter()
rc = subprocess.call(["{real}", *argv])
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open({log!r}, "a") as f:
    f.write(json.dumps({{"tool": "{tool}", "argv": argv, "cpu": ru.ru_utime + ru.ru_stime,
                        "wall": time.perf_counter() - t0}}) + "\\n")
sys.exit(rc)
'''

RUNNER = '''
import cProfile, json, resource, sys
from yaffmpegp.cli import main
profile_to, report_to, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
prof = cProfile.Profile() if profile_to != "-" else None
if prof: prof.enable()
try:
    rc = main(argv)
finally:
    if prof:
        prof.disable()
        prof.dump_stats(profile_to)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    with open(report_to, "w") as f:
        json.dump({"self_cpu": ru.ru_utime + ru.ru_stime, "user": ru.ru_utime, "sys": ru.ru_stime}, f)
sys.exit(rc)
'''


def kind(tool: str, argv: list[str]) -> str:
    """What a coordinator-side ffmpeg/ffprobe call was for, from its arguments."""
    joined = " ".join(argv)
    if tool == "ffprobe":
        if "-count_packets" in argv or "-count_frames" in argv:
            return "ffprobe: count packets (per segment, and the output)"
        return "ffprobe: probe streams/packets"
    if "-f segment" in joined or "segment" in argv:
        return "ffmpeg: split"
    if "concat" in joined:
        return "ffmpeg: final mux (concat + audio)"
    if "-t" in argv or "lavfi" in joined:
        return "ffmpeg: preflight/sample"
    return "ffmpeg: other"


def make_shims(where: Path, log: Path) -> None:
    where.mkdir()
    for tool in ("ffmpeg", "ffprobe"):
        real = subprocess.run(["which", tool], capture_output=True, text=True, check=True).stdout.strip()
        shim = where / tool
        shim.write_text(SHIM.format(python=sys.executable, real=real, log=str(log), tool=tool))
        shim.chmod(0o755)


def category(func: tuple[str, int, str]) -> str:
    path, _, name = func
    for key in ("asyncssh", "cryptography", "asyncio", "yaffmpegp", "tqdm", "tenacity", "ffmpeg",
                "selectors", "subprocess", "json"):
        if f"/{key}/" in path or path.endswith(f"/{key}.py"):
            return key
    if path == "~":
        return f"builtin {name}" if any(k in name for k in ("sha1", "encrypt", "decrypt", "select", "epoll",
                                                           "read", "write", "send", "recv")) else "builtin other"
    return "other python"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=24)
    ap.add_argument("--segment-length", type=float, default=4)
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--calls", action="store_true", help="list every ffmpeg/ffprobe call, in order")
    args = ap.parse_args()
    src = noisy_capture(args.seconds)
    with tempfile.TemporaryDirectory(prefix="yaff-prof-") as tmp, CpuGroup("yaffmpegp-hosts") as hosts, \
            Fleet().start(args.hosts, Path(tmp) / "fleet") as fleet, CpuGroup("yaffmpegp-coord") as coord:
        tmpd = Path(tmp)
        meter = Meter({"coordinator": coord, "hosts": hosts})
        log = tmpd / "calls.jsonl"
        make_shims(tmpd / "shims", log)
        env = {**os.environ, "PATH": f"{tmpd / 'shims'}:{os.environ['PATH']}",
               "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        out = OUT / "profile.mkv"
        full = yaffmpegp(src, out, fleet.names, fleet.ssh_config, args.segment_length, tmpd)
        argv = full[full.index("-m") + 2:]  # the CLI arguments alone
        results = {}
        for label, prof in (("plain", "-"), ("cProfile", str(tmpd / "prof.out"))):
            log.unlink(missing_ok=True)
            rusage = tmpd / f"rusage-{label}.json"
            with meter.measure() as box:
                subprocess.run([sys.executable, "-c", RUNNER, prof, str(rusage), *argv], env=env, check=True,
                               stdout=subprocess.DEVNULL)
            calls = [json.loads(line) for line in log.read_text().splitlines()]
            results[label] = (box[0], json.loads(rusage.read_text()), calls)
        with meter.measure() as box:
            run_quiet(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *OPTS, str(OUT / "single.mkv")])
        single = box[0]
        report(results, single, src, tmpd / "prof.out", args)


def report(results: dict, single, src: Path, prof: Path, args: argparse.Namespace) -> None:
    sample, rusage, calls = results["plain"]
    print(f"profile: {args.seconds} s noisy 480i FFV1 ({src.stat().st_size / 1e6:.0f} MB), {' '.join(OPTS)}, "
          f"{args.segment_length:g} s segments, {args.hosts} sshd hosts on loopback (one run; noisy machine)")
    print(f"  single pass: wall {single.wall:.1f} s, cpu {single.cpu:.1f} s")
    print(f"  yaffmpegp:   wall {sample.wall:.1f} s, cpu {sample.cpu:.1f} s = coordinator "
          f"{sample.parts['coordinator']:.1f} s + hosts {sample.parts['hosts']:.1f} s "
          f"({100 * (sample.cpu / single.cpu - 1):+.0f} % over the single pass)")
    by_kind: dict[str, list[float]] = defaultdict(list)
    for c in calls:
        by_kind[kind(c["tool"], c["argv"])].append(c["cpu"])
    print("  coordinator, by process:")
    print(f"    {'python (yaffmpegp itself: asyncssh, SFTP, SHA-1, events)':58s} {rusage['self_cpu']:6.2f} s "
          f"(user {rusage['user']:.2f}, sys {rusage['sys']:.2f})")
    for k, v in sorted(by_kind.items(), key=lambda kv: -sum(kv[1])):
        print(f"    {k:58s} {sum(v):6.2f} s in {len(v)} calls")
    print("  every call, in order:" if args.calls else "  the costliest calls:")
    for c in calls if args.calls else sorted(calls, key=lambda c: -c["cpu"])[:12]:
        shown = " ".join(a if len(a) < 40 else "…" + a[-30:] for a in c["argv"])
        print(f"    {c['cpu']:5.2f} s  {c['tool']} {shown[:150]}")
    rest = sample.parts["coordinator"] - rusage["self_cpu"] - sum(sum(v) for v in by_kind.values())
    print(f"    {'the rest (mostly the shims: a Python start-up each)':58s} {rest:6.2f} s")
    size = src.stat().st_size
    t0 = time.process_time()
    with open(src, "rb") as f:
        hashlib.file_digest(f, "sha1")
    sha = time.process_time() - t0
    print(f"  SHA-1 of the source once (the upload check hashes every byte once here and once on its host): "
          f"{sha:.2f} s ({size / 1e6 / sha:.0f} MB/s)")
    psample, prusage, _ = results["cProfile"]
    stats = pstats.Stats(str(prof))
    total = sum(v[2] for v in stats.stats.values())  # tottime
    cats: dict[str, float] = defaultdict(float)
    for func, v in stats.stats.items():
        cats[category(func)] += v[2]
    print(f"  cProfile of the coordinator's main thread ({total:.2f} s of tottime; under the profiler its CPU "
          f"was {prusage['self_cpu']:.2f} s, {prusage['self_cpu'] / rusage['self_cpu']:.1f}x):")
    for k, v in sorted(cats.items(), key=lambda kv: -kv[1])[:12]:
        print(f"    {k:40s} {v:6.2f} s {100 * v / total:5.1f} %")
    print(f"  top {args.top} functions by own time:")
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:args.top]
    for (path, line, name), v in rows:
        short = "/".join(path.split("/")[-2:])
        print(f"    {v[2]:6.2f} s {v[1]:8d} calls  {short}:{line} {name}")


if __name__ == "__main__":
    main()
