"""Where to cut: a pure function of the video's packet index and the wanted segment length.

Cuts fall on keyframes (the segment muxer cuts nowhere else). A keyframe of an open GOP has
*leading pictures*: packets after it in decode order that are shown before it and reference
the GOP before. Each piece then needs the next piece's keyframe and its leading pictures as
context (its "head") so that every frame it owns decodes; the encode trims the context away.

A segment owns the frames whose presentation time lies in [its cut, the next cut).
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
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
    # With context (filters that look at neighbouring frames): where each segment's unit
    # starts in decode order (a keyframe at or before its cut), and how many packets of the
    # next piece it takes after its last owned frame. Empty: no context.
    starts: tuple[int, ...] = ()
    heads: tuple[int, ...] = ()
    shown: tuple[int, ...] = ()  # every frame's timestamp, in display order (for trims)
    durations: tuple[int, ...] = ()  # their packets' durations (0: unknown), in the same order

    @property
    def segments(self) -> int:
        return len(self.cuts)

    @property
    def total_frames(self) -> int:
        return sum(self.frames)

    @property
    def with_context(self) -> bool:
        return bool(self.starts)

    @cached_property  # read for every unit (pieces_of, the split's spans): sorted once
    def boundaries(self) -> list[int]:
        """Decode-order packet numbers where pieces start: every cut, and every keyframe
        where a unit's context starts."""
        return sorted({c.index for c in self.cuts} | set(self.starts))

    @property
    def split_frames(self) -> list[int]:
        """Decode-order packet numbers to give the segment muxer's `segment_frames`."""
        return self.boundaries[1:]

    def start(self, segment: int) -> int:
        """Where segment `segment`'s unit starts (decode order)."""
        return self.starts[segment] if self.starts else self.cuts[segment].index

    def head_packets(self, segment: int) -> int:
        """Packets of the next piece that segment `segment` needs as context (0: none)."""
        if segment + 1 >= len(self.cuts):
            return 0
        if self.heads:
            return self.heads[segment]
        nxt = self.cuts[segment + 1]
        return nxt.lead + 1 if nxt.lead else 0

    def piece_packets(self, segment: int) -> int:
        """Packets from the segment's cut to the next cut."""
        end = self.cuts[segment + 1].index if segment + 1 < len(self.cuts) else self.packets
        return end - self.cuts[segment].index

    def pieces_of(self, segment: int) -> tuple[int, int]:
        """The pieces (indices into `boundaries`) unit `segment` is made of whole, [first,
        last), and the piece its head is taken from (== last) when it has one."""
        bounds = self.boundaries
        end = self.cuts[segment + 1].index if segment + 1 < len(self.cuts) else None
        first = bounds.index(self.start(segment))
        last = bounds.index(end) if end is not None else len(bounds)
        return first, last


def add_context(plan: Plan, packets: Sequence[Packet], before: int, after: int) -> Plan:
    """Give every segment `before` source frames ahead of its first and `after` frames past
    its last (display order), as far as the stream has them: the unit starts at the last
    keyframe that shows at or before the first context frame, and takes the next piece's
    packets up to the last context frame (and any leading pictures)."""
    if before <= 0 and after <= 0:
        return plan
    shown = sorted(p.pts for p in packets)
    keys = [i for i, p in enumerate(packets) if p.key]
    starts, heads = [], []
    for n, cut in enumerate(plan.cuts):
        start = cut.index
        if n and before > 0:
            target = shown[max(0, bisect_left(shown, cut.pts) - before)]
            start = max((k for k in keys if k <= cut.index and packets[k].pts <= target), default=keys[0])
        starts.append(start)
        if n + 1 < len(plan.cuts):
            nxt = plan.cuts[n + 1]
            end = plan.cuts[n + 2].index if n + 2 < len(plan.cuts) else len(packets)
            head = nxt.lead + 1 if nxt.lead else 0
            if after > 0:
                target = shown[min(len(shown) - 1, bisect_left(shown, nxt.pts) + after - 1)]
                need = [k for k in range(nxt.index, end) if packets[k].pts <= target]
                head = max(head, need[-1] - nxt.index + 1)
            heads.append(head)
        else:
            heads.append(0)
    return replace(plan, starts=tuple(starts), heads=tuple(heads))


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


# The shortest segment the tail's shaping cuts, in seconds. Every segment costs about as much
# again whatever its length (an encoder started and flushed, context decoded, a unit joined,
# transfers checked): 0.4-0.55 CPU-s measured for x264 veryfast on 480i, where a second of
# that video costs 1.1 CPU-s to encode. At 1 s that was +45 % on the tail's segments.
SHAPED_FLOOR = Fraction(2)


def plan_cuts(
    packets: Sequence[Packet],
    time_base: Fraction,
    segment_length: float,
    *,
    min_tail: float | None = None,
    slots: int = 0,
) -> Plan:
    """Cut at the first keyframe at or after each multiple of `segment_length` seconds.

    With `slots` (the encodes the hosts run at once), segments get shorter toward the end,
    each at most the time left divided by the slots (but not below a tenth of the length,
    nor below SHAPED_FLOOR seconds): the last round then ends at about the same time on every
    host, instead of one host encoding a whole last segment while the others wait.
    A last segment shorter than `min_tail` seconds (default: that floor; without slots, a
    fifth of the length, at least one second) is merged into
    the one before: a tiny segment fails or wastes a host.
    """
    if segment_length <= 0:
        raise ValueError("segment_length must be positive")
    keys = [i for i, p in enumerate(packets) if p.key]
    if not keys:
        raise InputError("the video has no keyframe: it cannot be decoded")
    length = Fraction(segment_length)
    floor = max(SHAPED_FLOOR, length / 10) if slots else max(Fraction(1), length / 5)
    first = keys[0]
    last = max(packets, key=lambda p: p.pts)
    last_pts = last.pts

    def step_after(pts: int) -> int:
        """Timestamps to the next cut from a cut at `pts`."""
        seconds = length
        if slots:
            seconds = min(length, max(floor, (last_pts - pts) * time_base / slots))
        return round(seconds / time_base)

    chosen = [first]
    target = packets[first].pts + step_after(packets[first].pts)
    for i in keys[1:]:
        if packets[i].pts >= target:
            chosen.append(i)
            target = packets[i].pts + step_after(packets[i].pts)
    tail_limit = Fraction(min_tail) if min_tail is not None else floor
    end = last_pts + last.duration  # the last frame's end (its duration when the demuxer gives it)
    if len(chosen) > 1 and (end - packets[chosen[-1]].pts) * time_base < tail_limit:
        chosen.pop()
    return _plan_at(packets, chosen)


def plan_at(packets: Sequence[Packet], cut_pts: Sequence[int]) -> Plan | None:
    """The plan cutting at exactly these timestamps (a plan an earlier run chose, to resume
    it whatever the hosts now), or None if they are not this video's keyframes."""
    keys = {p.pts: i for i, p in enumerate(packets) if p.key}
    if not cut_pts or any(pts not in keys for pts in cut_pts) or list(cut_pts) != sorted(cut_pts):
        return None
    if cut_pts[0] != packets[min(keys.values())].pts:
        return None
    return _plan_at(packets, [keys[pts] for pts in cut_pts])


def _plan_at(packets: Sequence[Packet], chosen: Sequence[int]) -> Plan:
    cuts = tuple(Cut(i, packets[i].pts, leading_pictures(packets, i) if n else 0)
                 for n, i in enumerate(chosen))
    order = sorted(packets, key=lambda p: p.pts)
    shown = [p.pts for p in order]
    edges = [bisect_left(shown, c.pts) for c in cuts] + [len(shown)]  # (frames before the first cut: none)
    frames = tuple(b - a for a, b in zip(edges, edges[1:]))
    return Plan(cuts, frames, len(packets), shown=tuple(shown), durations=tuple(p.duration for p in order))
