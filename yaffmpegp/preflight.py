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
from .ffcmd import Mapping, parse_mapping, preflight_args, segment_preflight_args
from .ffopts import RoutedOptions
from .join import StreamShape
from .probe import MediaInfo, first_error_line, probe_media, run_tool

# Intermediate containers, best first: NUT keeps exact time bases; Matroska takes the rest.
INTERMEDIATES = (("nut", "nut"), ("matroska", "mkv"))


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

    @property
    def ext(self) -> str:
        return dict(INTERMEDIATES)[self.fmt]


async def run_preflight(media: MediaInfo, routed: RoutedOptions, output: Path, workdir: Path,
                        ffmpeg: str = "ffmpeg", ffprobe: str = "ffprobe") -> Preflight:
    # Both runs at once: the segment run guesses ffmpeg's video choice (checked after).
    guess = media.video_streams[0].index
    single, segment = await asyncio.gather(
        _single_pass_sample(media, routed, output, workdir, ffmpeg, ffprobe),
        _intermediate(media, guess, routed, workdir, ffmpeg, ffprobe),
        return_exceptions=True,
    )
    if isinstance(single, BaseException):
        raise single  # the user's own command failing says most
    mapping, streams, out_streams = single
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
    if main.input_index != guess:
        segment = await _intermediate(media, main.input_index, routed, workdir, ffmpeg, ffprobe)
    elif isinstance(segment, BaseException):
        raise segment
    fmt, rate = segment
    others = tuple(m.output_index for m in mapping
                   if m.output_index != main.output_index and _is_video(media, m.input_index))
    return Preflight(mapping, main.input_index, main.output_index, main.encoder, others, streams, fmt, rate,
                     field_order)


async def _single_pass_sample(media: MediaInfo, routed: RoutedOptions, output: Path, workdir: Path,
                              ffmpeg: str, ffprobe: str) -> tuple[tuple[Mapping, ...], tuple[StreamShape, ...], tuple]:
    """The user's whole command on the first second: (mapping, output shapes, output streams)."""
    sample = workdir / f"preflight{output.suffix}"
    args = preflight_args(str(media.path), routed.user_argv, str(sample))
    code, _, err = await run_tool([ffmpeg, *args])
    if code != 0:
        raise OptionsError(f"ffmpeg rejected the options: {first_error_line(err)}",
                           argv=[ffmpeg, *args], returncode=code, stderr=err)
    mapping = tuple(parse_mapping(err))
    if not mapping:
        raise OptionsError("ffmpeg would write no stream with these options", stderr=err)
    out_info = await probe_media(sample, ffprobe)
    sample.unlink(missing_ok=True)
    return mapping, tuple(StreamShape(s.codec_type, s.codec_name) for s in out_info.streams), out_info.streams


def _is_video(media: MediaInfo, index: int) -> bool:
    return any(s.index == index and s.codec_type == "video" for s in media.streams)


async def _intermediate(media: MediaInfo, stream: int, routed: RoutedOptions, workdir: Path,
                        ffmpeg: str, ffprobe: str) -> tuple[str, Fraction]:
    last_err = ""
    for fmt, ext in INTERMEDIATES:
        out = workdir / f"preflight-segment-{stream}.{ext}"
        args = segment_preflight_args(str(media.path), stream, routed.segment, routed.video_filter, fmt, str(out))
        code, _, err = await run_tool([ffmpeg, *args])
        if code == 0:
            info = await probe_media(out, ffprobe)
            out.unlink(missing_ok=True)
            src_rate = media.stream(stream).frame_rate
            out_rate = info.video_streams[0].frame_rate if info.video_streams else None
            rate = (out_rate / src_rate).limit_denominator(100) if out_rate and src_rate else Fraction(1)
            return fmt, rate
        last_err = err
        out.unlink(missing_ok=True)
    raise OptionsError(f"the video options fail on a segment: {first_error_line(last_err)}", stderr=last_err)
