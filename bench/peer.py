"""yaffmpegp against a peer's method and a single ffmpeg pass, side by side in one run on a real
local sshd fleet (needs root). CPU is every process the bench started (a cgroup: coordinator,
ssh, sshd, every remote ffmpeg), and the whole machine's /proc/stat for reference.

The peer's method (Rouji/ffmpeg_distributed, written here from its description; nothing is
fetched): split the video with `ffmpeg -c copy -f segment`, pipe each segment through
`ssh HOST ffmpeg -f matroska -i pipe: OPTS -f matroska pipe:` (OpenSSH client, the fleet's
ssh config), each host pulling the next segment from a shared queue, then join with the
concat demuxer, taking audio from the source in that same pass. No files on the hosts, no
checksums, no frame counts. Unlike the original, no `nice`/`ionice` on the hosts: every
contender runs at the same priority.

Usage: python bench/peer.py [--rounds N] [--seconds S] [--segment-length L]
"""
from __future__ import annotations

import argparse
import queue
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import (OPTS, OUT, ROOT, CpuGroup, Meter, fmt, med, noisy_capture, run_quiet,  # noqa: E402
                           yaffmpegp)
from tests.fleet import Fleet  # noqa: E402

FF = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error"]
PEER_TRIES = 3


def split_opts(opts: list[str]) -> tuple[list[str], list[str]]:
    """The options for the hosts (video) and for the final mux (audio, -c:a/-b:a...)."""
    remote, final = [], []
    i = 0
    while i < len(opts):
        key = opts[i]
        pair = opts[i:i + 2]
        (final if key.startswith(("-c:a", "-b:a", "-ac", "-ar", "-af", "-q:a")) else remote).extend(pair)
        i += 2
    return remote, final


def peer(src: Path, out: Path, hosts: list[str], ssh_config: Path, seg: float, opts: list[str],
         work: Path) -> dict:
    """The peer's run; returns its phases' seconds and what each host encoded."""
    remote, final = split_opts(opts)
    pieces, done = work / "in", work / "out"
    pieces.mkdir(parents=True)
    done.mkdir()
    t0 = time.perf_counter()
    run_quiet([*FF, "-i", str(src), "-map", "0:v:0", "-an", "-sn", "-c:v", "copy", "-f", "segment",
               "-reset_timestamps", "1", "-segment_time", str(seg), str(pieces / "%08d.mkv")])
    t_split = time.perf_counter() - t0
    todo: queue.SimpleQueue[tuple[Path, int]] = queue.SimpleQueue()
    for p in sorted(pieces.iterdir()):
        todo.put((p, 0))
    per_host = {h: {"segments": 0, "bytes_up": 0} for h in hosts}
    errors: list[str] = []
    command = shlex.join(["ffmpeg", "-nostdin", "-v", "error", "-f", "matroska", "-i", "pipe:", *remote,
                          "-f", "matroska", "pipe:"])

    def worker(host: str) -> None:
        while not errors:
            try:
                piece, tries = todo.get_nowait()
            except queue.Empty:
                return
            with piece.open("rb") as fin, (done / piece.name).open("wb") as fout:
                proc = subprocess.run(["ssh", "-F", str(ssh_config), host, command],
                                      stdin=fin, stdout=fout, stderr=subprocess.PIPE, text=True)
            if proc.returncode == 0:
                per_host[host]["segments"] += 1
                per_host[host]["bytes_up"] += piece.stat().st_size
            elif tries + 1 < PEER_TRIES:
                todo.put((piece, tries + 1))
            else:
                errors.append(f"{piece.name} on {host}: {proc.stderr.strip()[-500:]}")

    threads = [threading.Thread(target=worker, args=(h,)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"peer failed: {errors[0]}")
    t_encode = time.perf_counter() - t0 - t_split
    listing = work / "list.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in sorted(done.iterdir())))
    t1 = time.perf_counter()
    run_quiet([*FF, "-y", "-i", str(src), "-f", "concat", "-safe", "0", "-i", str(listing),
               "-map_metadata", "0:g", "-map", "1:v", "-map", "0:a?", "-map", "0:s?", "-c:v", "copy",
               "-c:s", "copy", *final, str(out)])
    return {"split": t_split, "encode": t_encode, "join": time.perf_counter() - t1, "hosts": per_host}


def packets(path: Path) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries",
                          "stream=nb_read_packets", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip().strip(","))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=24)
    ap.add_argument("--segment-length", type=float, default=4)
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--tree", type=Path, default=ROOT, help="the yaffmpegp checkout to run (default: this one)")
    ap.add_argument("--before", type=Path, help="another checkout to run in the same rounds (e.g. a worktree of "
                    "an earlier commit), printed as one more row")
    args = ap.parse_args()
    src = noisy_capture(args.seconds)
    # The fleet's sshd (and all they start) in one cgroup, the coordinator side in another.
    with tempfile.TemporaryDirectory(prefix="yaff-peer-") as tmp, CpuGroup("yaffmpegp-hosts") as hosts, \
            Fleet().start(args.hosts, Path(tmp) / "fleet") as fleet, CpuGroup("yaffmpegp-coord") as coord:
        compare(Meter({"coordinator": coord, "hosts": hosts}), fleet, src, Path(tmp), args)


def compare(meter: Meter, fleet: Fleet, src: Path, tmp: Path, args: argparse.Namespace) -> dict:
    """Single pass, yaffmpegp and the peer, alternated over rounds; prints medians and ratios."""
    names = fleet.names
    seg = args.segment_length
    runs = {
        "plain ffmpeg, single pass": lambda out, work: run_quiet([*FF, "-y", "-i", str(src), *OPTS, str(out)]),
        f"yaffmpegp, {len(names)} hosts": lambda out, work: run_quiet(
            yaffmpegp(src, out, names, fleet.ssh_config, seg, work, tree=args.tree)),
        f"peer (ssh pipes), {len(names)} hosts": lambda out, work: peer(
            src, out, names, fleet.ssh_config, seg, OPTS, work),
    }
    if args.before:
        runs[f"yaffmpegp at {args.before}"] = lambda out, work: run_quiet(
            yaffmpegp(src, out, names, fleet.ssh_config, seg, work, tree=args.before))
    samples: dict[str, list] = {k: [] for k in runs}
    frames: dict[str, int] = {}
    mb = src.stat().st_size / 1e6
    print(f"yaffmpegp from {args.tree}")
    print(f"peer comparison: {args.seconds} s 480i FFV1 ({mb:.0f} MB), {' '.join(OPTS)}, "
          f"{seg:g} s segments, {len(names)} sshd hosts on {fleet.hosts[0].address}", flush=True)
    for r in range(args.rounds):
        for i, (name, run) in enumerate(runs.items()):
            out = OUT / f"peer-{i}.mkv"
            work = tmp / f"work-{r}-{i}"
            work.mkdir()
            with meter.measure() as box:
                run(out, work)
            s = box[0]
            samples[name].append(s)
            frames[name] = packets(out)
            print(f"  round {r + 1}: {name:30s} wall {s.wall:6.2f} s  cpu {fmt(s.cpu, '6.2f')} s "
                  f"(coordinator {fmt(s.parts['coordinator'], '.2f')}, hosts {fmt(s.parts['hosts'], '.2f')})  "
                  f"machine {s.machine:6.2f} s", flush=True)
    print(f"\nmedians of {args.rounds} alternated rounds (2 shared cores: noisy; cpu = this bench's processes "
          "only, machine = /proc/stat, everyone's)")
    print(f"  {'':30s} {'wall s':>8s} {'cpu s':>8s} {'coord s':>8s} {'hosts s':>8s} {'machine s':>10s} "
          f"{'frames':>7s}")
    meds = {}
    for name in runs:
        wall = med([s.wall for s in samples[name]])
        cpu = med([s.cpu for s in samples[name]])
        meds[name] = (wall, cpu)
        part = {k: med([s.parts[k] for s in samples[name]]) for k in ("coordinator", "hosts")}
        print(f"  {name:30s} {wall:8.2f} {fmt(cpu, '8.2f')} {fmt(part['coordinator'], '8.2f')} "
              f"{fmt(part['hosts'], '8.2f')} {med([s.machine for s in samples[name]]):10.2f} {frames[name]:7d}")
    (sw, sc), (ow, oc), (pw, pc) = list(meds.values())[:3]
    pct = (lambda a, b: None if a is None or b is None else 100 * (a / b - 1))
    print(f"  CPU over the single pass: yaffmpegp {fmt(pct(oc, sc), '+.0f')} %, peer {fmt(pct(pc, sc), '+.0f')} % "
          "(goal: ours <= peer's, aim <= +10 %)")
    print(f"  ours / single: wall {ow / sw:.3f}, cpu {fmt(oc / sc if oc and sc else None, '.3f')}")
    print(f"  peer / single: wall {pw / sw:.3f}, cpu {fmt(pc / sc if pc and sc else None, '.3f')}")
    print(f"  ours / peer:   wall {ow / pw:.3f} (goal <= 1), cpu {fmt(oc / pc if oc and pc else None, '.3f')} "
          "(goal <= 1)")
    return meds


if __name__ == "__main__":
    main()
