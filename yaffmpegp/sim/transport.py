"""A simulated host behind the real Transport interface: uploads and downloads take the time
the host's link and the coordinator's shared link allow, an encode takes frames ÷ the host's
speed and prints ffmpeg-like `-progress` blocks. A host can slow down (a straggler) or be lost
(its connection drops: everything it does fails with HostError, and it never comes back)."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import HostError
from ..transport.base import ByteCallback, FFmpegRun, HostRequirements, LineCallback, Transport
from .link import SharedLink

PROGRESS_PERIOD = 1.0  # virtual seconds between -progress blocks
# Frames an encoder holds before it writes any (x264's lookahead and frame threads): its
# reports lag what it has read by this many, and catch up at the end, as a real one's do.
LOOKAHEAD = 15


@dataclass(frozen=True)
class SimHost:
    name: str
    fps: float  # frames per second, per slot
    link: float  # bytes per second, each way
    slots: int = 1
    slow_at: float | None = None  # from then on it encodes `slow_by` times slower
    slow_by: float = 10.0
    lost_at: float | None = None  # its connection drops then, for good


@dataclass
class Network:
    up: SharedLink  # coordinator -> hosts
    down: SharedLink  # hosts -> coordinator
    out_ratio: float = 0.1  # encoded size / input size
    # who watches: (event, host, segment) with event "upload", "encode", "encoded"
    on_step: Callable[[str, str, int], None] = lambda *_: None


def sim_args(src: str, out: str, frames: int, segment: int) -> list[str]:
    """The "ffmpeg arguments" a simulated host understands."""
    return ["-i", src, "-frames", str(frames), "-segment", str(segment), out]


class SimTransport(Transport):
    def __init__(self, host: SimHost, net: Network) -> None:
        self.host = host
        self.label = host.name
        self.slots = host.slots
        self.net = net
        self.workdir = None
        self._files: dict[str, int] = {}  # name -> size
        self._frames: dict[str, int] = {}  # encoded file -> its frames
        self._pending: set[asyncio.Future[None]] = set()
        self._lost = False
        self.encodes = 0

    def _check(self) -> None:
        if self._lost:
            raise HostError("connection lost (simulated)", host=self.label)

    async def open(self, requirements: HostRequirements) -> None:
        loop = asyncio.get_running_loop()
        if self.host.lost_at is not None:
            if loop.time() >= self.host.lost_at:
                self._lost = True
            else:
                loop.call_at(self.host.lost_at, self._lose)
        self._check()
        self.workdir = f"/sim/{self.label}"

    def _lose(self) -> None:
        self._lost = True
        for fut in list(self._pending):
            if not fut.done():
                fut.set_exception(HostError("connection lost (simulated)", host=self.label))

    async def _wait(self, fut: asyncio.Future[None]) -> None:
        self._check()
        self._pending.add(fut)
        try:
            await fut
        finally:
            self._pending.discard(fut)
            if not fut.done():
                fut.cancel()

    async def _until(self, when: float) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        handle = loop.call_at(when, lambda: fut.done() or fut.set_result(None))
        try:
            await self._wait(fut)
        finally:
            handle.cancel()

    def path(self, name: str) -> str:
        return f"/sim/{self.label}/{name}"

    async def put(self, local: Path, name: str, on_bytes: ByteCallback | None = None) -> None:
        size = local.stat().st_size
        seg = int(name.split(".", 1)[0])
        self.net.on_step("upload", self.label, seg)
        await self._wait(self.net.up.transfer(size, self.host.link))
        self._files[name] = size
        if on_bytes:
            on_bytes(size)

    async def get(self, name: str, local: Path, on_bytes: ByteCallback | None = None) -> None:
        size = self._files[name]
        await self._wait(self.net.down.transfer(size, self.host.link))
        local.write_text(str(self._frames.pop(name)))
        if on_bytes:
            on_bytes(size)

    async def remove(self, name: str) -> None:
        self._files.pop(name, None)

    async def run_ffmpeg(self, args: Sequence[str], on_stdout_line: LineCallback) -> FFmpegRun:
        src, frames, seg, out = args[1], int(args[3]), int(args[5]), args[6]
        name = src.rsplit("/", 1)[1]
        self._check()
        if name not in self._files:
            return FFmpegRun(1, f"{src}: No such file or directory")
        loop = asyncio.get_running_loop()
        self.encodes += 1
        self.net.on_step("encode", self.label, seg)
        done = 0.0
        try:
            while done < frames:
                now = loop.time()
                fps = self.host.fps
                if self.host.slow_at is not None and now >= self.host.slow_at:
                    fps /= self.host.slow_by
                step = min(PROGRESS_PERIOD, (frames - done) / fps)
                await self._until(now + step)
                done = min(frames, done + step * fps)
                written = done if done >= frames else max(0.0, done - LOOKAHEAD)
                for line in (f"frame={int(written)}", f"fps={fps:.2f}", f"out_time_us={int(written * 40000)}",
                             "progress=" + ("end" if done >= frames else "continue")):
                    on_stdout_line(line)
        finally:
            self.net.on_step("encoded", self.label, seg)
        out_name = out.rsplit("/", 1)[1]
        self._files[out_name] = max(1, int(self._files[name] * self.net.out_ratio))
        self._frames[out_name] = frames
        return FFmpegRun(0, "")

    async def close(self) -> None:
        self._files.clear()
