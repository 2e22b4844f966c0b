"""A shelf of inputs in one run, on the real sshd fleet: the good ones exact, a broken one
named and not in the way, a rerun that skips what is done."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import media
from tests.integration.conftest_fleet import fleet  # noqa: F401

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

LOSSLESS = ["-c:v", "ffv1", "-c:a", "copy"]


def test_three_inputs_one_broken(fleet, yaff, tmp_path: Path) -> None:  # noqa: F811
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    good = [media.vhs_ffv1(shelf / "tape1.mkv", 3), media.h264_open_gop(shelf / "tape2.mkv", 3)]
    (shelf / "tape3.mkv").write_bytes(b"\x1aE\xdf\xa3 not really a video" * 50)
    out, report, events = tmp_path / "out", tmp_path / "report.json", tmp_path / "events.jsonl"
    r = yaff("--hostlist", *fleet.names[:2], "--ssh-config", fleet.ssh_config, "--file", shelf, "-o", out,
             "--segment-length", "1", "--report", report, "--events", events, *LOSSLESS)
    assert r.returncode != 0, r.stderr
    assert "batch: 2 done, 0 skipped, 1 failed, of 3 inputs" in r.stderr
    assert f"{shelf / 'tape3.mkv'}  FAILED: " in r.stderr
    for src in good:
        ours = out / f"{src.stem}.yaffmpegp.mkv"
        single = media.single_pass(src, tmp_path / f"single-{src.name}", LOSSLESS)
        assert media.frame_hashes(ours) == media.frame_hashes(single), src
        assert media.decoded_md5(ours, "a:0") == media.decoded_md5(single, "a:0"), src
    assert not (out / "tape3.yaffmpegp.mkv").exists()
    summary = json.loads(report.read_text())["inputs"]
    assert [x["result"] for x in summary] == ["done", "done", "failed"]
    assert all(x["segments"] >= 2 and set(x["hosts"]) == set(fleet.names[:2]) for x in summary[:2]), summary
    # every event of an input's job says which input it belongs to
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    assert {e["input"] for e in lines if e["event"] == "segment_done"} == {1, 2}
    assert [e["number"] for e in lines if e["event"] == "input_started"] == [1, 2, 3]
    assert list(yaff.work.iterdir()) == []  # nothing kept: no segment of the broken one was encoded

    # a rerun skips what is done and tries the broken one again
    done_before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    r = yaff("--hostlist", *fleet.names[:2], "--ssh-config", fleet.ssh_config, "--file", shelf, "-o", out,
             "--segment-length", "1", *LOSSLESS)
    assert r.returncode != 0
    assert "batch: 0 done, 2 skipped, 1 failed, of 3 inputs" in r.stderr
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == done_before
