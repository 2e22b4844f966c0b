"""One shared queue of segments that every host pulls from, and the retry policy.

A fast host simply comes back for more. A failed attempt that another attempt may cure
goes back to the front of the queue, up to `retries` times; anything else ends the run.
"""
from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Iterable

from .errors import YaffError
from .segment import Segment


class WorkQueue:
    """Segments arrive while the video is still being split (`add`); `close` says no more
    will come. Hosts pull with `get` until every segment is done."""

    def __init__(self, segments: Iterable[Segment], retries: int, *, closed: bool = True) -> None:
        self._waiting: deque[Segment] = deque(segments)
        self._open = {s.index for s in self._waiting}
        self._closed = closed
        self._retries = retries
        self._changed = asyncio.Condition()
        self.attempts: Counter[int] = Counter()
        self.done_by: dict[int, str] = {}

    async def add(self, seg: Segment) -> None:
        async with self._changed:
            self._waiting.append(seg)
            self._open.add(seg.index)
            self._changed.notify_all()

    async def close(self) -> None:
        async with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def queued(self) -> int:
        return len(self._waiting)

    @property
    def remaining(self) -> int:
        return len(self._open)

    async def get(self) -> Segment | None:
        """The next segment to work on, or None once every segment is done."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._waiting or (self._closed and not self._open))
            if not self._waiting:
                return None
            seg = self._waiting.popleft()
            self.attempts[seg.index] += 1
            return seg

    async def done(self, seg: Segment, host: str) -> None:
        async with self._changed:
            self._open.discard(seg.index)
            self.done_by[seg.index] = host
            self._changed.notify_all()

    async def wait_done(self, index: int) -> None:
        """Until segment `index` is done (verified and local)."""
        async with self._changed:
            await self._changed.wait_for(lambda: index in self.done_by)

    async def failed(self, seg: Segment, error: YaffError) -> bool:
        """Record a failed attempt. True: queued again; False: the caller must raise."""
        if not error.retryable or self.attempts[seg.index] > self._retries:
            return False
        async with self._changed:
            self._waiting.appendleft(seg)
            self._changed.notify_all()
        return True
