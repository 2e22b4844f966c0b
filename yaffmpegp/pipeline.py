"""One host's pipeline: sender → compress → download, joined by bounded queues.

While the host encodes one segment, the sender already uploads the next (up to `prefetch`
segments ahead) and the downloader fetches the one before, so the host's network and its
CPU work at the same time. `transport.slots` encoders run side by side.
"""
from __future__ import annotations

import asyncio
import os
import re
import time

import tenacity
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import EncodeError, HostError, JobError, VerifyError, YaffError, first_error
from .events import (AttemptFailed, EncodeProgress, Events, HostDown, HostUp, Message, SegmentDone, Stage,
                     Transferred, Uploaded)
from .probe import count_frames, first_error_line
from .progress import Progress, ProgressParser
from .scheduler import WorkQueue
from .segment import Segment
from .transport import HostRequirements, Transport
from .watchdog import Watchdog

#: builds the encode arguments for a segment: (segment, input path on host, output path on
#: host, {file a filter reads: its path on the host})
ArgsBuilder = Callable[[Segment, str, str, dict[str, str]], list[str]]

_END = None  # queue sentinel


class _Superseded(Exception):
    """Another host's attempt at this segment finished first."""
MAX_IN_A_ROW = 3  # failed attempts in a row that take a host out of the run
HOST_RETRY_WINDOW = 300.0  # seconds a lost host is retried while no other host works


@dataclass(frozen=True)
class PipelineSettings:
    prefetch: int
    stale_timeout: float
    results: Path  # local dir for verified encoded segments
    ffprobe: str = "ffprobe"
    assets: tuple[tuple[str, Path], ...] = ()  # files the filters read: (name in the filter, local file)


class _StopWhen(tenacity.stop.stop_base):
    """tenacity stop condition from a predicate."""

    def __init__(self, predicate: Callable[[], bool]) -> None:
        self.predicate = predicate

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.predicate()


class HostPipeline:
    """One host's stages. A lost connection (HostError) ends the stages, gives back every
    segment the host held, and reconnects with backoff: the host rejoins if it comes back.
    A host that fails `MAX_IN_A_ROW` attempts in a row is taken out of the run."""

    def __init__(self, transport: Transport, work: WorkQueue, build: ArgsBuilder,
                 settings: PipelineSettings, events: Events, requirements: HostRequirements) -> None:
        self.t = transport
        self.work = work
        self.build = build
        self.s = settings
        self.events = events
        self.requirements = requirements
        self._held: dict[int, Segment] = {}  # taken from the queue, not yet done or given back
        self._in_a_row = 0  # failed attempts since the last success

    def _stage(self, stage: str, state: str, seg: Segment | None = None) -> None:
        self.events.emit(Stage(self.t.label, stage, state, None if seg is None else seg.index))

    async def run(self) -> None:
        await self.work.host_up(self.t.label)
        while True:
            try:
                await self._stages()
                return
            except HostError as exc:
                lost = exc
            for seg in self._held.values():
                await self.work.give_back(seg, self.t.label)
            self._held.clear()
            await self.work.host_down(self.t.label, leaving=False)
            self.events.emit(HostDown(self.t.label, str(lost.message), retrying=lost.retryable))
            if not lost.retryable or not await self._reconnect():
                await self.work.host_down(self.t.label, leaving=True)
                return
            self._in_a_row = 0
            await self.work.host_up(self.t.label)
            self.events.emit(HostUp(self.t.label, self.t.slots))

    async def _stages(self) -> None:
        self._ahead = asyncio.Semaphore(self.s.prefetch + self.t.slots)
        self._to_encode: asyncio.Queue[Segment | None] = asyncio.Queue()
        # (segment, encode seconds, frames the encoder reported writing, None if it did not say)
        self._to_get: asyncio.Queue[tuple[Segment, float, int | None] | None] = asyncio.Queue()
        self._encoders_left = self.t.slots
        self._files = await self._send_assets()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._sender())
                for slot in range(self.t.slots):
                    tg.create_task(self._encoder(slot))
                tg.create_task(self._downloader())
        except BaseExceptionGroup as group:
            raise first_error(group) from None

    async def _send_assets(self) -> dict[str, str]:
        """Put the files the filters read into the host's work dir (on every connect: a host
        that comes back has a new one); {name in the filter: path on the host}."""
        paths = {}
        for n, (name, local) in enumerate(self.s.assets):
            remote = f"asset-{n}-{re.sub(r'[^A-Za-z0-9._-]', '_', local.name)}"
            try:
                await self.t.put(local, remote)
            except YaffError as exc:
                raise HostError(f"cannot send {local.name}, which the filters read: {exc.message}",
                                host=self.t.label, retryable=exc.retryable) from exc
            paths[name] = self.t.path(remote)
        return paths

    async def _reconnect(self) -> bool:
        """Try the host again with backoff until it answers or the run no longer needs it."""
        await self.t.close()
        since = time.monotonic()

        def give_up() -> bool:  # no other host works, and this one has not come back for long
            return not self.work.hosts_up and time.monotonic() - since > HOST_RETRY_WINDOW

        try:
            async for attempt in tenacity.AsyncRetrying(
                    wait=tenacity.wait_exponential(multiplier=1, min=1, max=30),
                    stop=_StopWhen(lambda: self.work.finished) | _StopWhen(give_up),
                    retry=tenacity.retry_if_exception_type(HostError), sleep=self.work.sleep, reraise=True):
                with attempt:
                    if self.work.finished:
                        return False
                    await self.t.open(self.requirements)
        except HostError:
            return False
        return not self.work.finished

    def _drop(self, seg: Segment) -> None:
        """A result nobody needs any more (another host was first)."""
        self._held.pop(seg.index, None)
        self.work.released(seg.index, self.t.label)

    async def _attempt_failed(self, seg: Segment, error: YaffError) -> None:
        """A failed attempt: a lost host ends this host's stages (its segments are given
        back); anything else is retried elsewhere, or ends the run when it cannot be."""
        if isinstance(error, HostError):
            raise error
        self._held.pop(seg.index, None)
        if isinstance(self.work.failure, JobError):
            raise self.work.failure  # the run is over; this attempt was one of its casualties
        retry = await self.work.failed(seg, error, self.t.label)
        self.events.emit(AttemptFailed(self.t.label, seg.index, self.work.attempts[seg.index],
                                       str(error), retry, error.details()))
        if not retry:
            raise self.work.failure if isinstance(self.work.failure, JobError) else error
        self._in_a_row += 1
        if self._in_a_row >= MAX_IN_A_ROW:
            raise HostError(f"{self._in_a_row} attempts failed in a row: taken out of the run",
                            host=self.t.label, retryable=False)

    async def _sender(self) -> None:
        try:
            while True:
                await self._ahead.acquire()
                self._stage("send", "idle")
                seg = await self.work.get(self.t.label, idle=lambda: not self._held)
                if seg is None:
                    self._ahead.release()
                    break
                self._held[seg.index] = seg
                if (seg.index, self.t.label) in self.work.duplicated:
                    self.events.emit(Message(f"{self.t.label}: starting segment {seg.index} again: the "
                                             "queue is empty and its first attempt is the furthest from done",
                                             level="debug"))  # routine; shown with -v
                self._stage("send", "sending", seg)
                started = time.monotonic()
                try:
                    await self.t.put(seg.unit, seg.input_name, self._bytes(seg, "up", seg.size))
                except YaffError as exc:
                    self._ahead.release()
                    if self.work.is_done(seg.index):  # done elsewhere meanwhile (its unit is freed)
                        self._drop(seg)
                        continue
                    await self._attempt_failed(seg, exc)
                    continue
                self.events.emit(Uploaded(self.t.label, seg.index, seg.size, time.monotonic() - started))
                await self._to_encode.put(seg)
                self._stage("send", "idle")  # uploaded; waits for the encoder to take it
        finally:
            self._stage("send", "idle")
        for _ in range(self.t.slots):
            await self._to_encode.put(_END)

    def _bytes(self, seg: Segment, direction: str, total: int | None = None) -> Callable[[int], None]:
        def sink(n: int) -> None:
            self.events.emit(Transferred(self.t.label, seg.index, direction, n, total))
        return sink

    async def _encoder(self, slot: int) -> None:
        stage = "encode" if self.t.slots == 1 else f"encode{slot}"
        while (seg := await self._to_encode.get()) is not _END:
            try:
                done = await self._encode(seg, stage)
            finally:
                self._ahead.release()
                await self.t.remove(seg.input_name)
            if done is not None:
                await self._to_get.put((seg, *done))
        self._stage(stage, "idle")
        self._encoders_left -= 1
        if not self._encoders_left:
            await self._to_get.put(_END)

    async def _encode(self, seg: Segment, stage: str) -> tuple[float, int | None] | None:
        """Encode one segment; its encode time and the frames ffmpeg's last progress report
        (progress=end) says it wrote, or None when the attempt failed (and was queued again)."""
        self._stage(stage, "encoding", seg)
        dog = Watchdog(self.s.stale_timeout, host=self.t.label, segment=seg.index,
                       on_stall=lambda: self._stage(stage, "stale", seg))

        written: list[int] = []

        def on_progress(p: Progress) -> None:
            if p.done:
                written.append(p.frame)
            if dog.touch((p.frame, p.out_time_us)):
                self._stage(stage, "encoding", seg)  # it moves again
            self.work.progress(seg.index, self.t.label, p.frame / max(1, seg.expected))
            self.events.emit(EncodeProgress(self.t.label, seg.index, p.frame, p.fps))

        parser = ProgressParser(on_progress)
        args = self.build(seg, self.t.path(seg.input_name), self.t.path(seg.output_name), self._files)
        started = time.monotonic()
        try:
            await self._run_watched(args, dog, parser, seg)
        except _Superseded:  # another host finished it first: this attempt was killed
            self._stage(stage, "idle")
            self._drop(seg)
            await self.t.remove(seg.output_name)
            return None
        except YaffError as exc:
            self._stage(stage, "failed", seg)
            await self.t.remove(seg.output_name)
            await self._attempt_failed(seg, exc)
            return None
        return time.monotonic() - started, (written[-1] if written else None)

    async def _run_watched(self, args: list[str], dog: Watchdog, parser: ProgressParser, seg: Segment) -> None:
        """Run the encode with the watchdog as a sibling: a stale encode is cancelled (and the
        transport kills its ffmpeg)."""
        try:
            async with asyncio.TaskGroup() as tg:
                watch = tg.create_task(dog.watch())
                rival = tg.create_task(self._until_done_elsewhere(seg))
                result = await self.t.run_ffmpeg(args, parser.feed)
                watch.cancel()
                rival.cancel()
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        if result.returncode != 0:
            raise EncodeError(f"ffmpeg failed: {first_error_line(result.stderr)}", host=self.t.label,
                              segment=seg.index, argv=args, returncode=result.returncode,
                              stderr=result.stderr)

    async def _until_done_elsewhere(self, seg: Segment) -> None:
        """Raises _Superseded once another host's attempt at `seg` is done."""
        await self.work.wait_done(seg.index)
        raise _Superseded(seg.index)

    async def _downloader(self) -> None:
        while (item := await self._to_get.get()) is not _END:
            await self._fetch(*item)

    async def _fetch(self, seg: Segment, seconds: float, written: int | None) -> None:
        """Download and verify under a name of this host's; the first valid result of a
        segment is moved into place (in one step of the event loop), a later one dropped.
        The frame count checked is the one the encode reported at its end (progress=end:
        the frames it encoded, one packet each; the transfer is checked by size and
        digest): counting the file again costs an ffprobe per segment, about as much CPU
        as a fast encode of a few seconds. Without that report, the file is counted."""
        self._stage("get", "downloading", seg)
        local = self.s.results / seg.output_name
        mine = self.s.results / f".{seg.output_name}.{id(self):x}"
        try:
            if self.work.is_done(seg.index):
                return self._drop(seg)
            await self.t.get(seg.output_name, mine, self._bytes(seg, "down"))
            frames = written if written is not None else await count_frames(mine, ffprobe=self.s.ffprobe)
            if frames != seg.expected:
                raise VerifyError(f"encoded segment has {frames} frames, {seg.expected} expected",
                                  host=self.t.label, segment=seg.index)
        except YaffError as exc:
            mine.unlink(missing_ok=True)
            await self._attempt_failed(seg, exc)
            return
        finally:
            await self.t.remove(seg.output_name)
            self._stage("get", "idle")
        if self.work.is_done(seg.index):
            mine.unlink(missing_ok=True)
            return self._drop(seg)
        os.replace(mine, local)
        await self.work.done(seg, self.t.label)
        self._held.pop(seg.index, None)
        self._in_a_row = 0
        self.events.emit(SegmentDone(self.t.label, seg.index, frames, seconds))
