"""Cut the video into units of work with the segment muxer (stream copy), as planned.

Each unit is checked against the plan (packet count, first keyframe). What a piece holds is
known from the source's index once the pieces' clock is (piececlock.py): a unit of one piece
is checked against the segment muxer's own list of cuts, a joined unit is read back.
A piece whose next cut is an open-GOP keyframe gets that keyframe and its leading
pictures appended (copied, via the concat demuxer), so the frames it owns all decode.

Pieces go into NUT, which keeps the source's time base exactly. When context has to be
appended they go into MPEG-TS instead: NUT stores no decode timestamps, and re-muxing a
piece that starts with a keyframe followed by earlier-shown frames then makes ffmpeg
"repair" timestamps that were right (seen: leading B-frames' pts moved past their keyframe).

For an intra-only source (every packet a keyframe) whose units carry context, no unit is
joined at all: two segment muxers in the one split process write the even and the odd units
whole, context included (paired_cuts; what lies between a muxer's units goes to /dev/null).

The muxer is kept one unit ahead of what the consumer asked for (paused in between), and each
piece is deleted once the last unit made from it exists: the pieces on disk are a window, not
a copy of the input (the consumer bounds how many units are alive, see window.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
from collections.abc import AsyncIterator, Callable, Sequence
from fractions import Fraction
from pathlib import Path

from .children import die_with_parent
from .errors import SplitError
from .ffcmd import Trim, concat_copy_args, concat_list, head_args, split_args, split_pair_args, ticks
from .plan import Plan
from .pacer import Pacer
from .piececlock import PieceClock, first_packets_end, in_order, listed_as, parse_segment_list
from .probe import Packet, first_error_line, parse_framecrc, probe_piece, probe_value, run_tool
from .segment import Segment


async def _ffmpeg(ffmpeg: str, args: list[str], what: str) -> str:
    code, out, err = await run_tool([ffmpeg, *args])
    if code != 0:
        raise SplitError(f"{what} failed: {first_error_line(err)}", argv=[ffmpeg, *args],
                         returncode=code, stderr=err)
    return out


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


class _Muxer:
    """The split's segment muxer: started, paced (pacer.py), waited for, and killed if
    still running at the end (`async with`)."""

    def __init__(self, ffmpeg: str, args: list[str], log: Path) -> None:
        self.argv, self.log = [ffmpeg, *args], log

    async def __aenter__(self) -> _Muxer:
        with self.log.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(*self.argv, stdin=asyncio.subprocess.DEVNULL,
                                                             stdout=asyncio.subprocess.DEVNULL, stderr=err,
                                                             preexec_fn=die_with_parent)
        self.pacer = Pacer(self.proc)
        self._pacing = asyncio.create_task(self.pacer.run())  # ends with the muxer
        return self

    async def __aexit__(self, *_: object) -> None:
        self._pacing.cancel()
        if self.proc.returncode is None:
            self.proc.kill()  # SIGKILL ends a stopped process too
            await self.proc.wait()

    async def until(self, ready: Callable[[], bool]) -> None:
        """Wait until `ready()` or the muxer's end; a failed muxer is the split's error."""
        while self.proc.returncode is None and not ready():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), POLL)
        if self.proc.returncode not in (None, 0):
            text = self.log.read_text(errors="replace")
            raise SplitError(f"splitting the video failed: {first_error_line(text)}",
                             argv=self.argv, returncode=self.proc.returncode, stderr=text)


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
    index: Sequence[Packet] | None = None,
) -> AsyncIterator[Segment]:
    """Yield the segments in order, each as soon as its unit is written: encoding can start
    while the rest of the video is still being split. Use with `contextlib.aclosing`, so
    the segment muxer is stopped if the consumer stops early.

    The segment muxer closes a piece before it opens the next, so piece i is complete once
    piece i+1 exists (or the muxer has exited); a unit with context also needs the next
    piece complete. Each segment knows how far its unit's timestamps are from the
    source's (`Segment.shift`). With the source's packet `index` (the one the plan was made
    from), what most pieces hold is known without reading them back.
    """
    pieces_dir = workdir / "pieces"
    pieces_dir.mkdir()
    units_dir = workdir / "units"
    units_dir.mkdir()
    fmt, ext = piece_format(plan, codec)
    pair = paired_cuts(plan, index) if fmt == "nut" else None
    if pair is not None:
        async with contextlib.aclosing(_split_paired(src, stream, plan, source_tb, workdir, pair, index, ext,
                                                     ffmpeg, ffprobe)) as whole:
            async for seg in whole:
                yield seg
        return
    count = len(plan.boundaries)
    pieces = [pieces_dir / f"p{k:05d}.{ext}" for k in range(count)]
    last_use = _last_use(plan, count)
    listing = workdir / "pieces.csv"
    args = split_args(str(src), stream, plan.split_frames, str(pieces_dir / f"p%05d.{ext}"), fmt, codec,
                      listing=str(listing))
    units = _Units(plan, source_tb, index, pieces, [listing], units_dir, fmt, ext, ffmpeg, ffprobe)
    async with _Muxer(ffmpeg, args, workdir / "split.log") as muxer:
        first_frame = 0
        for i in range(plan.segments):
            first, last = plan.pieces_of(i)
            ready = _ready_piece(plan, i)  # the piece whose existence says "done"
            # this unit's pieces and the next unit's, no more: the rest waits until asked for
            allowed = _ready_piece(plan, i + 1) if i + 1 < plan.segments else count
            muxer.pacer.allow(pieces[allowed + 1].exists if allowed + 1 < count else None)
            await muxer.until(lambda: ready < count and pieces[ready].exists())
            missing = [k for k in range(first, min(ready, count)) if not pieces[k].exists()]
            if missing:
                raise SplitError(f"the segment muxer wrote {missing[0]} pieces, {count} were planned")
            seg = await units.make(i, first, last, last_use[first] == i and last - first == 1, first_frame)
            first_frame += seg.frames
            for k in range(count):
                if last_use[k] == i:
                    pieces[k].unlink(missing_ok=True)  # no unit needs it any more: free the disk early
            yield seg


def unit_ends(plan: Plan) -> list[int]:
    """Where each unit ends in decode order (past its last packet), context included."""
    return [plan.cuts[i + 1].index + plan.head_packets(i) if i + 1 < plan.segments else plan.packets
            for i in range(plan.segments)]


def paired_cuts(plan: Plan, index: Sequence[Packet] | None) -> tuple[list[int], list[int]] | None:
    """Cuts for two segment muxers that write every unit whole, its context included, so no
    unit is joined from pieces: one muxer cuts the even units (and the gaps between them),
    the other the odd ones. Only for units with context, where the source's `index` shows
    every packet a keyframe (the muxer cuts nowhere else) and units two apart neither meet
    nor touch."""
    if not plan.with_context or plan.segments < 2 or index is None or not all(p.key for p in index):
        return None
    ends = unit_ends(plan)
    cuts: tuple[list[int], list[int]] = ([], [])
    for i in range(plan.segments):
        if (i and plan.start(i) <= 0) or (i + 1 < plan.segments and ends[i] >= plan.packets) or (
                i + 2 < plan.segments and ends[i] >= plan.start(i + 2)):
            return None
        cuts[i % 2].extend(x for x in (plan.start(i), ends[i]) if 0 < x < plan.packets)
    if any(b <= a for c in cuts for a, b in zip(c, c[1:])):
        return None
    return cuts


async def _split_paired(src: Path, stream: int, plan: Plan, source_tb: Fraction, workdir: Path,
                        cuts: tuple[list[int], list[int]], index: Sequence[Packet] | None, ext: str,
                        ffmpeg: str, ffprobe: str) -> AsyncIterator[Segment]:
    """split() with two segment muxers (paired_cuts): unit i is file i of muxer i % 2; the
    files between a muxer's units are links to /dev/null, so they are never written. A file
    is complete once its muxer's list (CSV) names it."""
    pieces_dir, names = workdir / "pieces", ("a", "b")
    files = [[pieces_dir / f"{names[m]}{j:05d}.{ext}" for j in range(len(cuts[m]) + 1)] for m in (0, 1)]
    listings = [workdir / f"pieces-{names[m]}.csv" for m in (0, 1)]
    args = split_pair_args(str(src), stream, [(cuts[m], str(pieces_dir / f"{names[m]}%05d.{ext}"), str(listings[m]))
                                              for m in (0, 1)], "nut")
    units = _Units(plan, source_tb, index, [], listings, workdir / "units", "nut", ext, ffmpeg, ffprobe)
    ends = unit_ends(plan)
    gaps = [[f for j, f in enumerate(files[m]) if j % 2 != m] for m in (0, 1)]
    for gap in gaps[0] + gaps[1]:
        gap.symlink_to(os.devnull)  # what lies between a muxer's units is not kept

    def closed(m: int, j: int) -> bool:
        """Whether muxer m has closed its file j: its list names it (a gap is never on disk)."""
        return files[m][j].name in units.listed(files[m][j].name)

    try:
        async with _Muxer(ffmpeg, args, workdir / "split.log") as muxer:
            first_frame = 0
            for i in range(plan.segments):
                mine = files[i % 2]
                n = i + 1  # the next unit may be written too, no more
                muxer.pacer.allow(functools.partial(closed, n % 2, n) if n < plan.segments else None)
                await muxer.until(functools.partial(closed, i % 2, i))
                if not mine[i].is_file():
                    raise SplitError(f"the segment muxer did not write unit {i} ({mine[i].name})", segment=i)
                seg = await units.make_whole(i, mine[i], ends[i], first_frame)
                first_frame += seg.frames
                yield seg
    finally:
        for gap in gaps[0] + gaps[1]:
            gap.unlink(missing_ok=True)


def _ready_piece(plan: Plan, segment: int) -> int:
    """The piece whose existence says every piece unit `segment` is made of is complete
    (the segment muxer closes a piece before it opens the next)."""
    _, last = plan.pieces_of(segment)
    return last + 1 if plan.head_packets(segment) else last


# Codecs MPEG-TS carries that may reorder frames: their pieces are joined in TS, which keeps
# decode timestamps (NUT does not, and a re-mux then moves leading B-frames' timestamps).
REORDERING_IN_TS = {"h264", "hevc", "mpeg2video", "mpeg1video", "mpeg4"}


def piece_format(plan: Plan, codec: str) -> tuple[str, str]:
    """(muxer, extension) for pieces: NUT keeps the source's timing exactly; MPEG-TS where
    pieces of a reordering codec are joined (open-GOP heads, context)."""
    heads = any(plan.head_packets(i) for i in range(plan.segments))
    joined = heads if not plan.with_context else (heads or any(
        plan.start(i) != plan.cuts[i].index for i in range(plan.segments)))
    if joined and (codec in REORDERING_IN_TS or not plan.with_context):
        return "mpegts", "ts"
    return "nut", "nut"


def _last_use(plan: Plan, count: int) -> list[int]:
    """For each piece, the last segment whose unit is made from it (whole or its head)."""
    last = [-1] * count
    for i in range(plan.segments):
        first, end = plan.pieces_of(i)
        for k in range(first, end + (1 if plan.head_packets(i) else 0)):
            last[k] = max(last[k], i)
    return last


class _Units:
    """Makes unit after unit from the pieces, each checked against the plan. What a piece
    holds is read by ffprobe until the pieces' clock is known (piececlock.py), then derived
    from the source's index and checked against the segment muxer's list; a unit joined
    from several files is always read back."""

    def __init__(self, plan: Plan, source_tb: Fraction, index: Sequence[Packet] | None, pieces: list[Path],
                 listings: Sequence[Path], units_dir: Path, fmt: str, ext: str, ffmpeg: str, ffprobe: str) -> None:
        self.plan, self.source_tb, self.index, self.pieces = plan, source_tb, index, pieces
        self.listings, self.units_dir, self.fmt, self.ext = listings, units_dir, fmt, ext
        self.ffmpeg, self.ffprobe = ffmpeg, ffprobe
        self.clock: PieceClock | None = None
        self.unit_tb: Fraction | None = None  # the same for every unit of one split
        self._tried = False  # the clock is learned from the first piece read, or never
        self._listed: dict[str, float] = {}
        self._in_order: bool | None = None  # whether the source never reorders frames

    def _span(self, k: int) -> tuple[int, int]:
        """Piece k's source packets [a, b), decode order."""
        bounds = self.plan.boundaries
        return bounds[k], bounds[k + 1] if k + 1 < len(bounds) else self.plan.packets

    async def _probe(self, unit: Path, start: int, piece: bool) -> list[Packet]:
        """Read back `unit`, which holds the source's packets from `start` on; when it is one
        piece as the muxer wrote it (`piece`), learn the pieces' clock from it."""
        tb, packets = await probe_piece(unit, self.ffprobe)
        if tb is None:
            raise SplitError(f"cannot read the time base of {unit.name}")
        if self.unit_tb is None:
            self.unit_tb = tb
        if piece and not self._tried:
            self._learn(start, tb, packets)
        return packets

    def _learn(self, start: int, tb: Fraction, packets: list[Packet]) -> None:
        self._tried = True
        if self.index is not None:
            self.clock = PieceClock.learn(self.index, start, self.source_tb, tb, packets)

    def _derived(self, k: int) -> list[Packet] | None:
        """Piece k's packets from the index, if its clock is known and the segment muxer's
        list says it starts where the clock puts it."""
        if k == 0:
            return None
        return self._derived_range(*self._span(k), self.pieces[k].name)

    def _derived_range(self, a: int, b: int, name: str) -> list[Packet] | None:
        """The source's packets [a, b) as the muxer's file `name` holds them, if the clock
        is known and the muxer's list says that file starts where the clock puts it."""
        if self.clock is None or self.index is None or self.clock.tb != self.unit_tb:
            return None
        if not listed_as(self.listed(name), name, self.clock.start_time(self.index, a)):
            return None
        return self.clock.packets(self.index, a, b)

    def listed(self, name: str) -> dict[str, float]:
        """The segment muxers' lists (file -> start time) as they are now: read again while
        `name` is not in them (a muxer lists each file as it closes it)."""
        if name not in self._listed:
            for listing in self.listings:
                if listing.exists():
                    self._listed.update(parse_segment_list(listing.read_text(errors="replace")))
        return self._listed

    def _may_map(self) -> bool:
        """Whether the pieces' time base may divide the source's (MPEG-TS's is 1/90000;
        NUT picks its own, known once a piece is read)."""
        return self.fmt != "mpegts" or (self.source_tb * 90000).denominator == 1

    async def _start(self, k: int, path: Path) -> Fraction:
        """The start time of `path`: piece k, or a head cut from it (the same first packet)."""
        if self.clock is not None and self.index is not None:
            return self.clock.start_time(self.index, self._span(k)[0])
        return await _fraction(path, "format=start_time", None, self.ffprobe)

    async def _join(self, i: int, files: list[tuple[int, Path]], unit: Path,
                    outpoint: Fraction | None) -> list[Packet] | None:
        """Join `files` into `unit`; what it holds, as the joining ffmpeg listed the packets it
        wrote, when that is what reading the unit back would give (None: read it back)."""
        starts = await asyncio.gather(*(self._start(k, f) for k, f in files))
        listing = self.units_dir / f"{i:05d}.ffconcat"
        listing.write_text(concat_list([(str(f), (b - a) if b is not None else None)
                                        for (_, f), a, b in zip(files, starts, [*starts[1:], None])], outpoint))
        listed = await _ffmpeg(self.ffmpeg, concat_copy_args(str(listing), str(unit), self.fmt),
                               f"assembling segment {i}")
        listing.unlink()
        tb, packets, earliest = parse_framecrc(listed)
        # NUT writes what it is given in the time base it was given (no parser reads it back,
        # unlike MPEG-TS), unless it moves negative timestamps (avoid_negative_ts); the
        # units' time base is known once one was read back
        if (self.fmt != "nut" or tb is None or tb != self.unit_tb or earliest is None or earliest < 0
                or not packets):
            return None
        return packets

    def _head_end(self, k: int, n: int) -> Fraction | None:
        """Where the first `n` packets of piece k end, so the concat demuxer can take them
        from the piece itself (no head cut): known for a source that never reorders."""
        if self.clock is None or self.index is None:
            return None
        if self._in_order is None:
            self._in_order = in_order(self.index)
        return first_packets_end(self.clock, self.index, self._span(k)[0], n) if self._in_order else None

    async def _assemble(self, i: int, first_piece: int, last_piece: int, own: bool, unit: Path) -> list[Packet]:
        """Write unit i (its whole pieces, then the head of the next when it needs one) and
        say what it holds."""
        plan, start = self.plan, self.plan.start(i)
        head_n = plan.head_packets(i)
        files = [(k, self.pieces[k]) for k in range(first_piece, last_piece)]
        if len(files) == 1 and not head_n:
            k, piece = files[0]
            packets = self._derived(k)
            if own:
                piece.rename(unit)
            else:
                await asyncio.to_thread(shutil.copyfile, piece, unit)
            return packets if packets is not None else await self._probe(unit, start, piece=True)
        if not self._tried and self.index is not None and self._may_map():  # learn the clock once
            k, piece = files[0]
            tb, packets = await probe_piece(piece, self.ffprobe)
            if tb is not None:
                self._learn(self._span(k)[0], tb, packets)
        head = self.units_dir / f"{i:05d}.head.{self.ext}"
        try:
            derived = self.clock is not None
            head_end = self._head_end(last_piece, head_n) if head_n else None
            if head_end is not None:
                files.append((last_piece, self.pieces[last_piece]))
            elif head_n:
                await self._cut_head(i, last_piece, head_n, head)
                files.append((last_piece, head))
            packets = await self._join(i, files, unit, head_end) or await self._probe(unit, start, piece=False)
            if derived and self.index is not None and not (
                    self.clock is not None and self.clock.matches(self.index, start, packets, moved=True)):
                self.clock = None  # the derived times did not hold: probe (and cut heads) from now on
                if head_end is not None:
                    await self._cut_head(i, last_piece, head_n, head)
                    files[-1] = (last_piece, head)
                packets = await self._join(i, files, unit, None) or await self._probe(unit, start, piece=False)
            return packets
        finally:
            head.unlink(missing_ok=True)

    async def _cut_head(self, i: int, k: int, n: int, head: Path) -> None:
        await _ffmpeg(self.ffmpeg, head_args(str(self.pieces[k]), n, str(head), self.fmt),
                      f"cutting context for segment {i}")

    async def make(self, i: int, first_piece: int, last_piece: int, own: bool, first_frame: int) -> Segment:
        """Unit i: its whole pieces (the segment's own, after those its context starts in) and
        the head of the next one (its keyframe, leading pictures and context) when needed,
        joined by stream copy; checked against the plan. `own`: its only piece is used by no
        other unit and can be moved rather than copied. Encoded as-is (rate 1, NUT) until
        `Segment.encoded_as` says otherwise."""
        unit = self.units_dir / f"{i:05d}.{self.ext}"
        packets = await self._assemble(i, first_piece, last_piece, own, unit)
        return self._checked(i, unit, packets, first_frame)

    async def make_whole(self, i: int, written: Path, end: int, first_frame: int) -> Segment:
        """Unit i as the segment muxer wrote it whole, context included: the source's
        packets from the unit's start to `end`."""
        unit = self.units_dir / f"{i:05d}.{self.ext}"
        start = self.plan.start(i)
        packets = self._derived_range(start, end, written.name)
        written.rename(unit)
        if packets is None:
            packets = await self._probe(unit, start, piece=True)
        return self._checked(i, unit, packets, first_frame)

    def _checked(self, i: int, unit: Path, packets: list[Packet], first_frame: int) -> Segment:
        plan = self.plan
        head_n = plan.head_packets(i)
        unit_tb = self.unit_tb
        assert unit_tb is not None
        lead_in = plan.cuts[i].index - plan.start(i)  # context packets before the cut
        expected_packets = lead_in + plan.piece_packets(i) + head_n
        if len(packets) != expected_packets or not packets[0].key or not packets[lead_in].key:
            raise SplitError(f"segment {i} holds {len(packets)} packets, {expected_packets} were planned "
                             "(the split did not cut where planned)", segment=i)
        margin = _margin(packets)
        key = packets[lead_in]
        end = None
        if head_n:
            nxt = packets[lead_in + plan.piece_packets(i)]
            if not nxt.key:
                raise SplitError(f"segment {i}: context does not start on a keyframe", segment=i)
            end = nxt.pts
        owned = sum(1 for p in packets if p.pts >= key.pts - margin and (end is None or p.pts < end - margin))
        if owned != plan.frames[i]:
            raise SplitError(f"segment {i} would give {owned} frames, {plan.frames[i]} were planned", segment=i)
        if i + 1 < plan.segments:
            duration = (plan.cuts[i + 1].pts - plan.cuts[i].pts) * self.source_tb
        else:
            stamps = sorted(p.pts for p in packets if p.pts >= key.pts - margin)
            step = (stamps[-1] - stamps[-2]) if len(stamps) > 1 else 0
            duration = Fraction(stamps[-1] - stamps[0] + step) * unit_tb
        # where the cut's keyframe sits in the unit's timestamps and in the source's
        shift = key.pts - ticks(plan.cuts[i].pts * self.source_tb, unit_tb)
        if plan.with_context:  # every frame goes through the filters; the owned ones are kept after
            trim, window = Trim(packets[0].pts - margin, None), Trim(key.pts, end)
        else:
            trim, window = Trim(key.pts - margin, None if end is None else end - margin), None
        return Segment(i, first_frame, owned, owned, duration, trim, unit, "nut", shift, unit_tb, window,
                       2 * margin, nbytes=unit.stat().st_size)
