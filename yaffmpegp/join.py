"""Join the encoded segments (concat demuxer), mux them with the rest of the source's
streams in the user's own command, and check the result before it is handed over."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .errors import JoinError
from .events import Events, Joined
from .ffcmd import Mapping, concat_list, final_args
from .probe import count_frames, first_error_line, probe_media, run_tool
from .segment import Segment


@dataclass(frozen=True)
class StreamShape:
    codec_type: str
    codec_name: str


@dataclass(frozen=True)
class FinalMux:
    """Everything the final mux needs to know besides the segments."""

    source: Path
    mapping: tuple[Mapping, ...]
    video_out: int  # output index of the joined video
    copy_outputs: tuple[int, ...]  # outputs stream-copied (the joined video, other videos)
    user_final_opts: tuple[str, ...]
    offset: float  # where the first frame sits after the source's start
    video_tags: tuple[tuple[str, str], ...]  # the source video stream's tags
    expected_streams: tuple[StreamShape, ...]  # what the single-pass preflight wrote
    field_order: str | None = None


def write_concat(segments: Sequence[Segment], results: Path) -> Path:
    listing = results / "joined.ffconcat"
    entries = [(str(results / s.output_name), s.duration) for s in segments]
    listing.write_text(concat_list(entries))
    return listing


async def join(segments: Sequence[Segment], results: Path, mux: FinalMux, out: Path,
               events: Events, ffmpeg: str = "ffmpeg") -> None:
    listing = write_concat(segments, results)
    args = final_args(str(mux.source), str(listing), mux.offset, mux.mapping, mux.video_out,
                      mux.user_final_opts, mux.copy_outputs, str(out), mux.video_tags, mux.field_order)
    code, _, err = await run_tool([ffmpeg, *args])
    if code != 0:
        raise JoinError(f"the final mux failed: {first_error_line(err)}", argv=[ffmpeg, *args],
                        returncode=code, stderr=err)
    events.emit(Joined(sum(s.expected for s in segments)))


async def check(out: Path, segments: Sequence[Segment], mux: FinalMux, ffprobe: str = "ffprobe") -> list[str]:
    """Checks the output must pass; returns what was checked, raises JoinError otherwise."""
    info, frames = await asyncio.gather(probe_media(out, ffprobe), count_frames(out, str(mux.video_out), ffprobe))
    shapes = tuple(StreamShape(s.codec_type, s.codec_name) for s in info.streams)
    if shapes != mux.expected_streams:
        raise JoinError("the output's streams differ from what ffmpeg would write: "
                        f"{_shape(shapes)} instead of {_shape(mux.expected_streams)}")
    want = sum(s.expected for s in segments)
    if frames != want:
        raise JoinError(f"the output holds {frames} video frames, {want} expected")
    duration = sum((s.duration for s in segments), Fraction(0))
    return [f"{len(shapes)} streams as ffmpeg would write them ({_shape(shapes)})",
            f"{frames} video frames, as planned, from {len(segments)} segments",
            f"video covers {float(duration):.3f} s of the source"]


def _shape(shapes: Sequence[StreamShape]) -> str:
    return ", ".join(f"{s.codec_type}:{s.codec_name}" for s in shapes)

