"""Segments encoded by a Slurm job array: one task per segment, followed with squeue and the
files the tasks write (progress, done markers), each output verified as on the fleet.

Submitted once the split is done (an array needs its size, and one array per input keeps
the cluster's queue readable); a task that fails, times out or is lost is submitted again
in a new array of the failed indices, up to --retries times. On the way out (done, failed
or Ctrl-C) whatever still runs is cancelled with scancel, and waited for, so no task
writes into a work dir that is being removed.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import shutil
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ..dispatch import Dispatch
from ..errors import EncodeError, HostError, StaleError, ToolError, UsageError, VerifyError, YaffError
from ..events import AttemptFailed, ClusterQueue, EncodeProgress, Events, HostUp, SegmentDone, Stage
from ..journal import Journal
from ..probe import count_frames, first_error_line
from ..progress import Progress, ProgressParser
from ..segment import Segment
from ..settings import SlurmSettings
from ..transport import HostRequirements
from . import script as sc
from .commands import TaskState, check_cluster, parse_job_id, parse_squeue, queued_argv, sbatch_argv, \
    scancel_argv, scancel_task_argv, slurm_cmd, squeue_argv

T = TypeVar("T")
POLL = 0.5  # seconds between looks at the files the tasks write (done markers, progress)
SQUEUE_EVERY = 2.0  # seconds between squeue calls (each one is an RPC to slurmctld)
GRACE = 5.0  # seconds an ended task may lack its done marker (a shared filesystem's caches)
CANCEL_WAIT = 30.0  # seconds to wait for cancelled tasks to be gone


@dataclass
class _Task:
    """One attempt at one segment: a task of array `job`."""

    seg: Segment
    job: str
    slot: int | None = None  # its line in the status display while it runs
    frame: int = 0
    ended: float | None = None  # when squeue first showed it ended without a marker
    moved: float | None = None  # when it started running, or its progress last moved


class SlurmDispatcher:
    def __init__(self, s: SlurmSettings, workdir: Path, retries: int, ffprobe: str = "ffprobe") -> None:
        self.s = s
        self.retries = retries  # further attempts for a segment
        # scripts, task logs, progress, outputs, on the shared filesystem: a dir of this run's
        # own, so a task an earlier (killed) run left can never touch this run's files
        self.dir = workdir / "slurm" / secrets.token_hex(4)
        self.workdir = workdir  # the job's
        self.name = workdir.name  # the job name in squeue
        self.ffprobe = ffprobe
        self.label = f"slurm:{s.partition}" if s.partition else "slurm"
        self.encoder: str | None = None
        self._submitted: list[str] = []  # array job ids, in order
        self._active: set[str] = set()  # those that may still have tasks queued or running

    # ----- the Dispatcher protocol ---------------------------------------------------------
    async def open(self, requirements: HostRequirements, events: Events, journal: Journal) -> tuple[str, ...]:
        await check_cluster(self.s)
        # arrays an earlier run of this job left (killed outright) would write into its work
        # dir: gone first (the job lock says no other run of this job is alive)
        await self._cancel(always=True)
        self.encoder = requirements.encoders[0] if requirements.encoders else None
        events.emit(HostUp(self.label, self.s.max_parallel or 1))
        return (self.label,)

    @property
    def threads(self) -> int | None:
        return self.s.cpus_per_task

    @property
    def holds(self) -> int:
        return sys.maxsize  # an array is submitted once every segment is cut

    @property
    def slots(self) -> int:
        return self.s.max_parallel or 0  # (unthrottled: the cluster's size, unknown here)

    async def run(self, d: Dispatch, events: Events) -> None:
        await d.split_done
        todo = [seg for seg in d.segments if not d.work.is_done(seg.index)]
        if not todo:
            return
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        files = self._assets(d.pipeline.assets)
        try:
            await _Follow(self, d, events, files).run(todo)
        finally:
            await self._cancel()

    async def close(self) -> None:
        await self._cancel()

    # ----- helpers -------------------------------------------------------------------------
    def _assets(self, assets: tuple[tuple[str, Path], ...]) -> dict[str, str]:
        """The files the filters read, copied into the shared work dir."""
        paths = {}
        for n, (name, local) in enumerate(assets):
            dst = self.dir / f"asset-{n}-{local.name}"
            shutil.copyfile(local, dst)
            paths[name] = str(dst)
        return paths

    async def submit(self, segs: list[Segment], d: Dispatch, files: dict[str, str]) -> str:
        """One job array for `segs` (task index = segment index); its job id."""
        tasks = []
        for seg in segs:
            part = str(self.dir / f"{seg.name}.part.{seg.ext}")
            tasks.append(sc.TaskSpec(seg.index, seg.name, str(seg.unit), part, str(self.dir / seg.output_name),
                                     tuple(d.build(seg, str(seg.unit), part, files))))
        path = self.dir / f"array-{len(self._submitted)}.sh"
        path.write_text(sc.task_script(str(self.dir), tasks, self.s.ffmpeg, self.encoder, self.s.setup))
        path.chmod(0o700)
        argv = sbatch_argv(self.s, [s.index for s in segs], path, self.dir, self.name)
        code, out, err = await _uninterrupted(slurm_cmd(argv))
        if code != 0:
            line = next((ln for ln in err.splitlines() if "error" in ln.lower()), err.strip() or "no message")
            raise ToolError(f"sbatch refused the job array: {line.removeprefix('sbatch: error: ')}",
                            argv=argv, returncode=code, stderr=err)
        job = parse_job_id(out)
        self._submitted.append(job)
        self._active.add(job)
        return job

    async def states(self) -> dict[tuple[str, int], TaskState] | None:
        """Every task of our arrays squeue knows; None when squeue could not be asked."""
        if not self._active:
            return {}
        code, out, err = await slurm_cmd(squeue_argv(sorted(self._active)))
        if code != 0:
            return {} if "invalid job id" in err.lower() else None
        return parse_squeue(out)

    async def _cancel(self, *, always: bool = False) -> None:
        """scancel every array of this job (by its name, so one whose sbatch was interrupted
        too) and wait until squeue lists none of them."""
        if not self._active and not always:
            return
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(CANCEL_WAIT):
                await slurm_cmd(scancel_argv(self.name))
                while True:
                    code, out, _ = await slurm_cmd(queued_argv(self.name))
                    if code == 0 and not out.strip():
                        break
                    await asyncio.sleep(0.3)
        self._active.clear()


async def _uninterrupted(call: Awaitable[T]) -> T:
    """Let `call` finish even when the caller is cancelled (an sbatch killed halfway may
    still have submitted its array), then pass the cancellation on."""
    task = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CANCEL_WAIT):
                await task
        raise


class _Follow:
    """Follows the arrays of one run until every segment is done or one cannot be."""

    def __init__(self, owner: SlurmDispatcher, d: Dispatch, events: Events, files: dict[str, str]) -> None:
        self.o = owner
        self.d = d
        self.events = events
        self.files = files
        self.live: dict[int, _Task] = {}
        self.attempts: Counter[int] = Counter()
        self.free_slots: list[int] = []
        self.slots = 0
        self.counts = (-1, -1)

    async def run(self, todo: list[Segment]) -> None:
        await self._submit(todo)
        asked = 0.0
        known: dict[tuple[str, int], TaskState] = {}  # squeue's last answer
        while self.live:
            await asyncio.sleep(POLL)
            states = None
            if time.monotonic() - asked >= SQUEUE_EVERY:
                asked = time.monotonic()
                states = await self.o.states()
                known = states if states is not None else known
            again: list[Segment] = []
            for index, task in list(self.live.items()):
                error = await self._look(task, known.get((task.job, index)), fresh=states is not None)
                if error is None:
                    continue
                del self.live[index]
                self._release(task)
                if error is _DONE:
                    continue
                assert isinstance(error, YaffError)
                if not isinstance(error, EncodeError):
                    raise error  # the cluster's set-up, not this attempt: no retry helps
                retry = error.retryable and self.attempts[index] <= self.o.retries
                self.events.emit(AttemptFailed(self.o.label, index, self.attempts[index], str(error), retry,
                                               error.details()))
                if not retry:
                    raise error
                again.append(task.seg)
            if states is not None:
                self._counts(states)
            if again:
                await self._submit(again)
        self.o._active.clear()  # every task ended: nothing to cancel

    async def _submit(self, segs: list[Segment]) -> None:
        job = await self.o.submit(segs, self.d, self.files)
        for seg in segs:
            self.attempts[seg.index] += 1
            self.live[seg.index] = _Task(seg, job)

    async def _look(self, task: _Task, state: TaskState | None, fresh: bool) -> YaffError | object | None:
        """None: the task goes on; _DONE: its segment is done; else why the attempt failed.
        `state`: squeue's last word on it, just asked (`fresh`) or from an earlier look."""
        marker = self._marker(task)
        if marker is not None:
            self._progress(task)
            return await self._finished(task, marker)
        if state is not None and state.state == "RUNNING":
            self._running(task)
            self._progress(task)
            stale = self.d.pipeline.stale_timeout
            if task.moved is not None and time.monotonic() - task.moved > stale:  # the watchdog, as on a fleet
                await slurm_cmd(scancel_task_argv(task.job, task.seg.index))
                return StaleError(f"no progress for {stale:g} s: task cancelled", host=state.node or None,
                                  segment=task.seg.index)
        if not fresh:
            return None  # squeue is asked less often than the files are read: judge then
        if state is not None and state.active:
            task.ended = None
            if state.state != "RUNNING" and task.slot is not None:  # requeued (its node was lost): waits again
                self._release(task)
            return None
        now = time.monotonic()
        task.ended = task.ended or now
        if now - task.ended < GRACE:
            return None
        return self._lost(task, state)

    def _marker(self, task: _Task) -> sc.Marker | None:
        try:
            text = (self.o.dir / f"{task.seg.name}.{task.job}.done").read_text()
        except OSError:
            return None
        return sc.parse_marker(text)

    def _log(self, task: _Task) -> str | None:
        try:
            return (self.o.dir / f"{task.seg.name}.{task.job}.err").read_text(errors="replace")
        except OSError:
            return None

    async def _finished(self, task: _Task, m: sc.Marker) -> YaffError | object:
        seg, log = task.seg, self._log(task) or ""
        where = dict(host=m.node, segment=seg.index)
        if m.status == 0:
            out = self.o.dir / seg.output_name
            try:
                frames = await count_frames(out, ffprobe=self.d.pipeline.ffprobe)
            except YaffError as exc:
                return VerifyError(f"cannot read the encoded segment: {exc.message}", **where)
            if frames != seg.expected:
                out.unlink(missing_ok=True)
                return VerifyError(f"encoded segment holds {frames} frames, {seg.expected} expected", **where)
            os.replace(out, self.d.pipeline.results / seg.output_name)
            await self.d.work.done(seg, self.o.label)
            self.events.emit(SegmentDone(self.o.label, seg.index, frames, m.seconds))
            return _DONE
        if m.status == sc.UNREADABLE:
            return UsageError(f"node {m.node} cannot read the work dir {self.o.workdir}: --workdir must be on a "
                              "filesystem the Slurm nodes share", stderr=log)
        if m.status == sc.NO_FFMPEG:
            return HostError(f"no {self.o.s.ffmpeg} on this Slurm node: install it on the nodes, or load it "
                             "with --slurm-setup 'module load ffmpeg'", host=m.node, retryable=False)
        if m.status == sc.NO_ENCODER:
            return HostError(f"the ffmpeg on this Slurm node has no encoder {self.o.encoder}", host=m.node,
                             retryable=False)
        if m.status == sc.SETUP_FAILED:
            why = _why(log)
            return EncodeError("the --slurm-setup line failed" + (f": {why}" if why else ""), stderr=log, **where)
        return EncodeError(f"ffmpeg failed: {first_error_line(log)}", returncode=m.status, stderr=log, **where)

    def _lost(self, task: _Task, state: TaskState | None) -> YaffError:
        """The task ended without a done marker."""
        seg, log = task.seg, self._log(task)
        where = dict(host=state.node if state is not None and state.node else None, segment=seg.index)
        name = state.state if state is not None else "gone"
        if log is None and name in ("FAILED", "COMPLETED"):  # it could not even write its log
            return UsageError(f"the Slurm tasks cannot write into the work dir {self.o.workdir}: --workdir "
                              "must be on a filesystem the nodes share, writable by the job's user")
        if name == "TIMEOUT":
            return EncodeError(f"the task reached its time limit ({self.o.s.time_limit or 'the partition’s'})",
                               **where)
        if name in ("NODE_FAIL", "BOOT_FAIL"):
            return EncodeError("its node was lost (--requeue lets Slurm requeue such tasks)", **where)
        if name in ("CANCELLED", "PREEMPTED", "DEADLINE"):
            return EncodeError(f"the task was {name.lower()} outside yaffmpegp", **where)
        return EncodeError(f"the task ended ({name.lower()}) without finishing"
                           + (f": {first_error_line(log)}" if log else ""), stderr=log or "", **where)

    def _running(self, task: _Task) -> None:
        if task.slot is not None:
            return
        if self.free_slots:
            task.slot = self.free_slots.pop(0)
        else:
            task.slot, self.slots = self.slots, self.slots + 1
        task.frame = 0
        task.moved = time.monotonic()
        self.events.emit(Stage(self.o.label, f"encode{task.slot}", "encoding", task.seg.index))

    def _release(self, task: _Task) -> None:
        (self.o.dir / f"{task.seg.name}.progress").unlink(missing_ok=True)
        if task.slot is None:
            return
        self.events.emit(Stage(self.o.label, f"encode{task.slot}", "idle"))
        self.free_slots.append(task.slot)
        self.free_slots.sort()
        task.slot = None

    def _progress(self, task: _Task) -> None:
        """ffmpeg's last complete -progress block, as an EncodeProgress."""
        if task.slot is None:
            return
        try:
            text = (self.o.dir / f"{task.seg.name}.progress").read_text(errors="replace")
        except OSError:
            return
        last: list[Progress] = []
        parser = ProgressParser(last.append)
        for line in text.splitlines():
            parser.feed(line)
        if last and last[-1].frame != task.frame:
            task.frame = last[-1].frame
            task.moved = time.monotonic()
            self.events.emit(EncodeProgress(self.o.label, task.seg.index, task.frame, last[-1].fps))

    def _counts(self, states: dict[tuple[str, int], TaskState]) -> None:
        ours = [states.get((t.job, i)) for i, t in self.live.items()]
        pending = sum(1 for s in ours if s is not None and s.active and s.state != "RUNNING")
        running = sum(1 for s in ours if s is not None and s.state == "RUNNING")
        if (pending, running) != self.counts:
            self.counts = (pending, running)
            self.events.emit(ClusterQueue(self.o.label, pending, running))


_DONE = object()


def _why(log: str) -> str:
    """The line of a task's log that says what went wrong, leaving out the script's own."""
    lines = "\n".join(ln for ln in log.splitlines() if ln.strip() and not ln.startswith("yaffmpegp:"))
    return first_error_line(lines) if lines else ""
