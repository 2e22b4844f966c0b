from fractions import Fraction

import pytest

from yaffmpegp.errors import InputError
from yaffmpegp.plan import leading_pictures, plan_at, plan_cuts
from yaffmpegp.probe import Packet

TB = Fraction(1, 25)  # one tick per frame at 25 fps


def open_gop(frames: int, gop: int) -> list[Packet]:
    """Decode order of an open-GOP stream with 2 B-frames: I P B B P B B ..., where the two
    B-frames after each non-first I are shown before it."""
    out: list[Packet] = []
    for start in range(0, frames, gop):
        out.append(Packet(start, True))
        if start:
            out += [Packet(start - 2, False), Packet(start - 1, False)]
        n = start + 3
        while n < min(start + gop, frames):
            out += [Packet(n, False), Packet(n - 2, False), Packet(n - 1, False)]
            n += 3
    # the stream ends: the last B-frames after the final P
    return [p for p in out if p.pts < frames]


def intra(frames: int) -> list[Packet]:
    return [Packet(i, True) for i in range(frames)]


def test_intra_only_cuts_exactly_at_the_length() -> None:
    plan = plan_cuts(intra(250), TB, 2)
    assert [c.pts for c in plan.cuts] == [0, 50, 100, 150, 200]
    assert plan.frames == (50, 50, 50, 50, 50)
    assert plan.split_frames == [50, 100, 150, 200]
    assert all(plan.head_packets(i) == 0 for i in range(plan.segments))


def test_cuts_fall_on_the_first_keyframe_at_or_after_each_target() -> None:
    packets = [Packet(i, i % 30 == 0) for i in range(200)]
    plan = plan_cuts(packets, TB, 2)  # targets 50, then 60+50 ...
    assert [c.pts for c in plan.cuts] == [0, 60, 120]
    assert plan.frames == (60, 60, 80)
    assert sum(plan.frames) == 200


def test_open_gop_cuts_carry_their_leading_pictures() -> None:
    packets = open_gop(120, 30)
    assert leading_pictures(packets, next(i for i, p in enumerate(packets) if p.pts == 30)) == 2
    plan = plan_cuts(packets, TB, 1.2)
    assert [c.pts for c in plan.cuts] == [0, 30, 60, 90]
    assert [c.lead for c in plan.cuts] == [0, 2, 2, 2]
    assert [plan.head_packets(i) for i in range(4)] == [3, 3, 3, 0]
    # each segment owns the frames shown in [cut, next cut): none lost or doubled
    # (the stream ends after the last P-frame and its B-frames: 118 frames)
    assert len(packets) == 118
    assert plan.frames == (30, 30, 30, 28)
    assert sum(plan.piece_packets(i) for i in range(plan.segments)) == len(packets)


def test_a_tiny_last_segment_is_merged_into_the_one_before() -> None:
    plan = plan_cuts(intra(51 * 25 // 5), TB, 2)  # 255 frames: the last cut would leave 5
    assert plan.frames[-1] == 55
    assert sum(plan.frames) == 255


def test_one_segment_when_the_video_is_short() -> None:
    plan = plan_cuts(intra(20), TB, 50)
    assert plan.segments == 1 and plan.frames == (20,) and plan.split_frames == []


def test_frames_before_the_first_keyframe_are_not_owned() -> None:
    packets = [Packet(0, False), Packet(1, False)] + [Packet(i, i % 10 == 2) for i in range(2, 40)]
    plan = plan_cuts(packets, TB, 100)
    assert plan.cuts[0].pts == 2 and plan.frames == (38,)


def test_no_keyframe_is_an_input_error() -> None:
    with pytest.raises(InputError):
        plan_cuts([Packet(i, False) for i in range(10)], TB, 1)


def test_tail_shaped_for_the_slots() -> None:
    """40 s of 1 s GOPs, 10 s segments, 3 slots: not four 10 s segments (the last round one
    host busy, two idle) but shorter ones toward the end, none below a tenth of the length."""
    packets = [Packet(pts=i, key=i % 25 == 0) for i in range(1000)]  # 25 fps, time base 1/25
    tb = Fraction(1, 25)
    assert [c.pts // 25 for c in plan_cuts(packets, tb, 10).cuts] == [0, 10, 20, 30]
    shaped = plan_cuts(packets, tb, 10, slots=3)
    starts = [c.pts // 25 for c in shaped.cuts]
    assert starts[:2] == [0, 10] and len(starts) > 4
    lengths = [b - a for a, b in zip(starts, starts[1:] + [40])]
    assert lengths[:-1] == sorted(lengths[:-1], reverse=True) and min(lengths) >= 1, lengths  # (the last: merged)
    assert shaped.total_frames == 1000
    # short segments: the shaping stops at SHAPED_FLOOR (2 s), not at a tenth of 4 s
    short = [c.pts // 25 for c in plan_cuts(packets, tb, 4, slots=3).cuts]
    assert min(b - a for a, b in zip(short, short[1:])) >= 2, short
    assert plan_cuts(packets, tb, 4, slots=3).total_frames == 1000
    # a last segment of exactly the floor is kept: measured to its last frame's end
    six = [Packet(pts=i, key=i % 25 == 0, duration=1) for i in range(150)]
    assert [c.pts // 25 for c in plan_cuts(six, tb, 2, slots=2).cuts] == [0, 2, 4]
    # a long input is cut as before until its last rounds
    long = [Packet(pts=i, key=i % 25 == 0) for i in range(25 * 600)]
    assert plan_cuts(long, tb, 10, slots=3).cuts[:50] == plan_cuts(long, tb, 10).cuts[:50]


def test_plan_at_an_earlier_runs_cuts() -> None:
    packets = [Packet(pts=i, key=i % 25 == 0) for i in range(1000)]
    tb = Fraction(1, 25)
    earlier = plan_cuts(packets, tb, 10, slots=3)
    assert plan_at(packets, [c.pts for c in earlier.cuts]) == earlier
    assert plan_at(packets, [0, 260]) is None  # not a keyframe
    assert plan_at(packets, [25, 250]) is None  # not the first keyframe
    assert plan_at(packets, []) is None
