"""The user's ffmpeg output options: parse them, and route each to where it belongs.

A single-pass `ffmpeg -i IN <opts> OUT` becomes two kinds of commands here:
- the *segment encode* (video only, into an intermediate container) gets the video options;
- the *final mux* (audio, subtitles, metadata, container) gets everything else, with the
  joined video stream copied.

Routing needs to know which options take a value and which are muxer options (a muxer
option given to the segment encode makes ffmpeg fail with "Option ... not found"). Rather
than hard-coding ffmpeg's tables, they are read from `ffmpeg -h full` of the ffmpeg in use.
Order is kept: ffmpeg-python would sort keyword options, so pass-through options stay a list.
"""
from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum, auto
from functools import cache

from . import filtergraph
from .rateopts import UserTiming, retimes, user_timing
from .errors import ToolError, UsageError
from .trim import Span, span_of


class Route(Enum):
    SEGMENT = auto()  # only the per-segment video encode
    FINAL = auto()  # only the final mux
    BOTH = auto()
    INPUT = auto()  # an input option (before -i in a single pass)


@dataclass(frozen=True)
class Opt:
    """One option as the user wrote it: `-name[:spec] [value]`."""

    name: str
    spec: str
    value: str | None

    @property
    def argv(self) -> list[str]:
        flag = f"-{self.name}:{self.spec}" if self.spec else f"-{self.name}"
        return [flag] if self.value is None else [flag, self.value]

    @property
    def stream_type(self) -> str | None:
        """'v', 'a', 's', 'd', 't' when the specifier names a media type, else None."""
        head = self.spec[:1]
        if head in ("v", "V"):
            return "v"
        if head in ("a", "s", "d", "t"):
            return head
        return None


@dataclass(frozen=True)
class OptionTable:
    """What this ffmpeg knows about its options."""

    flags: frozenset[str]  # tool options that take no value
    tool_kind: dict[str, str] = field(hash=False)  # tool option -> 'video'|'audio'|'subtitle'|'file'|'global'
    codec: frozenset[str] = frozenset()  # AVOptions of codecs (AVCodecContext and private)
    fmt: frozenset[str] = frozenset()  # AVOptions of formats, protocols, devices
    other: frozenset[str] = frozenset()  # filters, scaler, resampler, bsf


# Options yaffmpegp cannot honour when cutting the job into segments: refused with a reason.
REFUSED = {
    "filter_complex": "-filter_complex is not supported; use -vf/-af for per-stream filters",
    "lavfi": "-lavfi is not supported; use -vf/-af for per-stream filters",
    "filter_complex_script": "-filter_complex_script is not supported",
    "filter_script": "-filter_script is not supported; give the filter with -vf",
    "i": "give the input with --file, not -i (one input per run)",
    "sseof": "-sseof is not supported: cut the input first",
    "frames": "-frames is not supported: cut the input first",
    "vframes": "-vframes is not supported: cut the input first",
    "fs": "-fs is not supported",
    "pass": "two-pass encoding (-pass) is not supported: each segment is encoded in one pass",
    "passlogfile": "two-pass encoding (-passlogfile) is not supported",
    "vn": "-vn leaves no video to encode: run plain ffmpeg for audio-only jobs",
    "stream_loop": "-stream_loop is not supported",
    "itsoffset": "-itsoffset is an input option; it is not supported",
    "progress": "-progress is set by yaffmpegp",
}
RETIMING_OPTIONS = {
    "fpsmax": "-fpsmax converts the frame rate over the whole stream, which yaffmpegp cannot yet split exactly",
}
# Output trims: the segments keep what a single pass keeps, the final mux trims the rest.
SPAN_OPTIONS = {"ss", "t", "to"}
# Input options people give among the output options; they go before -i.
INPUT_OPTIONS = {"autorotate"}
# Set by yaffmpegp for every command it runs; a user's copy is dropped.
OURS = {"y", "n", "nostdin", "stdin", "hide_banner", "v", "loglevel", "stats", "nostats", "report"}
# Tool options that belong to the output file, not to a stream.
FILE_LEVEL_FINAL = {
    "map", "map_metadata", "map_chapters", "metadata", "program", "disposition", "f", "shortest",
    "attach", "dn", "an", "sn", "streamid", "target", "timestamp", "shortest_buf_duration",
    "bitexact", "copyts", "start_at_zero", "copytb", "muxdelay", "muxpreload", "dcodec",
    "max_muxing_queue_size", "muxing_queue_data_threshold", "fpsmax",
}
# Tool options that set how the output file is muxed (besides the muxers' own AVOptions).
MUXER_TOOL_OPTIONS = {"f", "bitexact", "muxdelay", "muxpreload"}
# Video options that must stay out of the final mux, where the video is copied.
VIDEO_SEGMENT_ONLY = {"vf", "r", "s", "aspect", "pix_fmt", "vcodec", "top", "vstats",
                      "vstats_file", "vstats_version", "force_key_frames", "vsync", "fps_mode",
                      "field_order", "sws_flags"}

# ffmpeg's tool options that take no value (OPT_BOOL and value-less ones, ffmpeg 4.4-7.x).
# `ffmpeg -h` does not print argument names for every valued option, so this is kept here.
TOOL_FLAGS = frozenset({
    "y", "n", "ignore_unknown", "copy_unknown", "recast_media", "benchmark", "benchmark_all",
    "stats", "dump", "hex", "re", "accurate_seek", "copyts", "start_at_zero", "debug_ts",
    "vstats", "shortest", "bitexact", "copyinkf", "copypriorss", "xerror", "autorotate",
    "autoscale", "find_stream_info", "stdin", "fix_sub_duration", "psnr", "qphist", "vn", "an",
    "sn", "dn", "hide_banner", "report", "force_fps", "auto_conversion_filters", "intra",
    "deinterlace", "sameq", "same_quant",
})

_TOOL_LINE = re.compile(r"^-(\S+)")
_SECTION = re.compile(r"^(\S.*) AVOptions:$")
_AVOPT = re.compile(r"^  -(\S+)\s+<")


def parse_help(text: str) -> OptionTable:
    """Build an OptionTable from `ffmpeg -hide_banner -h full` output."""
    kinds: dict[str, str] = {}
    codec: set[str] = set()
    fmt: set[str] = set()
    other: set[str] = set()
    zone = "tool"  # tool options first, then codecs, formats, then the rest
    kind = "global"
    for line in text.splitlines():
        sec = _SECTION.match(line)
        if sec:
            name = sec.group(1)
            if name == "AVCodecContext":
                zone = "codec"
            elif name == "AVFormatContext":
                zone = "fmt"
            elif name in ("SWScaler", "SWResampler", "AVFilter"):
                zone = "other"
            continue
        if zone == "tool":
            if line.endswith("options:") and not line.startswith("-"):
                low = line.lower()
                kind = ("video" if "video" in low else "audio" if "audio" in low
                        else "subtitle" if "subtitle" in low else "file" if "per-file" in low
                        else "global")
                continue
            m = _TOOL_LINE.match(line)
            if m:
                name = m.group(1)
                kinds[name] = kind
            continue
        m = _AVOPT.match(line)
        if m:
            {"codec": codec, "fmt": fmt, "other": other}[zone].add(m.group(1))
    return OptionTable(TOOL_FLAGS, kinds, frozenset(codec), frozenset(fmt), frozenset(other))


@cache
def option_table(ffmpeg: str = "ffmpeg") -> OptionTable:
    try:
        proc = subprocess.run([ffmpeg, "-hide_banner", "-h", "full"], capture_output=True,
                              text=True, errors="replace", check=False, timeout=60)
    except OSError as exc:
        raise ToolError(f"cannot run {ffmpeg}: {exc.strerror or exc}") from exc
    table = parse_help(proc.stdout)
    if not table.tool_kind or not table.codec:
        raise ToolError(f"{ffmpeg} -h full printed no option table", stderr=proc.stderr)
    return table


def _is_flag(name: str, table: OptionTable) -> bool:
    if name in table.flags:
        return True
    # OPT_BOOL tool options also exist as -noNAME
    return name.startswith("no") and name[2:] in table.flags


def parse_options(argv: Sequence[str], table: OptionTable) -> list[Opt]:
    """Split the user's pass-through arguments into options, keeping their order."""
    opts: list[Opt] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("-") or token == "-":
            raise UsageError(f"unexpected argument {token!r}: give the input with --file and the "
                             "output with -o; everything else must be ffmpeg options")
        name, _, spec = token[1:].partition(":")
        if not name:
            raise UsageError(f"malformed option {token!r}")
        if _is_flag(name, table):
            opts.append(Opt(name, spec, None))
            i += 1
            continue
        if i + 1 >= len(argv):
            raise UsageError(f"ffmpeg option {token} needs a value")
        opts.append(Opt(name, spec, argv[i + 1]))
        i += 2
    return opts


def route(opt: Opt, table: OptionTable) -> Route | None:
    """Where one option goes; None drops it (yaffmpegp sets it itself)."""
    name = opt.name
    base = name[2:] if name.startswith("no") and name[2:] in table.flags else name
    if base in REFUSED:
        raise UsageError(REFUSED[base])
    if base in OURS:
        return None
    if base in INPUT_OPTIONS:
        return Route.INPUT
    if base in SPAN_OPTIONS:
        return Route.FINAL
    if base in RETIMING_OPTIONS and opt.stream_type in (None, "v"):
        raise UsageError(RETIMING_OPTIONS[base])
    if base == "c" or base == "codec":
        if opt.stream_type == "v":
            return Route.SEGMENT
        return Route.FINAL if opt.stream_type else Route.BOTH
    if base in ("tag", "vtag"):  # the container's codec tag: the final mux writes it, on the copy
        return Route.FINAL
    if base == "filter":
        return Route.SEGMENT if opt.stream_type == "v" else Route.FINAL if opt.stream_type else Route.BOTH
    if opt.stream_type == "v":
        return Route.SEGMENT
    if opt.stream_type in ("a", "s", "d", "t"):
        return Route.FINAL
    kind = table.tool_kind.get(base)
    if kind == "video" or base in VIDEO_SEGMENT_ONLY:
        return Route.SEGMENT
    if kind in ("audio", "subtitle") or base in FILE_LEVEL_FINAL:
        return Route.FINAL
    if _is_format_option(base, table):
        return Route.FINAL  # a muxer option: the intermediate muxer would reject it
    return Route.BOTH


@dataclass(frozen=True)
class RoutedOptions:
    """The user's options cut in two. `video_filter` is pulled out of the segment options
    because yaffmpegp puts its own trim in front of it."""

    segment: tuple[str, ...]
    final: tuple[str, ...]  # without -map: the final mux writes maps from ffmpeg's own mapping
    video_filter: str | None
    all: tuple[Opt, ...]
    input: tuple[str, ...] = ()  # input options, for before -i
    timing: UserTiming = UserTiming()  # what the options say of the output's frame timing
    muxer: tuple[str, ...] = ()  # the output muxer's options (-f, -movflags, ...), for a remux

    @property
    def user_argv(self) -> list[str]:
        """The user's output options as given, less those yaffmpegp sets itself."""
        return [a for opt in self.all if opt.name not in OURS and _base(opt.name) not in INPUT_OPTIONS
                for a in opt.argv]

    @property
    def sample_argv(self) -> list[str]:
        """The output options for a sample of the input's start: without the trims."""
        return [a for opt in self.all if opt.name not in OURS and _base(opt.name) not in INPUT_OPTIONS
                and opt.name not in SPAN_OPTIONS for a in opt.argv]

    @property
    def final_without_end(self) -> tuple[str, ...]:
        """The final mux's options less -t/-to: the end of an output trim is applied where the
        source is read (the joined video must not be cut again by its adjusted timestamps)."""
        out, skip = [], False
        for a in self.final:
            if skip:
                skip = False
            elif a in ("-t", "-to"):
                skip = True
            else:
                out.append(a)
        return tuple(out)

    @property
    def span(self) -> Span:
        """The output frames a single pass keeps (-ss, -t, -to; the last of each wins)."""
        last = {opt.name: opt.value for opt in self.all if opt.name in SPAN_OPTIONS}
        return span_of(last.get("ss"), last.get("t"), last.get("to"))

    @property
    def seeks(self) -> bool:
        """An output -ss is given (-ss 0 too: ffmpeg then drops copied packets decoded before 0)."""
        return any(opt.name == "ss" for opt in self.all)

    @property
    def autorotate(self) -> bool:
        """ffmpeg's default: turn the video upright by its display matrix (-noautorotate: don't)."""
        flags = [opt.name for opt in self.all if _base(opt.name) == "autorotate"]
        return not flags or flags[-1] == "autorotate"

    @property
    def video_codec(self) -> str | None:
        """The video encoder the user named (the last one wins, as in ffmpeg), or None."""
        named = [opt.value for opt in self.all if opt.name in ("c", "codec", "vcodec")
                 and (opt.name == "vcodec" or opt.stream_type in (None, "v"))]
        return named[-1] if named else None


def _is_format_option(base: str, table: OptionTable) -> bool:
    return base in table.fmt and base not in table.codec and base not in table.other


def _base(name: str) -> str:
    return name[2:] if name.startswith("no") and name[2:] in TOOL_FLAGS else name


def split_options(argv: Sequence[str], table: OptionTable) -> RoutedOptions:
    opts = parse_options(argv, table)
    segment: list[str] = []
    final: list[str] = []
    muxer: list[str] = []
    vfilter: str | None = None
    inputs: list[str] = []
    for opt in opts:
        where = route(opt, table)
        if where is None:
            continue
        if where is Route.INPUT:
            inputs.extend(opt.argv)
            continue
        is_vfilter = opt.name == "vf" or (opt.name == "filter" and opt.stream_type == "v")
        if is_vfilter:
            vfilter = opt.value  # the last one wins, as in ffmpeg
            continue
        if opt.name == "filter" and opt.stream_type is None:
            raise UsageError("-filter without a stream type is ambiguous here: write -vf or -af")
        if where in (Route.SEGMENT, Route.BOTH):
            segment.extend(opt.argv)
        if where in (Route.FINAL, Route.BOTH) and opt.name != "map":
            final.extend(opt.argv)
            if _base(opt.name) in MUXER_TOOL_OPTIONS or _is_format_option(_base(opt.name), table):
                muxer.extend(opt.argv)
    if vfilter:
        check_filter(vfilter)
    routed = RoutedOptions(tuple(segment), tuple(final), vfilter, tuple(opts), tuple(inputs),
                           user_timing(opts, vfilter), tuple(muxer))
    routed.span  # noqa: B018 - a bad time is refused here, before any work
    return routed


def check_filter(chain: str) -> None:
    """Refuse, before any work, a video filter chain that segments cannot reproduce."""
    filtergraph.wrap(chain, "null", "null")  # a graph yaffmpegp can put its trims around
    filters = filtergraph.parse(chain)
    several = filtergraph.chain_count(chain) > 1
    for n, f in enumerate(filters):
        if n == len(filters) - 1 and not several and retimes(f.name, f.args):
            continue  # a speed or rate change at the end: the output's slots are worked out ahead (retime.py)
        why = filtergraph.unsplittable(f)
        if why:
            raise UsageError(f"the filter {f.name!r} cannot be split into segments exactly: {why}; "
                             "run it in a pass of its own")
