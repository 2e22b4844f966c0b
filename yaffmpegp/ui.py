"""What the user sees while a run goes on. It only listens to events; only it imports tqdm."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

from .events import (AttemptFailed, Checked, EncodeProgress, Event, HostDown, Message, Planned,
                     SegmentDone)


class Status:
    """An overall bar of frames encoded on a terminal; plain lines every few seconds when
    the output is not a terminal (no control codes in logs)."""

    def __init__(self, stream: TextIO = sys.stderr, *, quiet: bool = False, interval: float = 5.0) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.interval = interval
        self._bar: tqdm | None = None
        self._seg_frames: dict[int, int] = {}
        self._done_frames = 0
        self._total = 0
        self._segments = 0
        self._done = 0
        self._last_line = 0.0
        self._started = time.monotonic()
        self._per_host: dict[str, int] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, Planned):
            self._total, self._segments = event.frames, event.segments
            self._note(f"{event.segments} segments, {event.frames} frames, on {len(event.hosts)} "
                       f"host(s): {', '.join(event.hosts)}")
            if self.tty and not self.quiet:
                self._bar = tqdm(total=event.frames, unit="frame", file=self.stream, dynamic_ncols=True,
                                 desc="encode", mininterval=0.5)
        elif isinstance(event, EncodeProgress):
            self._seg_frames[event.segment] = event.frame
            self._refresh()
        elif isinstance(event, SegmentDone):
            self._seg_frames.pop(event.segment, None)
            self._done_frames += event.frames
            self._done += 1
            self._per_host[event.host] = self._per_host.get(event.host, 0) + 1
            self._refresh()
        elif isinstance(event, AttemptFailed):
            self._seg_frames.pop(event.segment, None)
            again = "retrying" if event.retry else "giving up"
            self._note(f"warning: {event.host}: segment {event.segment} attempt {event.attempt} "
                       f"failed ({event.error}); {again}")
        elif isinstance(event, HostDown):
            self._note(f"warning: {event.host} left out: {event.reason}")
        elif isinstance(event, Message):
            self._note(event.text)
        elif isinstance(event, Checked):
            self.close()
            for line in event.checks:
                self._note(f"checked: {line}")
            self._note("segments per host: " + ", ".join(f"{h} {n}" for h, n in sorted(self._per_host.items())))

    def _frames(self) -> int:
        return self._done_frames + sum(self._seg_frames.values())

    def _refresh(self) -> None:
        if self.quiet:
            return
        frames = min(self._frames(), self._total)
        if self._bar is not None:
            self._bar.n = frames
            self._bar.set_postfix_str(f"segments {self._done}/{self._segments}", refresh=False)
            self._bar.refresh() if time.monotonic() - self._last_line > 0.5 else None
            self._last_line = time.monotonic()
        elif time.monotonic() - self._last_line >= self.interval:
            self._last_line = time.monotonic()
            pct = 100 * frames / self._total if self._total else 0
            print(f"progress: {frames}/{self._total} frames ({pct:.0f}%), "
                  f"segments {self._done}/{self._segments}, "
                  f"{time.monotonic() - self._started:.0f} s", file=self.stream, flush=True)

    def _note(self, text: str) -> None:
        if self.quiet and not text.startswith("warning"):
            return
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.n = min(self._frames(), self._total)
            self._bar.close()
            self._bar = None
