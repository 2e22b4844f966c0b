"""--dry-run on the real sshd fleet: every host checked, the plan printed, nothing changed."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests import media
from tests.integration.conftest_fleet import fleet  # noqa: F401

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy"]


def _tree(*dirs: Path) -> list[str]:
    return sorted(str(p) for d in dirs for p in d.rglob("*"))


def test_dry_run_checks_hosts_and_changes_nothing(fleet, yaff, tmp_path: Path) -> None:  # noqa: F811
    src = media.h264_open_gop(tmp_path / "tape.mkv", 4)
    before = _tree(tmp_path)
    ok = yaff("--hostlist", *fleet.names[:2], "--ssh-config", fleet.ssh_config, "--file", src, "--dry-run",
              "--segment-length", "1", *X264)
    assert ok.returncode == 0, ok.stderr
    assert "segment 0: frames 0-" in ok.stderr and "encoded with libx264 (as named)" in ok.stderr
    for name in fleet.names[:2]:
        assert f"  {name}: ffmpeg version " in ok.stderr and "GB free in" in ok.stderr
    assert ok.stderr.rstrip().endswith("dry run: nothing was changed; the run can start")

    # an ffmpeg without the encoder on every host, and a host with no ffmpeg at all
    bin_dir = Path(tempfile.mkdtemp(prefix="yaff-test-bin-"))  # the hosts (other users) may run it
    os.chmod(bin_dir, 0o755)
    fake = bin_dir / "ffmpeg-without-x264"
    fake.write_text('#!/bin/sh\nif [ "$2" = -encoders ]; then ffmpeg "$@" | grep -v libx264; '
                    'else exec ffmpeg "$@"; fi\n')
    fake.chmod(0o755)
    before = _tree(tmp_path)
    bad = yaff("--hostlist", fleet.names[0], fleet.bare_names[0], "--ssh-config", fleet.ssh_config,
               "--remote-ffmpeg", fake, "--file", src, "--dry-run", *X264)
    assert bad.returncode == 1, bad.stderr
    assert f"PROBLEM: {fleet.names[0]}: ffmpeg has no encoder libx264" in bad.stderr
    assert f"PROBLEM: {fleet.bare_names[0]}: ffmpeg not found" in bad.stderr
    assert "2 problem(s) found" in bad.stderr
    assert _tree(tmp_path) == before  # no output, no work dir, nothing in the temp dir
    assert list(yaff.work.iterdir()) == []
    for name in [*fleet.names, *fleet.bare_names]:
        assert fleet.workdir_leftovers(name) == [], name
    shutil.rmtree(bin_dir)


def test_dry_run_shows_what_each_segment_writes_after_a_rate_change(yaff, tmp_path: Path) -> None:
    """-r 10 on a 10 s, 25 fps clip: a single pass writes 102 frames; the dry run says how
    many each segment writes, and they add up."""
    src = media.h264_open_gop(tmp_path / "clip.mp4", seconds=10)
    opts = ["-r", "10", "-c:v", "libx264", "-preset", "ultrafast", "-an"]
    frames = media.count_frames(media.single_pass(src, tmp_path / "single.mp4", opts))
    r = yaff("--file", src, "-o", tmp_path / "out.mp4", "--dry-run", "--segment-length", "3", *opts)
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert f"the output's {frames} frames at 10.000 fps" in out
    assert sum(int(m) for m in re.findall(r", writes (\d+),", out)) == frames == 102
    assert not (tmp_path / "out.mp4").exists()
