"""What is in a media file, as ffprobe sees it: streams, chapters, and a video packet index."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from .children import die_with_parent
from .errors import InputError, ToolError, tail


@dataclass(frozen=True)
class Stream:
    index: int
    codec_type: str  # video, audio, subtitle, data, attachment
    codec_name: str
    time_base: Fraction
    start_time: float | None
    frame_rate: Fraction | None  # r_frame_rate for video
    avg_frame_rate: Fraction | None = None
    attached_pic: bool = False
    width: int | None = None
    height: int | None = None
    field_order: str | None = None
    rotation: float = 0.0  # degrees, as ffprobe reports the display matrix (counter-clockwise)
    has_b_frames: int = 0  # frames the decoder holds back for reordering (B-frames)
    tags: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    format_name: str
    start_time: float
    duration: float | None
    streams: tuple[Stream, ...]
    chapters: int
    tags: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def stream(self, index: int) -> Stream:
        """The stream with ffmpeg's index `index`."""
        return next(s for s in self.streams if s.index == index)

    @property
    def video_streams(self) -> list[Stream]:
        return [s for s in self.streams if s.codec_type == "video" and not s.attached_pic]


@dataclass(frozen=True)
class Packet:
    """One video packet, in decode order; timestamps in the stream's time base."""

    pts: int
    key: bool
    duration: int = 0  # as the demuxer gives it (0: unknown)


def _fraction(text: str | None) -> Fraction | None:
    if not text or text in ("0/0", "N/A"):
        return None
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return value or None


def _float(text: object) -> float | None:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


async def run_tool(argv: list[str]) -> tuple[int, str, str]:
    """Run ffprobe/ffmpeg to completion; (returncode, stdout, stderr)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, preexec_fn=die_with_parent,
        )
    except OSError as exc:
        raise ToolError(f"cannot run {argv[0]}: {exc.strerror or exc}", argv=argv) from exc
    try:
        out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def first_value(csv_text: str) -> str:
    """The first value in ffprobe's `-of csv=p=0` output (MPEG-TS adds program lines)."""
    for line in csv_text.splitlines():
        value = line.strip().strip(",")
        if value:
            return value.split(",")[0]
    return ""


async def probe_value(path: Path, entries: str, stream: str | None = None, ffprobe: str = "ffprobe",
                      extra: tuple[str, ...] = ()) -> str:
    """One value ffprobe reports, e.g. entries='format=start_time'; '' when it has none."""
    argv = [ffprobe, "-v", "error", *extra]
    if stream is not None:
        argv += ["-select_streams", stream]
    argv += ["-show_entries", entries, "-of", "csv=p=0", str(path)]
    code, out, err = await run_tool(argv)
    if code != 0:
        raise ToolError(f"ffprobe cannot read {path.name}: {first_error_line(err)}", argv=argv,
                        returncode=code, stderr=err)
    return first_value(out)


def first_error_line(stderr: str) -> str:
    """The line of ffmpeg/ffprobe stderr that best names what went wrong."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    keys = ("unknown", "unable", "invalid", "not found", "no such", "could not", "unrecognized",
            "error", "failed", "cannot", "incorrect", "not supported", "does not")
    generic = ("conversion failed", "error opening output files", "error while opening encoder",
               "error initializing output stream", "error splitting the argument list")
    for line in lines:
        low = line.lower()
        if any(k in low for k in keys) and not any(g in low for g in generic):
            return line
    return lines[-1] if lines else "no message"


def _rotation(stream: dict) -> float:
    for side in stream.get("side_data_list", []) or []:
        value = _float(side.get("rotation"))
        if value is not None:
            return value
    return 0.0


def parse_media(path: Path, data: dict) -> MediaInfo:
    streams = []
    for s in data.get("streams", []):
        streams.append(Stream(
            index=int(s["index"]),
            codec_type=s.get("codec_type", "unknown"),
            codec_name=s.get("codec_name", "unknown"),
            time_base=_fraction(s.get("time_base")) or Fraction(1, 1000),
            start_time=_float(s.get("start_time")),
            frame_rate=_fraction(s.get("r_frame_rate")),
            avg_frame_rate=_fraction(s.get("avg_frame_rate")),
            attached_pic=bool(s.get("disposition", {}).get("attached_pic")),
            width=s.get("width"),
            height=s.get("height"),
            field_order=s.get("field_order"),
            rotation=_rotation(s),
            has_b_frames=int(s.get("has_b_frames") or 0),
            tags=dict(s.get("tags", {})),
        ))
    fmt = data.get("format", {})
    return MediaInfo(
        path=path,
        format_name=fmt.get("format_name", "unknown"),
        start_time=_float(fmt.get("start_time")) or 0.0,
        duration=_float(fmt.get("duration")),
        streams=tuple(streams),
        chapters=len(data.get("chapters", [])),
        tags=dict(fmt.get("tags", {})),
    )


async def probe_media(path: Path, ffprobe: str = "ffprobe") -> MediaInfo:
    argv = [ffprobe, "-v", "error", "-of", "json", "-show_format", "-show_streams",
            "-show_chapters", str(path)]
    code, out, err = await run_tool(argv)
    if code != 0:
        raise InputError(f"{path}: not a media file ffprobe can read ({first_error_line(err)})",
                         argv=argv, returncode=code, stderr=err)
    try:
        return parse_media(path, json.loads(out))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ToolError(f"cannot parse ffprobe output for {path}", argv=argv, stderr=tail(out)) from exc


def parse_packets(csv_text: str) -> list[Packet]:
    """Packets from `ffprobe -show_entries packet=pts,dts,duration,flags -of csv=p=0` (ffprobe
    prints them in that order, sometimes with an empty field after)."""
    packets = []
    for line in csv_text.splitlines():
        parts = line.strip().split(",")
        if len(parts) < 4:
            continue
        pts, dts, duration, flags = parts[:4]
        stamp = pts if pts not in ("", "N/A") else dts
        if stamp in ("", "N/A"):
            continue  # a packet without any timestamp cannot be placed; ffmpeg drops it too
        packets.append(Packet(int(stamp), flags.startswith("K"), int(duration) if duration.isdigit() else 0))
    return packets


NOPTS = -(2**63)  # AV_NOPTS_VALUE as framecrc prints it


def parse_framecrc(text: str) -> tuple[Fraction | None, list[Packet], int | None]:
    """(time base, packets, earliest dts) of stream 0 from ffmpeg's framecrc muxer:
    `#tb 0: 1/64000`, then a line a packet, `0, dts, pts, duration, size, crc` and `, F=0x..`
    when its flags are not just "key"."""
    tb, packets, earliest = None, [], None
    for line in text.splitlines():
        if line.startswith("#tb 0:"):
            tb = _fraction(line.partition(":")[2].strip())
            continue
        parts = [p.strip() for p in line.split(",")]
        if line.startswith("#") or len(parts) < 6 or parts[0] != "0":
            continue
        dts, pts, duration = int(parts[1]), int(parts[2]), int(parts[3])
        if dts != NOPTS:
            earliest = dts if earliest is None else min(earliest, dts)
        stamp = pts if pts != NOPTS else dts
        if stamp == NOPTS:
            continue
        flags = next((int(p[2:], 16) for p in parts[6:] if p.startswith("F=")), 1)
        packets.append(Packet(stamp, bool(flags & 1), max(duration, 0)))
    return tb, packets, earliest


async def probe_packets(path: Path, stream: int, ffprobe: str = "ffprobe") -> list[Packet]:
    """Every packet of one stream, in decode order (demuxing only, no decoding)."""
    argv = [ffprobe, "-v", "error", "-select_streams", str(stream), "-show_entries",
            "packet=pts,dts,duration,flags", "-of", "csv=p=0", str(path)]
    code, out, err = await run_tool(argv)
    if code != 0:
        raise InputError(f"{path}: cannot read video packets ({first_error_line(err)})",
                         argv=argv, returncode=code, stderr=err)
    return parse_packets(out)


def parse_piece_probe(csv_text: str) -> tuple[Fraction | None, list[Packet]]:
    """(time base, packets) from `ffprobe -show_entries stream=time_base:packet=pts,dts,
    duration,flags -of csv` (each line starts with its section's name)."""
    tb = None
    rows = []
    for line in csv_text.splitlines():
        section, _, rest = line.partition(",")
        if section == "stream" and rest:
            tb = _fraction(rest.split(",")[0])
        elif section == "packet":
            rows.append(rest)
    return tb, parse_packets("\n".join(rows))


async def probe_piece(path: Path, ffprobe: str = "ffprobe", stream: str = "v:0",
                      first: int | None = None) -> tuple[Fraction | None, list[Packet]]:
    """A video stream's time base and packets (the `first` ones only), in one ffprobe."""
    head = ["-read_intervals", f"%+#{first}"] if first else []
    argv = [ffprobe, "-v", "error", "-select_streams", stream, *head, "-show_entries",
            "stream=time_base:packet=pts,dts,duration,flags", "-of", "csv", str(path)]
    code, out, err = await run_tool(argv)
    if code != 0:
        raise ToolError(f"ffprobe cannot read {path.name}: {first_error_line(err)}", argv=argv,
                        returncode=code, stderr=err)
    return parse_piece_probe(out)


async def count_frames(path: Path, stream: str = "v:0", ffprobe: str = "ffprobe") -> int:
    """Number of packets of one video stream (one per frame in what we encode)."""
    value = await probe_value(path, "stream=nb_read_packets", stream, ffprobe, ("-count_packets",))
    try:
        return int(value)
    except ValueError as exc:
        raise ToolError(f"cannot count frames in {path.name}") from exc
