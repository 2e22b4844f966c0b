"""Join the encoded segments (concat demuxer), mux them with the rest of the source's
streams in the user's own command, and check the result before it is handed over.

The final mux starts as soon as the plan is known and runs while segments are encoded:
its concat list names one named pipe per segment, and each verified segment is written
into its pipe in order. ffmpeg reads the source's audio as the video arrives, so little
of the mux is left when the last segment is done. The command is the same as for files.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .children import die_with_parent
from .errors import CheckError, JoinError
from .events import Encoded, Events, Joined
from .ffcmd import Mapping, concat_list, final_args, shift_back_args, ticks
from .probe import Stream, count_frames, first_error_line, probe_media, probe_piece, run_tool
from .segment import Segment


@dataclass(frozen=True)
class StreamShape:
    """What the final checks compare of each output stream with the single pass's."""

    codec_type: str
    codec_name: str
    width: int | None = None  # video only, like height and rotation
    height: int | None = None
    rotation: float = 0.0

    @classmethod
    def of(cls, s: Stream) -> StreamShape:
        if s.codec_type != "video":
            return cls(s.codec_type, s.codec_name)
        return cls(s.codec_type, s.codec_name, s.width, s.height, s.rotation)

    def __str__(self) -> str:
        size = f" {self.width}x{self.height}" if self.width else ""
        turned = f" rotated {self.rotation:g}" if self.rotation else ""
        return f"{self.codec_type}:{self.codec_name}{size}{turned}"


@dataclass(frozen=True)
class FinalMux:
    """Everything the final mux needs to know besides the segments."""

    source: Path
    mapping: tuple[Mapping, ...]
    video_out: int  # output index of the joined video
    copy_outputs: tuple[int, ...]  # outputs stream-copied (the joined video, other videos)
    user_final_opts: tuple[str, ...]
    offset: float  # where the first frame sits after the source's start
    video_tags: tuple[tuple[str, str], ...]  # the source video stream's tags
    expected_streams: tuple[StreamShape, ...]  # what the single-pass preflight wrote
    field_order: str | None = None
    rotation: float = 0.0  # the display matrix the single pass writes
    mux_opts: tuple[str, ...] = ()  # muxer options that make the video as the single pass wrote it
    read_until: Fraction | None = None  # an output trim's end: the source is read up to there
    # A trim: the joined video goes this far (seconds, later or earlier) into a file the
    # second mux copies with the video moved back (trim.video_move), with these options.
    video_move: Fraction = Fraction(0)
    remux_opts: tuple[str, ...] = ()


#: waits until segment k is encoded and verified; returns its local file
SegmentReady = Callable[[int], Awaitable[Path]]


async def join(durations: Sequence[Fraction], ready: SegmentReady, work: Path, mux: FinalMux,
               out: Path, events: Events, ffmpeg: str = "ffmpeg", ffprobe: str = "ffprobe") -> None:
    """Run the final mux, feeding it segment after segment as they become ready.
    `durations` are the segments' lengths in seconds, from the plan."""
    pipes = [work / f"join-{k:05d}" for k in range(len(durations))]
    for pipe in pipes:
        os.mkfifo(pipe, 0o600)
    listing = work / "joined.ffconcat"
    listing.write_text(concat_list([(str(p), d if k + 1 < len(pipes) else None)
                                    for k, (p, d) in enumerate(zip(pipes, durations))]))
    shifted = work / f"shifted{out.suffix}" if mux.video_move else out
    args = final_args(str(mux.source), str(listing), mux.offset + float(mux.video_move), mux.mapping,
                      mux.video_out, mux.user_final_opts, mux.copy_outputs, str(shifted), mux.video_tags,
                      mux.field_order, mux.rotation, mux.mux_opts, mux.read_until)
    log = work / "join.log"
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(ffmpeg, *args, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.DEVNULL, stderr=err,
                                                    preexec_fn=die_with_parent)

    def failed(what: str) -> JoinError:
        text = log.read_text(errors="replace")
        return JoinError(f"{what}: {first_error_line(text)}", argv=[ffmpeg, *args],
                         returncode=proc.returncode, stderr=text)

    try:
        for k, pipe in enumerate(pipes):
            segment = await ready(k)
            fd = await _open_for_writing(pipe, proc)
            if fd is None:
                raise failed("the final mux failed")
            try:
                await asyncio.to_thread(_copy_into, segment, fd)
            except OSError as exc:
                await proc.wait()
                raise failed("the final mux stopped reading") from exc
        events.emit(Encoded(len(pipes)))
        if await proc.wait() != 0:
            raise failed("the final mux failed")
    finally:
        if proc.returncode is None:  # cancelled, or a write failed: stop it (a blocked write then ends)
            proc.kill()
            await proc.wait()
    if mux.video_move:
        try:
            await _shift_back(shifted, mux, out, ffmpeg, ffprobe)
        finally:
            shifted.unlink(missing_ok=True)
    events.emit(Joined(len(pipes)))


async def _shift_back(shifted: Path, mux: FinalMux, out: Path, ffmpeg: str, ffprobe: str) -> None:
    """The second mux of a trim: every stream copied as it is, the video moved back to where
    a single pass shows it: its first frame `video_move` earlier than in the first mux's file.
    Checked on the result, and done once more if it is off: a muxer may move every stream on
    its own. (Matroska with Opus: the demuxer gives the audio's start before 0, its codec
    delay, and the muxer then moves all streams later by it a second time.)"""
    tb, want = await _first_video_pts(shifted, mux.video_out, ffprobe)
    want -= ticks(mux.video_move, tb)
    back = mux.video_move
    for _ in range(2):
        args = shift_back_args(str(shifted), len(mux.expected_streams), mux.video_out, back,
                               mux.remux_opts, mux.field_order, str(out))
        code, _, err = await run_tool([ffmpeg, *args])
        if code != 0:
            raise JoinError(f"the final mux failed moving the video back: {first_error_line(err)}",
                            argv=[ffmpeg, *args], returncode=code, stderr=err)
        got_tb, got = await _first_video_pts(out, mux.video_out, ffprobe)
        if got_tb == tb and got == want:
            return
        back += (got - want) * got_tb
    raise CheckError("the video's start moved in the final mux's second pass")


async def _first_video_pts(path: Path, stream: int, ffprobe: str) -> tuple[Fraction, int]:
    """The time base of a video stream, and where its first frame is shown."""
    tb, packets = await probe_piece(path, ffprobe, str(stream), first=16)
    if tb is None or not packets:
        raise JoinError(f"the final mux wrote no video into {path.name}")
    return tb, min(p.pts for p in packets)


async def _open_for_writing(pipe: Path, proc: asyncio.subprocess.Process) -> int | None:
    """A blocking write end of `pipe` once ffmpeg opens it for reading; None if ffmpeg exits
    first (opening a FIFO for writing blocks until a reader comes, so poll without blocking)."""
    while True:
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
        else:
            os.set_blocking(fd, True)
            return fd
        if proc.returncode is not None:
            return None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 0.02)


def _copy_into(src: Path, fd: int) -> None:
    """Write the file into the pipe, in the kernel where it can (sendfile: no copy through
    Python's memory)."""
    with src.open("rb") as f, os.fdopen(fd, "wb") as pipe:
        try:
            offset, size = 0, os.fstat(f.fileno()).st_size
            while offset < size:
                sent = os.sendfile(fd, f.fileno(), offset, min(size - offset, 1 << 24))
                if not sent:
                    break
                offset += sent
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOSYS) or offset:
                raise
            shutil.copyfileobj(f, pipe, 1 << 20)


async def check(out: Path, segments: Sequence[Segment], mux: FinalMux, ffprobe: str = "ffprobe") -> list[str]:
    """Checks the output must pass; returns what was checked, raises JoinError otherwise."""
    info, frames = await asyncio.gather(probe_media(out, ffprobe), count_frames(out, str(mux.video_out), ffprobe))
    shapes = tuple(StreamShape.of(s) for s in info.streams)
    if shapes != mux.expected_streams:
        raise CheckError("the output's streams differ from what ffmpeg would write: "
                        f"{_shape(shapes)} instead of {_shape(mux.expected_streams)}")
    want = sum(s.expected for s in segments)
    if frames != want:
        raise CheckError(f"the output holds {frames} video frames, {want} expected")
    duration = sum((s.duration for s in segments), Fraction(0))
    return [f"{len(shapes)} streams as ffmpeg would write them ({_shape(shapes)})",
            f"{frames} video frames, as planned, from {len(segments)} segments",
            f"video covers {float(duration):.3f} s of the source"]


def _shape(shapes: Sequence[StreamShape]) -> str:
    return ", ".join(map(str, shapes))

