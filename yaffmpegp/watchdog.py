"""Kill an encode whose progress has stopped moving."""
from __future__ import annotations

import asyncio
import time

from .errors import StaleError


class Watchdog:
    """Call `touch()` whenever progress moves; `watch()` raises StaleError once nothing moved
    for `timeout` seconds. Run `watch()` as a sibling of the encode in a TaskGroup, so the
    error cancels the encode (whose transport then kills ffmpeg)."""

    def __init__(self, timeout: float, *, host: str, segment: int) -> None:
        self.timeout = timeout
        self.host = host
        self.segment = segment
        self._last = time.monotonic()
        self._mark: object = None

    def touch(self, mark: object = None) -> None:
        """Progress seen; with `mark`, only a change of mark counts as movement."""
        if mark is None or mark != self._mark:
            self._mark = mark
            self._last = time.monotonic()

    @property
    def idle(self) -> float:
        return time.monotonic() - self._last

    async def watch(self) -> None:
        while True:
            left = self.timeout - self.idle
            if left <= 0:
                raise StaleError(f"no progress for {self.timeout:g} s: encoder killed",
                                 host=self.host, segment=self.segment)
            await asyncio.sleep(min(left, 1.0))
