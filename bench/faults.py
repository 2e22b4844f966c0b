"""What each fault costs: wall time of the same job on a real 3-host sshd fleet (needs
root), clean and with one fault injected as the tests do. Rounds alternate; medians.
Usage: python bench/faults.py [--rounds N] [--seconds S]
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import media  # noqa: E402
from tests.fleet import Fleet  # noqa: E402

OPTS = ["-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac"]


def wait_encoding(fleet: Fleet, host: str, proc: subprocess.Popen) -> list[int]:
    while not (pids := fleet.encoding_processes(host)):
        if proc.poll() is not None:
            return []
        time.sleep(0.05)
    return pids


def run(fleet: Fleet, src: Path, work: Path, fault: Callable[[subprocess.Popen], None] | None = None,
        extra: tuple[str, ...] = ()) -> float:
    out = work / "out.mp4"
    argv = [sys.executable, "-m", "yaffmpegp", "--quiet", "-y", "--hostlist", *fleet.names, "--ssh-config",
            str(fleet.ssh_config), "--file", str(src), "-o", str(out), "--workdir", str(work),
            "--segment-length", "4", *extra, *OPTS]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if fault:
        fault(proc)
    proc.wait()
    if proc.returncode != 0:  # interrupted or killed on purpose: the same command again resumes
        rerun = subprocess.run(argv, capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stderr
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=40)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="yaff-faults-") as tmp, Fleet().start(3, Path(tmp) / "fleet") as fleet:
        tmpd = Path(tmp)
        src = media.vhs_ffv1(tmpd / "tape.mkv", seconds=args.seconds)
        work = tmpd / "work"
        work.mkdir()

        def kill_h2(proc):
            if wait_encoding(fleet, "h2", proc):
                fleet.kill_host("h2")
                time.sleep(3)
                fleet.restart_host("h2")

        def freeze_h1(proc):
            for pid in wait_encoding(fleet, "h1", proc):
                os.kill(pid, signal.SIGSTOP)

        def sigkill_coordinator(proc):
            time.sleep(args.seconds / 8)
            proc.kill()

        def sigint(proc):
            time.sleep(args.seconds / 8)
            proc.send_signal(signal.SIGINT)

        def full_disk_h3(proc):
            pass  # set up around the run, below

        h3 = fleet.host("h3")
        faults: dict[str, tuple[Callable | None, tuple[str, ...]]] = {
            "clean run": (None, ()),
            "h2's sshd killed, back 3 s later": (kill_h2, ()),
            "h1's ffmpeg frozen (SIGSTOP), --stale-timeout 5": (freeze_h1, ("--stale-timeout", "5")),
            "h3's work dir on a full 1 MB disk": (full_disk_h3, ()),
            "coordinator SIGKILLed, command rerun": (sigkill_coordinator, ()),
            "Ctrl-C (SIGINT), command rerun": (sigint, ()),
        }
        walls: dict[str, list[float]] = {k: [] for k in faults}
        for r in range(args.rounds):
            for name, (fault, extra) in faults.items():
                if fault is full_disk_h3:
                    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=1m,uid={h3.uid},gid={h3.uid},mode=0700",
                                    "tmpfs", h3.tmpdir], check=True)
                try:
                    walls[name].append(run(fleet, src, work, fault, extra))
                finally:
                    if fault is full_disk_h3:
                        subprocess.run(["umount", h3.tmpdir], check=False)
                    fleet.restart_host("h2")
                print(f"round {r + 1}: {name:48s} {walls[name][-1]:6.2f} s", flush=True)
        clean = statistics.median(walls["clean run"])
        print(f"\n{args.seconds} s 480i, {' '.join(OPTS)}, 3 hosts, 4 s segments; medians of {args.rounds} rounds")
        print("| fault | wall (s) | added (s) |\n|---|---|---|")
        for name in faults:
            m = statistics.median(walls[name])
            print(f"| {name} | {m:.1f} | {m - clean:+.1f} |")


if __name__ == "__main__":
    main()
