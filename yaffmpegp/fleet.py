"""The fleet: local workers and SSH hosts, each a HostPipeline pulling from the shared
queue (the dispatcher a job uses unless it runs on Slurm)."""
from __future__ import annotations

import asyncio
import os

from .dispatch import Dispatch
from .errors import HostError, NoHostsError
from .events import Events, HostDown, HostUp
from .journal import Journal
from .pipeline import HostPipeline
from .settings import Settings
from .transport import HostRequirements, Transport
from .transport.local import LocalTransport
from .window import window_size


def threads_per_worker(s: Settings, local_count: int) -> int | None:
    """ffmpeg's threads shared out among local workers, so they do not oversubscribe."""
    if not local_count:
        return None
    return max(1, (os.cpu_count() or 1) // local_count)


class FleetDispatcher:
    """Local workers and SSH hosts, each a HostPipeline pulling from the shared queue."""

    def __init__(self, s: Settings, transports: list[Transport]) -> None:
        self.s = s
        self.transports = transports
        self.usable: list[Transport] = []

    async def open(self, requirements: HostRequirements, events: Events, journal: Journal) -> tuple[str, ...]:
        self.usable = await open_hosts(self.transports, requirements, events, journal)
        return tuple(t.label for t in self.usable)

    @property
    def threads(self) -> int | None:
        return threads_per_worker(self.s, sum(isinstance(t, LocalTransport) for t in self.usable))

    @property
    def holds(self) -> int:
        return window_size(t.slots + self.s.prefetch for t in self.usable)

    @property
    def slots(self) -> int:
        return sum(t.slots for t in self.transports)

    async def run(self, d: Dispatch, events: Events) -> None:
        async with asyncio.TaskGroup() as tg:
            for t in self.usable:
                tg.create_task(HostPipeline(t, d.work, d.build, d.pipeline, events, d.requirements).run())

    async def close(self) -> None:
        await asyncio.gather(*(t.close() for t in self.transports), return_exceptions=True)


async def open_hosts(transports: list[Transport], req: HostRequirements, events: Events,
                      journal: Journal | None = None) -> list[Transport]:
    """Open every host at once; a host that fails is reported and left out. Work dirs an
    earlier, killed run of this job left on a host are removed once it is open."""
    results = await asyncio.gather(*(t.open(req) for t in transports), return_exceptions=True)
    usable = []
    errors: list[HostError] = []
    for t, r in zip(transports, results):
        if isinstance(r, HostError):
            errors.append(r)
            events.emit(HostDown(t.label, str(r)))
        elif isinstance(r, BaseException):
            raise r
        else:
            usable.append(t)
            events.emit(HostUp(t.label, t.slots))
            if journal is not None and t.workdir:
                await t.remove_stale(journal.remote.get(t.label, []))
                journal.remote_dir(t.label, t.workdir)
    if not usable:
        if len(errors) == 1:
            raise errors[0]
        raise NoHostsError("no usable host: " + "; ".join(str(e) for e in errors))
    return usable
