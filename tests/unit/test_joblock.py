"""The job lock: a real flock on a real file, taken twice in one process (each open file
description is its own lock, as for two processes)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from yaffmpegp.errors import ExitCode, JobRunningError
from yaffmpegp.job import job_dir, keep_resume_state
from yaffmpegp.joblock import LOCK, lock_job_dir, remove_job_dir


def test_second_lock_names_the_holder_and_the_first_is_untouched(tmp_path: Path) -> None:
    workdir, lock = job_dir(tmp_path, "k")
    (workdir / "journal.json").write_text("{}")
    with lock:
        with pytest.raises(JobRunningError) as err:
            job_dir(tmp_path, "k")
        assert f"already running (pid {os.getpid()} on {socket.gethostname()})" in str(err.value)
        assert err.value.exit_code == ExitCode.BUSY
        assert sorted(p.name for p in workdir.iterdir()) == ["journal.json", LOCK]
    # released: the next run gets it, and keeps the resume state
    again, lock = job_dir(tmp_path, "k")
    with lock:
        assert again == workdir and (workdir / "journal.json").exists()


def test_resume_cleanup_keeps_the_lock(tmp_path: Path) -> None:
    workdir, lock = job_dir(tmp_path, "k")
    with lock:
        (workdir / "split").mkdir()
        keep_resume_state(workdir)
        assert [p.name for p in workdir.iterdir()] == [LOCK]
        with pytest.raises(JobRunningError):
            lock_job_dir(workdir)


def test_dir_removed_under_a_waiting_run_is_made_again(tmp_path: Path) -> None:
    workdir, lock = job_dir(tmp_path, "k")
    with lock:
        remove_job_dir(workdir)  # as a finishing run does, still holding its lock
    assert list(tmp_path.iterdir()) == []
    with lock_job_dir(workdir):
        assert workdir.is_dir() and (workdir.stat().st_mode & 0o777) == 0o700
