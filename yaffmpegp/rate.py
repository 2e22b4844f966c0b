"""Current speed: a count's growth over the last few seconds.

ffmpeg's own `fps` in `-progress` is the average since its start, rounded, and reads 0 for
the first second or so: on segments that encode in a second or two it shows 0 most of the
time. The current speed is taken from frame counts instead, over a short sliding window.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence

WINDOW = 2.5  # seconds: long enough to span several -progress reports (every 0.5 s)


def window_rate(samples: Sequence[tuple[float, float]], now: float, window: float = WINDOW) -> float:
    """Count per second over the `window` seconds before `now`.

    `samples` are (time, cumulative count) in time order. Between two samples the count is
    taken to grow evenly; after the last one nothing is known yet, so the window ends at the
    last sample (a count that stops growing reads 0 once its last sample has left the window).
    Before the first sample nothing was counted: a window reaching further back starts there.
    """
    kept = [(t, c) for t, c in samples if t <= now]
    start = now - window
    if len(kept) < 2 or kept[-1][0] <= start:
        return 0.0
    end_t, end_c = kept[-1]
    if kept[0][0] >= start:
        start_t, start_c = kept[0]
    else:
        start_t, start_c = start, _count_at(kept, start)
    if end_t <= start_t:
        return 0.0
    return max(0.0, (end_c - start_c) / (end_t - start_t))


def _count_at(samples: Sequence[tuple[float, float]], t: float) -> float:
    """The count at `t`, interpolated between the samples around it (samples[0] is before t)."""
    for (t0, c0), (t1, c1) in zip(samples, samples[1:]):
        if t0 <= t <= t1:
            return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c1
    return samples[-1][1]


class RateMeter:
    """A cumulative count and its recent samples. `add(now, n)` counts `n` more at `now`
    (0 marks a start: "counting from here"); `rate(now)` is the window's count per second."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self.total = 0.0
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, n: float) -> None:
        self.total += n
        self._samples.append((now, self.total))
        # keep one sample older than the window: the count at its start is interpolated from it
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()

    def rate(self, now: float) -> float:
        return window_rate(self._samples, now, self.window)
