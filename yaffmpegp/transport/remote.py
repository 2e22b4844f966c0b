"""Shell commands an SSH host runs for us, as pure functions of their inputs.

Each is one string for the remote login shell; every value in it is quoted (`shlex`), so
file names with spaces, quotes or `$()` are data, never code.
"""
from __future__ import annotations

import shlex
from collections.abc import Sequence

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
