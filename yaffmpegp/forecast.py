"""When will a segment be done where it is, and when would it be done elsewhere: the
estimates the shared queue uses to move a segment that has not started to an idle host, or
to start a running one a second time only where that is projected to finish first.

Pure bookkeeping on numbers the pipelines report (encode speed in frames per second per
slot, upload rate in bytes per second); times are the event loop's clock.
"""
from __future__ import annotations

import heapq
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

SMOOTH = 0.3  # weight of the newest measurement in a host's running average


@dataclass
class HostRates:
    """What is known of one host's speed."""

    slots: int = 1
    fps: float | None = None  # frames per second, one slot
    link: float | None = None  # bytes per second toward the host

    def measured_fps(self, fps: float) -> None:
        self.fps = fps if self.fps is None else (1 - SMOOTH) * self.fps + SMOOTH * fps

    def measured_link(self, rate: float) -> None:
        self.link = rate if self.link is None else (1 - SMOOTH) * self.link + SMOOTH * rate


@dataclass
class Fleet:
    """Every host's rates, with the fleet's medians standing in for what a host has not
    shown yet."""

    hosts: dict[str, HostRates] = field(default_factory=dict)
    _typical: tuple[float | None, float | None] | None = None

    def host(self, name: str) -> HostRates:
        return self.hosts.setdefault(name, HostRates())

    def measured(self, name: str, *, fps: float | None = None, link: float | None = None) -> None:
        h = self.host(name)
        if fps is not None and fps > 0:
            h.measured_fps(fps)
        if link is not None and link > 0:
            h.measured_link(link)
        self._typical = None

    def _medians(self) -> tuple[float | None, float | None]:
        if self._typical is None:
            fps = [h.fps for h in self.hosts.values() if h.fps]
            links = [h.link for h in self.hosts.values() if h.link]
            self._typical = (statistics.median(fps) if fps else None,
                             statistics.median(links) if links else None)
        return self._typical

    def fps(self, name: str) -> float | None:
        h = self.hosts.get(name)
        return h.fps if h is not None and h.fps else self._medians()[0]

    def upload_seconds(self, name: str, nbytes: int) -> float:
        """0 when no upload was ever timed (local workers link, they do not copy)."""
        h = self.hosts.get(name)
        link = h.link if h is not None and h.link else self._medians()[1]
        return nbytes / link if link else 0.0

    def encode_seconds(self, name: str, frames: int, fallback_fps: float | None = None) -> float | None:
        fps = self.fps(name) or fallback_fps
        return frames / fps if fps else None


def remaining(frames: int, fraction: float, elapsed: float, fps: float | None) -> float | None:
    """Seconds a running encode still needs: from its own progress rate when it has moved,
    else from the host's speed (an encode already past its expected time is assumed to need
    as long again). None: nothing is known."""
    if fraction > 0 and elapsed > 0:
        return elapsed * (1 - fraction) / fraction
    if fps:
        expected = frames / fps
        return expected - elapsed if elapsed < expected else elapsed
    return None


def queue_finishes(now: float, slots: int, running: Iterable[float | None],
                   waiting: Iterable[tuple[float, float | None]]) -> list[float | None]:
    """Projected finish of each segment waiting on one host, in its order: `running` are
    the remaining seconds of the encodes it runs, `waiting` (ready at, encode seconds) for
    each segment it holds but has not started. None where it cannot be told."""
    free = [now + r if r is not None else None for r in running]
    if any(f is None for f in free):
        free = [f for f in free if f is not None]
        slots = max(1, slots - 1)  # one slot stays unknown
    free += [now] * max(0, slots - len(free))
    heapq.heapify(free)
    out: list[float | None] = []
    for ready_at, seconds in waiting:
        if seconds is None or not free:
            out.append(None)
            continue
        start = max(heapq.heappop(free), ready_at)
        heapq.heappush(free, start + seconds)
        out.append(start + seconds)
    return out


def next_start(now: float, slots: int, running: Iterable[float | None],
               waiting: Iterable[tuple[float, float | None]], ask_at: float, upload: float) -> float | None:
    """When one host would start encoding one more segment that it asks for at `ask_at` and
    uploads in `upload` seconds, after the encodes it runs (`running`: their remaining
    seconds) and the segments it holds (`waiting`, as for `queue_finishes`). None where that
    cannot be told."""
    free = [now + r if r is not None else None for r in running]
    if any(f is None for f in free):
        return None
    free += [now] * max(0, slots - len(free))
    heapq.heapify(free)
    for ready_at, seconds in waiting:
        if seconds is None:
            return None
        start = max(heapq.heappop(free), ready_at)
        heapq.heappush(free, start + seconds)
    return max(free[0], ask_at + upload)
