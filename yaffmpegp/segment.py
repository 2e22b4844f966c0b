"""The unit of work: one segment of the video, with the exact frames it owns."""
from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from .ffcmd import Trim, ticks
from .retime import SegmentSlots
from .trim import Span


@dataclass(frozen=True)
class Segment:
    """Segment `index` owns source frames [first_frame, first_frame + frames) in display
    order (end exclusive). `unit` is the local file to encode: its piece of the video plus,
    for an open-GOP cut, the next keyframe and its leading pictures as context; `trim`
    keeps only the owned frames, in the unit's own time base."""

    index: int
    first_frame: int
    frames: int  # source frames owned
    expected: int  # frames the encoded segment must hold (owned frames × the filters' rate)
    duration: Fraction  # seconds of the source it covers
    trim: Trim
    unit: Path
    ext: str  # extension of the encoded segment's container ("nut", "mkv")
    shift: int = 0  # unit timestamp - source timestamp of the same frame, in unit ticks
    time_base: Fraction = Fraction(1)  # the unit's
    # With context: the owned frames' span in unit timestamps [start, end) (end None: to the
    # end), kept after the user's filters; `gap` is the smallest gap between two frames.
    window: Trim | None = None
    gap: int = 0
    first: Fraction | None = None  # where its first output frame is shown, when not at its first own frame
    clones: int = 0  # copies of its first frame a constant-rate single pass writes before it
    nbytes: int | None = None  # the unit's size when it was cut (it is deleted once the segment is done)
    slots: SegmentSlots | None = None  # the single pass's output slots it writes (a frame-rate change)

    def timeline_shift(self, origin: Fraction, source_tb: Fraction) -> int:
        """Unit ticks to take off so the filters see a single pass's timestamps: that pass
        starts its timeline at `origin` (seconds), rounded to the source's time base."""
        return self.shift + ticks(ticks(origin, source_tb) * source_tb, self.time_base)

    @property
    def owned(self) -> Trim:
        """The owned frames' span in unit timestamps, [start, end)."""
        if self.window is not None:
            return self.window
        half = self.gap // 2  # without context the trim before the filters sits half a gap early
        return Trim(self.trim.start + half, None if self.trim.end is None else self.trim.end + half)

    def keep(self, origin: Fraction, source_tb: Fraction, rate: Fraction,
             span: Span | None = None) -> tuple[Fraction, Fraction | None] | None:
        """What to keep after the filters, in seconds on the single pass's timeline: the
        owned frames (with context) and only those in `span` (an output trim), bounds set a
        quarter of an output frame early (between frames, safe from rounding). None: nothing
        to trim there."""
        if self.window is None and (span is None or span.whole):
            return None
        shift = self.timeline_shift(origin, source_tb) + Fraction(self.gap, 4) / rate
        start = (self.owned.start - shift) * self.time_base
        end = None if self.owned.end is None else (self.owned.end - shift) * self.time_base
        if span is not None:
            start = max(start, span.start)
            end = span.end if end is None else end if span.end is None else min(end, span.end)
        return start, end

    def starts_at(self, origin: Fraction, source_tb: Fraction) -> Fraction:
        """Seconds on the single pass's timeline where the segment's first frame is shown."""
        if self.first is not None:
            return self.first
        return (self.owned.start - self.timeline_shift(origin, source_tb)) * self.time_base

    @property
    def name(self) -> str:
        return f"{self.index:05d}"

    @property
    def input_name(self) -> str:
        return f"{self.name}.in{self.unit.suffix}"

    @property
    def output_name(self) -> str:
        return f"{self.name}.out.{self.ext}"

    @property
    def size(self) -> int:
        return self.nbytes if self.nbytes is not None else self.unit.stat().st_size

    def encoded_as(self, rate: Fraction, ext: str, clones: int = 0) -> Segment:
        """This segment once the encode is known: `rate` output frames per source frame
        (2 for a field-rate deinterlacer), encoded into a container with extension `ext`;
        `clones`: copies of the first frame in front, from the timeline's start (time 0)."""
        expected = self.frames * rate
        first = Fraction(0) if clones else self.first
        return replace(self, expected=round(expected) + clones, ext=ext, clones=clones, first=first)
