"""The shell commands SSH hosts run for us, run here by a real `sh` (the login shell's part
is played by `sh -c`): what sshd does to a channel's stdin when the channel goes, closing
it, is done here by closing the pipe."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from yaffmpegp.transport.remote import PID_MARKER, tied_run


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start(argv: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(["sh", "-c", tied_run(argv)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    first = proc.stdout.readline().decode().split()
    assert first[0] == PID_MARKER
    return proc, int(first[1])


def test_run_ends_when_its_stdin_closes() -> None:
    proc, pid = _start(["sleep", "60"])
    try:
        deadline = time.monotonic() + 5  # the shell that printed the pid becomes the program
        while Path(f"/proc/{pid}/comm").read_text().strip() != "sleep":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert proc.stdin is not None
        proc.stdin.close()  # the channel is gone
        proc.wait(timeout=10)
        assert not _alive(pid)
        assert proc.returncode == 128 + 15  # stopped by SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()


def test_run_reports_the_programs_output_and_status_and_leaves_nothing() -> None:
    proc, pid = _start(["sh", "-c", "echo out; echo err >&2; exit 3", "it's $(odd)"])
    out, err = _outputs(proc)
    assert (out, err, proc.returncode) == (b"out\n", b"err\n", 3)
    deadline = time.monotonic() + 5
    while _children_of(proc.pid) and time.monotonic() < deadline:  # the watcher was stopped
        time.sleep(0.05)
    assert not _alive(pid) and not _children_of(proc.pid)


def test_arguments_are_data() -> None:
    hostile = ["printf", "%s|", "a b", "it's", "$(touch PWNED)", "`id`", "; rm -rf /"]
    proc, _ = _start(hostile)
    out, _ = _outputs(proc)
    assert out == b"a b|it's|$(touch PWNED)|`id`|; rm -rf /|"
    assert not os.path.exists("PWNED")


def _outputs(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """stdout and stderr to their end, stdin kept open as an SSH channel's is (communicate()
    would close it first, and that ends the run)."""
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.wait(timeout=10)
    for f in (proc.stdin, proc.stdout, proc.stderr):
        f.close()
    return out, err


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                pass
    return found
