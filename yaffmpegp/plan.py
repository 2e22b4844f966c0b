"""Where to cut: a pure function of the video's packet index and the wanted segment length.

Cuts fall on keyframes (the segment muxer cuts nowhere else). A keyframe of an open GOP has
*leading pictures*: packets after it in decode order that are shown before it and reference
the GOP before. Each piece then needs the next piece's keyframe and its leading pictures as
context (its "head") so that every frame it owns decodes; the encode trims the context away.

A segment owns the frames whose presentation time lies in [its cut, the next cut).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from .errors import InputError
from .probe import Packet


@dataclass(frozen=True)
class Cut:
    index: int  # position of the keyframe in decode order
    pts: int  # its presentation timestamp (stream time base)
    lead: int  # leading pictures that follow it in decode order


@dataclass(frozen=True)
class Plan:
    cuts: tuple[Cut, ...]  # cuts[0] is the first keyframe
    frames: tuple[int, ...]  # frames owned by each segment
    packets: int  # packets in the stream

    @property
    def segments(self) -> int:
        return len(self.cuts)

    @property
    def total_frames(self) -> int:
        return sum(self.frames)

    @property
    def split_frames(self) -> list[int]:
        """Decode-order packet numbers to give the segment muxer's `segment_frames`."""
        return [c.index for c in self.cuts[1:]]

    def head_packets(self, segment: int) -> int:
        """Packets of the next piece that segment `segment` needs as context (0: none)."""
        if segment + 1 >= len(self.cuts):
            return 0
        nxt = self.cuts[segment + 1]
        return nxt.lead + 1 if nxt.lead else 0

    def piece_packets(self, segment: int) -> int:
        end = self.cuts[segment + 1].index if segment + 1 < len(self.cuts) else self.packets
        return end - self.cuts[segment].index


def leading_pictures(packets: Sequence[Packet], key: int) -> int:
    """How many packets after keyframe `key` (decode order) are shown before it.

    Leading pictures come right after their keyframe in decode order; the scan stops at the
    next keyframe. The count is up to and including the last such packet.
    """
    kpts = packets[key].pts
    last = 0
    for offset in range(1, len(packets) - key):
        pkt = packets[key + offset]
        if pkt.key:
            break
        if pkt.pts < kpts:
            last = offset
        elif offset > 64:  # far past any reorder depth
            break
    return last


def plan_cuts(
    packets: Sequence[Packet],
    time_base: Fraction,
    segment_length: float,
    *,
    min_tail: float | None = None,
) -> Plan:
    """Cut at the first keyframe at or after each multiple of `segment_length` seconds.

    A last segment shorter than `min_tail` seconds (default: a fifth of the length, at
    least one second) is merged into the one before: a tiny segment fails or wastes a host.
    """
    if segment_length <= 0:
        raise ValueError("segment_length must be positive")
    keys = [i for i, p in enumerate(packets) if p.key]
    if not keys:
        raise InputError("the video has no keyframe: it cannot be decoded")
    step = round(Fraction(segment_length) / time_base)
    first = keys[0]
    start_pts = packets[first].pts
    last_pts = max(p.pts for p in packets)
    chosen = [first]
    target = start_pts + step
    for i in keys[1:]:
        if packets[i].pts >= target:
            chosen.append(i)
            target = packets[i].pts + step
    tail_limit = Fraction(min_tail if min_tail is not None else max(1.0, segment_length / 5))
    if len(chosen) > 1 and (last_pts - packets[chosen[-1]].pts) * time_base < tail_limit:
        chosen.pop()
    cuts = tuple(Cut(i, packets[i].pts, leading_pictures(packets, i) if n else 0)
                 for n, i in enumerate(chosen))
    bounds = [c.pts for c in cuts[1:]] + [None]
    frames = []
    for cut, end in zip(cuts, bounds):
        frames.append(sum(1 for p in packets if p.pts >= cut.pts and (end is None or p.pts < end)))
    return Plan(cuts, tuple(frames), len(packets))
