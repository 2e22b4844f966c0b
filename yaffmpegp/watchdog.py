"""Kill an encode whose progress has stopped moving."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from .errors import StaleError


def _now() -> float:
    """The event loop's clock (a simulator's loop runs on virtual time)."""
    return asyncio.get_running_loop().time()


class Watchdog:
    """Call `touch()` whenever progress moves; `watch()` raises StaleError once nothing moved
    for `timeout` seconds. Run `watch()` as a sibling of the encode in a TaskGroup, so the
    error cancels the encode (whose transport then kills ffmpeg)."""

    def __init__(self, timeout: float, *, host: str, segment: int,
                 on_stall: Callable[[], None] | None = None, warn_after: float | None = None) -> None:
        self.timeout = timeout
        self.host = host
        self.segment = segment
        self._last = _now()
        self._mark: object = None
        self._on_stall = on_stall
        self._warn_after = warn_after if warn_after is not None else min(10.0, timeout / 2)
        self._stalled = False

    def touch(self, mark: object = None) -> bool:
        """Progress seen; with `mark`, only a change of mark counts as movement.
        True when this ends a stall that was reported."""
        if mark is None or mark != self._mark:
            self._mark = mark
            self._last = _now()
            resumed, self._stalled = self._stalled, False
            return resumed
        return False

    @property
    def idle(self) -> float:
        return _now() - self._last

    async def watch(self) -> None:
        while True:
            idle = self.idle
            if idle >= self.timeout:
                raise StaleError(f"no progress for {self.timeout:g} s: encoder killed",
                                 host=self.host, segment=self.segment)
            if idle >= self._warn_after and not self._stalled:
                self._stalled = True  # shown as "stale" until progress moves again
                if self._on_stall:
                    self._on_stall()
            await asyncio.sleep(min(self.timeout - idle, 0.5))
