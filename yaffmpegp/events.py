"""What happens during a run, as plain values. The core emits them; the UI, the events file
and the report only listen."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    at: float = field(default_factory=time.time, kw_only=True)
    #: which input of a batch the event belongs to (1-based); 0 for a run of one input
    input: int = field(default=0, kw_only=True)


@dataclass(frozen=True)
class Planned(Event):
    segments: int
    frames: int  # frames the output will hold
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class Stage(Event):
    """A host's stage changed what it is doing: stage is send|encode|get, state is a word
    such as idle, sending, encoding, downloading."""

    host: str
    stage: str
    state: str
    segment: int | None = None


@dataclass(frozen=True)
class Transferred(Event):
    """`nbytes` more bytes of a segment moved; `total` is the file's size when known."""

    host: str
    segment: int
    direction: str  # "up" or "down"
    nbytes: int
    total: int | None = None


@dataclass(frozen=True)
class Uploaded(Event):
    """A segment arrived whole (verified) on a host."""

    host: str
    segment: int
    nbytes: int
    seconds: float


@dataclass(frozen=True)
class Tick(Event):
    """Twice a second while the run goes on, so a display can redraw clocks."""


@dataclass(frozen=True)
class EncodeProgress(Event):
    host: str
    segment: int
    frame: int
    fps: float


@dataclass(frozen=True)
class SegmentDone(Event):
    host: str
    segment: int
    frames: int
    seconds: float  # encode time


@dataclass(frozen=True)
class AttemptFailed(Event):
    host: str
    segment: int
    attempt: int
    error: str
    retry: bool
    detail: str = ""  # the command and ffmpeg's last stderr lines (shown with --verbose)


@dataclass(frozen=True)
class AttemptStarted(Event):
    """A host took a segment it will not be the first to hold: `moved_from` had taken it
    but not started it (it drops it), or `speculative`: another host runs it, and this
    host is projected to finish it sooner (the first valid result wins)."""

    host: str
    segment: int
    moved_from: str | None = None
    speculative: bool = False


@dataclass(frozen=True)
class AttemptDropped(Event):
    """Work thrown away: `reason` is "moved" (taken over before it started; `nbytes`
    uploaded for nothing), "superseded" (another attempt finished first; `seconds` of
    encoding lost) or "late" (encoded, but another result was first)."""

    host: str
    segment: int
    reason: str
    seconds: float = 0.0
    nbytes: int = 0


@dataclass(frozen=True)
class HostDown(Event):
    """A host cannot be used: left out at the start, lost during the run (`retrying`: it is
    tried again with backoff and rejoins if it comes back), or taken out."""

    host: str
    reason: str
    retrying: bool = False


@dataclass(frozen=True)
class HostUp(Event):
    """A host passed its checks and takes work."""

    host: str
    slots: int = 1


@dataclass(frozen=True)
class ClusterQueue(Event):
    """What a cluster's scheduler (squeue) says of the run's tasks: waiting and running."""

    host: str
    pending: int
    running: int


@dataclass(frozen=True)
class Message(Event):
    """A line for the user (warnings, notes)."""

    text: str
    level: str = "info"


@dataclass(frozen=True)
class Joined(Event):
    segments: int


@dataclass(frozen=True)
class Checked(Event):
    checks: tuple[str, ...]


@dataclass(frozen=True)
class Encoded(Event):
    """Every segment is encoded and in the final mux: the hosts are free for other work."""

    segments: int


@dataclass(frozen=True)
class InputStarted(Event):
    """A batch starts on its `number`-th input of `total`. `seconds_before`: media seconds
    of the inputs before it; `seconds_total`: of the whole batch (for the batch's ETA)."""

    number: int
    total: int
    path: str
    output: str
    seconds: float = 0.0
    seconds_before: float = 0.0
    seconds_total: float = 0.0


@dataclass(frozen=True)
class InputFinished(Event):
    """One input of a batch is over: `result` is done, skipped or failed."""

    number: int
    path: str
    output: str
    result: str
    error: str = ""


def event_name(event: Event) -> str:
    """snake_case name of an event's type: SegmentDone -> segment_done."""
    name = type(event).__name__
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


Listener = Callable[[Event], None]


class Events:
    """A list of listeners; emitting calls each in turn."""

    def __init__(self, *listeners: Listener) -> None:
        self._listeners = list(listeners)

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)


class InputEvents(Events):
    """The events of one input of a batch: each is marked with the input's number and
    goes to the batch's listeners."""

    def __init__(self, parent: Events, number: int) -> None:
        super().__init__()
        self.parent = parent
        self.number = number

    def emit(self, event: Event) -> None:
        event = dataclasses.replace(event, input=self.number)
        super().emit(event)
        self.parent.emit(event)
