"""The user's video filter chain, read the way ffmpeg reads it: which filters it holds,
which of their options name files, and which make the chain impossible to split exactly.

A chain is `filter[=args][,filter...]` (';' separates chains of a graph); args are
`key=value` or positional values joined by ':'. ffmpeg's escaping applies at both levels:
a backslash escapes the next character and '...' quotes a run. The parser keeps each
filter's text as written, so rewriting one option value leaves everything else untouched.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import UsageError


@dataclass(frozen=True)
class Option:
    key: str | None  # None: a positional value
    value: str  # at the option level: the graph level's escapes resolved, its own kept
    position: int  # index among the filter's options

    @property
    def received(self) -> str:
        """The value as the filter receives it."""
        return unescape(self.value)


@dataclass(frozen=True)
class Filter:
    name: str
    args: str  # everything after '=' as written, graph-level escapes kept ('' when none)
    label_prefix: str = ""  # link labels written before the name, e.g. "[in]"
    label_suffix: str = ""

    @property
    def options(self) -> list[Option]:
        out = []
        for n, part in enumerate(_split(unescape(self.args), ":")) if self.args else []:
            key, eq, value = _split_first(part, "=")
            out.append(Option(key, value, n) if eq else Option(None, part, n))
        return out

    def text(self) -> str:
        return f"{self.label_prefix}{self.name}{'=' + self.args if self.args else ''}{self.label_suffix}"


def _split(text: str, sep: str) -> list[str]:
    """Split at `sep` outside quotes and not escaped; pieces keep their quoting."""
    parts, cur, quoted, i = [], [], False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if ch == "'":
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    if quoted:
        raise UsageError(f"unbalanced quote in the filter {text!r}")
    parts.append("".join(cur))
    return parts


def _split_first(text: str, sep: str) -> tuple[str, bool, str]:
    parts = _split(text, sep)
    if len(parts) == 1:
        return text, False, ""
    return parts[0], True, text[len(parts[0]) + 1:]


def unescape(value: str) -> str:
    """An option value as the filter receives it: quotes removed, escapes resolved."""
    out, quoted, i = [], False, 0
    while i < len(value):
        ch = value[i]
        if ch == "'":
            quoted = not quoted
        elif ch == "\\" and i + 1 < len(value) and not quoted:
            out.append(value[i + 1])
            i += 1
        else:
            out.append(ch)
        i += 1
    return "".join(out)


_LABEL = re.compile(r"^((?:\s*\[[^\]]*\])*)\s*(.*?)\s*((?:\[[^\]]*\]\s*)*)$", re.S)


def parse(chain: str) -> list[Filter]:
    """Every filter of a -vf value, in order."""
    filters = []
    for graph_part in _split(chain, ";"):
        for text in _split(graph_part, ","):
            m = _LABEL.match(text)
            assert m is not None  # the pattern matches any text
            prefix, body, suffix = m.groups()
            name, _, args = _split_first(body, "=")
            name = name.strip()
            if not name:
                raise UsageError(f"empty filter in {chain!r}")
            filters.append(Filter(name, args if _ else "", prefix, suffix))
    return filters


def chain_count(chain: str) -> int:
    """How many chains a graph has (`a;b`: two)."""
    return len(_split(chain, ";"))


def join_chain(chain: str, filters: list[Filter]) -> str:
    """`chain` with its filters replaced by `filters` (same count, same order)."""
    out, k = [], 0
    for graph_part in _split(chain, ";"):
        texts = _split(graph_part, ",")
        out.append(",".join(f.text() for f in filters[k:k + len(texts)]))
        k += len(texts)
    return ";".join(out)


# Options that name a file the filter reads: filter -> {option name: positional index or None}.
FILE_OPTIONS: dict[str, dict[str, int | None]] = {
    "lut3d": {"file": 0},
    "lut1d": {"file": 0},
    "haldclutsrc": {},
    "subtitles": {"filename": 0, "f": None, "fontsdir": None},
    "ass": {"filename": 0, "f": None, "fontsdir": None},
    "drawtext": {"fontfile": None, "textfile": None},
    "movie": {"filename": 0},
    "curves": {"psfile": None},
    "selectivecolor": {"psfile": None},
    "sendcmd": {"filename": None, "f": None},
    "zmq": {},
    "frei0r": {},
}


def file_options(f: Filter) -> list[Option]:
    """The options of `f` that name files it reads."""
    wanted = FILE_OPTIONS.get(f.name, {})
    return [o for o in f.options
            if (o.key is not None and o.key in wanted)
            or (o.key is None and o.position in {p for p in wanted.values() if p is not None})]


# Filters whose output depends on where the stream starts or on its frame count, or that
# add, drop or retime frames: a segment cannot reproduce a single pass's result with them.
RETIMING = {
    "setpts": "it changes the timestamps",
    "fps": "it changes the frame rate",
    "framerate": "it changes the frame rate",
    "minterpolate": "it changes the frame rate",
    "select": "it drops frames by expression",
    "decimate": "it drops frames",
    "mpdecimate": "it drops frames",
    "framestep": "it keeps every Nth frame of the whole stream",
    "trim": "it cuts the whole stream",
    "tpad": "it pads the whole stream",
    "loop": "it loops frames of the whole stream",
    "reverse": "it reverses the whole stream",
    "telecine": "its cadence runs over the whole stream",
    "detelecine": "its cadence runs over the whole stream",
    "fieldmatch": "it drops frames",
    "pullup": "it drops frames",
    "interlace": "it pairs frames across the whole stream",
    "tinterlace": "it pairs frames across the whole stream",
    "random": "it reorders frames",
    "shuffleframes": "it reorders frames",
    "fade": "it counts frames from the start",
    "zoompan": "it makes several frames of each and counts them",
}
# Expression variables that count frames from the start of the stream.
_FRAME_NUMBER = re.compile(r"(?<![\w.])(n|N|in|on|frame_num|selected_n|prev_selected_n)(?![\w(])")
_DRAWTEXT_N = re.compile(r"%\{(n|frame_num)\}|%\{(e|expr|eif)[:\\].*?(?<![\w.])(n)(?![\w(])")


def unsplittable(f: Filter) -> str | None:
    """Why `f` cannot be split exactly, or None."""
    if f.name in RETIMING:
        if f.name == "fade" and all(o.key in ("st", "start_time", "d", "duration", "t", "type", "c", "color",
                                              "alpha") for o in f.options if o.key is not None) \
                and not any(o.key is None and o.position > 0 for o in f.options):
            return None  # fade by time (st=, d=) is on the timeline, which segments keep
        return RETIMING[f.name]
    if f.name == "drawtext":
        if any(_DRAWTEXT_N.search(o.received) for o in f.options if o.key == "text"):
            return "its text counts frames (%{n})"
        exprs = [o for o in f.options if o.key != "text" and o.key not in FILE_OPTIONS["drawtext"]]
    else:
        exprs = f.options
    if any(_FRAME_NUMBER.search(o.received) for o in exprs if o.key not in ("file", "filename")):
        return "an expression counts frames from the start (n)"
    return None


def named_files(chain: str) -> list[str]:
    """The file names the chain's filters read, as the filters receive them, once each."""
    seen: dict[str, None] = {}
    for f in parse(chain):
        for o in file_options(f):
            seen.setdefault(o.received, None)
    return list(seen)


def with_files(chain: str, paths: dict[str, str]) -> str:
    """`chain` with every file option found in `paths` pointing at its new place."""
    out = []
    for f in parse(chain):
        moved = {o.position for o in file_options(f) if o.received in paths}
        if moved:
            parts = []
            for o in f.options:
                value = _option_quote(paths[o.received]) if o.position in moved else o.value
                parts.append(f"{o.key}={value}" if o.key is not None else value)
            f = Filter(f.name, _graph_escape(":".join(parts)), f.label_prefix, f.label_suffix)
        out.append(f)
    return join_chain(chain, out)


def _option_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _graph_escape(value: str) -> str:
    return "".join("\\" + ch if ch in "\\',;[]" else ch for ch in value)


IN, OUT = "[in]", "[out]"  # the labels -vf gives the video's way in and out


def wrap(chain: str | None, before: str, after: str) -> str:
    """`before` filters the video before `chain` and `after` filters its output. A chain
    is joined with commas; a graph of several chains (`movie=logo.png[wm];[in][wm]overlay`)
    is joined at its [in] and [out] labels, or at its end where it has no [out]."""
    if not chain:
        return ",".join(f for f in (before, after) if f)
    filters = parse(chain)
    several = len(_split(chain, ";")) > 1
    has_in = any(IN in f.label_prefix for f in filters)
    has_out = any(OUT in f.label_suffix for f in filters)
    if several and not has_in and before:
        raise UsageError("a video filter graph of several chains must name the video's input [in] "
                         "(e.g. movie=logo.png[wm];[in][wm]overlay)")
    renamed = [Filter(f.name, f.args, f.label_prefix.replace(IN, "[yaff_in]"),
                      f.label_suffix.replace(OUT, "[yaff_out]")) for f in filters]
    body = join_chain(chain, renamed)
    if before:
        body = f"{before}[yaff_in];{body}" if has_in else f"{before},{body}"
    elif has_in:
        body = f"[in]null[yaff_in];{body}"
    if after:
        body = f"{body};[yaff_out]{after}" if has_out else f"{body},{after}"
    elif has_out:
        body = f"{body};[yaff_out]null"
    return body
