"""The seam between a job and whatever encodes its segments.

A job probes, plans and splits; a dispatcher takes the segments (with how to encode each)
and hands back verified encoded files in the results dir, marking each done in the work
queue and emitting SegmentDone. The fleet (local workers and SSH hosts pulling from the
queue) is one dispatcher (fleet.FleetDispatcher); a Slurm job array is another
(slurm.SlurmDispatcher).
"""
from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from .events import Events
from .journal import Journal
from .pipeline import ArgsBuilder, PipelineSettings
from .scheduler import WorkQueue
from .segment import Segment
from .transport import HostRequirements


@dataclass(frozen=True)
class Dispatch:
    """What a dispatcher gets once the plan and the encoder are known."""

    work: WorkQueue  # segments arrive here as they are cut; done ones are marked here
    build: ArgsBuilder  # (segment, input path, output path, {filter file: path}) -> ffmpeg args
    pipeline: PipelineSettings  # results dir, ffprobe, files the filters read, ...
    requirements: HostRequirements
    segments: list[Segment]  # every segment to join, filled while the split goes on
    split_done: Awaitable[None]  # the split (and `segments`) is complete


class Dispatcher(Protocol):
    async def open(self, requirements: HostRequirements, events: Events, journal: Journal) -> tuple[str, ...]:
        """Check the workers can do the job; the labels of those that take work."""

    @property
    def threads(self) -> int | None:
        """ffmpeg threads per encode (None: ffmpeg's choice); known once open."""

    @property
    def holds(self) -> int:
        """Units (cut segments) alive at once that keep the workers busy: the split waits
        for room beyond that. Known once open."""

    @property
    def slots(self) -> int:
        """Encodes at once, for a plan whose last segments end together (0: unknown)."""

    async def run(self, d: Dispatch, events: Events) -> None:
        """Encode every segment of `d` that is not done yet; returns once all are."""

    async def close(self) -> None:
        """Stop whatever still runs and release the workers (also after a failure)."""
