"""What the fleet benches share: the CPU of everything a bench started, a yaffmpegp run with its
report and events read back, and the noisy 480i capture they encode.

CPU is counted two ways, side by side:
- `cpu`: a cpuacct cgroup the bench moves itself into, so it holds every process the bench
  starts (the coordinator, ssh clients, the fleet's sshd and every remote ffmpeg below them,
  even reparented ones) and nothing else: other work on the machine does not count;
- `machine`: busy time from /proc/stat deltas (all processes on the machine, as issue 10 first
  measured), which other work on a shared machine inflates.
"""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import media  # noqa: E402

#: the job of issue 10: a lossless 480i capture deinterlaced and encoded
OPTS = ["-vf", "bwdif", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-c:a", "flac"]
OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parent.parent  # the yaffmpegp checkout benched by default
_CGROUP_ROOTS = (Path("/sys/fs/cgroup/cpuacct"), Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


def noisy_capture(seconds: int) -> Path:
    """A `seconds`-long noisy 480i FFV1 capture (~9.8 MB/s, as VHS masters are), made once."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"vhs-noisy-{seconds}s.mkv"
    if not path.exists():
        part = path.with_suffix(".part.mkv")
        media.vhs_ffv1(part, seconds=seconds, noise=10)
        part.rename(path)
    return path


def machine_busy() -> float:
    """CPU-seconds all processes on this machine spent so far (/proc/stat, all cores)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuGroup:
    """A cgroup holding this process and everything it starts from now on; `seconds()` is
    their CPU so far. Without a usable cgroup, `seconds()` is None."""

    def __init__(self, name: str) -> None:
        self.dir: Path | None = None
        self._parent: Path | None = None
        for root in _CGROUP_ROOTS:
            usage = "cpuacct.usage" if (root / "cpuacct.usage").exists() else "cpu.stat"
            if not (root / usage).exists() and not (root / "cgroup.procs").exists():
                continue
            with contextlib.suppress(OSError):
                d = root / f"{name}-{os.getpid()}"
                d.mkdir(exist_ok=True)
                (d / "cgroup.procs").write_text(str(os.getpid()))
                self.dir, self._parent, self._usage = d, root, usage
                if self.seconds() is not None:
                    return
                self.close()

    def seconds(self) -> float | None:
        if self.dir is None:
            return None
        try:
            text = (self.dir / self._usage).read_text()
        except OSError:
            return None
        if self._usage == "cpuacct.usage":
            return int(text) / 1e9
        stat = dict(line.split() for line in text.splitlines())
        return int(stat["usage_usec"]) / 1e6 if "usage_usec" in stat else None

    def close(self) -> None:
        """Back to the parent group; the group is removed once nothing else is in it."""
        if self.dir is None or self._parent is None:
            return
        with contextlib.suppress(OSError):
            (self._parent / "cgroup.procs").write_text(str(os.getpid()))
        for _ in range(20):
            try:
                self.dir.rmdir()
                break
            except OSError:
                time.sleep(0.1)
        self.dir = None

    def __enter__(self) -> CpuGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Sample:
    """One timed run: wall seconds, CPU of the bench's processes (total and per group), CPU of
    the whole machine."""

    wall: float
    cpu: float | None
    machine: float
    parts: dict[str, float | None] = field(default_factory=dict)


class Meter:
    """Measures runs against cgroups: e.g. {"coordinator": ..., "hosts": ...} when the fleet's
    sshd were started in one group and the bench then moved itself into the other."""

    def __init__(self, groups: dict[str, CpuGroup]) -> None:
        self.groups = groups

    def _read(self) -> dict[str, float | None]:
        return {name: g.seconds() for name, g in self.groups.items()}

    @contextlib.contextmanager
    def measure(self):
        """`with meter.measure() as box: ...` then `box[0]` is the Sample."""
        box: list[Sample] = []
        c0, m0, t0 = self._read(), machine_busy(), time.perf_counter()
        yield box
        wall = time.perf_counter() - t0
        c1 = self._read()
        parts = {k: None if c0[k] is None or c1[k] is None else c1[k] - c0[k] for k in c0}
        total = None if None in parts.values() else sum(parts.values())  # type: ignore[arg-type]
        box.append(Sample(wall, total, machine_busy() - m0, parts))


def run_quiet(argv: list[str]) -> None:
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")


def yaffmpegp(src: Path, out: Path, hosts: list[str], ssh_config: Path, seg: float, work: Path,
              extra: list[str] = (), opts: list[str] = OPTS, tree: Path = ROOT) -> list[str]:
    """The argv of a yaffmpegp fleet run writing --report and --events next to `out`;
    `tree`: the checkout whose yaffmpegp runs (another branch, to compare). `-P`: without it
    `python -m` puts the working directory (this checkout) before PYTHONPATH, and every tree
    ran this checkout's code."""
    return ["env", f"PYTHONPATH={tree}", sys.executable, "-P", "-m", "yaffmpegp", "--quiet", "-y", "--hostlist", *hosts,
            "--ssh-config", str(ssh_config), "--file", str(src), "-o", str(out), "--workdir", str(work),
            "--segment-length", str(seg), "--report", str(out.with_suffix(".report.json")),
            "--events", str(out.with_suffix(".events.jsonl")), *extra, *opts]


def read_run(out: Path) -> dict:
    """From a run's report and events: bytes each host received, the bytes a segment needs
    (each segment's size once), re-sent bytes, the median encode of one segment, and the
    time from the last encoded segment to the end (the final mux and its checks)."""
    report = json.loads(out.with_suffix(".report.json").read_text())
    hosts = report["hosts"] if "hosts" in report else report["inputs"][0]["hosts"]
    up = {name: h["bytes_up"] for name, h in hosts.items()}
    busy = sum(h["busy_seconds"] for h in hosts.values())
    sizes: dict[int, int] = {}
    uploads: dict[int, set[str]] = defaultdict(set)
    encodes, last_done, end = [], 0.0, 0.0
    for line in out.with_suffix(".events.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["event"] == "checked":
            end = e["at"]
        elif e["event"] == "transferred" and e["direction"] == "up":
            sizes[e["segment"]] = max(sizes.get(e["segment"], 0), e.get("total") or 0)
            uploads[e["segment"]].add(e["host"])
        elif e["event"] == "segment_done":
            encodes.append(e["seconds"])
            last_done = max(last_done, e["at"])
    needed = sum(sizes.values())
    return {
        "up": up, "busy": busy, "needed": needed, "resent": sum(up.values()) - needed,
        "twice": sum(1 for hs in uploads.values() if len(hs) > 1),
        "encode": statistics.median(encodes) if encodes else 0.0,
        "tail": end - last_done if last_done else 0.0,
    }


def imbalance(shares: list[int]) -> float:
    """How far the largest share is above an even one: max ÷ mean − 1."""
    mean = sum(shares) / len(shares) if shares else 0
    return max(shares) / mean - 1 if mean else 0.0


def med(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def fmt(value: float | None, spec: str = "6.1f") -> str:
    return "   n/a" if value is None else format(value, spec)
