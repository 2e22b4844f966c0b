"""Slurm's own commands (sbatch, squeue, scancel, scontrol, sinfo): their argument lists,
built as lists (never a shell string), and the parsing of what they print. The argv
builders and parsers are pure; `slurm_cmd` runs one command."""
from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolError, UsageError
from ..settings import SlurmSettings

#: states squeue shows for a task that has not ended
ACTIVE = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_FED",
                    "REQUEUE_HOLD", "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT",
                    "RESV_DEL_HOLD", "SPECIAL_EXIT"})
#: what squeue prints per task: array job id, array index, state, node (empty while pending)
SQUEUE_FORMAT = "%F|%K|%T|%N"


@dataclass(frozen=True)
class TaskState:
    job: str  # the array's job id
    index: int  # the array index (= the segment's index)
    state: str  # PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, CANCELLED, NODE_FAIL, ...
    node: str = ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


def array_spec(indices: Iterable[int]) -> str:
    """`0-3,7,9-10` for {0, 1, 2, 3, 7, 9, 10}."""
    parts: list[str] = []
    run: list[int] = []
    for i in sorted(set(indices)):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def sbatch_argv(s: SlurmSettings, indices: Iterable[int], script: Path, logs: Path, name: str) -> list[str]:
    """Submit `script` as one job array, a task per index; each task's stdout and stderr go
    to `logs/<index, 5 digits>.<array job id>.err`."""
    spec = array_spec(indices)
    if s.max_parallel:
        spec += f"%{s.max_parallel}"
    log = str(logs / "%5a.%A.err")
    argv = ["sbatch", "--parsable", f"--array={spec}", f"--job-name={name}", f"--output={log}", f"--error={log}",
            f"--chdir={logs}", "--requeue" if s.requeue else "--no-requeue"]
    if s.partition:
        argv.append(f"--partition={s.partition}")
    if s.cpus_per_task:
        argv.append(f"--cpus-per-task={s.cpus_per_task}")
    if s.time_limit:
        argv.append(f"--time={s.time_limit}")
    return [*argv, *s.sbatch_args, str(script)]


def parse_job_id(stdout: str) -> str:
    """sbatch --parsable prints `jobid` or `jobid;cluster`."""
    line = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    job = line.split(";", 1)[0].strip()
    if not job.isdigit():
        raise ToolError(f"sbatch printed no job id ({stdout.strip()!r})")
    return job


def squeue_argv(jobs: Sequence[str]) -> list[str]:
    """Every task of `jobs`, one line each, ended ones too while Slurm remembers them."""
    return ["squeue", "--noheader", "--array", "--states=all", f"--jobs={','.join(jobs)}",
            f"--format={SQUEUE_FORMAT}"]


def parse_squeue(stdout: str) -> dict[tuple[str, int], TaskState]:
    """(array job id, index) -> its state, from squeue_argv's output. Lines that are not
    array tasks (an index of N/A) are skipped."""
    out: dict[tuple[str, int], TaskState] = {}
    for line in stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 3 or not fields[1].strip().isdigit():
            continue
        job, index, state = fields[0].strip(), int(fields[1]), fields[2].strip().split()[0]
        node = fields[3].strip() if len(fields) > 3 else ""
        out[(job, index)] = TaskState(job, index, state.upper(), node)
    return out


def scancel_argv(name: str) -> list[str]:
    """Cancel every job of ours with this name (a run's arrays share its job's name)."""
    return ["scancel", f"--name={name}", f"--user={os.getuid()}"]


def scancel_task_argv(job: str, index: int) -> list[str]:
    """Cancel one task of an array."""
    return ["scancel", f"{job}_{index}"]


def queued_argv(name: str) -> list[str]:
    """Our jobs of this name not yet ended, one line each (none: all gone)."""
    return ["squeue", "--noheader", f"--name={name}", f"--user={os.getuid()}", "--format=%i"]


async def slurm_cmd(argv: Sequence[str], timeout: float = 60) -> tuple[int, str, str]:
    """Run one Slurm command: (exit status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode if proc.returncode is not None else -1, out.decode(errors="replace"), \
        err.decode(errors="replace")


async def check_cluster(s: SlurmSettings) -> None:
    """sbatch is there and the partition asked for exists, before anything is submitted."""
    for tool in ("sbatch", "squeue", "scancel"):
        if shutil.which(tool) is None:
            raise ToolError(f"{tool} not found on PATH: --backend slurm runs on a Slurm login node "
                            "(or install slurm-client)")
    if s.partition is None:
        return
    code, out, err = await slurm_cmd(["scontrol", "show", "partition", s.partition])
    if code == 0:
        return
    err = (err + out).strip()  # scontrol says "Partition x not found" on stdout
    _, names, _ = await slurm_cmd(["sinfo", "--noheader", "--format=%R"])
    known = ", ".join(sorted(set(names.split()))) or "none"
    if "not found" in err.lower() or "invalid partition" in err.lower():
        raise UsageError(f"Slurm partition {s.partition!r} does not exist (partitions: {known})")
    raise ToolError(f"scontrol cannot show partition {s.partition!r}: {err or 'no message'}")


async def dry_check(s: SlurmSettings, segments: int) -> tuple[list[str], list[str]]:
    """For --dry-run: (lines, problems) about the cluster, submitting nothing. The nodes'
    ffmpeg is not checked here (that takes a job): the first task checks it."""
    try:
        await check_cluster(s)
    except (ToolError, UsageError) as exc:
        return [], [str(exc)]
    code, out, _ = await slurm_cmd(["scontrol", "show", "config"])
    limit = next((int(line.split("=", 1)[1]) for line in out.splitlines()
                  if line.split("=", 1)[0].strip() == "MaxArraySize" and line.split("=", 1)[1].strip().isdigit()),
                  None) if code == 0 else None
    lines = [f"slurm: partition {s.partition or '(the default)'}: ok; one job array per input"
             + (f", at most {s.max_parallel} task(s) at once" if s.max_parallel else "")
             + "; ffmpeg on the nodes is checked by the first task"]
    if limit is not None and segments >= limit:
        return lines, [f"an input has {segments} segments, more than the cluster's MaxArraySize ({limit}) allows: "
                       "give a longer --segment-length"]
    return lines, []
