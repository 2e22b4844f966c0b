"""What a run did, gathered from its events: per host segments, frames, bytes and time busy;
the run's wall time and speed-up; the checks the output passed. Also the `--events` file:
one JSON line per event, for scripts and dashboards."""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import IO, Any

from .events import (AttemptFailed, Checked, Event, HostDown, HostUp, Planned, SegmentDone, Tick,
                     Transferred, event_name)


@dataclass
class HostStats:
    segments: int = 0
    frames: int = 0
    encode_seconds: float = 0.0  # time spent encoding (the host is busy)
    bytes_up: int = 0
    bytes_down: int = 0
    failed_attempts: int = 0
    down: str | None = None  # why it was left out, if it was

    @property
    def fps(self) -> float:
        return self.frames / self.encode_seconds if self.encode_seconds else 0.0


@dataclass
class RunStats:
    """An event listener; `summary()` once the run is over."""

    started: float = field(default_factory=time.time)
    segments: int = 0
    frames: int = 0
    hosts: dict[str, HostStats] = field(default_factory=dict)
    checks: tuple[str, ...] = ()
    ended: float | None = None

    def host(self, name: str) -> HostStats:
        return self.hosts.setdefault(name, HostStats())

    def __call__(self, event: Event) -> None:
        if isinstance(event, Planned):
            self.segments, self.frames = event.segments, event.frames
        elif isinstance(event, HostUp):
            self.host(event.host).down = None
        elif isinstance(event, HostDown):
            self.host(event.host).down = event.reason
        elif isinstance(event, Transferred):
            h = self.host(event.host)
            if event.direction == "up":
                h.bytes_up += event.nbytes
            else:
                h.bytes_down += event.nbytes
        elif isinstance(event, SegmentDone):
            h = self.host(event.host)
            h.segments += 1
            h.frames += event.frames
            h.encode_seconds += event.seconds
        elif isinstance(event, AttemptFailed):
            self.host(event.host).failed_attempts += 1
        elif isinstance(event, Checked):
            self.checks = event.checks
            self.ended = event.at

    def summary(self) -> dict[str, Any]:
        wall = (self.ended or time.time()) - self.started
        hosts = {}
        for name, h in sorted(self.hosts.items()):
            hosts[name] = {
                "segments": h.segments, "frames": h.frames, "fps": round(h.fps, 2),
                "bytes_up": h.bytes_up, "bytes_down": h.bytes_down,
                "busy_seconds": round(h.encode_seconds, 3),
                "idle_seconds": round(max(0.0, wall - h.encode_seconds), 3),
                "failed_attempts": h.failed_attempts, "left_out": h.down,
            }
        best = max((h.fps for h in self.hosts.values()), default=0.0)
        single = self.frames / best if best else None  # the best host alone, at its own rate
        return {
            "segments": self.segments, "frames": self.frames, "wall_seconds": round(wall, 3),
            "fps": round(self.frames / wall, 2) if wall else 0.0,
            "speedup_over_best_host": round(single / wall, 2) if single and wall else None,
            "hosts": hosts, "checks": list(self.checks),
        }

    def summary_lines(self) -> list[str]:
        s = self.summary()
        lines = [f"{'host':14s} {'segments':>8s} {'frames':>8s} {'fps':>8s} {'up MB':>8s} "
                 f"{'down MB':>8s} {'busy s':>8s} {'idle s':>8s}"]
        for name, h in s["hosts"].items():
            if h["left_out"]:
                lines.append(f"{name:14s} left out: {h['left_out']}")
                continue
            lines.append(f"{name:14s} {h['segments']:8d} {h['frames']:8d} {h['fps']:8.1f} "
                         f"{h['bytes_up'] / 1e6:8.1f} {h['bytes_down'] / 1e6:8.1f} "
                         f"{h['busy_seconds']:8.1f} {h['idle_seconds']:8.1f}")
        speed = s["speedup_over_best_host"]
        lines.append(f"total: {s['segments']} segments, {s['frames']} frames in {s['wall_seconds']:.1f} s "
                     f"({s['fps']:.1f} fps)" + (f", {speed:.2f}x the best single host" if speed else ""))
        return lines


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass
class BatchStats:
    """The stats of each input of a batch, from events marked with their input."""

    inputs: dict[int, RunStats] = field(default_factory=dict)

    def __call__(self, event: Event) -> None:
        if event.input:
            self.inputs.setdefault(event.input, RunStats())(event)

    def of(self, number: int) -> dict[str, Any]:
        stats = self.inputs.get(number)
        return stats.summary() if stats is not None else {}


class EventLog:
    """Writes every event as one JSON object per line: {"event": "segment_done", "at": ...}.
    Ticks (display redraws) are left out; `input` (which input of a batch) only in batches."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def __call__(self, event: Event) -> None:
        if isinstance(event, Tick):
            return
        record = {"event": event_name(event)}
        record.update({f.name: _jsonable(getattr(event, f.name)) for f in dataclasses.fields(event)})
        if not event.input:
            del record["input"]
        self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._stream.flush()
