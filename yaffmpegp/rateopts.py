"""What the user's options say of the output's frame timing: -r, -fps_mode/-vsync, and a
trailing `fps=R` or speed `setpts` in the video filters. The segments lose these options
(they write the single pass's slots instead, retime.py); the single pass's timing is worked
out from them.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from . import filtergraph
from .errors import UsageError
from .retime import CFR, DROP, PASSTHROUGH, VFR, Speed

# -vsync / -fps_mode values, as ffmpeg 5.1 parses them (numbers are the old spellings)
_METHODS = {"cfr": CFR, "1": CFR, "vfr": VFR, "2": VFR, "passthrough": PASSTHROUGH, "0": PASSTHROUGH,
            "drop": DROP, "auto": None, "-1": None}
# av_parse_video_rate's names
_RATE_NAMES = {"ntsc": Fraction(30000, 1001), "pal": Fraction(25), "qntsc": Fraction(30000, 1001),
               "qpal": Fraction(25), "sntsc": Fraction(30000, 1001), "spal": Fraction(25),
               "film": Fraction(24), "ntsc-film": Fraction(24000, 1001)}


def parse_rate(text: str) -> Fraction:
    """A -r value: a name (ntsc, pal, film...), a fraction or a number."""
    if text in _RATE_NAMES:
        return _RATE_NAMES[text]
    try:
        rate = Fraction(text) if "/" in text else Fraction(text).limit_denominator(1001000)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"-r {text}: not a frame rate") from None
    if rate <= 0:
        raise UsageError(f"-r {text}: not a frame rate")
    return rate


def parse_method(text: str) -> str | None:
    """A -vsync / -fps_mode value; None: auto."""
    if text not in _METHODS:
        raise UsageError(f"-fps_mode {text}: use passthrough, cfr, vfr, drop or auto")
    return _METHODS[text]



_NUM = r"(\d+(?:\.\d*)?|\.\d+)"
_PTS = r"(\(\s*PTS\s*-\s*STARTPTS\s*\)|PTS\s*-\s*STARTPTS|PTS)"
_SETPTS = [(re.compile(rf"^{_NUM}\s*\*\s*{_PTS}$"), "k*p"), (re.compile(rf"^{_PTS}\s*\*\s*{_NUM}$"), "p*k"),
           (re.compile(rf"^{_PTS}\s*/\s*{_NUM}$"), "p/k"), (re.compile(rf"^{_PTS}$"), "p")]


def parse_setpts(expr: str) -> Speed | None:
    """The speed a setpts expression sets, if it is one of the linear forms; else None."""
    text = expr.strip().strip("'\"").strip()
    for pattern, form in _SETPTS:
        m = pattern.match(text)
        if not m:
            continue
        if form == "p":
            pts, k = m.group(1), "1"
        elif form == "k*p":
            k, pts = m.group(1), m.group(2)
        else:
            pts, k = m.group(1), m.group(2)
        from_start = "STARTPTS" in pts
        if form == "p*k" and from_start and not pts.startswith("("):
            return None  # PTS-STARTPTS*K is not a speed
        if float(k) <= 0:
            return None
        return Speed(float(k), form == "p/k", from_start)
    return None



# Output options that set the single pass's frame timing; segments get their own instead.
TIMING_OPTIONS = {"r": "rate", "vsync": "method", "fps_mode": "method"}


@dataclass(frozen=True)
class UserTiming:
    """What the user's options say of the output's frame timing."""

    rate: Fraction | None = None  # -r
    method: str | None = None  # -fps_mode / -vsync (None: ffmpeg's choice)
    speed: Speed | None = None  # a setpts at the end of the video filters
    filtered: bool = False  # the user gave video filters (ffmpeg then times frames by the rate)
    fps: Fraction | None = None  # an fps=R filter at the end of the video filters

    @property
    def asked(self) -> bool:
        """The user changes the frame rate or the speed: the segments must be retimed."""
        return self.rate is not None or self.speed is not None or self.fps is not None


def user_timing(opts: Sequence, video_filter: str | None) -> UserTiming:
    """-r, -fps_mode/-vsync (the per-stream one wins, the last of each) and a trailing setpts."""
    rate = method = vsync_method = None
    for opt in opts:
        if opt.stream_type not in (None, "v") or opt.name not in TIMING_OPTIONS:
            continue
        if opt.name == "r":
            rate = parse_rate(opt.value)
        elif opt.name == "fps_mode":
            method = parse_method(opt.value) or "auto"
        else:
            vsync_method = parse_method(opt.value) or "auto"
    chosen = method or vsync_method
    speed = fps = None
    last = _last_filter(video_filter)
    if last is not None:
        speed = parse_setpts(last.args) if last.name == "setpts" else None
        fps = parse_fps(last.args) if last.name == "fps" else None
    return UserTiming(rate, None if chosen in (None, "auto") else chosen, speed, video_filter is not None, fps)


def _last_filter(chain: str | None):  # noqa: ANN202 - a filtergraph.Filter
    if not chain:
        return None
    filters = filtergraph.parse(chain)
    return filters[-1] if filters and filtergraph.chain_count(chain) == 1 else None


def parse_fps(args: str | None) -> Fraction | None:
    """The rate of an `fps` filter given as `fps=R` (or `fps=fps=R`) and nothing else; None
    for any other form (its other options change what it does)."""
    parts = (args or "").split(":")
    if len(parts) != 1 or not parts[0]:
        return None
    value = parts[0].split("=", 1)[1] if parts[0].startswith("fps=") else parts[0]
    if "=" in value:
        return None
    try:
        return parse_rate(value.strip("'\""))
    except UsageError:
        return None


def retimes(name: str, args: str | None) -> bool:
    """Whether a last filter is one whose timing is worked out ahead (a speed or fps=R)."""
    return (name == "setpts" and parse_setpts(args or "") is not None) or (name == "fps" and parse_fps(args) is not None)


def without_timing(segment_argv: Sequence[str], video_filter: str | None) -> tuple[tuple[str, ...], str | None]:
    """The segment options less -r/-vsync/-fps_mode, and the filters less a trailing setpts or fps:
    a retimed segment gets its timing from its slots."""
    out: list[str] = []
    skip = False
    for a in segment_argv:
        if skip:
            skip = False
            continue
        if a.startswith("-") and a[1:].split(":")[0] in TIMING_OPTIONS:
            skip = True
            continue
        out.append(a)
    chain = video_filter
    last = _last_filter(video_filter)
    if video_filter and last is not None and retimes(last.name, last.args):
        filters = filtergraph.parse(video_filter)
        chain = filtergraph.join_chain(video_filter, filters[:-1]) if len(filters) > 1 else None
    return tuple(out), chain
