"""What the pieces the segment muxer writes hold, known from the source's packet index
instead of an ffprobe of each piece.

The segment muxer copies packets, so a piece holds the source's packets from its cut to the
next, in decode order. Their timestamps are the source's in the piece's time base, all moved
by one offset (the mux's shift that keeps decode timestamps non-negative). When the piece's
time base divides the source's, that map is exact: pts * scale + offset. It is learned from
the first piece ffprobe reads and checked there packet by packet; every later piece is then
checked against the segment muxer's own list of where it cut (its CSV segment list), which
costs a file read where an ffprobe costs a process (~0.06 CPU-s each, most of a fast
encode's per-segment overhead).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from .ffcmd import ticks
from .probe import Packet

MICROSECOND = Fraction(1, 10**6)


@dataclass(frozen=True)
class PieceClock:
    """Piece pts = source pts * scale + offset, in the pieces' time base `tb`."""

    tb: Fraction
    scale: int
    offset: int

    @classmethod
    def learn(cls, source: Sequence[Packet], start: int, source_tb: Fraction, tb: Fraction,
              probed: Sequence[Packet]) -> PieceClock | None:
        """The map, if `probed` (a piece or unit read by ffprobe, starting at source packet
        `start`) follows it exactly; None when the time bases do not divide or anything
        differs."""
        scale = source_tb / tb
        if scale.denominator != 1 or not probed or start + len(probed) > len(source):
            return None
        clock = cls(tb, int(scale), probed[0].pts - source[start].pts * int(scale))
        return clock if clock.matches(source, start, probed) else None

    def packets(self, source: Sequence[Packet], start: int, end: int) -> list[Packet]:
        """Source packets [start, end) as the pieces hold them (durations are not mapped:
        the muxers may write their own)."""
        return [Packet(p.pts * self.scale + self.offset, p.key) for p in source[start:end]]

    def matches(self, source: Sequence[Packet], start: int, probed: Sequence[Packet], moved: bool = False) -> bool:
        """Whether `probed` holds the source's packets from `start` on as the map puts them;
        `moved`: up to one shift of all of them (a unit the concat demuxer joined starts
        at 0)."""
        mapped = self.packets(source, start, start + len(probed))
        if len(mapped) != len(probed):
            return False
        by = probed[0].pts - mapped[0].pts if moved and probed else 0
        return [(p.pts + by, p.key) for p in mapped] == [(p.pts, p.key) for p in probed]

    def start_time(self, source: Sequence[Packet], start: int) -> Fraction:
        """The start time ffprobe's `format=start_time` gives a piece starting at source
        packet `start`: its first packet's timestamp in decode order (an open GOP's leading
        pictures, shown earlier, do not count), in whole microseconds rounded as
        av_rescale_q does. A unit joined with it is read back and checked."""
        return ticks((source[start].pts * self.scale + self.offset) * self.tb, MICROSECOND) * MICROSECOND


def first_packets_end(clock: PieceClock, source: Sequence[Packet], start: int, n: int) -> Fraction | None:
    """A concat `outpoint` that keeps exactly the first `n` packets of the piece starting at
    source packet `start`: packet n's timestamp, rounded down to the microsecond (the concat
    demuxer ends a file at the first decode timestamp that reaches it). Only for a stream
    that never reorders (see `in_order`), whose decode timestamps are the presentation ones;
    None when the piece has no packet n."""
    if start + n >= len(source):
        return None
    seconds = (source[start + n].pts * clock.scale + clock.offset) * clock.tb
    return Fraction(math.floor(seconds / MICROSECOND)) * MICROSECOND


def in_order(source: Sequence[Packet]) -> bool:
    """Whether every packet is shown after the one decoded before it (no reordering)."""
    return all(b.pts > a.pts for a, b in zip(source, source[1:]))


def parse_segment_list(text: str) -> dict[str, float]:
    """Start times by file name, from the segment muxer's `-segment_list_type csv` list
    (`name,start,end` a line, written as each piece is closed)."""
    starts: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.rsplit(",", 2)
        if len(parts) != 3 or not parts[0]:
            continue
        try:
            starts[parts[0].strip('"')] = float(parts[1])
        except ValueError:
            continue
    return starts


def listed_as(listed: dict[str, float], name: str, start_time: Fraction | None) -> bool:
    """Whether the segment muxer's list says piece `name` starts at `start_time` (what the
    clock derives for it). The list's times are the pieces' own first timestamps, printed
    to the microsecond, except the first piece's (listed at 0): it is probed instead.
    False when the piece is not listed yet."""
    return start_time is not None and name in listed and abs(listed[name] - float(start_time)) <= 1.5e-6
