"""The CLI on a real sshd fleet: each host is its own unix user that cannot read the
coordinator's files, so a local path leaking into a remote command fails here as it would
across machines."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests import media
from tests.signals import interrupt_when
from tests.integration.conftest_fleet import fleet  # noqa: F401

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

LOSSLESS = ["-c:v", "ffv1", "-c:a", "copy"]
FAST = ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy"]


def _per_host(report: Path) -> dict[str, int]:
    """Segments each host encoded, from the --report file (hosts left out are not listed)."""
    hosts = json.loads(report.read_text())["hosts"]
    return {h: v["segments"] for h, v in hosts.items() if not v["left_out"]}


def _nothing_left(fleet) -> None:  # noqa: F811
    for name in fleet.names:
        assert fleet.host_processes(name, "ffmpeg") == [], f"ffmpeg left running on {name}"
        assert fleet.workdir_leftovers(name) == [], f"files left on {name}"


def test_three_hosts_exact_output(fleet, sources, yaff, tmp_path: Path) -> None:  # noqa: F811
    src = sources["h264"]
    ours = tmp_path / "ours.mkv"
    single = media.single_pass(src, tmp_path / "single.mkv", LOSSLESS)
    report, events = tmp_path / "report.json", tmp_path / "events.jsonl"
    r = yaff("--hostlist", *fleet.names, "--ssh-config", fleet.ssh_config, "--file", src, "-o", ours,
             "--segment-length", "1", "--report", report, "--events", events, *LOSSLESS)
    assert r.returncode == 0, r.stderr
    assert media.frame_hashes(ours) == media.frame_hashes(single)
    assert media.decoded_md5(ours, "a:0") == media.decoded_md5(single, "a:0")
    done = _per_host(report)
    assert set(done) == set(fleet.names) and all(n >= 1 for n in done.values()), done
    # the events list every segment exactly once as done; the report adds up to the plan
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    planned = [e for e in lines if e["event"] == "planned"]
    assert len(planned) == 1
    finished = sorted(e["segment"] for e in lines if e["event"] == "segment_done")
    assert finished == list(range(planned[0]["segments"]))
    assert sorted({e["segment"] for e in lines if e["event"] == "uploaded"}) == finished
    assert not [e for e in lines if e["event"] == "tick"]
    summary = json.loads(report.read_text())
    assert sum(h["segments"] for h in summary["hosts"].values()) == planned[0]["segments"] == summary["segments"]
    assert sum(h["frames"] for h in summary["hosts"].values()) == planned[0]["frames"] == media.count_frames(ours)
    assert all(h["bytes_up"] > 0 and h["bytes_down"] > 0 for h in summary["hosts"].values())
    assert summary["checks"] and summary["speedup_over_best_host"] > 0
    _nothing_left(fleet)
    assert list(yaff.work.iterdir()) == []


def test_hostile_file_name_over_ssh(fleet, yaff, tmp_path: Path) -> None:  # noqa: F811
    d = tmp_path / "in"
    d.mkdir()
    src = media.h264_open_gop(d / "tape $(touch PWNED) \"one\" it's ü.mp4", seconds=3)
    r = yaff("--hostlist", *fleet.names[:2], "--ssh-config", fleet.ssh_config, "--file", src,
             "--segment-length", "1", *FAST)
    assert r.returncode == 0, r.stderr
    assert media.count_frames(d / "tape $(touch PWNED) \"one\" it's ü.yaffmpegp.mp4") == 75
    for name in fleet.names:
        assert not list(Path(fleet.host(name).home).rglob("PWNED"))
    assert not list(tmp_path.rglob("PWNED"))
    _nothing_left(fleet)


def test_bad_hosts_are_left_out_and_the_run_finishes(fleet, sources, yaff, tmp_path: Path) -> None:  # noqa: F811
    """A host without ffmpeg and an unreachable host are each reported in one line; the run
    finishes on the rest."""
    out = tmp_path / "out.mp4"
    bare = fleet.bare_names[0]
    report = tmp_path / "report.json"
    r = yaff("--hostlist", fleet.names[0], bare, "127.0.0.1:1", "--ssh-config", fleet.ssh_config,
             "--file", sources["h264"], "-o", out, "--segment-length", "2", "--report", report, *FAST)
    assert r.returncode == 0, r.stderr
    assert re.search(rf"warning: {bare} left out: .*ffmpeg not found", r.stderr), r.stderr
    assert re.search(r"warning: 127\.0\.0\.1:1 left out: .*(refused|unreachable|connect)", r.stderr, re.I), r.stderr
    assert list(_per_host(report)) == [fleet.names[0]]
    assert media.count_frames(out) == media.count_frames(sources["h264"])
    _nothing_left(fleet)


def test_wrong_host_key_is_refused(fleet, sources, yaff, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "out.mp4"
    r = yaff("--hostlist", "h1", "--ssh-config", fleet.ssh_config, "--known-hosts", fleet.wrong_known_hosts,
             "--file", sources["h264"], "-o", out, *FAST)
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("yaffmpegp: error:")]
    assert len(lines) == 1 and "h1" in lines[0] and "key" in lines[0].lower(), r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_only_unreachable_hosts_is_a_clear_error(yaff, sources, tmp_path: Path) -> None:
    r = yaff("--hostlist", "127.0.0.1:1", "--file", sources["h264"], "-o", tmp_path / "o.mp4", *FAST)
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("yaffmpegp: error: ")
    assert "127.0.0.1:1" in r.stderr.strip().splitlines()[-1]


def test_sigint_mid_run_leaves_nothing_on_hosts(fleet, tmp_path: Path) -> None:  # noqa: F811
    """Ctrl-C while hosts encode: exit 130, remote ffmpegs killed, remote work dirs removed."""
    import subprocess
    import sys

    src = media.vhs_ffv1(tmp_path / "long.mkv", seconds=20)
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "yaffmpegp", "--hostlist", *fleet.names[:2],
                             "--ssh-config", str(fleet.ssh_config), "--file", str(src), "-o", str(out),
                             "--workdir", str(tmp_path), "--segment-length", "2",
                             "-c:v", "libx264", "-preset", "slow", "-c:a", "aac"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = interrupt_when(proc, lambda: any(fleet.host_processes(n, "ffmpeg") for n in fleet.names[:2]),
                         "no host ever started encoding")
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    _nothing_left(fleet)
    assert not out.exists()
    # a segment done before Ctrl-C (the plan's short tail ones can be) is kept to resume from:
    # then the job dir holds only the journal, the encoded segments and the lock
    left = {p.name: p for p in tmp_path.iterdir()}
    assert left.pop("long.mkv")
    assert all(d.name.startswith("yaffmpegp-") and {e.name for e in d.iterdir()} <= {"journal.json", "encoded", "lock"}
               and "kept" in err for d in left.values()), err
