"""--backend slurm on a real single-node Slurm cluster: the output is a single pass's, a task
that fails is submitted again, Ctrl-C leaves no job and no work file, a wrong partition is
one line."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests import media
from tests.signals import interrupt_when
from tests.integration.conftest_slurm import slurm  # noqa: F401
from tests.integration.test_exact import _streams
from tests.slurm_cluster import Cluster

pytestmark = pytest.mark.slurm


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
def test_conversion_through_a_job_array_is_a_single_pass(slurm: Cluster, sources, yaff, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
    src = sources["mkv"]  # several audio and subtitle streams, chapters, a title
    opts = ["-map", "0", "-c:v", "ffv1", "-c:a", "copy", "-c:s", "copy"]
    ours, events = tmp_path / "ours.mkv", tmp_path / "events.jsonl"
    single = media.single_pass(src, tmp_path / "single.mkv", opts)
    r = yaff("--backend", "slurm", "--partition", slurm.partition, "--max-parallel", "2", "--cpus-per-task", "1",
             "--file", src, "-o", ours, "--segment-length", "2", "--events", events, *opts)
    assert r.returncode == 0, r.stderr
    assert "checked:" in r.stderr

    a, b = media.probe(ours), media.probe(single)
    assert _streams(a) == _streams(b)
    assert media.frame_hashes(ours) == media.frame_hashes(single), "video frames differ from a single pass"
    audio = [i for i, s in enumerate(b["streams"]) if s["codec_type"] == "audio"]
    for n, _ in enumerate(audio):
        assert media.decoded_md5(ours, f"a:{n}") == media.decoded_md5(single, f"a:{n}")
    assert len(a["chapters"]) == len(b["chapters"]) == 3
    # every segment was done by the array, with its progress and the queue shown on the way
    log = _events(events)
    planned = next(e for e in log if e["event"] == "planned")
    done = [e for e in log if e["event"] == "segment_done"]
    assert planned["segments"] >= 3 and planned["hosts"] == [f"slurm:{slurm.partition}"]
    assert sorted(e["segment"] for e in done) == list(range(planned["segments"]))
    assert any(e["event"] == "cluster_queue" for e in log)
    assert slurm.jobs() == [] or all(" COMPLET" in j for j in slurm.jobs())
    assert list(yaff.work.iterdir()) == []


@pytest.mark.slow
def test_a_frame_rate_change_through_the_array(slurm: Cluster, yaff, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """-r 10 from a VFR phone clip: each task's command carries its slots as filter
    expressions (quotes, commas, parentheses) through sbatch's script; the frames and their
    times are a single pass's."""
    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
    src = media.phone_vfr(tmp_path / "vfr.mp4", seconds=4)
    opts = ["-r", "10", "-c:v", "ffv1", "-c:a", "copy"]
    ours = tmp_path / "ours.mkv"
    single = media.single_pass(src, tmp_path / "single.mkv", opts)
    r = yaff("--backend", "slurm", "--partition", slurm.partition, "--max-parallel", "2", "--cpus-per-task", "1",
             "--file", src, "-o", ours, "--segment-length", "1", *opts)
    assert r.returncode == 0, r.stderr
    assert media.frames_with_times(ours) == media.frames_with_times(single)
    assert media.decoded_md5(ours, "a:0") == media.decoded_md5(single, "a:0")


@pytest.mark.slow
def test_a_task_that_fails_is_submitted_again(slurm: Cluster, sources, yaff, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A --slurm-setup line that fails the first time it runs on any task (a marker file
    says it ran): that task's segment goes into a new array, and the output is still exact."""
    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
    src = sources["vhs"]
    once = tmp_path / "ran once"
    setup = f"test -e {shlex.quote(str(once))} || {{ touch {shlex.quote(str(once))}; echo first run >&2; false; }}"
    opts = ["-c:v", "ffv1", "-c:a", "copy"]
    ours, events = tmp_path / "ours.mkv", tmp_path / "events.jsonl"
    r = yaff("--backend", "slurm", "--slurm-setup", setup, "--retries", "1", "--file", src, "-o", ours,
             "--segment-length", "2", "--events", events, *opts)
    assert r.returncode == 0, r.stderr
    assert once.exists()
    failed = [e for e in _events(events) if e["event"] == "attempt_failed"]
    assert failed and all(e["retry"] and "--slurm-setup" in e["error"] for e in failed)
    assert "attempt 1 failed" in r.stderr
    single = media.single_pass(src, tmp_path / "single.mkv", opts)
    assert media.frame_hashes(ours) == media.frame_hashes(single)
    assert media.decoded_md5(ours, "a:0") == media.decoded_md5(single, "a:0")
    assert list(yaff.work.iterdir()) == []


@pytest.mark.slow
def test_a_task_whose_encode_freezes_is_cancelled_and_submitted_again(slurm: Cluster, sources, yaff, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The first encode any task starts is frozen (SIGSTOP, by a shell function the setup line
    defines): its progress stops moving, the watchdog cancels that task (scancel) and its
    segment goes into a new array; the output is still exact."""
    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
    src = sources["vhs"]
    once = shlex.quote(str(tmp_path / "froze once"))
    # mkdir is atomic: two tasks starting at once cannot both take the freeze (a test and a
    # touch could, and did: two attempts failed, one CI run in three)
    setup = ("ffmpeg() { if [ \"$2\" != -encoders ] && mkdir " + once + " 2>/dev/null; then "
             "command ffmpeg \"$@\" & p=$!; kill -STOP $p; wait $p; else command ffmpeg \"$@\"; fi; }")
    opts = ["-c:v", "ffv1", "-c:a", "copy"]
    ours, events = tmp_path / "ours.mkv", tmp_path / "events.jsonl"
    r = yaff("--backend", "slurm", "--slurm-setup", setup, "--stale-timeout", "3", "--file", src, "-o", ours,
             "--segment-length", "2", "--events", events, *opts)
    assert r.returncode == 0, r.stderr
    failed = [e for e in _events(events) if e["event"] == "attempt_failed"]
    assert len(failed) == 1 and failed[0]["retry"] and "no progress for 3 s" in failed[0]["error"], failed
    single = media.single_pass(src, tmp_path / "single.mkv", opts)
    assert media.frame_hashes(ours) == media.frame_hashes(single)
    assert list(yaff.work.iterdir()) == []
    assert slurm.jobs() == [] or all(" COMPLET" in j or " CANCEL" in j for j in slurm.jobs())


@pytest.mark.slow
def test_sigint_cancels_the_array_and_cleans_up(slurm: Cluster, tmp_path: Path) -> None:
    src = media.vhs_ffv1(tmp_path / "long.mkv", seconds=12)
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "out.mkv"
    argv = [sys.executable, "-m", "yaffmpegp", "--backend", "slurm", "--max-parallel", "1", "--file", str(src),
            "-o", str(out), "--workdir", str(work), "--segment-length", "3",
            "-vf", "realtime", "-c:v", "ffv1", "-c:a", "copy"]  # paced: each task runs ~3 s
    env = {**os.environ, **slurm.env}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    err = interrupt_when(proc, lambda: bool(list(work.glob("*/slurm/*/*.progress"))),  # a task's ffmpeg runs
                         "no task ever started", settle=0.5, timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert slurm.jobs() == [], "tasks were left in the queue"
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial output
    kept = list(work.iterdir())
    if kept:  # only the resume state: the journal and the segments it lists
        (job,) = kept
        journal = json.loads((job / "journal.json").read_text())
        assert sorted(p.name for p in job.iterdir()) == ["encoded", "journal.json", "lock"]
        assert sorted(p.name for p in (job / "encoded").iterdir()) == \
            sorted(e["file"] for e in journal["done"].values())


def test_a_partition_that_does_not_exist_is_one_line(slurm: Cluster, sources, yaff,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
    r = yaff("--backend", "slurm", "--partition", "nosuch", "--file", sources["vhs"], "-o",
             yaff.work.parent / "o.mkv", "-c:v", "ffv1")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"yaffmpegp: error: Slurm partition 'nosuch' does not exist (partitions: {slurm.partition})"]
    assert slurm.jobs() == [] or all("nosuch" not in j for j in slurm.jobs())
    assert list(yaff.work.iterdir()) == []


@pytest.mark.slow
def test_a_work_dir_the_tasks_cannot_see_is_one_line(slurm: Cluster, sources, yaff,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks run as another user (root may submit for nobody) cannot enter the private work
    dir, as tasks on nodes that do not mount it cannot: they cannot even write their logs."""
    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
    r = yaff("--backend", "slurm", "--sbatch-arg=--uid=nobody", "--file", sources["vhs"], "-o",
             yaff.work.parent / "o.mkv", "--segment-length", "2", "-c:v", "ffv1")
    assert r.returncode == 2, r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if "error" in ln]
    assert line.startswith("yaffmpegp: error: the Slurm tasks cannot write into the work dir ")
    assert "Traceback" not in r.stderr
    assert list(yaff.work.iterdir()) == []


def test_a_dry_run_checks_the_cluster_and_submits_nothing(slurm: Cluster, sources, yaff,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
    before = slurm.run("squeue", "-h", "-t", "all", "-o", "%i").stdout.split()
    for partition, code in ((slurm.partition, 0), ("nosuch", 1)):
        r = yaff("--dry-run", "--backend", "slurm", "--partition", partition, "--file", sources["vhs"], "-o",
                 yaff.work.parent / "o.mkv", "--segment-length", "2", "-c:v", "ffv1")
        assert r.returncode == code, r.stderr
        if code:
            assert "PROBLEM: Slurm partition 'nosuch' does not exist" in r.stderr
        else:
            assert f"slurm: partition {slurm.partition}: ok" in r.stderr
    assert slurm.run("squeue", "-h", "-t", "all", "-o", "%i").stdout.split() == before
    assert list(yaff.work.iterdir()) == []
