"""Ctrl-C in the middle of a real run, as a user gives it."""
from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable


def interrupt_when(proc: subprocess.Popen[str], started: Callable[[], bool], what: str, *,
                   settle: float = 1.0, patience: float = 60, timeout: float = 30) -> str:
    """Wait until `started()` (failing with `what` if it never is), let the run go on for
    `settle` seconds, send SIGINT and wait for the exit; the run's stderr. The process is
    killed if it outlives this."""
    try:
        deadline = time.monotonic() + patience
        while not started():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, what
            time.sleep(0.2)
        time.sleep(settle)
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=timeout)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
