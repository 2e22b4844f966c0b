"""A single pass's frame-rate conversion, worked out ahead, so that segments give the same frames.

ffmpeg 5.1 decides which frames to drop or repeat in its output "vsync" (fftools/ffmpeg.c,
do_video_out): for each filtered frame it compares the frame's time, on the encoder's grid of
1/rate, with a running count of the frames written so far. That count runs from the start of
the stream, so a segment that starts its own count cannot know it: `-r 30` on a 25 fps
source repeats every fifth frame counted from the first; `setpts=0.5*PTS` into MP4 keeps
every second frame; a phone's variable-rate video into MP4 repeats frames over its gaps.

Here the same arithmetic runs over the whole stream's timestamps (known from the packets, no
decoding), in the same order and precision as ffmpeg's C code: `vsync` gives each filtered
frame the output slots it fills. Each segment then writes exactly its frames' slots with
ffmpeg's own filters (`SegmentSlots.filter`): every frame gets its first slot as timestamp
(a dropped frame the slot of the next shown one, so `fps` drops it), `fps` repeats frames
to fill the slots, and the encoder passes them through unchanged.
"""
from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from .errors import UsageError

CFR, VSCFR, VFR, PASSTHROUGH, DROP = "cfr", "vscfr", "vfr", "passthrough", "drop"
# Longest filter expressions a segment's command line may carry: Linux takes 128 KiB per argument,
MAX_EXPRESSION = 60_000  # a remote shell gets the whole command as one argument


def auto_method(cfr_muxer: bool, avi: bool, single_stream_input: bool) -> str:
    """ffmpeg 5.1's choice when the user names none (ffmpeg_opt.c): variable for muxers that
    take it, constant otherwise; constant for an input of one stream starts at its first frame."""
    if avi:
        return VFR
    if not cfr_muxer:
        return VFR
    return VSCFR if single_stream_input else CFR


@dataclass(frozen=True)
class Speed:
    """A trailing `setpts=K*PTS` (or PTS*K, PTS/K, with PTS-STARTPTS): folded into the slots."""

    factor: float
    divide: bool = False  # PTS/K, evaluated as a division (the expression's own rounding)
    from_start: bool = False  # PTS-STARTPTS

    def apply(self, pts: int, first: int) -> int:
        value = float(pts - first if self.from_start else pts)
        value = value / self.factor if self.divide else self.factor * value
        return int(value)  # ffmpeg's D2TS truncates


@dataclass(frozen=True)
class Clock:
    """How a single pass times its video: what `vsync` needs besides the frames."""

    method: str  # CFR, VSCFR, VFR, PASSTHROUGH or DROP
    rate: Fraction  # the encoder's frame rate; its time base is 1/rate
    sink_rate: Fraction | None  # the filters' output frame rate (the source's guessed rate)
    time_base: Fraction  # the filtered frames' (the source stream's)
    per_frame_duration: bool  # no -vf: ffmpeg takes each frame's duration from its packet
    speed: Speed | None = None
    fps: Fraction | None = None  # a trailing fps=R filter: frames on its grid first


@dataclass(frozen=True)
class Slots:
    """Where each filtered frame (display order) goes: `first[i]` is the first output slot it
    fills, `count[i]` how many (0: dropped). Slots are consecutive over the whole output."""

    first: tuple[int, ...]
    count: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.count)


def _rescaler(src: Fraction, dst: Fraction):
    """av_rescale_q(a, src, dst): a * src / dst rounded to nearest, halves away from zero."""
    num, den = src.numerator * dst.denominator, src.denominator * dst.numerator

    def rescale(a: int) -> int:
        n = abs(a) * num
        q = (2 * n + den) // (2 * den)
        return q if a >= 0 else -q
    return rescale


def _float(x: float) -> float:
    """C's conversion of a double to float (llrintf rounds a float)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def _llrint(x: float) -> int:
    return round(x)  # the default rounding mode: to nearest, halves to even


def vsync(pts: Sequence[int], durations: Sequence[int], clock: Clock, offset: int = 0) -> Slots:
    """ffmpeg 5.1's do_video_out over every frame: `pts` in display order (the source's time
    base, `offset` taken off as the single pass does), `durations` their packets' (0:
    unknown). Same operations in the same order and precision as the C code."""
    if clock.fps is not None:
        return _through_fps(pts, durations, clock, offset)
    enc_tb = 1 / clock.rate
    extra_bits = min(16, max(0, 29 - (enc_tb.denominator.bit_length() - 1)))
    fine = _rescaler(clock.time_base, Fraction(enc_tb.numerator, enc_tb.denominator << extra_bits))
    scale = float(1 << extra_bits)
    nudge = 1.0 / (1 << 17)
    enc_tb_d = float(enc_tb)
    base = 1 / (float(clock.sink_rate) * enc_tb_d) if clock.sink_rate else 0.0
    base = min(base, 1 / (float(clock.rate) * enc_tb_d))
    ist_tb_d = float(clock.time_base)
    first_pts = (pts[0] - offset) if pts else 0
    sync = 0
    written = 0
    firsts: list[int] = []
    counts: list[int] = []
    last_nb0 = [0, 0, 0]
    for i, raw in enumerate(pts):
        p = raw - offset
        if clock.speed is not None:
            p = clock.speed.apply(p, first_pts)
        float_pts = fine(p) / scale
        float_pts += (1.0 if float_pts > 0 else -1.0) * nudge  # FFSIGN(0) is -1
        duration = base
        if clock.per_frame_duration:
            d = _llrint(_float(durations[i] * ist_tb_d / enc_tb_d))
            if d > 0:
                duration = float(d)
        sync_ipts = float_pts
        delta0 = sync_ipts - sync
        delta = delta0 + duration
        nb0, nb = 0, 1
        if delta0 < 0 < delta and clock.method not in (PASSTHROUGH, DROP):
            sync_ipts = float(sync)
            duration += delta0
            delta0 = 0.0
        if clock.method == VSCFR and written == 0 and delta0 >= 0.5:
            delta = duration
            delta0 = 0.0
            sync = _llrint(sync_ipts)
        if clock.method in (CFR, VSCFR):
            if delta < -1.1:
                nb = 0
            elif delta > 1.1:
                nb = _llrint(_float(delta))
                if delta0 > 1.1:
                    nb0 = _llrint(_float(delta0 - 0.6))
        elif clock.method == VFR:
            if delta <= -0.6:
                nb = 0
            elif delta > 0.6:
                sync = _llrint(sync_ipts)
        else:
            sync = _llrint(sync_ipts)
        nb0 = min(nb0, nb)
        last_nb0 = [nb0] + last_nb0[:2]
        if nb0 and counts:  # copies of the previous frame, right after its own
            counts[-1] += nb0
            firsts.append(sync + nb0)
        else:
            nb0 = 0
            firsts.append(sync)
        counts.append(nb - nb0)
        sync += nb
        written += nb
    flush = sorted(last_nb0)[1]  # at the end ffmpeg repeats the last frame this many times
    if counts and flush:
        counts[-1] += flush
    return Slots(tuple(firsts), tuple(counts))


def fps_filter(pts: Sequence[int], durations: Sequence[int], time_base: Fraction, rate: Fraction,
               offset: int = 0) -> list[int]:
    """What ffmpeg 5.1's `fps=rate` filter (vf_fps.c, rounding to nearest) writes: for each
    output frame from the first one's slot, the index of the input frame it shows: the last
    one whose timestamp, rounded onto the 1/rate grid, is at or before it. It stops at the
    input's end, which ffmpeg puts at the last frame's timestamp plus its packet's duration
    (through microseconds, as ffmpeg keeps it), rounded onto the grid the same way."""
    if not pts:
        return []
    near = _rescaler(time_base, 1 / rate)
    slots = [near(p - offset) for p in pts]
    to_us, from_us = _rescaler(time_base, Fraction(1, 1_000_000)), _rescaler(Fraction(1, 1_000_000), time_base)
    last = durations[-1] if durations and durations[-1] > 0 else 0
    end = near(from_us(to_us(pts[-1] - offset) + to_us(last)))
    shown, j = [], 0
    for t in range(slots[0], end):
        while j + 1 < len(slots) and slots[j + 1] <= t:
            j += 1
        shown.append(j)
    return shown


def _through_fps(pts: Sequence[int], durations: Sequence[int], clock: Clock, offset: int) -> Slots:
    """The fps filter's frames, then the output's vsync over them (a frame per 1/fps), folded
    back onto the input frames: each input frame's slots are consecutive."""
    assert clock.fps is not None
    shown = fps_filter(pts, durations, clock.time_base, clock.fps, offset)
    start = _rescaler(clock.time_base, 1 / clock.fps)(pts[0] - offset) if pts else 0
    inner = Clock(clock.method, clock.rate, clock.fps, 1 / clock.fps, False)
    out = vsync([start + k for k in range(len(shown))], [0] * len(shown), inner)
    firsts: list[int | None] = [None] * len(pts)
    counts = [0] * len(pts)
    nxt = out.first[-1] + out.count[-1] if shown else 0
    for k in range(len(shown) - 1, -1, -1):  # later fps frames first: a frame's first slot is its earliest
        i = shown[k]
        if out.count[k]:
            firsts[i] = out.first[k]
            counts[i] += out.count[k]
    for i in range(len(pts) - 1, -1, -1):  # frames never shown sit at the next shown one's slot
        if firsts[i] is None:
            firsts[i] = nxt
        nxt = firsts[i]
    return Slots(tuple(int(f) for f in firsts), tuple(counts))


def is_identity(slots: Slots, pts: Sequence[int], clock: Clock, offset: int = 0,
                starts: Sequence[int] = ()) -> bool:
    """Every frame written once, at its own time on the encoder's grid, and every segment's
    first frame (`starts`) on that grid already: what segments' own encodes give, joined at
    their source times, so there is nothing to work out ahead. (A frame a few milliseconds
    off the grid, as phones record, would move the whole segment after it.)"""
    if any(c != 1 for c in slots.count):
        return False
    grid = _rescaler(clock.time_base, 1 / clock.rate)
    if any(f != grid(p - offset) for f, p in zip(slots.first, pts)):
        return False
    exact = clock.time_base * clock.rate
    return all(abs((pts[i] - offset) * exact - slots.first[i]) < Fraction(1, 1000) for i in starts if i < len(pts))


@dataclass(frozen=True)
class SegmentSlots:
    """One segment's share of the output: `frames` frames on slots [start, start + span);
    `expression` gives each of its filtered frames (in order, counted from 0 as N) its first
    slot counted from `start`; `kept` (None: every frame) says which are written at all,
    where the output has gaps (a variable-rate output: nothing is repeated)."""

    start: int
    span: int
    frames: int
    expression: str
    gaps: bool = False  # a variable-rate output: frames dropped, never repeated
    kept: str | None = None  # with gaps: which frames are written (None: all)

    def filter(self, rate: Fraction) -> str:
        """Filters after the user's: the slots as timestamps on a 1/rate grid. Constant
        rate: `fps` repeats each frame until the next one's slot (a dropped frame has the
        next one's slot, so `fps` skips it); the expression's value at the end (setpts
        evaluates it there too) is the segment's last slot + 1, where `fps` stops. Variable
        rate: the dropped frames are left out."""
        tb = f"{rate.denominator}/{rate.numerator}"
        slots = f"settb={tb},setpts='{self.expression}'"
        if self.gaps:
            return f"{slots},select='{self.kept}'" if self.kept is not None else slots
        return f"{slots},fps={rate.numerator}/{rate.denominator},trim=end_frame={self.span}"


def segment_slots(slots: Slots, edges: Sequence[int], gaps: bool) -> list[SegmentSlots]:
    """Each segment's slots; segment k holds filtered frames [edges[k], edges[k+1]).
    `gaps`: the output is variable-rate (frames dropped, never repeated)."""
    n = len(slots.first)
    # the first slot of the first frame shown at or after each frame (past the end: the end)
    next_shown = [0] * (n + 1)
    shown = [i for i in range(n) if slots.count[i]]
    next_shown[n] = (slots.first[shown[-1]] + slots.count[shown[-1]]) if shown else 0
    for i in range(n - 1, -1, -1):
        next_shown[i] = slots.first[i] if slots.count[i] else next_shown[i + 1]
    out = []
    for a, b in zip(edges, edges[1:]):
        start, stop = next_shown[a], next_shown[b]
        frames = sum(slots.count[a:b])
        if frames == 0:
            raise UsageError("a segment would hold no frame after the frame-rate change: "
                             "use a longer --segment-length")
        expression = _steps([next_shown[i] - start for i in range(a, b + 1)])  # b: the end
        kept = _member([bool(c) for c in slots.count[a:b]]) if gaps else None
        if len(expression) + len(kept or "") > MAX_EXPRESSION:
            raise UsageError("the frame-rate change is too long to describe per segment: "
                             "use a shorter --segment-length")
        out.append(SegmentSlots(start, stop - start, frames, expression, gaps, kept))
    return out


def _member(flags: Sequence[bool]) -> str | None:
    """An expression of n that is 1 where flags[n] is true, by runs; None: always."""
    if all(flags):
        return None
    runs, k = [], 0
    while k < len(flags):
        j = k
        while j < len(flags) and flags[j] == flags[k]:
            j += 1
        runs.append((flags[k], k, j - 1))
        k = j
    def term(a: int, b: int) -> str:  # select counts frames in `n`
        return f"eq(n,{a})" if a == b else f"between(n,{a},{b})"
    yes = "+".join(term(a, b) for f, a, b in runs if f)
    no = "+".join(term(a, b) for f, a, b in runs if not f)
    return yes if len(yes) <= len(no) + 4 else f"1-({no})"


def _steps(values: Sequence[int]) -> str:
    """An ffmpeg expression of N giving values[N] (non-decreasing), short: a line through the
    values plus steps where they leave it."""
    if not values:
        return "0"
    n = len(values)
    best = ""
    for num, den in _slopes(values):
        terms = []
        line = [(k * num) // den for k in range(n)]
        prev = values[0] - line[0]
        for k in range(1, n):
            off = values[k] - line[k]
            if off != prev:
                terms.append(f"{off - prev:+d}*gte(N,{k})")
                prev = off
        head = f"{values[0]}" if num == 0 else (f"{values[0]}+N" if (num, den) == (1, 1)
                                                 else f"{values[0]}+floor(N*{num}/{den})")
        text = head + "".join(terms)
        if not best or len(text) < len(best):
            best = text
    return best


def _slopes(values: Sequence[int]) -> list[tuple[int, int]]:
    n = len(values)
    mean = Fraction(values[-1] - values[0], n - 1) if n > 1 else Fraction(0)
    candidates = {(0, 1), (1, 1)}
    if mean:
        m = mean.limit_denominator(1000)
        candidates.add((m.numerator, m.denominator))
    return sorted(candidates)


def guessed_rate(r_frame_rate: Fraction | None, avg_frame_rate: Fraction | None) -> Fraction | None:
    """The frame rate ffmpeg gives the filters for a stream (av_guess_frame_rate, without
    the codec's own rate, which ffprobe does not show)."""
    if (avg_frame_rate and r_frame_rate and float(avg_frame_rate) < 70 and float(r_frame_rate) > 210):
        return avg_frame_rate
    return r_frame_rate


@dataclass(frozen=True)
class Retimed:
    """Segments writing the single pass's slots: each segment's share, on a 1/rate grid."""

    rate: Fraction
    segments: tuple[SegmentSlots, ...]

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.segments)

    @property
    def starts_at(self) -> Fraction:
        """Where the output's first frame is shown."""
        return Fraction(self.segments[0].start) / self.rate


def retime(shown: Sequence[int], durations: Sequence[int], first: int, frames: Sequence[int],
           clock: Clock, offset: int, asked: bool) -> Retimed | None:
    """The slots of each segment (owning `frames[k]` frames each, from display position
    `first`), or None when a segment's own encode already gives them and nothing was asked."""
    pts = list(shown[first:first + sum(frames)])
    durs = list(durations[first:first + sum(frames)]) if durations else [0] * len(pts)
    if not pts:
        return None
    slots = vsync(pts, durs, clock, offset)
    edges = [0]
    for n in frames:
        edges.append(edges[-1] + n)
    if not asked and is_identity(slots, pts, clock, offset, edges[:-1]):
        return None
    shown = [(f, c) for f, c in zip(slots.first, slots.count) if c]
    gaps = any(a + n != b for (a, n), (b, _) in zip(shown, shown[1:]))  # a variable-rate output
    if gaps and any(c > 1 for _, c in shown):
        raise UsageError("this frame-rate change both repeats frames and leaves gaps, which yaffmpegp "
                         "cannot reproduce yet: convert the rate in a pass of its own")
    return Retimed(clock.rate, tuple(segment_slots(slots, edges, gaps)))
