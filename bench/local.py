"""Local speed, measured side by side in one run (issue: core benchmarks).

Same 480i sample and options for every run, runs alternated, medians compared:
  (a) yaffmpegp with one local worker against plain ffmpeg: the cost of split, join, checks;
  (b) yaffmpegp with the default local workers against the machine's limit (plain ffmpeg's
      CPU seconds divided by the cores) and against plain ffmpeg.
Usage: python bench/local.py [--rounds N] [--seconds S]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

OPTS = ["-vf", "bwdif", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac"]


def make_sample(path: Path, seconds: int) -> None:
    if path.exists():
        return
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size=720x480:rate=30000/1001:duration={seconds},setfield=tff",
                    "-f", "lavfi", "-i", f"sine=frequency=1000:sample_rate=48000:duration={seconds}",
                    "-c:v", "ffv1", "-level", "3", "-g", "1", "-c:a", "pcm_s16le", "-ac", "2", str(path)],
                   check=True)


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--segment-length", default="10")
    args = ap.parse_args()
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    src = out / f"vhs-{args.seconds}s.mkv"
    make_sample(src, args.seconds)
    yaff = [sys.executable, "-m", "yaffmpegp", "--quiet", "-y", "--file", str(src),
            "--segment-length", args.segment_length]
    runs = {
        "plain ffmpeg": ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *OPTS, str(out / "plain.mp4")],
        "yaffmpegp, 1 worker": [*yaff, "--local-workers", "1", "-o", str(out / "one.mp4"), *OPTS],
        "yaffmpegp, default workers": [*yaff, "-o", str(out / "default.mp4"), *OPTS],
    }
    walls: dict[str, list[float]] = {k: [] for k in runs}
    cpus: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(args.rounds):
        for name, argv in runs.items():
            wall, cpu = timed(argv)
            walls[name].append(wall)
            cpus[name].append(cpu)
            print(f"round {r + 1}: {name:28s} wall {wall:6.2f} s  cpu {cpu:6.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in walls.items()}
    cores = os.cpu_count() or 1
    limit = statistics.median(cpus["plain ffmpeg"]) / cores
    plain = med["plain ffmpeg"]
    print(f"\nsample: {args.seconds} s 480i FFV1+PCM; options: {' '.join(OPTS)}; {cores} cores; "
          f"medians of {args.rounds} alternated rounds")
    for name in runs:
        print(f"  {name:28s} {med[name]:6.2f} s wall, {statistics.median(cpus[name]):6.2f} s cpu")
    print(f"  machine limit (plain cpu / cores) {limit:6.2f} s")
    print(f"(a) 1 worker / plain ffmpeg          = {med['yaffmpegp, 1 worker'] / plain:.3f}  (goal <= 1.05)")
    print(f"(b) default workers / machine limit  = {med['yaffmpegp, default workers'] / limit:.3f}  (goal <= 1.15)")
    print(f"    default workers / plain ffmpeg   = {med['yaffmpegp, default workers'] / plain:.3f}  "
          f"(speed-up {plain / med['yaffmpegp, default workers']:.2f}x; goal: never slower)")


if __name__ == "__main__":
    main()
