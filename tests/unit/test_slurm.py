"""The Slurm backend's pure pieces: sbatch's argv, squeue's output, the task script (run for
real with bash and ffmpeg, no cluster needed)."""
from __future__ import annotations

import asyncio
import io
import os
import subprocess
import time
from pathlib import Path

import pytest

from yaffmpegp.cli import settings_from
from yaffmpegp.errors import ToolError, UsageError
from yaffmpegp.events import ClusterQueue, EncodeProgress, Planned, Stage
from yaffmpegp.settings import SlurmSettings
from yaffmpegp.slurm import script as sc
from yaffmpegp.ui import Status, host_line
from yaffmpegp.slurm.commands import (array_spec, check_cluster, parse_job_id, parse_squeue, queued_argv, sbatch_argv,
                                      scancel_argv, squeue_argv)


@pytest.mark.parametrize("indices, spec", [
    ([0], "0"), ([0, 1, 2, 3], "0-3"), ([7, 0, 1, 2, 3, 9, 10], "0-3,7,9-10"), ([5, 5, 6], "5-6"), ([], ""),
])
def test_array_spec(indices: list[int], spec: str) -> None:
    assert array_spec(indices) == spec


def test_sbatch_argv_has_every_option_and_passes_extra_ones_last() -> None:
    s = SlurmSettings(partition="gpu", cpus_per_task=4, max_parallel=8, time_limit="30:00",
                      sbatch_args=("--mem=4G", "--account=a b"), requeue=True)
    assert sbatch_argv(s, [0, 1, 2, 5], Path("/w/job/slurm/array-0.sh"), Path("/w/job/slurm"), "yaffmpegp-k") == [
        "sbatch", "--parsable", "--array=0-2,5%8", "--job-name=yaffmpegp-k",
        "--output=/w/job/slurm/%5a.%A.err", "--error=/w/job/slurm/%5a.%A.err", "--chdir=/w/job/slurm",
        "--requeue", "--partition=gpu", "--cpus-per-task=4", "--time=30:00", "--mem=4G", "--account=a b",
        "/w/job/slurm/array-0.sh"]
    assert sbatch_argv(SlurmSettings(), [3], Path("/s.sh"), Path("/l"), "n") == [
        "sbatch", "--parsable", "--array=3", "--job-name=n", "--output=/l/%5a.%A.err", "--error=/l/%5a.%A.err",
        "--chdir=/l", "--no-requeue", "/s.sh"]


def test_squeue_output_parsed_per_task() -> None:
    out = "12|0|COMPLETED|node1\n12|1|RUNNING|node2\n12|2|PENDING|\n13|4|TIMEOUT|node1\n14|N/A|RUNNING|n\n\n"
    states = parse_squeue(out)
    assert sorted(states) == [("12", 0), ("12", 1), ("12", 2), ("13", 4)]
    assert states[("12", 1)].node == "node2" and states[("12", 1)].active
    assert states[("12", 2)].active and states[("12", 2)].node == ""
    assert not states[("12", 0)].active and not states[("13", 4)].active
    assert squeue_argv(["12", "13"])[-2:] == ["--jobs=12,13", "--format=%F|%K|%T|%N"]


def test_job_id_from_sbatch() -> None:
    assert parse_job_id("1234\n") == "1234"
    assert parse_job_id("1234;cluster\n") == "1234"
    with pytest.raises(ToolError):
        parse_job_id("sbatch: error: nope\n")


def test_marker() -> None:
    m = sc.parse_marker("0 node7 100.25 112.75\n")
    assert m == sc.Marker(0, "node7", 12.5)
    assert sc.parse_marker("0 node7") is None


def test_no_sbatch_on_path_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match="sbatch not found on PATH"):
        asyncio.run(check_cluster(SlurmSettings(partition="x")))


# ----- the task script, run by bash as a node would ------------------------------------------------

@pytest.fixture
def odd_dir(tmp_path: Path) -> Path:
    """A work dir whose name a shell would misread if anything were left unquoted."""
    d = tmp_path / "it's a $(touch pwned) dir; `touch pwned2`"
    d.mkdir()
    return d


def _source(d: Path) -> Path:
    src = d / "00003.in.nut"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5",
                    "-frames:v", "5", "-c:v", "ffv1", str(src)], check=True)
    return src


def _run(d: Path, src: Path, *, ffmpeg: str = "ffmpeg", encoder: str | None = "ffv1",
         setup: str | None = None) -> tuple[int, str]:
    part, out = d / "00003.part.nut", d / "00003.out.nut"
    args = ["-nostdin", "-v", "error", "-nostats", "-progress", "pipe:1", "-i", str(src), "-c:v", "ffv1", str(part)]
    text = sc.task_script(str(d), [sc.TaskSpec(3, "00003", str(src), str(part), str(out), tuple(args))],
                          ffmpeg, encoder, setup)
    script = d / "array-0.sh"
    script.write_text(text)
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_JOB_ID": "77", "SLURMD_NODENAME": "n1"}
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, cwd=d.parent, timeout=60)
    return r.returncode, r.stderr


def test_task_script_encodes_renames_and_marks_done(odd_dir: Path) -> None:
    src = _source(odd_dir)
    code, err = _run(odd_dir, src)
    assert code == 0, err
    assert (odd_dir / "00003.out.nut").stat().st_size > 0 and not (odd_dir / "00003.part.nut").exists()
    marker = sc.parse_marker((odd_dir / "00003.77.done").read_text())
    assert marker is not None and marker.status == 0 and marker.node == "n1"
    assert "progress=end" in (odd_dir / "00003.progress").read_text()
    assert not list(odd_dir.parent.rglob("pwned*")), "a name in the script ran as a command"


def test_task_script_says_what_failed_before_ffmpeg(odd_dir: Path) -> None:
    src = _source(odd_dir)
    assert _run(odd_dir, odd_dir / "missing.nut")[0] == sc.UNREADABLE
    assert _run(odd_dir, src, setup="echo no such module >&2; false")[0] == sc.SETUP_FAILED
    assert _run(odd_dir, src, ffmpeg="/nonexistent/ffmpeg")[0] == sc.NO_FFMPEG
    code, err = _run(odd_dir, src, encoder="nosuchencoder")
    assert code == sc.NO_ENCODER and "no encoder nosuchencoder" in err
    assert sc.parse_marker((odd_dir / "00003.77.done").read_text()).status == sc.NO_ENCODER
    assert not (odd_dir / "00003.out.nut").exists()
    # the setup line runs in the task's own shell: what it changes (PATH, as `module load`
    # does), ffmpeg's lookup sees
    assert _run(odd_dir, src, setup="PATH=/nonexistent")[0] == sc.NO_FFMPEG


def test_cancel_and_wait_by_the_job_name() -> None:
    uid = os.getuid()
    assert scancel_argv("yaffmpegp-abc") == ["scancel", "--name=yaffmpegp-abc", f"--user={uid}"]
    assert queued_argv("yaffmpegp-abc") == ["squeue", "--noheader", "--name=yaffmpegp-abc", f"--user={uid}",
                                            "--format=%i"]


def test_status_shows_each_task_and_the_queue() -> None:
    """The events a Slurm run emits, through the real status display (plain lines)."""
    out = io.StringIO()
    status = Status(out, tty=False, interval=0.0)
    for e in [Planned(3, 300, ("slurm",)), Stage("slurm", "encode0", "encoding", 0),
              Stage("slurm", "encode1", "encoding", 1), EncodeProgress("slurm", 0, 40, 0.0),
              ClusterQueue("slurm", 1, 2)]:
        status(e)
    h = status._hosts["slurm"]
    assert host_line("slurm", h, now=time.monotonic(), width=5).startswith("slurm SEND idle → ENC seg 0 ")
    assert "seg 1 " in host_line("slurm", h, now=time.monotonic()) and "| pending 1 running 2 |" in \
        host_line("slurm", h, now=time.monotonic())
    assert "slurm: pending 1 running 2" in status.progress_line(time.monotonic())


def test_command_line(tmp_path: Path) -> None:
    src = tmp_path / "in.mkv"
    src.write_bytes(b"x")
    base = ["--file", str(src), "-c:v", "libx264"]
    s, _ = settings_from(["--backend", "slurm", "--workdir", str(tmp_path), "--partition", "p", "--sbatch-arg",
                          "--mem=4G", "--sbatch-arg=--account=a", "--slurm-setup", "module load ffmpeg",
                          "--max-parallel", "3", "--remote-ffmpeg", "/opt/ff", *base])
    assert s.slurm == SlurmSettings(partition="p", max_parallel=3, sbatch_args=("--mem=4G", "--account=a"),
                                    setup="module load ffmpeg", ffmpeg="/opt/ff")
    assert s.ffmpeg_args == ("-c:v", "libx264")
    assert settings_from(base)[0].slurm is None
    for argv, message in [(["--backend", "slurm", *base], "needs --workdir"),
                          (["--partition", "p", *base], "--partition is for --backend slurm"),
                          (["--backend", "slurm", "--workdir", "w", "--hostlist", "h", *base], "do not go together"),
                          (["--backend", "slurm", "--workdir", "w", "--max-parallel", "0", *base], "at least 1")]:
        with pytest.raises(UsageError, match=message):
            settings_from(argv)
