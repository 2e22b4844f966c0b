"""Shell commands an SSH host runs for us, and reading what a run prints.

Each command is one string for the remote login shell, built by a pure function; every value
in it is quoted (`shlex`), so file names with spaces, quotes or `$()` are data, never code.
"""
from __future__ import annotations

import asyncio
import shlex
from collections.abc import Sequence

import asyncssh

from .base import LineCallback

KILL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL of a remote ffmpeg
PID_MARKER = "yaffmpegp-pid"  # the line before ffmpeg starts: "yaffmpegp-pid 1234"

def _stop(ids: str) -> str:
    """Shell: SIGTERM the pids in `ids` (shell words), wait up to KILL_GRACE for them to
    exit, then SIGKILL what is left."""
    ticks = int(KILL_GRACE * 10)
    return (f"kill -TERM {ids} 2>/dev/null; i=0; "
            f"while [ $i -lt {ticks} ]; do alive=; "
            f"for p in {ids}; do kill -0 $p 2>/dev/null && alive=1; done; "
            f'[ -z "$alive" ] && break; sleep 0.1; i=$((i+1)); done; '
            f"kill -KILL {ids} 2>/dev/null; true")


def kill_script(pids: Sequence[int]) -> str:
    """SIGTERM, wait up to KILL_GRACE for them to exit, then SIGKILL what is left."""
    return _stop(" ".join(str(int(p)) for p in pids))


# A closed channel does not kill a remote process (no pty, so no SIGHUP): an ffmpeg started
# by a coordinator that was SIGKILLed, or whose network went, would encode on for minutes.
# So the run is tied to its channel's stdin, which we never write to nor close: sshd closes
# it when the channel or the connection ends, however it ends. A watcher reads it and, at
# end-of-file, stops ffmpeg. When ffmpeg ends first, the watcher is stopped and the run's
# exit status is ffmpeg's (128+N if a signal killed it). The pid line is printed by the
# shell that then becomes ffmpeg (exec), so it comes before any output of ffmpeg's and is
# the pid to kill. Positional parameters: the ffmpeg argv.
_TIED_RUN = f"""\
exec 3<&0 </dev/null
sh -c 'echo {PID_MARKER} $$; exec "$@"' sh "$@" 3<&- &
f=$!
{{ while read -r _; do :; done; {_stop("$f")}; }} <&3 >/dev/null 2>&1 &
w=$!
exec 3<&-
wait $f
s=$?
kill $w 2>/dev/null
exit $s"""


def tied_run(argv: Sequence[str]) -> str:
    """Run `argv` (ffmpeg and its arguments) so that it ends when its SSH channel does.

    The first stdout line is `PID_MARKER <pid>`; everything after it is ffmpeg's."""
    return f"exec sh -c {shlex.quote(_TIED_RUN)} sh {shlex.join(argv)}"


def make_workdir(root: str | None, lease: str) -> str:
    """`mktemp -d` (mode 700) under `root` with an empty lease file in it, at once; prints
    `yaffmpegp-dir <absolute path>`. `root` None: the host's `$TMPDIR`, else /tmp; `~/...`:
    under the remote home."""
    if root is None:
        quoted = '"${TMPDIR:-/tmp}"'
    elif root == "~" or root.startswith("~/"):
        quoted = '"$HOME"/' + shlex.quote(root[2:] or ".")
    else:
        quoted = shlex.quote(root)
    return (f"root={quoted} && mkdir -p -- \"$root\" && "
            'dir=$(mktemp -d -- "$root/yaffmpegp.XXXXXXXXXX") && '
            f': > "$dir"/{shlex.quote(lease)} && cd -- "$dir" && '
            'echo "yaffmpegp-dir $(pwd -P)"')


# ----- reading a run ------------------------------------------------------------------------


async def pump_output(proc: asyncssh.SSHClientProcess[bytes], on_stdout: LineCallback,
                      on_stderr: LineCallback) -> None:
    """Read stdout and stderr lines until both end. If one side fails (a callback raised, the
    link dropped), the other is cancelled and that failure is raised as itself."""
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(pump_lines(proc.stdout, on_stdout))
            tg.create_task(pump_lines(proc.stderr, on_stderr))
    except BaseExceptionGroup as group:
        raise group.exceptions[0]  # noqa: B904 - the group is only the wrapper


async def pump_lines(stream: asyncssh.SSHReader[bytes], sink: LineCallback) -> None:
    while line := await stream.readline():
        sink(line.decode("utf-8", "replace").rstrip("\r\n"))


async def read_pid(proc: asyncssh.SSHClientProcess[bytes]) -> int | None:
    """The pid from the marker line; lines a chatty login shell prints before it are dropped."""
    while line := await proc.stdout.readline():
        text = line.decode("utf-8", "replace").strip()
        if text.startswith(PID_MARKER + " ") and text.split()[1].isdigit():
            return int(text.split()[1])
    return None
