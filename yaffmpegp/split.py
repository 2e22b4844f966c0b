"""Cut the video into units of work with the segment muxer (stream copy), as planned.

Each piece the muxer writes is checked against the plan (packet count, first keyframe).
A piece whose next cut is an open-GOP keyframe gets that keyframe and its leading
pictures appended (copied, via the concat demuxer), so the frames it owns all decode.

Pieces go into NUT, which keeps the source's time base exactly. When context has to be
appended they go into MPEG-TS instead: NUT stores no decode timestamps, and re-muxing a
piece that starts with a keyframe followed by earlier-shown frames then makes ffmpeg
"repair" timestamps that were right (seen: leading B-frames' pts moved past their keyframe).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path

from .children import die_with_parent
from .errors import SplitError
from .ffcmd import Trim, concat_copy_args, concat_list, head_args, split_args, ticks
from .plan import Plan
from .probe import Packet, first_error_line, probe_packets, probe_value, run_tool
from .segment import Segment


async def _ffmpeg(ffmpeg: str, args: list[str], what: str) -> None:
    code, _, err = await run_tool([ffmpeg, *args])
    if code != 0:
        raise SplitError(f"{what} failed: {first_error_line(err)}", argv=[ffmpeg, *args],
                         returncode=code, stderr=err)


async def _fraction(path: Path, entries: str, stream: str | None, ffprobe: str) -> Fraction:
    value = await probe_value(path, entries, stream, ffprobe)
    try:
        return Fraction(value)
    except ValueError as exc:
        raise SplitError(f"cannot read {entries} of {path.name} (got {value!r})") from exc


def _margin(packets: list[Packet]) -> int:
    """Half the smallest gap between two frames: trim bounds sit between frames, so a tick
    of rounding in a container's timestamps cannot move a frame across a bound."""
    stamps = sorted({p.pts for p in packets})
    gaps = [b - a for a, b in zip(stamps, stamps[1:]) if b > a]
    return max(1, min(gaps) // 2) if gaps else 1


POLL = 0.05  # seconds between looks at the segment muxer's progress


async def split(
    src: Path,
    stream: int,
    plan: Plan,
    source_tb: Fraction,
    workdir: Path,
    *,
    codec: str = "",
    ffmpeg: str = "ffmpeg",
    ffprobe: str = "ffprobe",
) -> AsyncIterator[Segment]:
    """Yield the segments in order, each as soon as its unit is written: encoding can start
    while the rest of the video is still being split. Use with `contextlib.aclosing`, so
    the segment muxer is stopped if the consumer stops early.

    The segment muxer closes a piece before it opens the next, so piece i is complete once
    piece i+1 exists (or the muxer has exited); a unit with context also needs the next
    piece complete. Each segment knows how far its unit's timestamps are from the
    source's (`Segment.shift`).
    """
    pieces_dir = workdir / "pieces"
    pieces_dir.mkdir()
    units_dir = workdir / "units"
    units_dir.mkdir()
    needs_context = any(plan.head_packets(i) for i in range(plan.segments))
    fmt, ext = ("mpegts", "ts") if needs_context else ("nut", "nut")
    pieces = [pieces_dir / f"p{i:05d}.{ext}" for i in range(plan.segments)]
    args = split_args(str(src), stream, plan.split_frames, str(pieces_dir / f"p%05d.{ext}"), fmt, codec)
    log = workdir / "split.log"
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(ffmpeg, *args, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.DEVNULL, stderr=err,
                                                    preexec_fn=die_with_parent)
    try:
        first_frame = 0
        unit_tb: Fraction | None = None  # the same for every unit of one split: probed once
        for i in range(plan.segments):
            ready = i + (2 if plan.head_packets(i) else 1)  # the piece whose existence says "done"
            while proc.returncode is None and not (ready < plan.segments and pieces[ready].exists()):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), POLL)
            if proc.returncode not in (None, 0):
                text = log.read_text(errors="replace")
                raise SplitError(f"splitting the video failed: {first_error_line(text)}",
                                 argv=[ffmpeg, *args], returncode=proc.returncode, stderr=text)
            if not pieces[i].exists():
                raise SplitError(f"the segment muxer wrote {i} pieces, {plan.segments} were planned")
            seg, unit_tb = await _make_unit(i, pieces[i], pieces, plan, source_tb, units_dir, fmt, ext,
                                            first_frame, unit_tb, ffmpeg, ffprobe)
            first_frame += seg.frames
            if i > 0:
                pieces[i - 1].unlink(missing_ok=True)  # its head is taken; free the disk early
            yield seg
        pieces[-1].unlink(missing_ok=True)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _make_unit(i: int, piece: Path, pieces: list[Path], plan: Plan, source_tb: Fraction,
                     units_dir: Path, fmt: str, ext: str, first_frame: int,
                     unit_tb: Fraction | None, ffmpeg: str, ffprobe: str) -> tuple[Segment, Fraction]:
    """Unit i: piece i, with the next keyframe and its leading pictures appended when the
    next cut needs them; checked against the plan. Encoded as-is (rate 1, NUT) until
    `Segment.encoded_as` says otherwise. Returns it with the units' time base."""
    head_n = plan.head_packets(i)
    unit = units_dir / f"{i:05d}.{ext}"
    if head_n:
        head = units_dir / f"{i:05d}.head.{ext}"
        await _ffmpeg(ffmpeg, head_args(str(pieces[i + 1]), head_n, str(head), fmt), f"cutting context for segment {i}")
        piece_start, head_start = await asyncio.gather(_fraction(piece, "format=start_time", None, ffprobe),
                                                       _fraction(head, "format=start_time", None, ffprobe))
        listing = units_dir / f"{i:05d}.ffconcat"
        listing.write_text(concat_list([(str(piece), head_start - piece_start), (str(head), None)]))
        await _ffmpeg(ffmpeg, concat_copy_args(str(listing), str(unit), fmt), f"assembling segment {i}")
        head.unlink()
        listing.unlink()
    else:
        piece.rename(unit)
    packets = await probe_packets(unit, 0, ffprobe)
    expected_packets = plan.piece_packets(i) + head_n
    if len(packets) != expected_packets or not packets[0].key:
        raise SplitError(f"segment {i} holds {len(packets)} packets, {expected_packets} were planned "
                         "(the split did not cut where planned)", segment=i)
    margin = _margin(packets)
    start = packets[0].pts - margin
    end = None
    if head_n:
        nxt = packets[plan.piece_packets(i)]
        if not nxt.key:
            raise SplitError(f"segment {i}: context does not start on a keyframe", segment=i)
        end = nxt.pts - margin
    owned = sum(1 for p in packets if p.pts >= start and (end is None or p.pts < end))
    if owned != plan.frames[i]:
        raise SplitError(f"segment {i} would give {owned} frames, {plan.frames[i]} were planned", segment=i)
    if unit_tb is None:
        unit_tb = await _fraction(unit, "stream=time_base", "v:0", ffprobe)
    if i + 1 < plan.segments:
        duration = (plan.cuts[i + 1].pts - plan.cuts[i].pts) * source_tb
    else:
        stamps = sorted(p.pts for p in packets if p.pts >= start)
        step = (stamps[-1] - stamps[-2]) if len(stamps) > 1 else 0
        duration = Fraction(stamps[-1] - stamps[0] + step) * unit_tb
    # the cut's keyframe is the unit's first packet: where it sits in the unit's timestamps
    # and where it sits in the source's
    shift = packets[0].pts - ticks(plan.cuts[i].pts * source_tb, unit_tb)
    return Segment(i, first_frame, owned, owned, duration, Trim(start, end), unit, "nut", shift, unit_tb), unit_tb

