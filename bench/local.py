"""Local speed and disk, measured side by side in one run (issue: core benchmarks, issue 10).

Same 480i sample and options for every run, runs alternated, medians compared:
  (a) yaffmpegp with one local worker against plain ffmpeg: the cost of split, join, checks;
  (b) yaffmpegp with the default local workers against the machine's limit (plain ffmpeg's
      CPU seconds divided by the cores) and against plain ffmpeg.
  (c) the fast job of issue 10 (320x240 H.264, `-c:v libx264 -preset ultrafast -c:a copy`,
      50 s segments), where encoding is cheap and yaffmpegp's own work shows: wall and CPU
      against plain ffmpeg, side by side.
Every yaffmpegp run's work dir is watched: its peak size over the input's size is printed
(the encoded segments, kept for resume, are most of it; the split's window is the rest).
CPU seconds are those of every process the command started (getrusage of children).
Usage: python bench/local.py [--rounds N] [--seconds S] [--fast-minutes M]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

OPTS = ["-vf", "bwdif", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac"]
FAST_OPTS = ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy"]


def _lavfi_sample(path: Path, seconds: int, video: str, codecs: list[str]) -> None:
    """`video` (a lavfi graph) with a sine tone, `seconds` long, encoded with `codecs`; made once."""
    if path.exists():
        return
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y",
                    "-f", "lavfi", "-i", video.format(seconds=seconds),
                    "-f", "lavfi", "-i", f"sine=frequency=1000:sample_rate=48000:duration={seconds}",
                    *codecs, str(path)], check=True)


def make_sample(path: Path, seconds: int) -> None:
    """480i FFV1 with PCM audio: a VHS capture."""
    _lavfi_sample(path, seconds, "testsrc2=size=720x480:rate=30000/1001:duration={seconds},setfield=tff",
                  ["-c:v", "ffv1", "-level", "3", "-g", "1", "-c:a", "pcm_s16le", "-ac", "2"])


def make_fast_sample(path: Path, seconds: int) -> None:
    """320x240 H.264 (a little noise, so it weighs what a real one does) with AAC audio."""
    _lavfi_sample(path, seconds, "testsrc2=size=320x240:rate=30:duration={seconds},noise=alls=12:allf=t",
                  ["-c:v", "libx264", "-preset", "veryfast", "-g", "250", "-b:v", "700k",
                   "-c:a", "aac", "-b:a", "96k"])


def _disk_use(root: Path) -> int:
    """Bytes allocated under `root`, each file once (local workers hard-link units)."""
    seen: set[int] = set()
    total = 0
    for d, _, files in os.walk(root):
        for f in files:
            try:
                st = os.lstat(os.path.join(d, f))
            except OSError:
                continue
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


class PeakWatch:
    """The work dir's peak size while a command runs, and the peak of the split's dirs
    (pieces and units not yet done: the split's window)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.peak = self.window = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, _disk_use(self.root))
            self.window = max(self.window, sum(_disk_use(d) for d in self.root.glob("*/split*")))

    def __enter__(self) -> PeakWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(argv: list[str], workdir: Path | None = None) -> tuple[float, float, PeakWatch | None]:
    """(wall seconds, CPU seconds of the command and its children, the work dir's peaks)."""
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir()
    watch = PeakWatch(workdir) if workdir is not None else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    if watch is not None:
        with watch:
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), watch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--segment-length", default="10")
    ap.add_argument("--fast-minutes", type=int, default=20, help="length of the fast job's input (0: skip it)")
    args = ap.parse_args()
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    src = out / f"vhs-{args.seconds}s.mkv"
    make_sample(src, args.seconds)
    work = out / "work"
    yaff = [sys.executable, "-m", "yaffmpegp", "--quiet", "-y", "--file", str(src), "--workdir", str(work),
            "--segment-length", args.segment_length]
    runs = {
        "plain ffmpeg": ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *OPTS, str(out / "plain.mp4")],
        "yaffmpegp, 1 worker": [*yaff, "--local-workers", "1", "-o", str(out / "one.mp4"), *OPTS],
        "yaffmpegp, default workers": [*yaff, "-o", str(out / "default.mp4"), *OPTS],
    }
    walls: dict[str, list[float]] = {k: [] for k in runs}
    cpus: dict[str, list[float]] = {k: [] for k in runs}
    peaks: list[float] = []
    for r in range(args.rounds):
        for name, argv in runs.items():
            wall, cpu, watch = timed(argv, work if "yaffmpegp" in name else None)
            walls[name].append(wall)
            cpus[name].append(cpu)
            if watch is not None:
                peaks.append(watch.peak / src.stat().st_size)
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
    print(f"    work dir peak / input            = {max(peaks):.3f}  (the encoded segments are kept for resume)")
    if args.fast_minutes:
        fast_job(out, args.fast_minutes * 60, args.rounds)


def fast_job(out: Path, seconds: int, rounds: int) -> None:
    """(c): plain ffmpeg against yaffmpegp's default local workers on a cheap encode."""
    src = out / f"fast-{seconds}s.mp4"
    make_fast_sample(src, seconds)
    work = out / "work"
    runs = {
        "plain ffmpeg": ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *FAST_OPTS,
                         str(out / "fast-plain.mp4")],
        "yaffmpegp, default workers": [sys.executable, "-m", "yaffmpegp", "--quiet", "-y", "--file", str(src),
                                       "--workdir", str(work), "--segment-length", "50",
                                       "-o", str(out / "fast-yaff.mp4"), *FAST_OPTS],
    }
    walls: dict[str, list[float]] = {k: [] for k in runs}
    cpus: dict[str, list[float]] = {k: [] for k in runs}
    peak = window = 0.0
    size = src.stat().st_size
    for r in range(rounds):
        for name, argv in runs.items():
            wall, cpu, watch = timed(argv, work if "yaffmpegp" in name else None)
            walls[name].append(wall)
            cpus[name].append(cpu)
            if watch is not None:
                peak, window = max(peak, watch.peak / size), max(window, watch.window / size)
            print(f"round {r + 1}: fast, {name:28s} wall {wall:6.2f} s  cpu {cpu:6.2f} s", flush=True)
    wall = {k: statistics.median(v) for k, v in walls.items()}
    cpu = {k: statistics.median(v) for k, v in cpus.items()}
    segments = -(-seconds // 50)
    print(f"\nfast job: {seconds} s 320x240 H.264+AAC ({size / 1e6:.0f} MB), {' '.join(FAST_OPTS)}, "
          f"50 s segments; medians of {rounds} alternated rounds")
    for name in runs:
        print(f"  {name:28s} {wall[name]:6.2f} s wall, {cpu[name]:6.2f} s cpu")
    y, p = "yaffmpegp, default workers", "plain ffmpeg"
    print(f"    work dir peak / input: {peak:.3f}; the split's pieces and units (its window): "
          f"{window:.3f} (about {window * segments:.1f} segments' worth of {segments})")
    print(f"(c) fast job, local workers / plain ffmpeg: wall {wall[y] / wall[p]:.3f} (goal <= 1.0), "
          f"cpu {cpu[y] / cpu[p]:.3f} (goal <= 1.10)")


if __name__ == "__main__":
    main()
