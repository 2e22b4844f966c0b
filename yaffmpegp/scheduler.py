"""One shared queue of segments that every host pulls from, and the retry policy.

A fast host simply comes back for more. A failed attempt that another attempt may cure
goes back to the queue after a backoff (tenacity's exponential wait), up to `retries`
times, and is offered first to a host it has not failed on; anything else ends the run.
Segments held by a host that was lost are given back without counting as an attempt.
When no host is left while work remains, the run ends with NoHostsError.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Iterable

import tenacity

from .errors import NoHostsError, YaffError
from .segment import Segment

# Wait before a failed segment is offered again: 1 s, 2 s, 4 s ... at most 30 s.
BACKOFF = tenacity.wait_exponential(multiplier=1, min=1, max=30)


def backoff(attempt: int) -> float:
    state = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]
    state.attempt_number = attempt
    return BACKOFF(state)


class WorkQueue:
    """Segments arrive while the video is still being split (`add`); `close` says no more
    will come. Hosts pull with `get` until every segment is done."""

    def __init__(self, segments: Iterable[Segment], retries: int, *, closed: bool = True) -> None:
        self._waiting: deque[Segment] = deque(segments)
        self._open = {s.index for s in self._waiting}
        self._closed = closed
        self._retries = retries
        self._changed = asyncio.Condition()
        self._not_before: dict[int, float] = {}
        self._failed_on: dict[int, set[str]] = {}
        self._hosts: set[str] = set()  # hosts taking work now
        self._members: set[str] = set()  # hosts still in the run (maybe reconnecting)
        self.failure: YaffError | None = None
        self.attempts: Counter[int] = Counter()
        self.done_by: dict[int, str] = {}

    @property
    def queued(self) -> int:
        return len(self._waiting)

    @property
    def remaining(self) -> int:
        return len(self._open)

    @property
    def finished(self) -> bool:
        return (self._closed and not self._open) or self.failure is not None

    @property
    def hosts_up(self) -> int:
        return len(self._hosts)

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up when the run is over (for backoffs that should not hold it)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds), self._changed:
                await self._changed.wait_for(lambda: self.finished)

    # ----- hosts ---------------------------------------------------------------------------
    async def host_up(self, host: str) -> None:
        async with self._changed:
            self._hosts.add(host)
            self._members.add(host)
            self._changed.notify_all()

    async def host_down(self, host: str, *, leaving: bool) -> None:
        """The host stops taking work; `leaving`: for good (else it may come back)."""
        async with self._changed:
            self._hosts.discard(host)
            if leaving:
                self._members.discard(host)
                if not self._members and not self.finished:
                    self.failure = NoHostsError("no usable host is left; the run cannot finish")
            self._changed.notify_all()

    # ----- segments ------------------------------------------------------------------------
    async def add(self, seg: Segment) -> None:
        async with self._changed:
            self._waiting.append(seg)
            self._open.add(seg.index)
            self._changed.notify_all()

    async def add_done(self, seg: Segment, by: str) -> None:
        """A segment that needs no work (a previous run encoded it)."""
        async with self._changed:
            self.done_by[seg.index] = by
            self._changed.notify_all()

    async def close(self) -> None:
        async with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _pick(self, host: str) -> Segment | None:
        now = time.monotonic()
        for seg in self._waiting:
            if self._not_before.get(seg.index, 0.0) > now:
                continue
            tried = self._failed_on.get(seg.index, set())
            if host in tried and self._hosts - tried - {host}:
                continue  # another host that has not failed it will take it
            self._waiting.remove(seg)
            return seg
        return None

    def _next_ready(self) -> float | None:
        later = [self._not_before[s.index] for s in self._waiting if s.index in self._not_before]
        return max(0.0, min(later) - time.monotonic()) if later else None

    async def get(self, host: str) -> Segment | None:
        """The next segment for `host`, or None once every segment is done (or the run
        failed)."""
        async with self._changed:
            while not self.finished:
                seg = self._pick(host)
                if seg is not None:
                    self.attempts[seg.index] += 1
                    return seg
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._next_ready()):
                        await self._changed.wait()
            return None

    async def done(self, seg: Segment, host: str) -> None:
        async with self._changed:
            self._open.discard(seg.index)
            self.done_by[seg.index] = host
            self._changed.notify_all()

    async def wait_done(self, index: int) -> None:
        """Until segment `index` is done (verified and local). Raises the run's failure."""
        async with self._changed:
            await self._changed.wait_for(lambda: index in self.done_by or self.failure is not None)
            if index not in self.done_by and self.failure is not None:
                raise self.failure

    async def failed(self, seg: Segment, error: YaffError, host: str) -> bool:
        """Record a failed attempt. True: queued again; False: the caller must raise."""
        if not error.retryable or self.attempts[seg.index] > self._retries:
            return False
        async with self._changed:
            self._failed_on.setdefault(seg.index, set()).add(host)
            self._not_before[seg.index] = time.monotonic() + backoff(self.attempts[seg.index])
            self._waiting.appendleft(seg)
            self._changed.notify_all()
        return True

    async def give_back(self, seg: Segment) -> None:
        """A lost host held this segment: queue it again; it does not count as an attempt."""
        async with self._changed:
            self.attempts[seg.index] -= 1
            self._waiting.appendleft(seg)
            self._changed.notify_all()
