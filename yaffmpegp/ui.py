"""What the user sees while a run goes on. It only listens to events; only it imports tqdm.

On a terminal: one overall bar (frames of the total, fps, ETA, segments, queue) and one
line per host with each stage's state, redrawn in place; log lines are written above them,
never through them. Not a terminal (CI, nohup, a pipe), or a terminal that reports no rows
(tqdm would hide every bar there): no control codes, one plain progress line every few
seconds. The current ("now") fps comes from frame counts over the last few seconds
(rate.py), not from ffmpeg's own figure, which is an average since its start.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import IO, TextIO

from tqdm import tqdm

from .events import (AttemptFailed, Checked, ClusterQueue, EncodeProgress, Event, HostDown, HostUp, InputFinished, InputStarted,
                     Joined,
                     Message, Planned, SegmentDone, Stage, Transferred)
from .rate import RateMeter

REDRAW = 0.25  # seconds between redraws at most
FALLBACK_COLUMNS = 120


def _size(stream: TextIO) -> tuple[int, int]:
    """(columns, rows) the terminal reports; (0, 0) when it reports nothing."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return 0, 0
    return size.columns, size.lines


@dataclass
class _Work:
    state: str = "idle"
    segment: int | None = None
    since: float = 0.0
    frame: int = 0  # of the current segment, as ffmpeg last reported it
    meter: RateMeter = field(default_factory=RateMeter)  # this slot's frames, for the current fps
    moved: int = 0
    total: int | None = None


@dataclass
class _Host:
    stages: dict[str, _Work] = field(default_factory=dict)
    done: int = 0
    down: str | None = None
    retrying: bool = False
    queue: str = ""  # a cluster's: "pending 3 running 2"

    def stage(self, name: str) -> _Work:
        return self.stages.setdefault(name, _Work())


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def host_line(name: str, h: _Host, now: float, width: int = 12) -> str:
    """`h1  SEND seg 12 41% → ENC seg 11 212 fps 00:00:31 → GET idle | stale: no | done 4`"""
    if h.down:
        return f"{name:<{width}} down: {h.down}"
    parts = []
    send = h.stages.get("send", _Work())
    if send.state == "sending" and send.segment is not None:
        pct = f" {100 * send.moved // send.total}%" if send.total else ""
        parts.append(f"SEND seg {send.segment}{pct}")
    else:
        parts.append("SEND idle")
    encodes = [w for k, w in sorted(h.stages.items()) if k.startswith("encode")] or [_Work()]
    enc = []
    for w in encodes:
        if w.state in ("encoding", "stale") and w.segment is not None:
            enc.append(f"seg {w.segment} {w.meter.rate(now):.0f} fps {_clock(now - w.since)}")
        else:
            enc.append("idle")
    parts.append("ENC " + ", ".join(enc))
    get = h.stages.get("get", _Work())
    if get.state == "downloading" and get.segment is not None:
        parts.append(f"GET seg {get.segment} {get.moved / 1e6:.1f} MB")
    else:
        parts.append("GET idle")
    stale = "yes" if any(w.state == "stale" for w in encodes) else "no"
    extra = (" | retrying" if h.retrying else "") + (f" | {h.queue}" if h.queue else "")
    return f"{name:<{width}} " + " → ".join(parts) + f" | stale: {stale}{extra} | done {h.done}"


class Status:
    def __init__(self, stream: TextIO = sys.stderr, *, quiet: bool = False, verbose: bool = False,
                 log: IO[str] | None = None, interval: float = 5.0, tty: bool | None = None) -> None:
        self.stream = stream
        self.quiet = quiet
        self.verbose = verbose
        self.log = log
        self.tty = stream.isatty() if tty is None else tty
        self.interval = interval
        self._bar: tqdm | None = None
        self._lines: dict[str, tqdm] = {}
        self._hosts: dict[str, _Host] = {}
        self._seg_frames: dict[int, int] = {}
        self._done_frames = 0
        self._total = 0
        self._segments = 0
        self._done = 0
        self._started_segments: set[int] = set()
        self._first_encode: float | None = None
        self._last_draw = 0.0
        self._last_line = 0.0  # the first plain progress line comes at once
        self._started = time.monotonic()
        self._batch: InputStarted | None = None  # the input a batch is on
        self._batch_started = 0.0

    # ----- events -------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        now = time.monotonic()
        if isinstance(event, InputStarted):
            return self._next_input(event, now)
        if isinstance(event, InputFinished):
            what = {"done": f"done: {event.output}", "skipped": f"skipped: {event.output} exists"}
            return self._note(f"[{event.number}] {event.path}: {what.get(event.result, 'failed: ' + event.error)}")
        if event.input and self._batch is not None and event.input != self._batch.number:
            return self._earlier_input(event)
        if isinstance(event, Planned):
            self._total, self._segments = event.frames, event.segments
            self._note(f"{event.segments} segments, {event.frames} frames, on {len(event.hosts)} "
                       f"host(s): {', '.join(event.hosts)}")
            columns, rows = _size(self.stream) if self.tty else (0, 0)
            if rows and not self.quiet:  # no rows: tqdm would hide every bar, plain lines instead
                # a terminal that reports no width (a fresh pty, some consoles) would get
                # empty lines from tqdm's dynamic width: use a fixed one there
                width = dict(dynamic_ncols=True) if columns else dict(ncols=FALLBACK_COLUMNS)
                desc = f"[{self._batch.number}/{self._batch.total}]" if self._batch else "encode"
                self._bar = tqdm(total=event.frames, unit="frame", file=self.stream, desc=desc, position=0,
                                 mininterval=REDRAW, leave=True, **width)
                self._width = max([len(h) for h in event.hosts] + [4])
                for i, name in enumerate(event.hosts):
                    self._lines[name] = tqdm(total=0, file=self.stream, position=i + 1, bar_format="{desc}",
                                             leave=False, **width)
        elif isinstance(event, HostUp):
            h = self._hosts.setdefault(event.host, _Host())
            if h.down:
                h.down = None
                self._note(f"{event.host} is back and takes work again")
            else:
                self._debug(f"{event.host}: ready, {event.slots} encode slot(s)")
        elif isinstance(event, Stage):
            h = self._hosts.setdefault(event.host, _Host())
            w = h.stage(event.stage)
            resumed = event.segment == w.segment and {w.state, event.state} == {"encoding", "stale"}
            if (event.segment != w.segment or event.state != w.state) and not resumed:
                w.since, w.frame, w.moved, w.total = now, 0, 0, None
                if event.state == "encoding":
                    w.meter.add(now, 0)  # counting from here
            w.state, w.segment = event.state, event.segment
            if event.state == "sending" and event.segment is not None:
                self._started_segments.add(event.segment)
            if event.state == "encoding":
                h.retrying = False
                self._first_encode = self._first_encode or now
        elif isinstance(event, Transferred):
            w = self._hosts.setdefault(event.host, _Host()).stage("send" if event.direction == "up" else "get")
            w.moved += event.nbytes
            w.total = event.total
        elif isinstance(event, EncodeProgress):
            self._seg_frames[event.segment] = event.frame
            for w in self._hosts.setdefault(event.host, _Host()).stages.values():
                if w.segment == event.segment and w.state in ("encoding", "stale"):
                    w.meter.add(now, max(0, event.frame - w.frame))
                    w.frame = event.frame
        elif isinstance(event, SegmentDone):
            self._seg_frames.pop(event.segment, None)
            self._done_frames += event.frames
            self._done += 1
            self._hosts.setdefault(event.host, _Host()).done += 1
        elif isinstance(event, AttemptFailed):
            self._seg_frames.pop(event.segment, None)
            self._started_segments.discard(event.segment)
            self._hosts.setdefault(event.host, _Host()).retrying = event.retry
            again = "retrying" if event.retry else "giving up"
            self._note(f"warning: {event.host}: segment {event.segment} attempt {event.attempt} "
                       f"failed ({event.error}); {again}")
            if self.verbose and event.detail:
                self._note(event.detail)
        elif isinstance(event, HostDown):
            self._hosts.setdefault(event.host, _Host()).down = event.reason
            if event.retrying:
                self._note(f"warning: {event.host} lost: {event.reason}; its segments go to the other "
                           "hosts, and it is tried again in the background")
            else:
                self._note(f"warning: {event.host} left out: {event.reason}")
        elif isinstance(event, ClusterQueue):
            self._hosts.setdefault(event.host, _Host()).queue = f"pending {event.pending} running {event.running}"
        elif isinstance(event, Message):
            if event.level == "debug":
                self._debug(event.text)
            else:
                self._note(event.text)
        elif isinstance(event, Joined):
            self._debug(f"joined {event.segments} segments")
        elif isinstance(event, Checked):
            self.close()
            self._total = 0  # the run is over: no more progress lines
            for line in event.checks:
                self._note(f"checked: {line}")
        self._refresh(now)

    def _next_input(self, event: InputStarted, now: float) -> None:
        """A batch moves on: the display starts afresh for the next input."""
        self.close()
        if self._batch is None:
            self._batch_started = now
        self._batch = event
        self._hosts.clear()
        self._seg_frames.clear()
        self._started_segments.clear()
        self._done_frames = self._total = self._segments = self._done = 0
        self._first_encode = None
        self._last_line = 0.0
        self._started = now
        self._note(f"[{event.number}/{event.total}] {event.path} -> {event.output}")

    def _earlier_input(self, event: Event) -> None:
        """A previous input of the batch is being joined and checked while the hosts work on
        the next: its news as lines, the display stays with the current input."""
        if isinstance(event, Message) and event.level != "debug":
            self._note(f"[{event.input}] {event.text}")
        elif isinstance(event, Checked):
            for line in event.checks:
                self._debug(f"[{event.input}] checked: {line}")

    def _batch_eta(self, now: float) -> str:
        b = self._batch
        if b is None or b.total < 2 or not b.seconds_total:
            return ""
        fraction = self._frames() / self._total if self._total else 0.0
        done = b.seconds_before + fraction * b.seconds
        if done <= 0:
            return ""
        return f", batch ETA {_clock((b.seconds_total - done) * (now - self._batch_started) / done)}"

    # ----- drawing ------------------------------------------------------------------------
    def _frames(self) -> int:
        return min(self._done_frames + sum(self._seg_frames.values()), self._total)

    def _fps(self, now: float) -> tuple[float, float]:
        avg = self._frames() / (now - self._first_encode) if self._first_encode and now > self._first_encode else 0.0
        current = sum(w.meter.rate(now) for h in self._hosts.values() for k, w in h.stages.items()
                      if k.startswith("encode"))
        return avg, current

    def _refresh(self, now: float) -> None:
        if self.quiet or not self._total:
            return
        if self._bar is not None and _size(self.stream)[1]:  # (a terminal shrunk to 0 rows: plain)
            if now - self._last_draw < REDRAW:
                return
            self._last_draw = now
            avg, current = self._fps(now)
            queue = max(0, self._segments - len(self._started_segments))
            self._bar.n = self._frames()
            self._bar.set_postfix_str(f"segments {self._done}/{self._segments} queue {queue} "
                                      f"avg {avg:.0f} fps now {current:.0f} fps{self._batch_eta(now)}",
                                      refresh=False)
            self._bar.refresh()
            for name, line in self._lines.items():
                line.set_description_str(host_line(name, self._hosts.get(name, _Host()), now, self._width),
                                         refresh=True)
        elif now - self._last_line >= self.interval:
            self._last_line = now
            line = self.progress_line(now)
            self.to_log(line)
            self._plain(line)

    def progress_line(self, now: float) -> str:
        frames = self._frames()
        pct = 100 * frames / self._total if self._total else 0
        avg, current = self._fps(now)
        eta = f", ETA {_clock((self._total - frames) / avg)}" if avg > 0 else ""
        eta += "".join(f", {name}: {h.queue}" for name, h in self._hosts.items() if h.queue)
        which = f"[{self._batch.number}/{self._batch.total}] " if self._batch else ""
        return (f"progress: {which}{frames}/{self._total} frames ({pct:.0f}%), segments {self._done}/{self._segments}, "
                f"{avg:.0f} fps avg, {current:.0f} fps now, {_clock(now - self._started)} elapsed{eta}"
                f"{self._batch_eta(now)}")

    def _note(self, text: str) -> None:
        self.to_log(text)
        if self.quiet and not text.startswith("warning"):
            return
        if self._bar is not None:
            tqdm.write(text, file=self.stream)
        else:
            self._plain(text)

    def _debug(self, text: str) -> None:
        """Logged always, shown with --verbose."""
        if self.verbose:
            self._note(text)
        else:
            self.to_log(text)

    def _plain(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def to_log(self, text: str) -> None:
        if self.log is not None:
            self.log.write(time.strftime("%Y-%m-%d %H:%M:%S ") + text + "\n")
            self.log.flush()

    def say(self, text: str) -> None:
        """A line for the user from outside the event stream (the final summary)."""
        self._note(text)

    def close(self) -> None:
        for line in self._lines.values():
            line.close()
        self._lines.clear()
        if self._bar is not None:
            self._bar.n = self._frames()
            self._bar.close()
            self._bar = None
