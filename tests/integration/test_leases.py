"""Work dirs that runs which are gone left on a host are removed by the next run that opens
the host, and never the dir of a run still alive: each run keeps a lease in its dir fresh.
Leases are shortened here through YAFFMPEGP_LEASE: renewed every second, and taken for
expired after 6 s by the run that must remove the dead dir (after 10 minutes by the others,
which open the host before the dead run's lease has run out)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import media
from tests.integration.conftest_fleet import fleet  # noqa: F401

pytestmark = [pytest.mark.fleet, pytest.mark.slow]
EXPIRY = 6
SHORT = {**os.environ, "YAFFMPEGP_LEASE": f"1,{EXPIRY}", "PYTHONWARNINGS": "error"}
LONG = {**SHORT, "YAFFMPEGP_LEASE": "1,600"}
# `realtime` paces each encode at the clip's speed: how long a run lasts does not depend on
# how loaded the machine is, and ffv1 keeps the output checkable frame by frame
PACED = ["-vf", "realtime", "-c:v", "ffv1", "-c:a", "copy"]


def _args(fleet, hosts: list[str], src: Path, out: Path, seglen: int) -> list[str]:  # noqa: F811
    return [sys.executable, "-m", "yaffmpegp", "--hostlist", *hosts, "--ssh-config", str(fleet.ssh_config),
            "--file", str(src), "-o", str(out), "--workdir", str(out.parent), "--segment-length", str(seglen),
            *PACED]


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _dirs(fleet, host: str) -> set[Path]:  # noqa: F811
    return {p for p in fleet.workdir_leftovers(host) if p.name.startswith("yaffmpegp.")}


def _wait(condition, what: str, proc: subprocess.Popen[str] | None = None, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc is None or proc.poll() is None, proc.communicate() if proc else None
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_dead_runs_dir_is_removed_and_a_live_runs_dir_kept(fleet, tmp_path: Path) -> None:  # noqa: F811
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    clip_a = media.vhs_ffv1(tmp_path / "a" / "tape.mkv", seconds=8)
    clip_b = media.vhs_ffv1(tmp_path / "b" / "tape.mkv", seconds=30)
    clip_c = media.vhs_ffv1(tmp_path / "c" / "tape.mkv", seconds=2)
    assert not _dirs(fleet, "h1")
    live = None
    try:
        # run A loses h1 mid-run and finishes on h2 while h1 is down: its dir stays on h1
        run_a = _start(_args(fleet, ["h1", "h2"], clip_a, tmp_path / "a" / "out.mkv", 2), LONG)
        _wait(lambda: fleet.encoding_processes("h1"), "h1 never encoded for run A", run_a)
        (dead,) = _dirs(fleet, "h1")
        fleet.kill_host("h1")
        _, err = run_a.communicate(timeout=240)
        assert run_a.returncode == 0, err
        fleet.restart_host("h1")
        assert _dirs(fleet, "h1") == {dead} and (dead / "lease").exists()

        # run B is alive on h1 for longer than the expiry: one long segment, so its dir is
        # not even modified for that long (only the files in it are), but its lease is fresh
        live = _start(_args(fleet, ["h1"], clip_b, tmp_path / "b" / "out.mkv", 30), LONG)
        _wait(lambda: len(_dirs(fleet, "h1")) == 2 and fleet.encoding_processes("h1"), "run B never encoded", live)
        (alive,) = _dirs(fleet, "h1") - {dead}
        made = time.monotonic()
        time.sleep(EXPIRY + 2)
        first = (alive / "lease").stat().st_mtime
        time.sleep(2.5)
        assert (alive / "lease").stat().st_mtime > first, "the live run does not renew its lease"

        # run C opens h1: it removes A's dir, keeps B's, and its own goes at its end
        r = subprocess.run(_args(fleet, ["h1"], clip_c, tmp_path / "c" / "out.mkv", 1), capture_output=True,
                           text=True, timeout=240, env=SHORT)
        assert r.returncode == 0, r.stderr
        assert live.poll() is None, "run B should still be encoding"
        assert time.monotonic() - made > EXPIRY  # B's dir is older than the expiry: kept by its lease
        assert _dirs(fleet, "h1") == {alive}

        _, err = live.communicate(timeout=240)
        assert live.returncode == 0, err
    finally:
        fleet.restart_host("h1")
        for proc in (p for p in (live,) if p is not None and p.poll() is None):
            proc.kill()
            proc.communicate()
    assert media.frame_hashes(tmp_path / "b" / "out.mkv") == media.frame_hashes(clip_b)
    assert media.frame_hashes(tmp_path / "c" / "out.mkv") == media.frame_hashes(clip_c)
    for name in fleet.names:
        assert fleet.workdir_leftovers(name) == [], f"files left on {name}"
        assert fleet.host_processes(name) == [], f"processes left on {name}"
