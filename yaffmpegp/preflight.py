"""Before anything is split: run the user's command on the first second of the input.

It fails fast on options ffmpeg rejects, and tells how a single pass would come out: which
input streams map to which outputs with which encoders (ffmpeg's own choice, or the user's
-map), what the output streams are, and which intermediate container holds the encoded
video. Nothing here guesses ffmpeg's rules; ffmpeg is asked.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .errors import OptionsError, UsageError
from .ffcmd import PREFLIGHT_SECONDS, Mapping, autorotate_filter, parse_mapping, preflight_args, segment_preflight_args
from .ffopts import RoutedOptions
from .join import StreamShape
from .probe import MediaInfo, Stream, count_frames, first_error_line, probe_media, run_tool
from .trim import SHIFTABLE_MUXERS, common_step

# Intermediate containers, best first: NUT keeps exact time bases; Matroska takes the rest.
INTERMEDIATES = (("nut", "nut"), ("matroska", "mkv"))


# Muxers without variable frame rate: ffmpeg's default there repeats and drops frames to keep
# a constant rate (for the others it keeps timestamps as they come).
CFR_FORMATS = {"mov", "mp4", "m4a", "3gp", "3g2", "mj2", "ipod", "psp", "ismv", "f4v", "mpeg", "vob", "dvd",
               "svcd", "vcd"}


@dataclass(frozen=True)
class Preflight:
    mapping: tuple[Mapping, ...]
    video_in: int  # source stream index of the video to encode in parallel
    video_out: int  # its output index
    encoder: str | None  # None: the user copies the video (nothing to parallelize)
    other_video_outs: tuple[int, ...]
    streams: tuple[StreamShape, ...]  # what the single pass writes
    fmt: str  # intermediate container for encoded segments
    rate: Fraction  # output frames per input frame of the encoded video
    field_order: str | None = None  # what a single pass records for the video (NUT keeps none)
    upright: str | None = None  # filters that apply the source's display matrix (autorotate)
    rotation: float = 0.0  # the display matrix a single pass writes (-noautorotate into MP4)
    mux_opts: tuple[str, ...] = ()  # for the final mux, to write the video as a single pass does
    cfr: bool = False  # the output's muxer makes ffmpeg keep a constant frame rate (MP4, MOV, PS)
    encoded_per_second: float = 0.0  # bytes of encoded video per second of source, from the sample
    muxer: str = ""  # the output's format, as ffprobe names it
    # With an output trim, the final mux moves the joined video and a second one moves it back
    # (trim.video_move): how long before showing a frame its encoder decodes it (B-frames),
    # the moves' unit, and whether a remux gives this output's streams back as they were.
    reorder_delay: Fraction = Fraction(0)
    shift_step: Fraction = Fraction(1, 1000)
    remux_exact: bool = False

    @property
    def ext(self) -> str:
        return dict(INTERMEDIATES)[self.fmt]


async def run_preflight(media: MediaInfo, routed: RoutedOptions, output: Path, workdir: Path,
                        ffmpeg: str = "ffmpeg", ffprobe: str = "ffprobe") -> Preflight:
    # Both runs at once when the user named the video encoder: the segment run guesses
    # ffmpeg's video choice (checked after). Otherwise the segment run needs the encoder
    # ffmpeg picks for the output, which the single-pass sample tells.
    guess = media.video_streams[0].index
    named = routed.video_codec is not None
    single, segment = await asyncio.gather(
        _single_pass_sample(media, routed, output, workdir, ffmpeg, ffprobe),
        _intermediate(media, guess, routed, workdir, ffmpeg, ffprobe) if named else _nothing(),
        return_exceptions=True,
    )
    if isinstance(single, BaseException):
        raise single  # the user's own command failing says most
    mapping, streams, out_info = single
    out_streams = out_info.streams
    videos = {s.index for s in media.video_streams}
    vids = [m for m in mapping if m.input_index in videos]
    if not vids:
        raise UsageError("these options write no video stream: nothing to encode in parallel")
    main = vids[0]
    field_order = next((s.field_order for s in out_streams if s.index == main.output_index), None)
    if field_order == "unknown":
        field_order = None
    if main.encoder is None:
        return Preflight(mapping, main.input_index, main.output_index, None, (), streams, "nut", Fraction(1))
    upright = autorotate_filter(media.stream(main.input_index).rotation) if routed.autorotate else None
    if main.input_index != guess or not named:
        segment = await _intermediate(media, main.input_index, routed, workdir, ffmpeg, ffprobe,
                                      encoder=main.encoder, upright=upright)
    if isinstance(segment, BaseException):
        raise segment
    fmt, rate, sample_bytes, sample_video = segment
    others = tuple(m.output_index for m in mapping
                   if m.output_index != main.output_index and _is_video(media, m.input_index))
    out_video = next((s for s in out_streams if s.index == main.output_index), None)
    rotation = out_video.rotation if out_video else 0.0
    delay, step, exact = _moves(sample_video, out_video, out_info, routed.seeks)  # (no sample video: no trim)
    return Preflight(mapping, main.input_index, main.output_index, main.encoder, others, streams, fmt, rate,
                     field_order, upright, rotation, _track_timescale(out_info, out_video),
                     bool(set(out_info.format_name.split(",")) & CFR_FORMATS), sample_bytes / PREFLIGHT_SECONDS,
                     out_info.format_name, delay, step, exact)


def _moves(segment: Stream | None, out: Stream | None, out_info: MediaInfo,
           ss: bool) -> tuple[Fraction, Fraction, bool]:
    """For the final mux of a trim (trim.video_move): the encoder's reorder delay, and the
    moves' unit: whole ticks of the segments' and the output's time bases, and into MP4 and
    MOV of the movie's time scale (milliseconds), in which the empty edit that carries a move
    is written; and whether a remux of this output gives its streams back as they were (not
    into other containers, nor Opus in Matroska: ffmpeg 5.1 moves the video by Opus's codec
    delay and lengthens the file). An -ss with a reordering encoder needs a move."""
    if segment is None or out is None:
        return Fraction(0), Fraction(1, 1000), False
    names = set(out_info.format_name.split(","))
    rate = segment.avg_frame_rate or segment.frame_rate
    delay = segment.has_b_frames / rate if segment.has_b_frames and rate else Fraction(0)
    opus_in_mkv = bool(names & {"matroska", "webm"}) and any(s.codec_name == "opus" for s in out_info.streams)
    movie = [Fraction(1, 1000)] if names & {"mov", "mp4"} else []
    step = common_step([segment.time_base, out.time_base, *movie])
    if not names & SHIFTABLE_MUXERS or opus_in_mkv:
        if ss and segment.has_b_frames and opus_in_mkv:
            raise UsageError("-ss after the input with a video encoder that reorders frames (B-frames) and Opus "
                             "audio into Matroska is not exact (ffmpeg moves the video when it copies such a "
                             "file): use -bf 0, or AAC or FLAC audio")
        if ss and segment.has_b_frames:
            raise UsageError(f"-ss after the input with a video encoder that reorders frames (B-frames) is "
                             f"exact into Matroska, WebM, MP4 or MOV, not {out_info.format_name}: use -bf 0, "
                             "or cut the input first (ffmpeg -ss ... -i IN -c copy)")
        return delay, step, False
    return delay, step, True


def _track_timescale(out_info: MediaInfo, video: Stream | None) -> tuple[str, ...]:
    """MP4 and MOV take the time base of a copied stream from its input (the joined
    segments); a single pass picks its own. Ask for that one."""
    names = set(out_info.format_name.split(","))
    if video is None or video.time_base.numerator != 1 or not names & {"mov", "mp4"}:
        return ()
    return ("-video_track_timescale", str(video.time_base.denominator))


async def _nothing() -> None:
    return None


async def _single_pass_sample(media: MediaInfo, routed: RoutedOptions, output: Path, workdir: Path,
                              ffmpeg: str, ffprobe: str) -> tuple[tuple[Mapping, ...], tuple[StreamShape, ...], MediaInfo]:
    """The user's whole command on the first second: (mapping, output shapes, what it wrote)."""
    sample = workdir / f"preflight{output.suffix}"
    args = preflight_args(str(media.path), routed.sample_argv, str(sample), input_opts=routed.input)
    code, _, err = await run_tool([ffmpeg, *args])
    if code != 0:
        raise OptionsError(f"ffmpeg rejected the options: {first_error_line(err)}",
                           argv=[ffmpeg, *args], returncode=code, stderr=err)
    mapping = tuple(parse_mapping(err))
    if not mapping:
        raise OptionsError("ffmpeg would write no stream with these options", stderr=err)
    out_info = await probe_media(sample, ffprobe)
    sample.unlink(missing_ok=True)
    return mapping, tuple(StreamShape.of(s) for s in out_info.streams), out_info


def _is_video(media: MediaInfo, index: int) -> bool:
    return any(s.index == index and s.codec_type == "video" for s in media.streams)


async def _intermediate(media: MediaInfo, stream: int, routed: RoutedOptions, workdir: Path,
                        ffmpeg: str, ffprobe: str, *, encoder: str | None = None,
                        upright: str | None = None) -> tuple[str, Fraction, int, Stream | None]:
    """The intermediate container that takes the encoded video, and how many frames the
    user's filters make of each source frame (counted on the sample: 2 for a deinterlacer
    that outputs fields). A factor that is not a whole number cannot be split exactly: a
    segment's share would depend on where it starts. Also the sample's encoded size, and
    with an output trim its video stream (how far its encoder reorders frames)."""
    last_err = ""
    for fmt, ext in INTERMEDIATES:
        out = workdir / f"preflight-segment-{stream}.{ext}"
        args = segment_preflight_args(str(media.path), stream, routed.segment, routed.video_filter, fmt,
                                      str(out), encoder=encoder, upright=upright)
        code, decoded, err = await run_tool([ffmpeg, *args])
        if code == 0:
            frames_out = await count_frames(out, ffprobe=ffprobe)
            video = (await probe_media(out, ffprobe)).video_streams[0] if not routed.span.whole else None
            size = out.stat().st_size
            out.unlink(missing_ok=True)
            n_in = sum(1 for line in decoded.splitlines() if line and not line.startswith("#"))
            rate = Fraction(frames_out, n_in) if n_in else Fraction(1)
            if rate.denominator != 1:
                raise UsageError(f"the video filters make {frames_out} frames of {n_in} source frames: "
                                 "only filters that keep the frame count or multiply it (a deinterlacer "
                                 "that outputs fields) can be split exactly; run them in a pass of their own")
            return fmt, rate, size, video
        last_err = err
        out.unlink(missing_ok=True)
    raise OptionsError(f"the video options fail on a segment: {first_error_line(last_err)}", stderr=last_err)
