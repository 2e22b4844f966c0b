"""SSH fleet speed, measured side by side in one run, on a real local sshd fleet (needs root).

(1) SFTP throughput of yaffmpegp's asyncssh transport against OpenSSH scp (its defaults),
    uploading and downloading the same incompressible file on loopback.
(2) Scaling on this machine: one host whose ffmpeg is pinned to core 0, against two hosts
    pinned to cores 0 and 1, same job; runs alternated, medians compared.
Usage: python bench/fleet.py [--rounds N] [--mb MB] [--seconds S]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.local import OPTS, make_sample  # noqa: E402
from tests.fleet import Fleet  # noqa: E402
from yaffmpegp.hosts import parse_host  # noqa: E402
from yaffmpegp.transport import HostRequirements  # noqa: E402
from yaffmpegp.transport.ssh import SSHTransport  # noqa: E402

# Each fleet user's ffmpeg pinned to its own core: h1 → core 0, h2 → core 1.
PINNED = """#!/bin/sh
case "$(id -un)" in
  *h1) cpu=0 ;; *h2) cpu=1 ;; *) cpu=0 ;;
esac
exec taskset -c "$cpu" ffmpeg "$@"
"""


async def transport_round(fleet: Fleet, big: Path, back: Path) -> tuple[float, float]:
    t = SSHTransport(parse_host("h1"), config=[str(fleet.ssh_config)])
    await t.open(HostRequirements())
    try:
        t0 = time.perf_counter()
        await t.put(big, "big.bin")
        up = time.perf_counter() - t0
        t0 = time.perf_counter()
        await t.get("big.bin", back)
        down = time.perf_counter() - t0
        print(f"    cipher {t.cipher}", flush=True)
        return up, down
    finally:
        await t.close()


def scp_round(fleet: Fleet, big: Path, back: Path) -> tuple[float, float]:
    remote = f"h1:{fleet.host('h1').tmpdir}/scp-big.bin"
    base = ["scp", "-q", "-F", str(fleet.ssh_config)]
    t0 = time.perf_counter()
    subprocess.run([*base, str(big), remote], check=True)
    up = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([*base, remote, str(back)], check=True)
    down = time.perf_counter() - t0
    fleet.run_as("h1", "rm", "-f", f"{fleet.host('h1').tmpdir}/scp-big.bin")
    return up, down


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mb", type=int, default=300)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--part", choices=("all", "transfers", "scaling"), default="all")
    args = ap.parse_args()
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="yaff-bench-") as tmp, Fleet().start(2, Path(tmp) / "fleet") as fleet:
        tmpd = Path(tmp)
        if args.part in ("all", "transfers"):
            transfers(fleet, tmpd, args)
        if args.part in ("all", "scaling"):
            scaling(fleet, tmpd, out, args)


def transfers(fleet: Fleet, tmpd: Path, args: argparse.Namespace) -> None:
    big, back = tmpd / "big.bin", tmpd / "back.bin"
    with big.open("wb") as f:
        for _ in range(args.mb):
            f.write(os.urandom(1 << 20))
    mb = big.stat().st_size / 1e6
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    print(f"(1) transfers of {mb:.0f} MB on loopback, {args.rounds} alternated rounds")
    for r in range(args.rounds):
        ours.append(asyncio.run(transport_round(fleet, big, back)))
        theirs.append(scp_round(fleet, big, back))
        print(f"  round {r + 1}: yaffmpegp up {mb / ours[-1][0]:6.1f} MB/s down {mb / ours[-1][1]:6.1f} MB/s | "
              f"scp up {mb / theirs[-1][0]:6.1f} MB/s down {mb / theirs[-1][1]:6.1f} MB/s", flush=True)
    for i, what in enumerate(("upload", "download")):
        a = statistics.median(x[i] for x in ours)
        b = statistics.median(x[i] for x in theirs)
        print(f"  {what}: yaffmpegp (verified: size + remote sha1) {mb / a:6.1f} MB/s, scp {mb / b:6.1f} MB/s, "
              f"ratio {b / a:.2f} (goal >= 0.9)")


def scaling(fleet: Fleet, tmpd: Path, out: Path, args: argparse.Namespace) -> None:
    wrapper = tmpd / "ffmpeg-pinned"
    wrapper.write_text(PINNED)
    wrapper.chmod(0o755)
    tmpd.chmod(0o755)  # the hosts' users must reach the wrapper (nothing else is in here)
    src = out / f"vhs-{args.seconds}s.mkv"
    make_sample(src, args.seconds)
    base = [sys.executable, "-m", "yaffmpegp", "--quiet", "-y", "--ssh-config", str(fleet.ssh_config),
            "--remote-ffmpeg", str(wrapper), "--file", str(src), "--segment-length", "5"]
    runs = {"1 host (1 core)": ["--hostlist", "h1"], "2 hosts (2 cores)": ["--hostlist", "h1", "h2"]}
    walls: dict[str, list[float]] = {k: [] for k in runs}
    print(f"\n(2) scaling: {args.seconds} s 480i, {' '.join(OPTS)}, remote ffmpeg pinned per host")
    for r in range(args.rounds):
        for name, hosts in runs.items():
            t0 = time.perf_counter()
            subprocess.run([*base, *hosts, "-o", str(out / "fleet.mp4"), *OPTS], check=True)
            walls[name].append(time.perf_counter() - t0)
            print(f"  round {r + 1}: {name:18s} {walls[name][-1]:6.2f} s", flush=True)
    one, two = (statistics.median(walls[k]) for k in runs)
    print(f"  medians: 1 host {one:.2f} s, 2 hosts {two:.2f} s: speed-up {one / two:.2f}x (goal >= 1.9)")


if __name__ == "__main__":
    main()
