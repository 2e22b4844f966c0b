"""The unit of work: one segment of the video, with the exact frames it owns."""
from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from .ffcmd import Trim, ticks


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

    def timeline_shift(self, origin: Fraction, source_tb: Fraction) -> int:
        """Unit ticks to take off so the filters see a single pass's timestamps: that pass
        starts its timeline at `origin` (seconds), rounded to the source's time base."""
        return self.shift + ticks(ticks(origin, source_tb) * source_tb, self.time_base)

    def keep(self, origin: Fraction, source_tb: Fraction, rate: Fraction) -> tuple[Fraction, Fraction | None] | None:
        """The owned frames' span in seconds on the single pass's timeline, as the filters
        output it, with bounds set a quarter of an output frame early (between frames, safe
        from rounding)."""
        if self.window is None:
            return None
        shift = self.timeline_shift(origin, source_tb) + Fraction(self.gap, 4) / rate
        end = self.window.end
        return ((self.window.start - shift) * self.time_base,
                None if end is None else (end - shift) * self.time_base)

    def starts_at(self, origin: Fraction, source_tb: Fraction) -> Fraction:
        """Seconds on the single pass's timeline where the segment's first frame is shown."""
        key = self.window.start if self.window is not None else self.trim.start + self.gap // 2
        return (key - self.timeline_shift(origin, source_tb)) * self.time_base

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
        return self.unit.stat().st_size

    def encoded_as(self, rate: Fraction, ext: str) -> Segment:
        """This segment once the encode is known: `rate` output frames per source frame
        (2 for a field-rate deinterlacer), encoded into a container with extension `ext`."""
        expected = self.frames * rate
        return replace(self, expected=round(expected), ext=ext)
