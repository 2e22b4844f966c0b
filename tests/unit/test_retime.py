"""retime.py: ffmpeg 5.1's output frame timing, worked out ahead, and each segment's share
(rateopts.py: what the user's options say of it).

The totals below are what ffmpeg 5.1.9 wrote for a 10 s, 25 fps H.264 MP4 (time base
1/12800, every packet 512 ticks) with the same options, counted with framemd5; the frame-
by-frame sequences were checked against the same runs' frame hashes.
"""
from __future__ import annotations

import math
import re
from fractions import Fraction

import pytest

from yaffmpegp.errors import UsageError
from yaffmpegp.rateopts import parse_fps, parse_rate, parse_setpts, user_timing, without_timing
from yaffmpegp.retime import (CFR, VFR, VSCFR, Clock, Speed, _member, _steps, auto_method, fps_filter, guessed_rate,
                              is_identity, retime, segment_slots, vsync)

TB = Fraction(1, 12800)
PTS = [512 * k for k in range(250)]
DUR = [512] * 250


def clock(method: str, rate: int, filtered: bool = False, speed: Speed | None = None) -> Clock:
    return Clock(method, Fraction(rate), Fraction(25), TB, not filtered, speed)


@pytest.mark.parametrize("method,rate,total", [
    (VSCFR, 30, 300), (VSCFR, 10, 102), (VSCFR, 24, 242),  # into MP4 from a one-stream input
    (VFR, 30, 250), (VFR, 10, 101), (VFR, 24, 241),  # into MKV
])
def test_frame_counts_are_ffmpegs(method, rate, total) -> None:
    assert vsync(PTS, DUR, clock(method, rate)).total == total


def test_speed_up_into_mp4_keeps_every_second_frame() -> None:
    slots = vsync(PTS, DUR, clock(VSCFR, 25, filtered=True, speed=Speed(0.5)))
    assert slots.total == 127  # ffmpeg: 127 frames for setpts=0.5*PTS


def test_down_to_10_fps_drops_as_ffmpeg_does() -> None:
    slots = vsync(PTS, DUR, clock(VSCFR, 10))
    assert slots.first[:12] == (0, 1, 2, 3, 3, 4, 4, 4, 5, 5, 6, 6)
    assert slots.count[:12] == (1, 1, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0)


def test_up_to_30_fps_repeats_and_slots_are_consecutive() -> None:
    slots = vsync(PTS, DUR, clock(VSCFR, 30))
    shown = [(f, c) for f, c in zip(slots.first, slots.count) if c]
    assert all(a + n == b for (a, n), (b, _) in zip(shown, shown[1:]))
    assert max(slots.count) == 2


def test_a_late_first_frame_into_mp4_is_repeated_from_0() -> None:
    """An input of several streams (CFR, not VSCFR): the time before a late first frame is
    filled with copies of it, as ffmpeg writes them."""
    late = [p + 512 for p in PTS[:10]]
    slots = vsync(late, DUR[:10], clock(CFR, 25))
    assert slots.first[0] == 0 and slots.count[0] == 2
    assert vsync(late, DUR[:10], clock(VSCFR, 25)).first[0] == 1  # one stream: it starts late


def test_constant_rate_source_needs_nothing_worked_out() -> None:
    c = clock(VSCFR, 25)
    assert is_identity(vsync(PTS, DUR, c), PTS, c, starts=[0, 50, 100])
    assert retime(PTS, DUR, 0, [50, 50, 150], c, 0, asked=False) is None


def test_a_segment_start_off_the_grid_needs_the_slots() -> None:
    jitter = [p + (40 if k == 50 else 0) for k, p in enumerate(PTS)]  # 3 ms late, as phones record
    c = clock(VFR, 25)
    slots = vsync(jitter, DUR, c)
    assert is_identity(slots, jitter, c, starts=[0]) and not is_identity(slots, jitter, c, starts=[0, 50])
    assert retime(jitter, DUR, 0, [50, 200], c, 0, asked=False) is not None


def _value(expression: str, n: int) -> int:
    """Evaluate one of our expressions as ffmpeg would, for N (setpts) or n (select)."""
    py = expression.replace("N", str(n)).replace("n,", f"{n},")
    py = re.sub(r"gte\((\d+),(\d+)\)", r"int(\1>=\2)", py)
    py = re.sub(r"between\((\d+),(\d+),(\d+)\)", r"int(\2<=\1<=\3)", py)
    py = re.sub(r"eq\((\d+),(\d+)\)", r"int(\1==\2)", py)
    return int(eval(py, {"floor": math.floor}))  # noqa: S307 - our own expression


@pytest.mark.parametrize("values", [
    [0, 1, 2, 3, 4], [0, 0, 0], [0, 1, 1, 2, 4, 5, 5, 9], [3, 4, 6, 7, 9, 10, 12],
    [k * 6 // 5 for k in range(60)], [k * 2 // 5 for k in range(60)],
])
def test_step_expressions_give_each_value(values) -> None:
    expression = _steps(values)
    assert [_value(expression, n) for n in range(len(values))] == values


def test_member_expressions_select_each_kept_frame() -> None:
    flags = [True, True, False, True, False, False, True, False]
    expression = _member(flags)
    assert [bool(_value(expression, n)) for n in range(len(flags))] == flags
    assert _member([True] * 5) is None


def test_segments_share_the_slots_without_gap_or_overlap() -> None:
    c = clock(VSCFR, 30)
    slots = vsync(PTS, DUR, c)
    parts = segment_slots(slots, [0, 50, 100, 250], gaps=False)
    assert [p.start for p in parts] == [0, 60, 120]
    assert sum(p.span for p in parts) == slots.total == sum(p.frames for p in parts)
    for p, (a, b) in zip(parts, [(0, 50), (50, 100), (100, 250)]):
        # the expression's value after the last frame is where the segment ends (fps stops there)
        assert _value(p.expression, b - a) == p.span
        assert "fps=30/1" in p.filter(Fraction(30)) and f"trim=end_frame={p.span}" in p.filter(Fraction(30))


def test_variable_rate_segments_leave_dropped_frames_out() -> None:
    slots = vsync(PTS, DUR, clock(VFR, 10))
    parts = segment_slots(slots, [0, 50, 250], gaps=True)
    assert sum(p.frames for p in parts) == 101
    assert all("select=" in p.filter(Fraction(10)) and "fps=" not in p.filter(Fraction(10)) for p in parts)


def test_a_segment_left_without_frames_is_refused() -> None:
    slots = vsync(PTS[:10], DUR[:10], clock(VSCFR, 1))
    with pytest.raises(UsageError, match="longer --segment-length"):
        segment_slots(slots, [0, 1, 2, 10], gaps=False)


@pytest.mark.parametrize("expr,speed", [
    ("0.5*PTS", Speed(0.5)), ("PTS*2", Speed(2.0)), ("PTS/2", Speed(2.0, divide=True)),
    ("'0.25*PTS'", Speed(0.25)), ("PTS-STARTPTS", Speed(1.0, from_start=True)),
    ("2*(PTS-STARTPTS)", Speed(2.0, from_start=True)),
    ("PTS+0.5/TB", None), ("N/FRAME_RATE/TB", None), ("PTS-STARTPTS*2", None), ("0*PTS", None),
])
def test_only_linear_setpts_is_a_speed(expr, speed) -> None:
    assert parse_setpts(expr) == speed


def test_setpts_truncates_as_ffmpeg() -> None:
    assert Speed(0.5).apply(7, 0) == 3 and Speed(3.0, divide=True).apply(10, 0) == 3
    assert Speed(1.0, from_start=True).apply(1000, 400) == 600


@pytest.mark.parametrize("text,rate", [("30", 30), ("30000/1001", Fraction(30000, 1001)), ("ntsc", Fraction(30000, 1001)),
                                       ("pal", 25), ("23.976", Fraction(2997, 125)), ("film", 24)])
def test_rates(text, rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "0", "-5", "1/0"])
def test_bad_rates_are_refused(text) -> None:
    with pytest.raises(UsageError):
        parse_rate(text)


def test_ffmpegs_own_choice_of_method() -> None:
    assert auto_method(cfr_muxer=True, avi=False, single_stream_input=False) == CFR
    assert auto_method(cfr_muxer=True, avi=False, single_stream_input=True) == VSCFR
    assert auto_method(cfr_muxer=False, avi=False, single_stream_input=True) == VFR
    assert auto_method(cfr_muxer=False, avi=True, single_stream_input=False) == VFR


def test_guessed_rate_prefers_the_average_for_a_wild_base_rate() -> None:
    assert guessed_rate(Fraction(90000), Fraction(30)) == 30
    assert guessed_rate(Fraction(30), Fraction(27)) == 30


class _Opt:
    def __init__(self, name: str, value: str | None, stream_type: str | None = None) -> None:
        self.name, self.value, self.stream_type = name, value, stream_type


def test_user_timing_and_what_segments_lose() -> None:
    opts = [_Opt("vsync", "cfr"), _Opt("r", "30", "v"), _Opt("fps_mode", "vfr", "v"), _Opt("r", "12", "a")]
    timing = user_timing(opts, "scale=160:-2,setpts=0.5*PTS")
    assert timing.rate == 30 and timing.method == VFR and timing.speed == Speed(0.5) and timing.filtered
    assert timing.asked and not user_timing([], None).asked
    assert without_timing(("-crf", "20", "-r:v", "30", "-fps_mode", "cfr", "-preset", "fast"),
                          "scale=160:-2,setpts=0.5*PTS") == (("-crf", "20", "-preset", "fast"), "scale=160:-2")
    assert without_timing((), "setpts=2*PTS") == ((), None)


@pytest.mark.parametrize("rate,total", [(30, 300), (10, 100)])
def test_fps_filter_counts_are_ffmpegs(rate, total) -> None:
    """ffmpeg 5.1.9: -vf fps=30 / fps=10 on the 10 s source write 300 / 100 frames (MKV and MP4)."""
    assert len(fps_filter(PTS, DUR, TB, Fraction(rate))) == total
    for method in (VFR, VSCFR):
        assert vsync(PTS, DUR, Clock(method, Fraction(rate), Fraction(25), TB, False, None, Fraction(rate))).total == total


def test_fps_filter_shows_the_last_frame_at_or_before_each_slot() -> None:
    shown = fps_filter([0, 100, 130, 400], [100, 30, 270, 0], Fraction(1, 100), Fraction(1))
    assert shown == [0, 2, 2, 2]  # 1 s grid: slot 1 shows the frame at 1.3 s (rounded to 1)


@pytest.mark.parametrize("args,rate", [("30", 30), ("fps=25", 25), ("30000/1001", Fraction(30000, 1001)),
                                       ("ntsc", Fraction(30000, 1001)), ("30:round=up", None),
                                       ("fps=30:start_time=0", None), ("source_fps*2", None), ("", None)])
def test_only_a_plain_fps_filter_is_worked_out(args, rate) -> None:
    assert parse_fps(args) == rate


def test_a_trailing_fps_is_timing_the_segments_lose() -> None:
    timing = user_timing([], "yadif,fps=30")
    assert timing.fps == 30 and timing.asked
    assert without_timing((), "yadif,fps=30") == ((), "yadif")
