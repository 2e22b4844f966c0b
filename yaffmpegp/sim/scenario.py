"""Scenarios for the simulated fleet: hosts of mixed speeds and links, stragglers, lost hosts;
run them through the real WorkQueue and HostPipeline on a virtual clock and compare the
makespan with its lower bound max(work ÷ total speed, bytes ÷ coordinator link)."""
from __future__ import annotations

import asyncio
import heapq
import math
import random
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..events import AttemptStarted, Event, Events, SegmentDone
from ..ffcmd import Trim
from ..pipeline import HostPipeline, PipelineSettings
from ..plan import plan_cuts
from ..probe import Packet
from ..report import RunStats
from ..scheduler import WorkQueue
from ..segment import Segment
from ..transport import HostRequirements
from . import clock
from .link import SharedLink
from .transport import Network, SimHost, SimTransport, sim_args


@dataclass(frozen=True)
class Scenario:
    name: str
    hosts: int
    segments: int
    seed: int = 1
    stragglers: float = 0.05  # share of hosts that slow down 10x at a random time
    lost: float = 0.02  # share of hosts lost at a random time
    frames: int = 1500  # per segment (50 s at 30 fps), plus up to a GOP more (cuts on keyframes)
    bytes_per_frame: int = 30_000  # 7 Mbit/s H.264 source; 277 kB for FFV1 480i
    fps: float = 150.0  # a typical host's speed per slot
    coordinator_link: float = 1.25e9  # bytes per second each way (10 Gbit/s)
    prefetch: int = 1
    longest_first: bool = False
    tail_shaped: bool = False  # cut as plan_cuts does knowing the slots: shorter segments at the end


@dataclass
class Result:
    scenario: Scenario
    makespan: float
    bound: float
    cpu_seconds: float
    done_once: bool
    encodes: int  # ffmpeg runs started
    not_started_duplicates: int  # a second attempt at a segment no host was encoding (must be 0)
    attainable: float = 0.0  # the bound counting each host's own link, slowdowns and losses
    foresight: float = 0.0  # an offline schedule that knows every speed: see `foresight`
    report: dict = field(default_factory=dict)
    segments: int = 0  # as cut: more than the scenario's where the planner shapes the tail

    @property
    def ratio(self) -> float:
        return self.makespan / self.bound

    @property
    def ratio_attainable(self) -> float:
        return self.makespan / self.attainable

    @property
    def ratio_foresight(self) -> float:
        return self.makespan / self.foresight


def make_fleet(sc: Scenario) -> list[SimHost]:
    rng = random.Random(sc.seed)
    n_slow = math.ceil(sc.hosts * sc.stragglers) if sc.stragglers else 0
    n_lost = math.ceil(sc.hosts * sc.lost) if sc.lost else 0
    picks = rng.sample(range(sc.hosts), min(sc.hosts, n_slow + n_lost))
    slow, lost = set(picks[:n_slow]), set(picks[n_slow:])
    # when things go wrong: somewhere in the run's expected length
    hosts = []
    for i in range(sc.hosts):
        fps = sc.fps * min(3.0, max(0.3, rng.lognormvariate(0, 0.4)))
        link = rng.choices([12.5e6, 125e6, 1.25e9], [0.2, 0.6, 0.2])[0]
        slots = rng.choices([1, 2, 4], [0.5, 0.3, 0.2])[0]
        hosts.append(SimHost(f"h{i:04d}", fps, link, slots))
    expect = _bound(sc, hosts, _frames(sc, hosts))
    out = []
    for i, h in enumerate(hosts):
        out.append(SimHost(h.name, h.fps, h.link, h.slots,
                           slow_at=rng.uniform(0.1, 0.8) * expect if i in slow else None,
                           lost_at=rng.uniform(0.1, 0.8) * expect if i in lost else None))
    return out


def _frames(sc: Scenario, hosts: list[SimHost]) -> list[int]:
    rng = random.Random(sc.seed + 1)
    frames = [sc.frames + rng.randrange(0, 250) for _ in range(sc.segments)]
    frames[-1] = max(1, frames[-1] // 3)  # the last segment is shorter
    if sc.tail_shaped:  # the same video (keyframes every second at 30 fps) cut by the real planner
        packets = [Packet(pts=i, key=i % 30 == 0) for i in range(sum(frames))]
        plan = plan_cuts(packets, Fraction(1, 30), sc.frames / 30, slots=sum(h.slots for h in hosts))
        frames = list(plan.frames)
    return frames


def _bound(sc: Scenario, hosts: list[SimHost], frames: list[int]) -> float:
    speed = sum(h.fps * h.slots for h in hosts)
    nbytes = sum(frames) * sc.bytes_per_frame
    return max(sum(frames) / speed, nbytes / sc.coordinator_link)


def _attainable(sc: Scenario, hosts: list[SimHost], frames: list[int]) -> float:
    """A tighter lower bound: a host encodes no faster than its own link feeds it, a straggler
    slows down when it does, a lost host stops; the coordinator's link is shared."""
    work = sum(frames)

    def capacity(t: float) -> float:  # frames all hosts could encode by time t
        total = 0.0
        for h in hosts:
            rate = min(h.fps * h.slots, h.link / sc.bytes_per_frame)
            end = t if h.lost_at is None else min(t, h.lost_at)
            if h.slow_at is not None and end > h.slow_at:
                total += rate * h.slow_at + rate / h.slow_by * (end - h.slow_at)
            else:
                total += rate * end
        return total

    lo, hi = 0.0, 1.0
    while capacity(hi) < work:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if capacity(mid) < work else (lo, mid)
    return max(hi, work * sc.bytes_per_frame / sc.coordinator_link)


def foresight(sc: Scenario, hosts: list[SimHost], frames: list[int]) -> float:
    """The makespan of an offline schedule that knows every host's speed and fault in advance
    (not a bound, but what foresight gets with these segments): longest segment first, each
    to the slot that would finish it first; a slot's speed is its host's per-slot fps, or its
    share of the host's link when that is slower; a straggler's slots slow down when it does;
    a lost host takes nothing it would not finish; the coordinator's link bounds it too.
    Segments are whole: with few per slot this is far above the divisible-work bound."""
    def finish(start: float, h: SimHost, n: int) -> float:
        rate = min(h.fps, h.link / sc.bytes_per_frame / h.slots)
        if h.slow_at is None or start + n / rate <= h.slow_at:
            return start + n / rate
        before = max(0.0, h.slow_at - start) * rate
        return max(start, h.slow_at) + (n - before) / (rate / h.slow_by)

    free = [[0.0] * h.slots for h in hosts]  # each host's slots: when each is free (a heap)
    end = 0.0
    for n in sorted(frames, reverse=True):
        options = []
        for i, h in enumerate(hosts):
            done = finish(free[i][0], h, n)  # its earliest free slot: the same speed as the others
            if h.lost_at is None or done <= h.lost_at:
                options.append((done, i))
        done, i = min(options)
        heapq.heapreplace(free[i], done)
        end = max(end, done)
    return max(end, sum(frames) * sc.bytes_per_frame / sc.coordinator_link)


async def _run(sc: Scenario, hosts: list[SimHost], frames: list[int], tmp: Path) -> Result:
    units = tmp / "units"
    results = tmp / "encoded"
    units.mkdir()
    results.mkdir()
    segs = []
    first = 0
    for i, n in enumerate(frames):
        unit = units / f"{i:05d}.nut"
        with unit.open("wb") as f:  # sparse: only its size matters
            f.truncate(n * sc.bytes_per_frame)
        segs.append(Segment(i, first, n, n, Fraction(n, 30), Trim(0, None), unit, "nut"))
        first += n
    order = sorted(segs, key=lambda s: -s.expected) if sc.longest_first else segs
    encoding: dict[int, set[str]] = defaultdict(set)
    odd: list[int] = []
    done: Counter[int] = Counter()

    def on_step(what: str, host: str, seg: int) -> None:
        if what == "encode":
            encoding[seg].add(host)
        elif what == "encoded":
            encoding[seg].discard(host)

    def watch(event: Event) -> None:
        if isinstance(event, AttemptStarted) and event.speculative and not encoding[event.segment]:
            odd.append(event.segment)
        elif isinstance(event, SegmentDone):
            done[event.segment] += 1

    stats = RunStats()
    events = Events(stats, watch)
    net = Network(SharedLink(sc.coordinator_link), SharedLink(sc.coordinator_link), on_step=on_step)
    transports = [SimTransport(h, net) for h in hosts]
    work = WorkQueue((), retries=3, closed=False)
    for seg in order:
        await work.add(seg)
    await work.close()

    async def count(path: Path) -> int:
        return int(path.read_text())

    def build(seg: Segment, src: str, out: str, files: dict[str, str]) -> list[str]:
        return sim_args(src, out, seg.expected, seg.index)

    ps = PipelineSettings(sc.prefetch, 120.0, results, count=count)
    req = HostRequirements()
    cpu = time.process_time()
    loop = asyncio.get_running_loop()
    for t in transports:
        await t.open(req)
    async with asyncio.TaskGroup() as tg:
        for t in transports:
            tg.create_task(HostPipeline(t, work, build, ps, events, req).run())
    cpu = time.process_time() - cpu - net.up.cpu - net.down.cpu  # (the simulated links' own left out)
    if work.failure is not None:
        raise work.failure
    report = stats.summary()
    return Result(sc, loop.time(), _bound(sc, hosts, frames), cpu,
                  done_once=sorted(work.done_by) == list(range(len(segs))) and all(v == 1 for v in done.values())
                  and len(done) == len(segs),
                  encodes=sum(t.encodes for t in transports), not_started_duplicates=len(odd),
                  attainable=_attainable(sc, hosts, frames), foresight=foresight(sc, hosts, frames),
                  report=report, segments=len(segs))


def run(sc: Scenario) -> Result:
    hosts = make_fleet(sc)
    frames = _frames(sc, hosts)
    with tempfile.TemporaryDirectory(prefix="yaff-sim-") as tmp:
        return clock.run(_run(sc, hosts, frames, Path(tmp)))


def saturation(results: list[Result]) -> float | None:
    """Hosts one coordinator could drive in real time: CPU seconds per virtual second grows
    with the hosts; where it reaches 1, the coordinator's CPU is the limit."""
    load = [(r.scenario.hosts, r.cpu_seconds / r.makespan) for r in results if r.makespan > 0]
    per_host = max((lv / h for h, lv in load), default=0.0)
    return 1.0 / per_host if per_host else None
