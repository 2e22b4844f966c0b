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
from collections.abc import Callable, Iterable

import tenacity

from .errors import EncodeError, JobError, NoHostsError, YaffError
from .segment import Segment

STRAGGLER_LOOK = 1.0  # seconds between looks for a straggler while hosts finish
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
        self.duplicated: set[tuple[int, str]] = set()  # (segment, host) second attempts
        self._working: dict[int, dict[str, float]] = {}  # segment -> host -> fraction encoded
        self._by_index: dict[int, Segment] = {s.index: s for s in self._waiting}
        self._seen: dict[tuple[int, str], list[str]] = {}  # (segment, failure signature) -> hosts

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
            self._by_index[seg.index] = seg
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

    def _straggler(self, host: str) -> Segment | None:
        """Once nothing waits, the segment furthest from done that only other hosts work on:
        an idle host starts it again, and the first valid result wins."""
        if self._waiting or not self._closed:
            return None
        candidates = [(max(hosts.values()), index) for index, hosts in self._working.items()
                      if index not in self.done_by and host not in hosts and len(hosts) < 2]
        if not candidates:
            return None
        return self._by_index[min(candidates)[1]]

    async def get(self, host: str, idle: Callable[[], bool] = lambda: False) -> Segment | None:
        """The next segment for `host`, or None once every segment is done (or the run
        failed). When nothing waits and `idle()` says the host has nothing to do, a
        straggler: a segment another host is still encoding."""
        async with self._changed:
            while not self.finished:
                seg = self._pick(host)
                if seg is None and idle():
                    seg = self._straggler(host)
                    if seg is not None:
                        self.duplicated.add((seg.index, host))
                if seg is not None:
                    self.attempts[seg.index] += 1
                    self._working.setdefault(seg.index, {})[host] = 0.0
                    return seg
                wait = self._next_ready()
                if self._open and self._closed:  # a host may turn idle: look again soon
                    wait = min(wait, STRAGGLER_LOOK) if wait is not None else STRAGGLER_LOOK
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._changed.wait()
            return None

    def progress(self, index: int, host: str, fraction: float) -> None:
        """How far `host` is with segment `index` (for choosing stragglers)."""
        hosts = self._working.get(index)
        if hosts is not None and host in hosts:
            hosts[host] = fraction

    def is_done(self, index: int) -> bool:
        return index in self.done_by

    def released(self, index: int, host: str) -> None:
        """`host` no longer works on segment `index` (done, failed, given back, superseded)."""
        hosts = self._working.get(index)
        if hosts is not None:
            hosts.pop(host, None)

    async def done(self, seg: Segment, host: str) -> None:
        async with self._changed:
            self._working.pop(seg.index, None)
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
        """Record a failed attempt. True: queued again (or another host still works on it);
        False: the caller must raise."""
        self.released(seg.index, host)
        if seg.index in self.done_by:
            return True  # another attempt finished it: nothing to retry
        if self._same_everywhere(seg, error, host):
            async with self._changed:
                self._changed.notify_all()
            return False
        if self._working.get(seg.index) and error.retryable:
            return True  # the other attempt may still make it
        if not error.retryable or self.attempts[seg.index] > self._retries:
            return False
        async with self._changed:
            self._failed_on.setdefault(seg.index, set()).add(host)
            self._not_before[seg.index] = time.monotonic() + backoff(self.attempts[seg.index])
            self._waiting.appendleft(seg)
            self._changed.notify_all()
        return True

    def _same_everywhere(self, seg: Segment, error: YaffError, host: str) -> bool:
        """A deterministic failure seen on two hosts (or twice on the only host) is the job's:
        the run ends with JobError rather than taking every host out in turn."""
        sig = error.signature if isinstance(error, EncodeError) else None
        if sig is None:
            return False
        hosts = self._seen.setdefault((seg.index, sig), [])
        hosts.append(host)
        others = sorted(set(hosts))
        if len(others) < 2 and not (len(hosts) >= 2 and len(self._members) <= 1):
            return False
        where = f"on {others[0]} and {others[1]}" if len(others) > 1 else f"{len(hosts)} times on {others[0]}"
        self.failure = JobError(f"{sig} ({where}): the options or filters cause it, not the hosts",
                                segment=seg.index, argv=error.argv, returncode=error.returncode)
        self.failure.stderr_tail = error.stderr_tail
        return True

    async def give_back(self, seg: Segment, host: str) -> None:
        """A lost host held this segment: queue it again (unless another host works on it);
        it does not count as an attempt."""
        self.released(seg.index, host)
        if self._working.get(seg.index) or seg.index in self.done_by:
            return
        async with self._changed:
            self.attempts[seg.index] -= 1
            self._waiting.appendleft(seg)
            self._changed.notify_all()
