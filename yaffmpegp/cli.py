"""The command line: parse, wire the status display to events, turn errors into exit codes.

Every argument yaffmpegp does not know is an ffmpeg output option and is passed on in
order. The CLI is the only place that prints errors or chooses an exit status.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Coroutine, Sequence
from typing import IO, TYPE_CHECKING, Any, TypeVar
from pathlib import Path

from . import __version__
from .errors import ExitCode, UsageError, YaffError
from .events import Events
from .ffopts import TOOL_FLAGS
from .batch import expand_inputs, is_batch, outputs_for
from .hosts import parse_host
from .inventory import Inventory, check_with_hostlist, load_inventory
from .settings import SSHSettings, Settings, SlurmSettings, default_output

EXAMPLES = """\
examples:
  # on this machine's cores (the default): H.264 video, audio copied
  yaffmpegp --file tape.mkv -c:v libx264 -crf 20 -preset veryfast -c:a copy

  # a VHS capture: deinterlace keeping the frame rate, AAC audio, into MP4
  yaffmpegp --file vhs.avi -o vhs.mp4 -vf bwdif=mode=send_frame -c:v libx264 -crf 18 -c:a aac

  # on three machines over SSH, 50-second segments
  yaffmpegp --hostlist alice@box1 box2 box3:2222 --segment-length 50 --file x.mp4 \\
      -c:a copy -c:v libx264 -crf 25

Everything after the known options is given to ffmpeg as output options, in order,
exactly as in `ffmpeg -i INPUT <options> OUTPUT`. Note: bwdif's default mode doubles
the frame rate (one frame per field); use bwdif=mode=send_frame to keep it.
"""

if TYPE_CHECKING:
    from .ui import Status

T = TypeVar("T")

# our options and how many values each takes ("+": one or more)
OURS: dict[str, int | str] = {
    "--hostlist": "+", "--hosts": 1, "--ssh-user": 1, "--segment-length": 1, "--file": "+", "-o": 1, "--output": 1,
    "-y": 0, "--overwrite": 0, "--local-workers": 1, "--prefetch": 1, "--slots": 1, "--retries": 1,
    "--stale-timeout": 1, "--context": 1, "--workdir": 1, "--keep-workdir": 0, "--debug": 0, "--version": 0,
    "-h": 0, "--help": 0, "--quiet": 0, "-v": 0, "--verbose": 0, "--log-file": 1, "--events": 1,
    "--report": 1, "--dry-run": 0, "--ssh-config": 1, "--known-hosts": 1,
    "--accept-new-hostkeys": 0, "--identity": 1, "--remote-workdir": 1, "--remote-ffmpeg": 1,
    "--backend": 1, "--partition": 1, "--cpus-per-task": 1, "--max-parallel": 1, "--time-limit": 1,
    "--sbatch-arg": 1, "--slurm-setup": 1, "--requeue": 0,
}


def separate(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(our arguments, ffmpeg's arguments), each in the order given.

    ffmpeg options are skipped over with their value, so a value that looks like one of
    ours (`-metadata comment=--file`) stays ffmpeg's.
    """
    ours: list[str] = []
    theirs: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        name = tok.split("=", 1)[0] if tok.startswith("--") else tok
        i += 1
        if name in OURS:
            ours.append(tok)
            if "=" in tok and tok.startswith("--"):
                continue
            arity = OURS[name]
            if arity == "+":
                while i < len(argv) and not argv[i].startswith("-"):
                    ours.append(argv[i])
                    i += 1
            elif arity == 1 and tok.startswith("--") and i < len(argv) and argv[i].startswith("-"):
                ours[-1] = f"{tok}={argv[i]}"  # so a value that starts with '-' stays a value
                i += 1
            else:
                ours.extend(argv[i:i + int(arity)])
                i += int(arity)
            continue
        theirs.append(tok)
        if tok.startswith("-") and tok != "-":
            flag = tok[1:].split(":", 1)[0]
            is_flag = flag in TOOL_FLAGS or (flag.startswith("no") and flag[2:] in TOOL_FLAGS)
            if not is_flag and i < len(argv):
                theirs.append(argv[i])
                i += 1
    return ours, theirs


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="yaffmpegp",
        usage="yaffmpegp [--hostlist HOST ...] [--hosts FILE] [--segment-length SECONDS] --file INPUT [-o OUTPUT] "
              "[-y] [FFMPEG OUTPUT OPTIONS ...]",
        description="Encode a video faster by cutting it into segments, encoding them at the same "
                    "time on several hosts (or this machine's cores), and joining them frame-exactly.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
    )
    p.add_argument("--file", required=True, nargs="+", metavar="INPUT",
                   help="the video to encode; several files, a directory (its video files) or a "
                        "quoted glob make a batch, encoded one after another on the same hosts")
    p.add_argument("-o", "--output", type=Path, help="output file (default: INPUT's name with "
                   ".yaffmpegp before the extension, next to it); with several inputs, the "
                   "directory the outputs go to, each named as for one input")
    p.add_argument("-y", "--overwrite", action="store_true", help="overwrite an existing output")
    p.add_argument("--hostlist", nargs="+", default=[], metavar="HOST",
                   help="hosts to encode on: host, user@host, host:port, [v6]:port; "
                        "'localhost' means this machine's workers (default: local workers only)")
    p.add_argument("--hosts", type=Path, metavar="FILE",
                   help="a host inventory (TOML, see examples/hosts.toml): per-host user, port, key, "
                        "ffmpeg, work dir, slots, and mounted hosts that see --workdir on shared "
                        "storage; combines with --hostlist")
    p.add_argument("--ssh-user", help="user for hosts that name none (default: ~/.ssh/config, then yours)")
    p.add_argument("--segment-length", type=float, default=50.0, metavar="SECONDS",
                   help="target segment length; cuts fall on keyframes (default: 50)")
    p.add_argument("--context", type=float, metavar="SECONDS",
                   help="frames each segment's filters see before and after it, so that filters "
                        "looking at neighbouring frames (deinterlacers, denoisers) work across joins "
                        "as in one pass: the seconds of warm-up for recursive ones such as hqdn3d "
                        "(default: 3; 0: no context at all)")
    p.add_argument("--local-workers", type=int, metavar="N",
                   help="local encodes at once (default: one per core)")
    p.add_argument("--prefetch", type=int, default=1, metavar="N",
                   help="segments uploaded ahead of each host's encoder (default: 1)")
    p.add_argument("--slots", type=int, default=1, metavar="K", help="encodes at once per SSH host (default: 1)")
    p.add_argument("--retries", type=int, default=3, metavar="N",
                   help="further attempts for a segment whose encode failed (default: 3)")
    p.add_argument("--stale-timeout", type=float, default=120.0, metavar="SECONDS",
                   help="kill an encode whose progress has not moved for this long (default: 120)")
    p.add_argument("--workdir", type=Path, metavar="DIR",
                   help="where the private work dir is made (default: the temp dir; /var/tmp if that is a tmpfs)")
    p.add_argument("--keep-workdir", action="store_true", help="keep the work files (for debugging)")
    p.add_argument("--dry-run", action="store_true",
                   help="check every host (connection, ffmpeg, the encoder, free space) and input, print "
                        "the plan, change nothing; exit 1 if the run could not work")
    p.add_argument("--ssh-config", action="append", default=[], metavar="PATH",
                   help="an ssh config file to read as well as ~/.ssh/config")
    p.add_argument("--known-hosts", metavar="PATH", help="known_hosts file (default: ~/.ssh/known_hosts)")
    p.add_argument("--accept-new-hostkeys", action="store_true",
                   help="accept and remember keys of hosts not yet known (a changed key is always refused)")
    p.add_argument("--identity", action="append", default=[], metavar="PATH", help="a private key to log in with")
    p.add_argument("--remote-workdir", metavar="DIR", help="parent of the private work dir on hosts (default: /tmp)")
    p.add_argument("--remote-ffmpeg", default="ffmpeg", metavar="PATH", help="ffmpeg on the hosts (default: ffmpeg)")
    p.add_argument("--backend", choices=("fleet", "slurm"), default="fleet",
                   help="fleet: local workers and --hostlist hosts (the default); slurm: one job array "
                        "per input on a Slurm cluster sharing --workdir")
    p.add_argument("--partition", help="Slurm partition (default: the cluster's default)")
    p.add_argument("--cpus-per-task", type=int, metavar="N", help="Slurm CPUs per task, and ffmpeg's threads")
    p.add_argument("--max-parallel", type=int, metavar="M", help="Slurm tasks running at once (the array's %%M)")
    p.add_argument("--time-limit", metavar="TIME", help="Slurm time limit per task (sbatch --time, e.g. 30:00)")
    p.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG",
                   help="an sbatch option passed through as given, e.g. --sbatch-arg=--mem=4G (repeatable)")
    p.add_argument("--slurm-setup", metavar="LINE",
                   help="a shell line each Slurm task runs before ffmpeg, e.g. 'module load ffmpeg'")
    p.add_argument("--requeue", action="store_true", help="let Slurm requeue a task whose node was lost")
    p.add_argument("--quiet", action="store_true", help="print only warnings and errors")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="more detail: ffmpeg's last stderr lines for failed attempts, host events "
                        "(note: ffmpeg's own -v is set by yaffmpegp)")
    p.add_argument("--log-file", type=Path, metavar="FILE", help="append every message, timestamped, to FILE")
    p.add_argument("--events", type=Path, metavar="FILE",
                   help="write every event as a JSON line to FILE (for scripts and dashboards)")
    p.add_argument("--report", type=Path, metavar="FILE", help="write the final summary as JSON to FILE")
    p.add_argument("--debug", action="store_true", help="show tracebacks and full ffmpeg errors")
    p.add_argument("--version", action="version", version=f"yaffmpegp {__version__}")
    return p


def settings_from(argv: Sequence[str]) -> tuple[Settings, argparse.Namespace]:
    ours, theirs = separate(argv)
    ns = build_parser().parse_args(ours)
    if ns.segment_length <= 0:
        raise UsageError("--segment-length must be positive")
    for name in ("local_workers", "slots"):
        if getattr(ns, name) is not None and getattr(ns, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if ns.context is not None and ns.context < 0:
        raise UsageError("--context cannot be negative")
    if ns.prefetch < 0 or ns.retries < 0:
        raise UsageError("--prefetch and --retries cannot be negative")
    slurm = _slurm_settings(ns)
    ns.inputs = ns.outputs = None
    if is_batch(ns.file):
        ns.inputs = expand_inputs(ns.file)
        ns.outputs = outputs_for(ns.inputs, ns.output)
        src, out = ns.inputs[0], ns.outputs[0]
    else:
        src = Path(ns.file[0])
        out = ns.output or default_output(src)
    inventory = _inventory(ns)
    s = Settings(
        input=src,
        output=out,
        ffmpeg_args=tuple(theirs),
        overwrite=ns.overwrite,
        hosts=tuple(ns.hostlist),
        inventory=inventory,
        segment_length=ns.segment_length,
        local_workers=ns.local_workers,
        prefetch=ns.prefetch,
        slots=ns.slots,
        retries=ns.retries,
        stale_timeout=ns.stale_timeout,
        workdir=ns.workdir.absolute() if ns.workdir else None,  # concat lists resolve relative paths from their own dir
        keep_workdir=ns.keep_workdir,
        context=ns.context,
        ssh=SSHSettings(user=ns.ssh_user, config=tuple(ns.ssh_config), known_hosts=ns.known_hosts,
                        accept_new_hostkeys=ns.accept_new_hostkeys, identity=tuple(ns.identity),
                        remote_workdir=ns.remote_workdir, remote_ffmpeg=ns.remote_ffmpeg,
                        lease=_lease_from_env()),
        slurm=slurm,
    )
    return s, ns


def _slurm_settings(ns: argparse.Namespace) -> SlurmSettings | None:
    given = [f"--{n.replace('_', '-')}" for n in ("partition", "cpus_per_task", "max_parallel", "time_limit",
                                                 "slurm_setup", "requeue", "sbatch_arg") if getattr(ns, n)]
    if ns.backend != "slurm":
        if given:
            raise UsageError(f"{given[0]} is for --backend slurm")
        return None
    if ns.workdir is None:
        raise UsageError("--backend slurm needs --workdir: a directory on a filesystem the Slurm nodes share")
    if ns.hostlist:
        raise UsageError("--hostlist and --backend slurm do not go together: Slurm chooses the nodes")
    for name in ("cpus_per_task", "max_parallel"):
        if getattr(ns, name) is not None and getattr(ns, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    return SlurmSettings(partition=ns.partition, cpus_per_task=ns.cpus_per_task, max_parallel=ns.max_parallel,
                         time_limit=ns.time_limit, sbatch_args=tuple(ns.sbatch_arg), setup=ns.slurm_setup,
                         requeue=ns.requeue, ffmpeg=ns.remote_ffmpeg)


def _inventory(ns: argparse.Namespace) -> Inventory | None:
    if ns.hosts is None:
        return None
    inventory = load_inventory(ns.hosts)
    labels = tuple(parse_host(text, ns.ssh_user).label for text in ns.hostlist)
    check_with_hostlist(inventory, labels)
    return inventory


def _lease_from_env() -> tuple[float, float] | None:
    """`YAFFMPEGP_LEASE=REFRESH,EXPIRY` (seconds): how often a run renews the lease in its
    host work dirs, and after how long without renewal another run removes such a dir.
    Not an option: the defaults suit real fleets; tests shorten them."""
    text = os.environ.get("YAFFMPEGP_LEASE")
    if not text:
        return None
    try:
        refresh, expiry = (float(x) for x in text.split(","))
    except ValueError:
        raise UsageError(f"YAFFMPEGP_LEASE must be REFRESH,EXPIRY in seconds, not {text!r}") from None
    if not 0 < refresh < expiry:
        raise UsageError("YAFFMPEGP_LEASE: the refresh must be positive and shorter than the expiry")
    return refresh, expiry


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    from .job import run
    from .report import EventLog, RunStats
    from .ui import Status

    # asyncio and asyncssh log connection trouble by themselves (a lost host can print a
    # hundred "socket.send() raised exception" lines); the errors reach the user through
    # events and exceptions instead.
    for name in ("asyncio", "asyncssh"):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.CRITICAL)
    status: Status | None = None
    with contextlib.ExitStack() as files:
        try:
            settings, ns = settings_from(argv)
            log = files.enter_context(_open_for_append(ns.log_file)) if ns.log_file else None
            status = Status(quiet=ns.quiet, verbose=ns.verbose or debug, log=log)
            stats = RunStats()
            events = Events(status, stats)
            if ns.events:
                events.listen(EventLog(files.enter_context(_open_for_write(ns.events))))
            # installed first, so asyncio.run leaves SIGINT to us (it would put Python's
            # KeyboardInterrupt back on its way out, in the middle of a clean stop)
            signal.signal(signal.SIGINT, _exit_now)
            if ns.dry_run:
                return _dry_run(settings, ns, status)
            if ns.inputs is not None:
                return _run_batch(settings, ns, events, status)
            result = asyncio.run(_interruptible(run(settings, events)))
        except YaffError as exc:
            return _fail(status, f"yaffmpegp: error: {exc}", exc.details() if debug else None, int(exc.exit_code))
        except KeyboardInterrupt:
            return _fail(status, "yaffmpegp: interrupted", None, int(ExitCode.INTERRUPTED))
        except SystemExit:
            raise
        except Exception as exc:  # a bug: say so in one line, the traceback with --debug
            return _fail(status, f"yaffmpegp: internal error: {type(exc).__name__}: {exc} "
                         "(run with --debug for details)", traceback.format_exc() if debug else None,
                         int(ExitCode.FAILED))
        status.close()
        if result.segments:
            for line in stats.summary_lines():
                status.say(line)
        if ns.report:
            ns.report.write_text(json.dumps({"output": str(result.output), **stats.summary()}, indent=2) + "\n")
        if not ns.quiet:
            status.say(f"yaffmpegp: wrote {result.output}")
        return int(ExitCode.OK)


def _dry_run(settings: Settings, ns: argparse.Namespace, status: Status) -> int:
    from .dryrun import dry_run
    from .transport.factory import make_transports

    jobs = list(zip(ns.inputs, ns.outputs)) if ns.inputs is not None else [(settings.input, settings.output)]
    result = asyncio.run(_interruptible(dry_run(settings, jobs, make_transports, batch=ns.inputs is not None)))
    for line in result.lines:
        status.say(line)
    return int(ExitCode.OK if result.ok else ExitCode.FAILED)


def _run_batch(settings: Settings, ns: argparse.Namespace, events: Events, status: Status) -> int:
    """Several inputs: each one's result in the summary (and the report), the exit code
    says whether any failed."""
    from .batch import exit_code, run_batch, summary_lines
    from .job import run
    from .report import BatchStats

    stats = BatchStats()
    events.listen(stats)
    results = asyncio.run(_interruptible(run_batch(settings, ns.inputs, ns.outputs, events, run)))
    status.close()
    for line in summary_lines(results):
        status.say(line)
    if ns.report:
        report = {"inputs": [{"input": str(r.input), "output": str(r.output), "result": r.result,
                              "error": r.error, **stats.of(r.number)} for r in results]}
        ns.report.write_text(json.dumps(report, indent=2) + "\n")
    return exit_code(results)


async def _interruptible(job: Coroutine[Any, Any, T]) -> T:
    """Ctrl-C in two steps: the first cancels the run, which kills the encodes and removes
    the work files on every host on its way out; a second one exits at once."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    hits = 0

    def on_sigint() -> None:
        nonlocal hits
        hits += 1
        if hits == 1:
            print("\nyaffmpegp: stopping: killing encodes, removing work files "
                  "(Ctrl-C again to exit at once)", file=sys.stderr, flush=True)
            task.cancel()
        else:
            _exit_now()

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        return await job
    except asyncio.CancelledError:
        if hits:
            raise KeyboardInterrupt from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGINT)  # (it puts Python's default back)
        signal.signal(signal.SIGINT, _exit_now)


def _exit_now(*_: object) -> None:
    """Ctrl-C outside the run's own handling (before it starts, or once it is stopping)."""
    _kill_children()
    os._exit(int(ExitCode.INTERRUPTED))


def _kill_children() -> None:
    """SIGKILL the process groups of our child processes (local ffmpegs run in their own
    sessions, so a signal to ours would miss them). Remote ffmpegs die when their SSH
    channel closes; their work dirs go on a clean stop (the first Ctrl-C) or on the next
    run of the same job."""
    me, mine = os.getpid(), os.getpgrp()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if int(fields[1]) == me:  # ppid
                if int(fields[2]) == mine:  # in our own group (the split, ffprobe, sbatch):
                    os.kill(int(entry), signal.SIGKILL)  # killpg would take our parent shell too
                else:
                    os.killpg(int(fields[2]), signal.SIGKILL)  # its process group
        except (OSError, ValueError, IndexError):
            continue


def _fail(status: Status | None, line: str, details: str | None, code: int) -> int:
    if status is not None:
        status.close()
        status.to_log(line)
    print(line, file=sys.stderr)
    if details:
        print(details, file=sys.stderr)
    return code


def _open_for_append(path: Path) -> IO[str]:
    try:
        return path.open("a", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _open_for_write(path: Path) -> IO[str]:
    try:
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
