"""A network link shared by transfers, max-min fair: each transfer is also capped by its
own host's link, and what slower ones leave is shared by the others."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _timed(method: Callable[..., T]) -> Callable[..., T]:
    """Adds the CPU the simulated link spends to `self.cpu`: the simulation's own cost, not
    the coordinator's, so the bench can leave it out."""
    def timed(self: SharedLink, *args: object) -> T:
        t0 = time.process_time()
        try:
            return method(self, *args)
        finally:
            self.cpu += time.process_time() - t0
    return timed


class SharedLink:
    def __init__(self, capacity: float) -> None:
        self.capacity = capacity  # bytes per second
        self.moved = 0  # bytes carried
        self._active: dict[asyncio.Future[None], list[float]] = {}  # future -> [left, cap, rate]
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.cpu = 0.0  # process seconds spent here (see _timed)

    @_timed
    def transfer(self, nbytes: int, cap: float) -> asyncio.Future[None]:
        """A future done once `nbytes` went through; cancel it (or set its exception) to abort."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._advance(loop.time())
        self._active[fut] = [float(nbytes), cap, 0.0]
        self.moved += nbytes
        fut.add_done_callback(self._gone)
        self._plan(loop)
        return fut

    @_timed
    def _gone(self, fut: asyncio.Future[None]) -> None:
        item = self._active.pop(fut, None)
        if item is not None:  # aborted: what it did not send was never sent
            self.moved -= int(item[0])
            loop = asyncio.get_running_loop()
            self._advance(loop.time())
            self._plan(loop)

    def _advance(self, now: float) -> None:
        dt = now - self._last
        if dt > 0:
            for item in self._active.values():
                item[0] -= item[2] * dt
        self._last = now

    def _plan(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._active:
            return
        items = sorted(self._active.values(), key=lambda it: it[1])
        left, n = self.capacity, len(items)
        for k, item in enumerate(items):
            item[2] = min(item[1], left / (n - k))
            left -= item[2]
        soonest = min(max(0.0, it[0]) / it[2] for it in items)
        self._timer = loop.call_at(self._last + soonest, self._tick)

    @_timed
    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = None
        self._advance(loop.time())
        for fut, item in list(self._active.items()):
            if item[0] <= item[2] * 1e-9 + 1e-3:
                del self._active[fut]
                if not fut.done():
                    fut.set_result(None)
        self._plan(loop)
