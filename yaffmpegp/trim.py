"""Output trims (`-ss`, `-t`, `-to` after the input, as archivists cut a tape's leader and
tail): which segments hold wanted frames, how many each gives, and where the first sits.

A single pass trims after the filters, on its own timeline (the input's start time taken
off): it keeps the output frames shown at or after `-ss` and before `-ss` + `-t` (or `-to`).
Here every segment keeps the same frames after its filters, so only the segments that hold
any are encoded. Times are seconds on that timeline, as exact fractions.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from .errors import UsageError
from .ffcmd import ticks
from .plan import Plan


@dataclass(frozen=True)
class Span:
    """Output frames shown in [start, end) are kept (end None: to the end)."""

    start: Fraction = Fraction(0)
    end: Fraction | None = None

    @property
    def whole(self) -> bool:
        return self.start <= 0 and self.end is None

    def on_grid(self, rate: Fraction | None) -> Span:
        """Where a single pass's encoder stops when it encodes at `rate` frames per second:
        at the first frame whose timestamp, rounded onto its grid (half up), reaches the
        duration. A frame 0.0100 s before the end at 50 fps rounds onto the end and is not
        written. (Its trim filter stops too, counting from the first frame: kept_frames.)"""
        if self.end is None or not rate:
            return Span(self.start)
        slots = math.ceil((self.end - self.start) * rate)  # frames before the end, on the grid
        return Span(self.start, self.start + (slots - Fraction(1, 2)) / rate)


_CLOCK = re.compile(r"^(-)?(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")
_PLAIN = re.compile(r"^(-)?(\d+(?:\.\d*)?|\.\d+)(s|ms|us)?$")


def parse_time(text: str) -> Fraction:
    """ffmpeg's time duration syntax: [-][HH:]MM:SS[.m...] or [-]S+[.m...][s|ms|us]."""
    m = _CLOCK.match(text)
    if m:
        sign, hours, minutes, seconds = m.groups()
        value = Fraction(int(hours or 0) * 3600 + int(minutes) * 60) + Fraction(seconds)
    else:
        m = _PLAIN.match(text)
        if not m:
            raise UsageError(f"{text!r} is not a time (use seconds, or HH:MM:SS.mmm)")
        sign, number, unit = m.groups()
        value = Fraction(number) / {None: 1, "s": 1, "ms": 1000, "us": 1_000_000}[unit]
    return -value if sign else value


def span_of(ss: str | None, t: str | None, to: str | None) -> Span:
    """The span a single pass keeps for output options -ss, -t and -to (-t wins over -to)."""
    start = parse_time(ss) if ss is not None else Fraction(0)
    if start < 0:
        raise UsageError("-ss cannot be negative")
    end = None
    if t is not None:
        duration = parse_time(t)
        if duration <= 0:
            raise UsageError("-t must be positive")
        end = start + duration
    elif to is not None:
        end = parse_time(to)
        if end <= start:
            raise UsageError("-to must come after -ss")
    return Span(start, end)


@dataclass(frozen=True)
class Kept:
    frames: int  # output frames of the segment in the span
    first: Fraction  # where the first of them is shown
    last: Fraction  # and the last


def kept_frames(plan: Plan, time_base: Fraction, origin: Fraction, rate: Fraction, span: Span,
                duration: Fraction | None = None) -> dict[int, Kept]:
    """For each segment with output frames in `span`: how many, and the first one's time.
    A source frame shown at t for d seconds gives `rate` output frames at t + k*d/rate (a
    deinterlacer that outputs fields gives two, half a frame apart). `duration` (-t, or -to
    less -ss) counts from the first frame kept, as ffmpeg's trim filter counts it: -ss 2.31
    -to 5 at 25 fps keeps the frame at 5.00, 2.69 s after the first one at 2.32."""
    shown = plan.shown
    off = ticks(origin, time_base)  # the single pass takes this off every timestamp
    bounds = [c.pts for c in plan.cuts[1:]]
    out: dict[int, Kept] = {}
    segment, first = 0, None
    for n, pts in enumerate(shown):
        while segment < len(bounds) and pts >= bounds[segment]:
            segment += 1
        nxt = shown[n + 1] if n + 1 < len(shown) else None
        gap = (nxt - pts) if nxt is not None else (pts - shown[n - 1] if n else 0)
        for k in range(int(rate)):
            t = (pts - off + Fraction(k * gap) / rate) * time_base
            if t < span.start:
                continue
            if first is None:
                first = t
            if (span.end is None or t < span.end) and (duration is None or t - first < duration):
                got = out.get(segment)
                out[segment] = Kept(got.frames + 1, got.first, t) if got else Kept(1, t, t)
    return out


# Containers whose remux puts a copied stream back where it was, tick for tick (the second
# mux of a trim; checked against single passes by the tests).
SHIFTABLE_MUXERS = frozenset({"matroska", "webm", "mov", "mp4"})


def common_step(time_bases: Sequence[Fraction]) -> Fraction:
    """The shortest time that is a whole number of ticks of each time base."""
    step = Fraction(0)
    for tb in time_bases:
        step = tb if not step else Fraction(math.lcm(step.numerator, tb.numerator),
                                            math.gcd(step.denominator, tb.denominator))
    return step


def video_move(lead: Fraction, last: Fraction, delay: Fraction, step: Fraction,
               duration: Fraction | None, seeks: bool = True) -> Fraction | None:
    """How far the joined video moves for the final mux of a trimmed output, to be moved
    back by a second, plain remux; None if no move fits. Times are on the output's timeline
    (-ss at 0): the first frame is shown at `lead`, the last at `last`, and the encoder
    decodes each frame up to `delay` before it shows it (B-frames).

    The final mux applies the user's -ss and -t, so the audio is trimmed and encoded as in a
    single pass, but it keeps a copied video packet only if its decode time lies in
    [0, duration). The first keyframe is decoded at lead - delay; the last packet at
    last - delay; a move of M must bring both inside. It is a whole number of `step`s
    (ticks of every time base the video passes through), so moving back is exact. Without
    an -ss (`seeks` False) ffmpeg checks only the end, but the first frame stays at or after 0
    (where the other streams start; the muxer would move them all otherwise)."""
    low = delay - lead if seeks else -lead
    high = None if duration is None else duration - (last - delay) - Fraction(1, 100_000)  # rounding's margin
    if low <= 0 and (high is None or high > 0):
        return Fraction(0)
    if low > 0 or high is None:
        move = math.ceil(low / step) * step
    else:
        move = (math.ceil(high / step) - 1) * step  # the latest that fits
    if high is not None and not low <= move < high:
        return None
    return move
