"""How much context each segment gets, and where its unit starts and ends."""
from fractions import Fraction

import pytest

from yaffmpegp.context import DEFAULT_WARMUP, context_frames
from yaffmpegp.plan import add_context, plan_cuts

from tests.unit.test_plan import TB, intra, open_gop


@pytest.mark.parametrize("chain,expected", [
    (None, (0, 0)), ("scale=320:-2", (0, 0)), ("bwdif", (2, 2)), ("yadif=mode=send_field", (2, 2)),
    ("bwdif,scale=640:-2,tmedian=radius=2", (5, 5)),
    ("hqdn3d", (round(DEFAULT_WARMUP * 25), 0)), ("hqdn3d=4:3:0:0", (0, 0)),
    ("bwdif,hqdn3d=8:6:12:9", (2 + round(DEFAULT_WARMUP * 25), 2)),
])
def test_context_frames_by_filter(chain, expected) -> None:
    assert context_frames(chain, Fraction(25), None) == expected


def test_context_seconds_set_the_warmup_and_zero_turns_context_off() -> None:
    assert context_frames("bwdif,hqdn3d", Fraction(30000, 1001), 10) == (2 + 300, 2)
    assert context_frames("bwdif,hqdn3d", Fraction(25), 0) == (0, 0)


def test_intra_context_starts_and_ends_frames_away_from_the_cuts() -> None:
    plan = add_context(plan_cuts(intra(250), TB, 2), intra(250), 3, 2)
    assert [c.index for c in plan.cuts] == [0, 50, 100, 150, 200]
    assert plan.starts == (0, 47, 97, 147, 197)
    assert plan.heads == (2, 2, 2, 2, 0)
    assert plan.boundaries == [0, 47, 50, 97, 100, 147, 150, 197, 200]
    assert plan.pieces_of(1) == (1, 4)  # whole pieces [47, 50), [50, 97), [97, 100); its head from [100, 147)
    assert plan.frames == (50, 50, 50, 50, 50)


def test_context_longer_than_a_segment_reaches_back_several_pieces() -> None:
    plan = add_context(plan_cuts(intra(250), TB, 2), intra(250), 120, 0)
    assert plan.starts == (0, 0, 0, 30, 80)
    assert plan.heads == (0, 0, 0, 0, 0)


def test_long_gop_context_starts_at_a_keyframe_and_heads_keep_leading_pictures() -> None:
    packets = open_gop(200, 25)
    plan = add_context(plan_cuts(packets, TB, 2), packets, 2, 1)
    keys = {i for i, p in enumerate(packets) if p.key}
    assert all(s in keys for s in plan.starts)
    for n in range(1, plan.segments):  # the context keyframe shows at or before 2 frames ahead of the cut
        assert packets[plan.starts[n]].pts <= plan.cuts[n].pts - 2
    # the next keyframe and its two leading B-frames at least
    assert all(h >= 3 for h in plan.heads[:-1]) and plan.heads[-1] == 0


def test_no_context_leaves_the_plan_alone() -> None:
    plan = plan_cuts(intra(100), TB, 2)
    assert add_context(plan, intra(100), 0, 0) is plan
    assert not plan.with_context and plan.start(1) == 50
