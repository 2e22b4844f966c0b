"""One host's pipeline: sender → compress → download, joined by bounded queues.

While the host encodes one segment, the sender already uploads the next (up to `prefetch`
segments ahead) and the downloader fetches the one before, so the host's network and its
CPU work at the same time. `transport.slots` encoders run side by side.
"""
from __future__ import annotations

import asyncio
import os
import re

import tenacity
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import EncodeError, HostError, JobError, VerifyError, YaffError, first_error
from .events import (AttemptDropped, AttemptFailed, AttemptStarted, EncodeProgress, Events, HostDown, HostUp, Message,
                     SegmentDone, Stage, Transferred, Uploaded)
from .probe import count_frames, first_error_line
from .progress import Progress, ProgressParser
from .scheduler import Attempt, WorkQueue
from .segment import Segment
from .transport import HostRequirements, Transport
from .watchdog import Watchdog

#: builds the encode arguments for a segment: (segment, input path on host, output path on
#: host, {file a filter reads: its path on the host})
ArgsBuilder = Callable[[Segment, str, str, dict[str, str]], list[str]]

_END = None  # queue sentinel


class _Superseded(Exception):
    """Another host's attempt at this segment finished first."""


class _Revoked(Exception):
    """The segment moved to another host (or was done there) before this one started it."""


def _clock() -> float:
    return asyncio.get_running_loop().time()

MAX_IN_A_ROW = 3  # failed attempts in a row that take a host out of the run
HOST_RETRY_WINDOW = 300.0  # seconds a lost host is retried while no other host works


@dataclass(frozen=True)
class PipelineSettings:
    prefetch: int
    stale_timeout: float
    results: Path  # local dir for verified encoded segments
    ffprobe: str = "ffprobe"
    assets: tuple[tuple[str, Path], ...] = ()  # files the filters read: (name in the filter, local file)
    # counts the frames of a downloaded segment (default: ffprobe); a simulator counts its own
    count: Callable[[Path], Awaitable[int]] | None = None


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
        self._held: dict[int, Attempt] = {}  # taken from the queue, not yet done or given back
        self._in_a_row = 0  # failed attempts since the last success

    def _stage(self, stage: str, state: str, seg: Segment | None = None) -> None:
        self.events.emit(Stage(self.t.label, stage, state, None if seg is None else seg.index))

    async def run(self) -> None:
        await self.work.host_up(self.t.label, self.t.slots)
        while True:
            try:
                await self._stages()
                return
            except HostError as exc:
                lost = exc
            for att in self._held.values():
                await self.work.give_back(att.seg, self.t.label)
            self._held.clear()
            await self.work.host_down(self.t.label, leaving=False)
            self.events.emit(HostDown(self.t.label, str(lost.message), retrying=lost.retryable))
            if not lost.retryable or not await self._reconnect():
                await self.work.host_down(self.t.label, leaving=True)
                return
            self._in_a_row = 0
            await self.work.host_up(self.t.label, self.t.slots)
            self.events.emit(HostUp(self.t.label, self.t.slots))

    async def _stages(self) -> None:
        self._ahead = asyncio.Semaphore(self.s.prefetch + self.t.slots)
        self._to_encode: asyncio.Queue[Attempt | None] = asyncio.Queue()
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
        since = _clock()

        def give_up() -> bool:  # no other host works, and this one has not come back for long
            return not self.work.hosts_up and _clock() - since > HOST_RETRY_WINDOW

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

    def _drop(self, seg: Segment, reason: str, seconds: float = 0.0) -> None:
        """A result nobody needs any more (another host was first)."""
        self._held.pop(seg.index, None)
        self.work.released(seg.index, self.t.label)
        self.events.emit(AttemptDropped(self.t.label, seg.index, reason, seconds))

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

    def _idle(self) -> bool:
        """A slot would have nothing to encode: the queue may give this host another's work."""
        return sum(not a.revoked.is_set() for a in self._held.values()) < self.t.slots

    async def _sender(self) -> None:
        try:
            while True:
                await self._ahead.acquire()
                self._stage("send", "idle")
                att = await self.work.take(self.t.label, idle=self._idle)
                if att is None:
                    self._ahead.release()
                    break
                seg = att.seg
                self._held[seg.index] = att
                if att.speculative or att.moved_from:
                    self.events.emit(AttemptStarted(self.t.label, seg.index, att.moved_from, att.speculative))
                if att.speculative:
                    self.events.emit(Message(f"{self.t.label}: starting segment {seg.index} again: the queue is "
                                             "empty and its projected finish here beats the running attempt's",
                                             level="debug"))  # routine; shown with -v
                self._stage("send", "sending", seg)
                started = _clock()
                try:
                    if att.revoked.is_set() or self.work.is_done(seg.index):
                        raise _Revoked(seg.index)  # (a done segment's unit is freed: nothing to send)
                    await self._unless_revoked(att, self.t.put(seg.unit, seg.input_name,
                                                               self._bytes(seg, "up", seg.size)))
                except _Revoked:  # taken over by an idle host (or done elsewhere) meanwhile
                    self._ahead.release()
                    self._forget(att)
                    await self.t.remove(seg.input_name)
                    continue
                except YaffError as exc:  # (transports report a unit gone meanwhile as a TransferError)
                    self._ahead.release()
                    if self.work.is_done(seg.index):  # done elsewhere meanwhile (its unit is freed)
                        self._drop(seg, "late")
                        continue
                    await self._attempt_failed(seg, exc)
                    continue
                seconds = _clock() - started
                moved = seg.size if self.t.transfers else 0  # (a mounted host reads the shared file)
                self.work.uploaded(att, moved, seconds)
                self.events.emit(Uploaded(self.t.label, seg.index, moved, seconds))
                await self._to_encode.put(att)
                self._stage("send", "idle")  # uploaded; waits for the encoder to take it
        finally:
            self._stage("send", "idle")
        for _ in range(self.t.slots):
            await self._to_encode.put(_END)

    def _forget(self, att: Attempt, nbytes: int = 0) -> None:
        """Drop an attempt the queue took back before it started."""
        if self._held.get(att.seg.index) is att:
            del self._held[att.seg.index]
        self.events.emit(AttemptDropped(self.t.label, att.seg.index, "moved", nbytes=nbytes))

    async def _unless_revoked(self, att: Attempt, work: Awaitable[None]) -> None:
        """Await `work`, cancelled (and _Revoked raised) if the attempt is revoked meanwhile."""
        async def watch() -> None:
            await att.revoked.wait()
            raise _Revoked(att.seg.index)

        try:
            async with asyncio.TaskGroup() as tg:
                watcher = tg.create_task(watch())
                await work
                watcher.cancel()
        except BaseExceptionGroup as group:
            raise first_error(group) from None

    def _bytes(self, seg: Segment, direction: str, total: int | None = None) -> Callable[[int], None]:
        def sink(n: int) -> None:
            self.events.emit(Transferred(self.t.label, seg.index, direction, n, total))
        return sink

    async def _encoder(self, slot: int) -> None:
        stage = "encode" if self.t.slots == 1 else f"encode{slot}"
        while (att := await self._to_encode.get()) is not _END:
            seg = att.seg
            if not self.work.encoding(att):  # moved to an idle host while it waited here
                self._ahead.release()
                self._forget(att, seg.size)
                if seg.index not in self._held:  # (not taken again since: that copy is in use)
                    await self.t.remove(seg.input_name)
                continue
            try:
                done = await self._encode(att, stage)
            finally:
                self._ahead.release()
                await self.t.remove(seg.input_name)
            if done is not None:
                self.work.encoded(att, done[0])
                await self._to_get.put((seg, *done))
        self._stage(stage, "idle")
        self._encoders_left -= 1
        if not self._encoders_left:
            await self._to_get.put(_END)

    async def _encode(self, att: Attempt, stage: str) -> tuple[float, int | None] | None:
        """Encode one segment; its encode time and the frames ffmpeg's last progress report
        (progress=end) says it wrote, or None when the attempt failed (and was queued again)."""
        seg = att.seg
        self._stage(stage, "encoding", seg)
        dog = Watchdog(self.s.stale_timeout, host=self.t.label, segment=seg.index,
                       on_stall=lambda: self._stage(stage, "stale", seg))

        written: list[int] = []

        def on_progress(p: Progress) -> None:
            if p.done:
                written.append(p.frame)
            if dog.touch((p.frame, p.out_time_us)):
                self._stage(stage, "encoding", seg)  # it moves again
            att.wrote(p.frame)
            self.events.emit(EncodeProgress(self.t.label, seg.index, p.frame, p.fps))

        parser = ProgressParser(on_progress)
        args = self.build(seg, self.t.path(seg.input_name), self.t.path(seg.output_name), self._files)
        started = _clock()
        try:
            await self._run_watched(args, dog, parser, seg)
        except _Superseded:  # another host finished it first: this attempt was killed
            self._stage(stage, "idle")
            self._drop(seg, "superseded", _clock() - started)
            await self.t.remove(seg.output_name)
            return None
        except YaffError as exc:
            self._stage(stage, "failed", seg)
            await self.t.remove(seg.output_name)
            await self._attempt_failed(seg, exc)
            return None
        return _clock() - started, (written[-1] if written else None)

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
                return self._drop(seg, "late", seconds)
            await self.t.get(seg.output_name, mine, self._bytes(seg, "down"))
            if written is not None:
                frames = written
            else:
                frames = await (self.s.count(mine) if self.s.count else count_frames(mine, ffprobe=self.s.ffprobe))
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
            return self._drop(seg, "late", seconds)
        os.replace(mine, local)
        await self.work.done(seg, self.t.label)
        self._held.pop(seg.index, None)
        self._in_a_row = 0
        self.events.emit(SegmentDone(self.t.label, seg.index, frames, seconds))
