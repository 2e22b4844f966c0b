"""ffmpeg command lines, as pure functions of their inputs (tested as exact lists).

Fixed commands are built with ffmpeg-python. Commands that carry the user's pass-through
options are plain lists, because those options must keep the order the user gave them.
Every list here is the arguments *after* the program name, so a host can put its own ffmpeg
path in front.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import ffmpeg

from . import filtergraph

QUIET = ["-nostdin", "-hide_banner", "-v", "error"]
# How much of the input the preflight encodes: enough for ffmpeg to open every stream and
# its encoders and write a few frames; every run waits for it before the first segment.
PREFLIGHT_SECONDS = 0.3
PROGRESS = ["-nostats", "-progress", "pipe:1"]


def _compiled(stream: object) -> list[str]:
    """ffmpeg-python's argv without the program name, quiet options in front."""
    argv = ffmpeg.compile(stream, cmd="ffmpeg")[1:]  # type: ignore[arg-type]
    if argv[-1] == "-y":  # ffmpeg-python puts -y last; ffmpeg wants options before outputs
        argv = ["-y"] + argv[:-1]
    return QUIET + argv


def _muxer_opts(fmt: str) -> dict[str, object]:
    """MPEG-TS shifts every timestamp by its mux delay: ask for none, so pieces, context
    heads and the units made of them all stay on the source's timeline."""
    return {"muxdelay": 0, "muxpreload": 0} if fmt == "mpegts" else {}


# Bitstream filters that make every keyframe of a stream self-contained in MPEG-TS:
# MP4/MKV keep H.264/HEVC parameter sets out of band, and the Annex B conversion repeats
# them only before IDR frames, so a piece starting at an open-GOP I-frame would not decode.
ANNEXB_AT_EVERY_KEY = {
    "h264": "h264_mp4toannexb,dump_extra=freq=keyframe",
    "hevc": "hevc_mp4toannexb,dump_extra=freq=keyframe",
}


def split_args(src: str, stream: int, split_frames: Sequence[int], pattern: str, fmt: str,
               codec: str = "", listing: str | None = None) -> list[str]:
    """Cut one video stream into pieces with the segment muxer, copying packets.

    `split_frames` are decode-order packet numbers of keyframes: exact, where
    `-segment_time` would only be a wish. Timestamps are kept (-copyts) so every piece
    stays on the source's timeline. `listing`: where the muxer lists each piece it closes
    (CSV: name, start and end time).
    """
    source = ffmpeg.input(src, copyts=None)
    return _compiled(_segment_output(source, stream, split_frames, pattern, fmt, codec, listing).overwrite_output())


def split_pair_args(src: str, stream: int, outputs: Sequence[tuple[Sequence[int], str, str]], fmt: str) -> list[str]:
    """The same with two segment muxers reading the source once, each cutting at its own
    frames into its own files, listed in its own CSV: (split frames, pattern, listing)."""
    source = ffmpeg.input(src, copyts=None)
    return _compiled(ffmpeg.merge_outputs(*(_segment_output(source, stream, frames, pattern, fmt, "", listing)
                                            for frames, pattern, listing in outputs)).overwrite_output())


def _segment_output(source: object, stream: int, split_frames: Sequence[int], pattern: str, fmt: str,
                    codec: str, listing: str | None) -> object:
    out = {"map": f"0:{stream}", "c": "copy", "f": "segment", "segment_format": fmt,
           "reset_timestamps": 0, "map_metadata": -1, "map_chapters": -1, **_muxer_opts(fmt)}
    if fmt == "mpegts" and codec in ANNEXB_AT_EVERY_KEY:
        out["bsf:v"] = ANNEXB_AT_EVERY_KEY[codec]
    if listing is not None:
        out.update(segment_list=listing, segment_list_type="csv")
    if split_frames:
        out["segment_frames"] = ",".join(str(n) for n in split_frames)
    else:
        out["segment_time"] = 10**9  # one piece
    return source.output(pattern, **out)  # type: ignore[attr-defined]


def head_args(piece: str, packets: int, out: str, fmt: str) -> list[str]:
    """The first `packets` packets of a piece: the next keyframe and its leading pictures."""
    return _compiled(ffmpeg.input(piece, copyts=None)
                     .output(out, map="0:0", c="copy", f=fmt, **{"frames:v": packets}, **_muxer_opts(fmt))
                     .overwrite_output())


def concat_copy_args(list_file: str, out: str, fmt: str) -> list[str]:
    """Stream-copy the files of a concat list into one file, and list the packets copied
    (framecrc on stdout) so that the unit need not be read back."""
    joined = ffmpeg.input(list_file, f="concat", safe=0)
    return _compiled(ffmpeg.merge_outputs(
        joined.output(out, map="0:0", c="copy", f=fmt, **_muxer_opts(fmt)),
        joined.output("pipe:1", map="0:0", c="copy", f="framecrc")).overwrite_output())


def ffconcat_quote(path: str) -> str:
    """A path for a concat list: single-quoted, with ' written as '\\''."""
    return "'" + path.replace("'", "'\\''") + "'"


def concat_list(entries: Sequence[tuple[str, Fraction | None]], outpoint: Fraction | None = None) -> str:
    """ffconcat text for (path, duration in seconds or None) entries. `outpoint`: the last
    file ends at the first packet whose decode timestamp reaches it (its own timeline)."""
    lines = ["ffconcat version 1.0"]
    for path, duration in entries:
        lines.append(f"file {ffconcat_quote(path)}")
        if duration is not None:
            lines.append(f"duration {float(duration):.6f}")
    if outpoint is not None:
        lines.append(f"outpoint {float(outpoint):.6f}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Trim:
    """Frames to keep, in the unit's own time base: start <= pts < end (end None: to the end)."""

    start: int
    end: int | None

    def filter(self) -> str:
        end = f":end_pts={self.end}" if self.end is not None else ""
        return f"trim=start_pts={self.start}{end}"


def autorotate_filter(rotation: float) -> str | None:
    """The filters ffmpeg puts in front of the user's to turn a video upright by its display
    matrix (`rotation`: degrees as ffprobe reports them), as ffmpeg 5.1 chooses them."""
    theta = -rotation
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    if abs(theta - 90) < 1:
        return "transpose=clock"
    if abs(theta - 180) < 1:
        return "hflip,vflip"
    if abs(theta - 270) < 1:
        return "transpose=cclock"
    if abs(theta) > 1:
        return f"rotate={theta:f}*PI/180"
    return None


def ticks(seconds: Fraction, time_base: Fraction) -> int:
    """`seconds` in ticks of `time_base`, rounded as ffmpeg rescales (half away from zero)."""
    exact = seconds / time_base
    return int(math.copysign(math.floor(abs(exact) + Fraction(1, 2)), exact))


def video_filter(trim: Trim, user_filter: str | None, upright: str | None = None, shift: int = 0,
                 keep: tuple[Fraction, Fraction | None] | None = None, slots: str | None = None,
                 rebase: Fraction | None = None) -> str:
    """`upright` (the autorotation), then the trim to the unit's frames, then the user's
    filters: the order ffmpeg uses for its own input trims. Segments keep the source's
    timestamps; `shift` moves them to the single pass's timeline first, so filters that look
    at the time (fade=st=, enable=, drawtext's %{pts}) see what they would see there.
    With context, the trim before the filters only drops what cannot be decoded, the filters
    see the neighbours, and `keep` (seconds on that timeline) keeps the owned frames after.
    `rebase` (seconds) then moves the timeline's start there, as an output -ss does before a
    constant-rate encoder counts its frames from 0."""
    timeline = f"setpts=PTS-{shift}" if shift > 0 else f"setpts=PTS+{-shift}" if shift < 0 else None
    kept = None
    if keep is not None:
        start, end = keep
        kept = f"trim=start={float(start):.6f}" + (f":end={float(end):.6f}" if end is not None else "")
    before = ",".join(f for f in (upright, trim.filter(), timeline) if f)
    moved = f"setpts=PTS-round({float(rebase):.6f}/TB)" if rebase else None
    after = ",".join(f for f in (kept, moved, slots) if f)  # `slots`: the frames put on the output's slots
    return filtergraph.wrap(user_filter, before, after)


def segment_args(
    src: str,
    out: str,
    trim: Trim,
    user_segment_opts: Sequence[str],
    user_filter: str | None,
    fmt: str,
    threads: int | None = None,
    *,
    encoder: str | None = None,
    upright: str | None = None,
    shift: int = 0,
    keep: tuple[Fraction, Fraction | None] | None = None,
    starts_at: Fraction | None = None,
    constant_rate: bool = False,
    progress: bool = True,
    slots: tuple[str, Fraction] | None = None,
    rebase: Fraction | None = None,
) -> list[str]:
    """Encode one segment: its video only, the context frames trimmed away before the user's
    filters, into an intermediate container that holds any codec. `encoder` is the one a
    single pass would use (the intermediate container's default would differ); the user's
    own choice, among their options, comes after it and is the same. `slots`: the filters that
    put the frames on a single pass's output slots (retime.py), and the output's rate."""
    args = QUIET + (PROGRESS if progress else []) + ["-copyts", "-i", src, "-map", "0:v:0",
                                                     "-an", "-sn", "-dn", "-map_metadata", "-1",
                                                     "-map_chapters", "-1"]
    if threads:
        args += ["-threads", str(threads)]
    if encoder:
        args += ["-c:v", encoder]
    if constant_rate:  # ffmpeg's constant-rate output from the timeline's start, as a single pass runs it
        args += ["-fps_mode", "cfr"]
    args += list(user_segment_opts)
    if slots:  # the filters put each frame on its slot; the encoder keeps them there
        args += ["-fps_mode", "passthrough", "-r", f"{slots[1].numerator}/{slots[1].denominator}"]
    args += ["-vf", video_filter(trim, user_filter, upright, shift, keep, slots[0] if slots else None, rebase)]
    if starts_at:  # the file starts at 0, whatever its container can say of its start
        args += ["-output_ts_offset", f"{float(-starts_at):.6f}"]
    args += ["-f", fmt, "-y", out]
    return args


def preflight_args(src: str, user_opts: Sequence[str], out: str, seconds: float = PREFLIGHT_SECONDS,
                   input_opts: Sequence[str] = ()) -> list[str]:
    """The user's own command on the first second of the input, at info level so ffmpeg
    prints its stream mapping: it shows how ffmpeg would choose streams and encoders, and
    fails on options ffmpeg rejects before anything is split."""
    return ["-nostdin", "-hide_banner", "-v", "info", "-nostats", "-t", f"{seconds:g}",
            *input_opts, "-i", src, *user_opts, "-y", out]


def segment_preflight_args(src: str, stream: int, user_segment_opts: Sequence[str],
                           user_filter: str | None, fmt: str, out: str, seconds: float = PREFLIGHT_SECONDS,
                           *, encoder: str | None = None, upright: str | None = None) -> list[str]:
    """The segment encode on the first second of the source, into the intermediate format;
    on stdout, a framecrc of the source frames it decoded (one line a frame)."""
    vf = ",".join(f for f in (upright, user_filter) if f) or "null"
    enc = ["-c:v", encoder] if encoder else []
    # the display matrix is applied by `upright` here, as segments (which lose it) will
    return QUIET + ["-t", f"{seconds:g}", "-noautorotate", "-i", src, "-map", f"0:{stream}", "-an", "-sn",
                    "-dn", *enc, *user_segment_opts, "-vf", vf, "-f", fmt, "-y", out,
                    "-map", f"0:{stream}", "-f", "framecrc", "pipe:1"]


@dataclass(frozen=True)
class Mapping:
    """One line of ffmpeg's 'Stream mapping:' section."""

    input_index: int
    output_index: int
    encoder: str | None  # None: stream copy


_MAP_LINE = re.compile(r"^\s*Stream #0:(\d+)\S* -> #0:(\d+)\S* \((.*)\)\s*$")
_ENCODER = re.compile(r"-> (\S+) \(([^()]+)\)$")


def parse_mapping(stderr: str) -> list[Mapping]:
    """ffmpeg's stream mapping from its info-level stderr, in output order."""
    out: list[Mapping] = []
    in_section = False
    for line in stderr.splitlines():
        if line.startswith("Stream mapping:"):
            in_section = True
            continue
        if in_section:
            m = _MAP_LINE.match(line)
            if not m:
                if line.startswith("  "):
                    continue  # e.g. a filtergraph line
                break
            what = m.group(3)
            enc = None
            if what != "copy":
                e = _ENCODER.search(what)
                if e is None:
                    enc = what.split()[-1].strip("()")
                else:  # "h264 (native) -> ffv1 (native)": ffmpeg's own encoder has the codec's name
                    enc = e.group(1) if e.group(2) == "native" else e.group(2)
            out.append(Mapping(int(m.group(1)), int(m.group(2)), enc))
    return sorted(out, key=lambda mp: mp.output_index)


def final_args(
    src: str,
    concat_file: str,
    offset: float,
    mapping: Sequence[Mapping],
    video_out: int,
    user_final_opts: Sequence[str],
    copy_outputs: Sequence[int],
    out: str,
    video_tags: Sequence[tuple[str, str]] = (),
    field_order: str | None = None,
    rotation: float = 0.0,
    mux_opts: Sequence[str] = (),
    read_until: Fraction | None = None,
) -> list[str]:
    """Mux the joined video with everything else the user's command would produce.

    Input 0 is the source, so global metadata and chapters come from it as in a single pass;
    input 1 is the concat list of encoded segments. Maps are written out explicitly, in
    ffmpeg's own output order taken from the preflight; the joined video is copied.
    """
    args = QUIET + PROGRESS
    if read_until is not None:  # an output trim's end, on the source's timeline
        args += ["-t", f"{float(read_until):.6f}"]
    args += ["-i", src]
    if offset:
        args += ["-itsoffset", f"{offset:.6f}"]
    args += ["-f", "concat", "-safe", "0", "-i", concat_file]
    for m in mapping:
        args += ["-map", "1:0" if m.output_index == video_out else f"0:{m.input_index}"]
    # The joined video comes from input 1, so ffmpeg cannot copy the source stream's tags
    # (language, title, ...) by itself; set them before the user's options, which win.
    # (-map_metadata:s would do it, but switches off the automatic copy for every stream.)
    for key, value in video_tags:
        args += [f"-metadata:s:{video_out}", f"{key}={value}"]
    args += list(mux_opts)
    args += list(user_final_opts)
    for k in copy_outputs:
        args += [f"-c:{k}", "copy"]
    if field_order:  # the intermediate container may not carry it; ffmpeg applies it to a copy
        args += [f"-field_order:{video_out}", field_order]
    if rotation:  # a display matrix the single pass keeps (-noautorotate into MP4/MOV)
        args += [f"-metadata:s:{video_out}", f"rotate={rotation % 360:g}"]
    args += ["-y", out]
    return args


def shift_back_args(src: str, streams: int, video_out: int, shift: Fraction, muxer_opts: Sequence[str],
                    field_order: str | None, out: str) -> list[str]:
    """Copy every stream of `src` as it is (-copyts: no timestamp touched), the video from a
    second reading of it moved `shift` seconds earlier; the output muxer's options again."""
    args = QUIET + ["-copyts", "-i", src, "-itsoffset", f"{-float(shift):.6f}", "-i", src]
    for k in range(streams):
        args += ["-map", f"{1 if k == video_out else 0}:{k}"]
    args += [*muxer_opts, "-c", "copy"]
    if field_order:
        args += [f"-field_order:{video_out}", field_order]
    return args + ["-y", out]
