"""One shared queue of segments that every host pulls from, and the retry policy.

A fast host simply comes back for more. A failed attempt that another attempt may cure
goes back to the queue after a backoff (tenacity's exponential wait), up to `retries`
times, and is offered first to a host it has not failed on; anything else ends the run.
Segments held by a host that was lost are given back without counting as an attempt.
When no host is left while work remains, the run ends with NoHostsError.

No wasted work: a host whose slots are all busy asks for a segment to upload ahead, and
when fewer segments wait than there are other hosts it takes one only if fewer than that
many others are projected to finish it sooner (an idle host, or one whose encode ends first):
else the segment would be moved from it later and uploaded twice. A host with nothing to do
takes a segment another host holds but has not started (still uploading, or uploaded and
waiting for an encoder) when it is projected to finish it sooner; the holder drops it. A
segment that is running is started a second time only when the idle host's projected finish
beats the running attempt's (see forecast.py).
All times are the event loop's clock, so a simulator can run the real queue on virtual time.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import tenacity

from .errors import EncodeError, JobError, NoHostsError, YaffError
from .forecast import Fleet, next_start, queue_finishes, remaining
from .segment import Segment

STRAGGLER_LOOK = 1.0  # seconds between looks for a straggler while hosts finish
SPECULATE_MARGIN = 0.1  # a second attempt must be projected to finish this share of its time sooner
MOVE_MARGIN = 0.05  # the same for moving an uploaded segment (its upload is lost)
LEAVE_MARGIN = 0.1  # a host leaves a segment to others projected to finish it this share sooner
RATE_WAIT = 2.0  # seconds after an encode's first report of frames that its rate is judged without a second
MAX_LOOKS = 8  # candidates an idle host weighs at each look
# what happens to an attempt, in order
TAKEN, READY, ENCODING, FETCHING = "taken", "ready", "encoding", "fetching"
# Wait before a failed segment is offered again: 1 s, 2 s, 4 s ... at most 30 s.
BACKOFF = tenacity.wait_exponential(multiplier=1, min=1, max=30)


def backoff(attempt: int) -> float:
    state = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]
    state.attempt_number = attempt
    return BACKOFF(state)


def _now() -> float:
    return asyncio.get_running_loop().time()


def _size(seg: Segment) -> int:
    """Bytes to upload; 0 where the unit is gone (nothing to upload is known)."""
    try:
        return seg.size
    except OSError:
        return 0


@dataclass(eq=False)
class Attempt:
    """One host's attempt at one segment, from the moment it is taken from the queue."""

    seg: Segment
    host: str
    taken: float  # loop time
    speculative: bool = False  # a second attempt at a segment that runs elsewhere
    moved_from: str | None = None  # taken over from a host that had not started it
    state: str = TAKEN
    started: float | None = None  # when its encode started
    fraction: float = 0.0  # of its frames encoded
    first_output: tuple[float, float] | None = None  # (seconds into the encode, fraction) at its first frames
    # set when the segment moved to another host before this attempt started, or when
    # another attempt finished it first: the holder drops it
    revoked: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _nbytes: int | None = field(default=None, repr=False)

    @property
    def nbytes(self) -> int:
        if self._nbytes is None:
            self._nbytes = _size(self.seg)
        return self._nbytes

    @property
    def unstarted(self) -> bool:
        return self.state in (TAKEN, READY)

    def rate_seen(self, now: float) -> bool:
        """Whether its speed can be told from its own reports: frames written twice, or
        RATE_WAIT seconds without more after the first. The first report comes after the
        encoder's start-up and lookahead: x264 reported frame 1 of 200 after 0.28 s, which
        projects 56 s for a 4.5 s encode (a second attempt was started for nothing)."""
        if self.first_output is None or self.started is None:
            return False
        return self.fraction > self.first_output[1] or now - self.started >= self.first_output[0] + RATE_WAIT

    def wrote(self, frames: int) -> None:
        """Its encoder's latest report of frames written (for projections)."""
        self.fraction = frames / max(1, self.seg.expected)
        if self.first_output is None and frames > 0 and self.started is not None:
            self.first_output = (_now() - self.started, self.fraction)


class WorkQueue:
    """Segments arrive while the video is still being split (`add`); `close` says no more
    will come. Hosts pull with `take` (or `get`) until every segment is done."""

    def __init__(self, segments: Iterable[Segment], retries: int, *, closed: bool = True) -> None:
        self._waiting: deque[Segment] = deque(segments)
        self._open = {s.index for s in self._waiting}
        self._closed = closed
        self._retries = retries
        self._not_before: dict[int, float] = {}
        self._failed_on: dict[int, set[str]] = {}
        self._hosts: set[str] = set()  # hosts taking work now
        self._members: set[str] = set()  # hosts still in the run (maybe reconnecting)
        self.failure: YaffError | None = None
        self.attempts: Counter[int] = Counter()
        self.done_by: dict[int, str] = {}
        self.speculated = 0  # second attempts started at running segments
        self.moved = 0  # segments taken over by an idle host before their holder started them
        self._live: dict[int, dict[str, Attempt]] = {}  # segment -> host -> attempt
        self._by_host: dict[str, dict[int, Attempt]] = {}  # the same, host -> segment -> attempt
        self._by_index: dict[int, Segment] = {s.index: s for s in self._waiting}
        self._seen: dict[tuple[int, str], list[str]] = {}  # (segment, failure signature) -> hosts
        self._waiters: dict[asyncio.Future[None], tuple[str, Callable[[], bool]]] = {}
        self._done_events: dict[int, asyncio.Event] = {}
        self._over = asyncio.Event()
        self.fleet = Fleet()
        self._looks: list[tuple[float, Attempt]] = []  # candidates for idle hosts, latest finish first
        self._looks_at = float("-inf")

    @property
    def finished(self) -> bool:
        return (self._closed and not self._open) or self.failure is not None

    @property
    def hosts_up(self) -> int:
        return len(self._hosts)

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up when the run is over (for backoffs that should not hold it)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._over.wait()

    # ----- waking ------------------------------------------------------------------------
    def _changed(self, *, host: str | None = None, one: bool = False) -> None:
        """Wake hosts waiting in `take`: all of them; with `one`, a single one (an idle host
        first: a new segment is best started at once); with `host`, that host's."""
        if self.finished:
            self._over.set()
            for ev in self._done_events.values():
                ev.set()
            host, one = None, False
        if one and self._waiters:
            chosen = next((f for f, (_, idle) in self._waiters.items() if idle()), next(iter(self._waiters)))
            self._wake(chosen)
            return
        for fut, (name, _) in list(self._waiters.items()):
            if host is None or name == host:
                self._wake(fut)

    def _wake(self, fut: asyncio.Future[None]) -> None:
        self._waiters.pop(fut, None)
        if not fut.done():
            fut.set_result(None)

    def _fail(self, error: YaffError) -> None:
        self.failure = error
        self._changed()

    # ----- hosts ---------------------------------------------------------------------------
    async def host_up(self, host: str, slots: int = 1) -> None:
        self._hosts.add(host)
        self._members.add(host)
        self.fleet.host(host).slots = slots
        self._changed()

    async def host_down(self, host: str, *, leaving: bool) -> None:
        """The host stops taking work; `leaving`: for good (else it may come back)."""
        self._hosts.discard(host)
        if leaving:
            self._members.discard(host)
            if not self._members and not self.finished:
                self._fail(NoHostsError("no usable host is left; the run cannot finish"))
        self._changed()

    # ----- segments ------------------------------------------------------------------------
    async def add(self, seg: Segment) -> None:
        self._by_index[seg.index] = seg
        self._waiting.append(seg)
        self._open.add(seg.index)
        self._changed(one=True)

    async def add_done(self, seg: Segment, by: str) -> None:
        """A segment that needs no work (a previous run encoded it)."""
        self.done_by[seg.index] = by
        self._done_event(seg.index).set()
        self._changed()

    async def close(self) -> None:
        self._closed = True
        self._changed()

    def _pick(self, host: str) -> Segment | None:
        now = _now()
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
        return max(0.0, min(later) - _now()) if later else None

    def _start(self, seg: Segment, host: str, **how: object) -> Attempt:
        att = Attempt(seg, host, _now(), **how)  # type: ignore[arg-type]
        self._live.setdefault(seg.index, {})[host] = att
        self._by_host.setdefault(host, {})[seg.index] = att
        if not att.speculative:
            self._looks_at = float("-inf")  # a new segment others may take over: look afresh
        return att

    async def take(self, host: str, idle: Callable[[], bool] | None = None) -> Attempt | None:
        """The next attempt for `host`, or None once every segment is done (or the run
        failed). When nothing waits and `idle()` says the host has nothing to do, a segment
        another host holds: one it has not started (moved here), or one it runs that this
        host is projected to finish sooner (a second attempt; the first valid result wins).
        When `idle()` says its slots are all busy (it asks to upload ahead), it may leave the
        last segments to hosts projected to finish them sooner. Without `idle`: neither."""
        while not self.finished:
            free = idle is not None and idle()
            left = idle is not None and not free and self._leave_to_others(host)
            seg = None if left else self._pick(host)
            if seg is not None:
                self.attempts[seg.index] += 1
                return self._start(seg, host)
            if free and (att := self._look(host)) is not None:
                return att
            wait = self._next_ready()
            if left or (free and self._live):  # projections change as others go on: look again soon
                wait = min(wait, STRAGGLER_LOOK) if wait is not None else STRAGGLER_LOOK
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters[fut] = (host, idle or (lambda: False))
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await fut
            finally:
                self._waiters.pop(fut, None)
        return None

    async def get(self, host: str, idle: Callable[[], bool] | None = None) -> Segment | None:
        """`take`, for callers that need only the segment."""
        att = await self.take(host, idle)
        return None if att is None else att.seg

    # ----- busy hosts: upload ahead, or leave it to a host that finishes it sooner -------------
    def _leave_to_others(self, host: str) -> bool:
        """Whether `host`, asking for a segment to upload ahead, should leave the waiting
        ones to others: as many other hosts as segments wait are projected to finish the next
        one sooner (each taking it when it asks: at once when idle, else when its first held
        segment starts; then uploading and encoding it)."""
        waiting = len(self._waiting)
        others = self._hosts - {host}
        if not waiting or waiting > len(others):
            return False
        now = _now()
        seg = self._waiting[0]
        nbytes = _size(seg)
        mine = self._next_finish(host, now, seg.expected, nbytes, asking=True)
        if mine is None:
            return False
        sooner = 0
        for name in others:
            done = self._next_finish(name, now, seg.expected, nbytes, asking=False)
            if done is not None and done < mine - LEAVE_MARGIN * (mine - now):
                sooner += 1
                if sooner >= waiting:
                    return True
        return False

    def _attempts_of(self, host: str) -> list[Attempt]:
        return list(self._by_host.get(host, {}).values())

    def _projection(self, name: str, atts: list[Attempt], now: float,
                    ) -> tuple[list[Attempt], list[float | None], list[Attempt], list[tuple[float, float | None]]]:
        """A host's encodes running (and their remaining seconds), and the segments it holds
        unstarted, in the order it took them (and when each is ready, how long it encodes)."""
        fps = self.fleet.fps(name)
        running = [a for a in atts if a.state == ENCODING]
        rem = [remaining(a.seg.expected, a.fraction, now - (a.started or now), fps) for a in running]
        queued = sorted((a for a in atts if a.unstarted), key=lambda a: a.taken)
        ready = [(now if a.state == READY else max(now, a.taken + self.fleet.upload_seconds(name, a.nbytes)),
                  self.fleet.encode_seconds(name, a.seg.expected)) for a in queued]
        return running, rem, queued, ready

    def _next_finish(self, name: str, now: float, frames: int, nbytes: int, *, asking: bool) -> float | None:
        """When host `name` would finish one more segment (`frames`, `nbytes`): asked for now
        (`asking`), else when its sender next asks; None while its speed is unknown."""
        encode = self.fleet.encode_seconds(name, frames)
        if encode is None:
            return None
        _, rem, queued, ready = self._projection(name, self._attempts_of(name), now)
        slots = self.fleet.host(name).slots
        ask_at = now
        if not asking and queued and len(rem) >= slots:  # its sender asks when its first held one starts
            if any(r is None for r in rem):
                return None
            ask_at = now + min(r for r in rem if r is not None)
        start = next_start(now, slots, rem, ready, ask_at, self.fleet.upload_seconds(name, nbytes))
        return None if start is None else start + encode

    # ----- idle hosts: take over or start again -------------------------------------------------
    def _look(self, host: str) -> Attempt | None:
        now = _now()
        if now - self._looks_at >= STRAGGLER_LOOK / 4:
            self._forecast(now)
        weighed = 0
        for finish, att in self._looks:
            if not self._may_take(att, host):
                continue
            weighed += 1
            here = self._finish_here(host, att, now)
            if here is not None:
                margin = {ENCODING: SPECULATE_MARGIN, READY: MOVE_MARGIN}.get(att.state, 0.0)
                if finish - here > margin * (here - now):
                    return self._take_over(att, host)
            if weighed >= MAX_LOOKS:
                break
        return None

    def _may_take(self, att: Attempt, host: str) -> bool:
        hosts = self._live.get(att.seg.index, {})
        if att.host == host or hosts.get(att.host) is not att or att.seg.index in self.done_by:
            return False
        if att.unstarted:
            return not att.speculative and not att.revoked.is_set()
        return (att.state == ENCODING and len(hosts) < 2 and host not in hosts
                and self._closed and not self._waiting and att.rate_seen(_now()))

    def _finish_here(self, host: str, att: Attempt, now: float) -> float | None:
        """When `host` (idle) would finish `att`'s segment, starting now."""
        seen = None
        if att.state == ENCODING and att.started is not None and att.fraction > 0:
            seen = att.fraction * att.seg.expected / max(1e-9, now - att.started)
        encode = self.fleet.encode_seconds(host, att.seg.expected, seen)
        if encode is None:
            return None
        return now + self.fleet.upload_seconds(host, att.nbytes) + encode

    def _forecast(self, now: float) -> None:
        """Projected finish of every attempt others might take, latest first."""
        looks: list[tuple[float, Attempt]] = []
        for name in self._by_host:
            running, rem, queued, ready = self._projection(name, self._attempts_of(name), now)
            looks += [(now + r, a) for r, a in zip(rem, running) if r is not None]
            finishes = queue_finishes(now, self.fleet.host(name).slots, rem, ready)
            looks += [(f, a) for f, a in zip(finishes, queued) if f is not None]
        looks.sort(key=lambda x: -x[0])
        self._looks, self._looks_at = looks, now

    def _take_over(self, att: Attempt, host: str) -> Attempt:
        seg = att.seg
        if att.unstarted:  # moved: its holder drops it
            del self._live[seg.index][att.host]  # the segment's entry stays: it is started below
            del self._by_host[att.host][seg.index]
            att.revoked.set()
            self.moved += 1
            self._changed(host=att.host)
            return self._start(seg, host, moved_from=att.host)
        self.speculated += 1
        self.attempts[seg.index] += 1
        return self._start(seg, host, speculative=True)

    # ----- what the pipelines report ---------------------------------------------------------
    def uploaded(self, att: Attempt, nbytes: int, seconds: float) -> None:
        if att.state == TAKEN:
            att.state = READY
        if seconds > 0 and nbytes > 0:  # (a mounted host moves nothing: no link to measure)
            self.fleet.measured(att.host, link=nbytes / seconds)

    def encoding(self, att: Attempt) -> bool:
        """An encoder is about to start `att`: False if the segment moved meanwhile (or is
        done), and the holder must drop it."""
        if att.revoked.is_set() or self._live.get(att.seg.index, {}).get(att.host) is not att:
            return False
        att.state, att.started = ENCODING, _now()
        return True

    def encoded(self, att: Attempt, seconds: float) -> None:
        att.state = FETCHING
        if seconds > 0 and not att.revoked.is_set():
            self.fleet.measured(att.host, fps=att.seg.expected / seconds)

    def is_done(self, index: int) -> bool:
        return index in self.done_by

    def released(self, index: int, host: str) -> None:
        """`host` no longer works on segment `index` (done, failed, given back, superseded)."""
        hosts = self._live.get(index)
        if hosts is not None and hosts.pop(host, None) is not None:
            del self._by_host[host][index]
            if not hosts:
                del self._live[index]
            self._changed(host=host)

    def _done_event(self, index: int) -> asyncio.Event:
        ev = self._done_events.get(index)
        if ev is None:
            ev = self._done_events[index] = asyncio.Event()
            if self.failure is not None or index in self.done_by:
                ev.set()
        return ev

    async def done(self, seg: Segment, host: str) -> None:
        for other in self._live.pop(seg.index, {}).values():
            del self._by_host[other.host][seg.index]
            if other.host != host:
                other.revoked.set()  # an attempt not started yet is dropped at once
        self._open.discard(seg.index)
        self.done_by[seg.index] = host
        self._done_event(seg.index).set()
        self._changed(host=host)

    async def wait_done(self, index: int) -> None:
        """Until segment `index` is done (verified and local). Raises the run's failure."""
        await self._done_event(index).wait()
        if index not in self.done_by and self.failure is not None:
            raise self.failure

    async def failed(self, seg: Segment, error: YaffError, host: str) -> bool:
        """Record a failed attempt. True: queued again (or another host still works on it);
        False: the caller must raise."""
        self.released(seg.index, host)
        if seg.index in self.done_by:
            return True  # another attempt finished it: nothing to retry
        if self._same_everywhere(seg, error, host):
            return False
        if self._live.get(seg.index) and error.retryable:
            return True  # the other attempt may still make it
        if not error.retryable or self.attempts[seg.index] > self._retries:
            return False
        self._failed_on.setdefault(seg.index, set()).add(host)
        self._not_before[seg.index] = _now() + backoff(self.attempts[seg.index])
        self._waiting.appendleft(seg)
        self._changed()
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
        failure = JobError(f"{sig} ({where}): the options or filters cause it, not the hosts",
                           segment=seg.index, argv=error.argv, returncode=error.returncode)
        failure.stderr_tail = error.stderr_tail
        self._fail(failure)
        return True

    async def give_back(self, seg: Segment, host: str) -> None:
        """A lost host held this segment: queue it again (unless another host works on it);
        it does not count as an attempt."""
        hosts = self._live.get(seg.index, {})
        if host not in hosts:
            return  # it had moved to another host already
        self.released(seg.index, host)
        if self._live.get(seg.index) or seg.index in self.done_by:
            return
        self.attempts[seg.index] -= 1
        self._waiting.appendleft(seg)
        self._changed()
