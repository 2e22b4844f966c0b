"""One run of a job at a time.

A job's work dir holds its resume state, so two runs of the same job at once (a command
launched twice, two batch scripts over one shelf) would pull it from under each other. The
first run takes an exclusive `flock(2)` on `lock` inside the dir, right after the dir is made
or found and before anything in it is touched. The kernel drops the lock when the process
dies, however it dies, so a crash never leaves a stale lock behind. The file also names the
holder (pid, machine) for the one line the second run prints.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
from pathlib import Path

from .errors import JobRunningError, OutputError

LOCK = "lock"
_ATTEMPTS = 5  # the dir can vanish between open and lock only while a finishing run removes it


class JobLock:
    """A held lock on a job dir; `release()` (or leaving the `with`) lets the next run in."""

    def __init__(self, fd: int, workdir: Path) -> None:
        self._fd = fd
        self.workdir = workdir

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = -1

    def __enter__(self) -> JobLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_job_dir(workdir: Path) -> JobLock:
    """Lock the job dir `workdir` (made by the caller) for this process.

    Raises JobRunningError naming the holder if another run holds it. If a run that just
    finished removed the dir under us, it is made again (mode 700) and locked."""
    for _ in range(_ATTEMPTS):
        path = workdir / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except FileNotFoundError:  # the dir is gone: a run that just ended removed it
            _remake(workdir)
            continue
        except OSError as exc:
            raise OutputError(f"cannot create {path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise JobRunningError(f"this job is already running ({holder}); its work dir is {workdir}") from None
        except OSError as exc:
            os.close(fd)
            raise OutputError(f"cannot lock {path}: {exc.strerror or exc}") from exc
        if _still_there(fd, path):
            _write_holder(fd)
            return JobLock(fd, workdir)
        os.close(fd)  # we locked a file a finishing run had just removed: start over
    raise OutputError(f"cannot lock {workdir}: it keeps disappearing")


def remove_job_dir(workdir: Path) -> None:
    """Remove a job dir while still holding its lock: renamed away first, so a run starting
    right now finds either the dir with our lock in it, or no dir at all."""
    trash = workdir.with_name(f".{workdir.name}.removing-{os.getpid()}")
    try:
        os.rename(workdir, trash)
    except OSError:
        trash = workdir
    shutil.rmtree(trash, ignore_errors=True)


def _remake(workdir: Path) -> None:
    try:
        os.mkdir(workdir, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise OutputError(f"cannot create a work dir in {workdir.parent}: {exc.strerror or exc}") from exc


def _still_there(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _write_holder(fd: int) -> None:
    data = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode() + b"\n"
    with contextlib.suppress(OSError):  # only the message of a second run needs it
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)


def _holder(fd: int) -> str:
    """`pid 1234 on box` from the lock file, as far as it can be read."""
    try:
        info = json.loads(os.pread(fd, 4096, 0))
        return f"pid {int(info['pid'])} on {info['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "by another process"
