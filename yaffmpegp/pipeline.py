"""One host's pipeline: sender → compress → download, joined by bounded queues.

While the host encodes one segment, the sender already uploads the next (up to `prefetch`
segments ahead) and the downloader fetches the one before, so the host's network and its
CPU work at the same time. `transport.slots` encoders run side by side.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import EncodeError, VerifyError, YaffError, first_error
from .events import AttemptFailed, EncodeProgress, Events, SegmentDone, Stage, Transferred, Uploaded
from .probe import count_frames, first_error_line
from .progress import Progress, ProgressParser
from .scheduler import WorkQueue
from .segment import Segment
from .transport import Transport
from .watchdog import Watchdog

#: builds the encode arguments for a segment: (segment, input path on host, output path on host)
ArgsBuilder = Callable[[Segment, str, str], list[str]]

_END = None  # queue sentinel


@dataclass(frozen=True)
class PipelineSettings:
    prefetch: int
    stale_timeout: float
    results: Path  # local dir for verified encoded segments
    ffprobe: str = "ffprobe"


class HostPipeline:
    def __init__(self, transport: Transport, work: WorkQueue, build: ArgsBuilder,
                 settings: PipelineSettings, events: Events) -> None:
        self.t = transport
        self.work = work
        self.build = build
        self.s = settings
        self.events = events
        self._ahead = asyncio.Semaphore(settings.prefetch + transport.slots)
        self._to_encode: asyncio.Queue[Segment | None] = asyncio.Queue(maxsize=settings.prefetch + transport.slots)
        self._to_get: asyncio.Queue[tuple[Segment, float] | None] = asyncio.Queue(maxsize=transport.slots + 1)
        self._encoders_left = transport.slots

    def _stage(self, stage: str, state: str, seg: Segment | None = None) -> None:
        self.events.emit(Stage(self.t.label, stage, state, None if seg is None else seg.index))

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._sender())
            for slot in range(self.t.slots):
                tg.create_task(self._encoder(slot))
            tg.create_task(self._downloader())

    async def _attempt_failed(self, seg: Segment, error: YaffError) -> None:
        retry = await self.work.failed(seg, error)
        self.events.emit(AttemptFailed(self.t.label, seg.index, self.work.attempts[seg.index],
                                       str(error), retry, error.details()))
        if not retry:
            raise error

    async def _sender(self) -> None:
        try:
            while True:
                await self._ahead.acquire()
                self._stage("send", "idle")
                seg = await self.work.get()
                if seg is None:
                    self._ahead.release()
                    break
                self._stage("send", "sending", seg)
                started = time.monotonic()
                try:
                    await self.t.put(seg.unit, seg.input_name, self._bytes(seg, "up", seg.size))
                except YaffError as exc:
                    self._ahead.release()
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
                seconds = await self._encode(seg, stage)
            finally:
                self._ahead.release()
                await self.t.remove(seg.input_name)
            if seconds is not None:
                await self._to_get.put((seg, seconds))
        self._stage(stage, "idle")
        self._encoders_left -= 1
        if not self._encoders_left:
            await self._to_get.put(_END)

    async def _encode(self, seg: Segment, stage: str) -> float | None:
        """Encode one segment; its encode time, or None when the attempt failed (and was
        queued again)."""
        self._stage(stage, "encoding", seg)
        dog = Watchdog(self.s.stale_timeout, host=self.t.label, segment=seg.index,
                       on_stall=lambda: self._stage(stage, "stale", seg))

        def on_progress(p: Progress) -> None:
            if dog.touch((p.frame, p.out_time_us)):
                self._stage(stage, "encoding", seg)  # it moves again
            self.events.emit(EncodeProgress(self.t.label, seg.index, p.frame, p.fps))

        parser = ProgressParser(on_progress)
        args = self.build(seg, self.t.path(seg.input_name), self.t.path(seg.output_name))
        started = time.monotonic()
        try:
            await self._run_watched(args, dog, parser, seg)
        except YaffError as exc:
            self._stage(stage, "failed", seg)
            await self.t.remove(seg.output_name)
            await self._attempt_failed(seg, exc)
            return None
        return time.monotonic() - started

    async def _run_watched(self, args: list[str], dog: Watchdog, parser: ProgressParser, seg: Segment) -> None:
        """Run the encode with the watchdog as a sibling: a stale encode is cancelled (and the
        transport kills its ffmpeg)."""
        try:
            async with asyncio.TaskGroup() as tg:
                watch = tg.create_task(dog.watch())
                result = await self.t.run_ffmpeg(args, parser.feed)
                watch.cancel()
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        if result.returncode != 0:
            raise EncodeError(f"ffmpeg failed: {first_error_line(result.stderr)}", host=self.t.label,
                              segment=seg.index, argv=args, returncode=result.returncode,
                              stderr=result.stderr)

    async def _downloader(self) -> None:
        while (item := await self._to_get.get()) is not _END:
            await self._fetch(*item)

    async def _fetch(self, seg: Segment, seconds: float) -> None:
        self._stage("get", "downloading", seg)
        local = self.s.results / seg.output_name
        try:
            await self.t.get(seg.output_name, local, self._bytes(seg, "down"))
            frames = await count_frames(local, ffprobe=self.s.ffprobe)
            if frames != seg.expected:
                local.unlink(missing_ok=True)
                raise VerifyError(f"encoded segment holds {frames} frames, {seg.expected} expected",
                                  host=self.t.label, segment=seg.index)
        except YaffError as exc:
            await self._attempt_failed(seg, exc)
            return
        finally:
            await self.t.remove(seg.output_name)
            self._stage("get", "idle")
        await self.work.done(seg, self.t.label)
        self.events.emit(SegmentDone(self.t.label, seg.index, frames, seconds))
