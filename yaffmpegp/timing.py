"""Where each segment's frames go on the output's timeline, as a single pass times them.

Worked out once per run from the plan and the preflight: the timeline's origin, an output
trim's kept frames (-ss/-t/-to), copies of a late first frame (into MP4), or the output's
slots when its frame timing is not the frames' own (retime.py); and from these, how many
frames each segment writes, how long each lasts in the join, and where the joined video sits.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from fractions import Fraction

from .errors import UsageError
from .ffcmd import ticks
from .ffopts import RoutedOptions
from .join import FinalMux
from .plan import Plan
from .preflight import Preflight
from .probe import MediaInfo, Stream
from .retime import Clock, Retimed, auto_method, guessed_rate, retime
from .trim import Kept, Span, kept_frames, video_move


@dataclass(frozen=True)
class Timing:
    span: Span  # the output trim, as the single pass applies it to the encoded video
    kept: dict[int, Kept] | None  # with an output trim: the segments holding wanted frames
    retimed: Retimed | None  # the output's slots per segment (a frame-rate or timing change)
    clones: int  # copies of the first frame a constant-rate single pass writes before it

    def frames(self, plan: Plan, rate: Fraction) -> int:
        """Video frames the output holds."""
        if self.kept is not None:
            return sum(k.frames for k in self.kept.values()) + self.clones
        if self.retimed is not None:
            return self.retimed.frames
        return round(plan.total_frames * rate) + self.clones

    def order(self, plan: Plan) -> list[int]:
        """The segments joined, in order."""
        return sorted(self.kept) if self.kept is not None else list(range(plan.segments))

    def durations(self, plan: Plan, vstream: Stream, rate: Fraction) -> list[Fraction]:
        """How long each joined segment but the last lasts: until the next one's first frame."""
        if self.retimed is not None:
            return [Fraction(x.span) / self.retimed.rate for x in self.retimed.segments[:-1]]
        if self.kept is not None:  # each segment's first frame where a single pass puts it: on its grid
            grid = vstream.frame_rate * rate if vstream.frame_rate else None
            at = [on_grid(self.kept[k].first - self.span.start, grid) for k in self.order(plan)]
            if self.clones:  # the first one starts with copies of its first frame, at the trim's start
                at[0] = Fraction(0)
            return [b - a for a, b in zip(at, at[1:])]
        if self.clones:  # a constant-rate output from 0: every frame sits on its slot
            slot = 1 / (vstream.frame_rate * rate)
            return [(round(n * rate) + (self.clones if not i else 0)) * slot for i, n in enumerate(plan.frames[:-1])]
        return [(b.pts - a.pts) * vstream.time_base for a, b in zip(plan.cuts, plan.cuts[1:])]


def work_out(media: MediaInfo, pre: Preflight, routed: RoutedOptions, plan: Plan) -> Timing:
    vstream = media.stream(pre.video_in)
    span = kept_span(vstream, pre, routed)
    user, kept = routed.span, None
    if not user.whole:
        duration = None if user.end is None else user.end - user.start
        kept = kept_frames(plan, vstream.time_base, timeline_origin(media, pre), pre.rate, span, duration)
        if kept and duration is not None:  # the trim filter's end: the duration after the first frame kept
            end = kept[min(kept)].first + duration
            span = Span(span.start, end if span.end is None else min(span.end, end))
    retimed = plan_retime(media, pre, routed, plan)
    clones = 0 if retimed else initial_clones(media, pre, routed, plan, kept)
    return Timing(span, kept, retimed, clones)


def plan_retime(media: MediaInfo, pre: Preflight, routed: RoutedOptions, plan: Plan) -> Retimed | None:
    """Where a single pass puts each frame when its output's timing is not the frames' own:
    a rate change (-r), a speed change (a trailing setpts), or frames dropped or repeated by
    the output's constant or variable rate. None: each segment's own encode gives the same."""
    timing = routed.timing  # (the segments' options may have lost -r and a trailing filter; this has not)
    copyts = any(o.name == "copyts" for o in routed.all)
    if pre.rate != 1 or copyts:
        if timing.asked:
            raise UsageError("a frame-rate or speed change (-r, fps, setpts) is not yet exact with filters that "
                             "change the frame count or -copyts: do it in a pass of its own")
        return None
    if not routed.span.whole:
        if timing.asked:
            raise UsageError("a frame-rate or speed change (-r, fps, setpts) is not yet exact with -ss/-t/-to: "
                             "do it in a pass of its own")
        if pre.cfr and _retimed(media, pre, routed, plan) is not None:
            raise UsageError("-ss/-t/-to on a variable-frame-rate video into a constant-rate container (MP4, MOV) "
                             "is not yet exact: ffmpeg repeats and drops frames there; trim into Matroska, or "
                             "convert the frame rate in a pass of its own")
        return None
    return _retimed(media, pre, routed, plan)


def _retimed(media: MediaInfo, pre: Preflight, routed: RoutedOptions, plan: Plan) -> Retimed | None:
    timing = routed.timing
    vstream = media.stream(pre.video_in)
    sink = guessed_rate(vstream.frame_rate, vstream.avg_frame_rate)
    rate = timing.rate or timing.fps or sink
    if not rate:
        return None
    method = timing.method or auto_method(pre.cfr, pre.muxer == "avi", len(media.streams) == 1)
    clock = Clock(method, rate, sink, vstream.time_base, not timing.filtered, timing.speed, timing.fps)
    first = bisect_left(plan.shown, plan.cuts[0].pts)
    offset = ticks(timeline_origin(media, pre), vstream.time_base)
    return retime(plan.shown, plan.durations, first, plan.frames, clock, offset, timing.asked)


def initial_clones(media: MediaInfo, pre: Preflight, routed: RoutedOptions, plan: Plan,
                   kept: dict[int, Kept] | None = None) -> int:
    """Copies of the first frame a single pass writes before it: into a constant-rate output
    (MP4, MOV), from an input of several streams, with no -vsync/-fps_mode of the user's and
    no trim, ffmpeg fills the time from the timeline's start to a late first frame by
    repeating it (seen: an MKV whose video starts 23 ms after its audio gives one frame more
    in MP4). The first segment is then encoded at a constant rate from 0, as the single pass.
    With an output trim (`kept`) the timeline starts at -ss, and the first kept frame counts."""
    vstream = media.stream(pre.video_in)
    user_sync = any(o.name in ("vsync", "fps_mode", "r") for o in routed.all)
    if not pre.cfr or user_sync or len(media.streams) < 2 or not vstream.frame_rate or kept == {}:
        return 0
    if kept is not None:
        first = kept[min(kept)].first - routed.span.start
    else:
        first = plan.cuts[0].pts * vstream.time_base - timeline_origin(media, pre)
    delta = float(first * vstream.frame_rate * pre.rate) + 1  # a frame's duration past it
    return round(delta) - 1 if delta > 1.1 else 0  # lrintf, as ffmpeg counts


def kept_span(vstream: Stream, pre: Preflight, routed: RoutedOptions) -> Span:
    """The output trim, as the single pass applies it to the encoded video."""
    return routed.span.on_grid(vstream.frame_rate * pre.rate if vstream.frame_rate else None)


def timeline_origin(media: MediaInfo, pre: Preflight) -> Fraction:
    """Where a single pass starts its timeline: the earliest start of the streams it reads
    (seen on MPEG-TS: with the audio mapped, its earlier start counts; with -an, not)."""
    starts = [media.stream(m.input_index).start_time for m in pre.mapping]
    known = [t for t in starts if t is not None]
    seconds = min(known) if known else media.start_time
    return Fraction(seconds).limit_denominator(10**6)  # ffprobe prints microseconds


def on_grid(seconds: Fraction, rate: Fraction | None) -> Fraction:
    """A time snapped to the encoder's frame grid (1/rate), as a single ffmpeg pass puts the
    first frame: 0.023 s at 25 fps becomes 0.040 s."""
    if not rate:
        return seconds
    return Fraction(math.floor(seconds * rate + Fraction(1, 2))) / rate


def final_mux(media: MediaInfo, pre: Preflight, routed: RoutedOptions, plan: Plan, timing: Timing) -> FinalMux:
    """The final mux: the joined video placed where a single pass shows its first frame."""
    vstream = media.stream(pre.video_in)
    kept, clones, retimed = timing.kept, timing.clones, timing.retimed
    rate = vstream.frame_rate * pre.rate if vstream.frame_rate else None
    if retimed is not None:
        offset = retimed.starts_at
    elif kept:  # the final mux trims the other streams itself (the user's -ss/-t/-to are its options)
        start = routed.span.start
        offset = start if clones else start + on_grid(kept[min(kept)].first - start, rate)
    elif clones:
        offset = Fraction(0)  # the first segment starts with copies of its first frame, at 0
    else:
        offset = on_grid(plan.cuts[0].pts * vstream.time_base - timeline_origin(media, pre), rate)
    move, read_until, opts = _trimmed(pre, routed, kept, offset, rate)
    return FinalMux(
        source=media.path,
        mapping=pre.mapping,
        video_out=pre.video_out,
        copy_outputs=(pre.video_out, *pre.other_video_outs),
        user_final_opts=opts,
        read_until=read_until,
        offset=float(offset),
        # "encoder" is ffmpeg's to write for an encoded stream (the segments carry it)
        video_tags=tuple((k, v) for k, v in vstream.tags.items() if k.lower() != "encoder"),
        expected_streams=pre.streams,
        field_order=pre.field_order,
        rotation=pre.rotation,
        mux_opts=pre.mux_opts,
        video_move=move,
        remux_opts=routed.muxer,
    )


def _trimmed(pre: Preflight, routed: RoutedOptions, kept: dict[int, Kept] | None, offset: Fraction,
             rate: Fraction | None) -> tuple[Fraction, Fraction | None, tuple[str, ...]]:
    """How the final mux applies an output trim: (how far it moves the joined video, where
    it stops reading the source, its options). Best: the user's -ss/-t/-to as they are, so
    the audio is trimmed and encoded as in a single pass (an encoder with frames of a fixed
    size drops a last partial frame that starts at -t), the video moved so ffmpeg keeps all
    of it (trim.video_move) and moved back by a second mux. Where a move is needed and the
    second mux is not exact (the container) or it cannot fit, the source is read only up to
    the trim's end instead, which gives the same audio for PCM, FLAC and AAC but not Opus."""
    span = routed.span
    if not kept:
        return Fraction(0), span.end, routed.final_without_end
    lead = offset - span.start
    last = on_grid(kept[max(kept)].last - span.start, rate)
    duration = None if span.end is None else span.end - span.start
    move = video_move(lead, last, pre.reorder_delay, pre.shift_step, duration, routed.seeks)
    if move == 0 or (move is not None and pre.remux_exact):
        return move, None, routed.final
    # (a B-frame encoder with -ss into a container whose remux is not exact was refused)
    move = video_move(lead, last, pre.reorder_delay, pre.shift_step, None, routed.seeks)
    return (move or Fraction(0)) if pre.remux_exact else Fraction(0), span.end, routed.final_without_end
