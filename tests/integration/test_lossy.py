"""Lossy encodes as users run them: frame counts, durations and audio length equal a single
pass, including filters that change the frame rate."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import media

pytestmark = pytest.mark.slow


def _audio_samples(path: Path) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                          "frame=nb_samples", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return sum(int(x.strip(",")) for x in out.split())


@pytest.mark.parametrize("vf,factor", [("bwdif", 2), ("bwdif=mode=send_frame", 1)])
def test_vhs_deinterlace_to_h264_aac_mp4(vf: str, factor: int, sources, yaff, tmp_path: Path) -> None:
    src = sources["vhs"]
    opts = ["-vf", vf, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]
    ours = tmp_path / "ours.mp4"
    single = media.single_pass(src, tmp_path / "single.mp4", opts)
    r = yaff("--file", src, "-o", ours, "--segment-length", "1", *opts)
    assert r.returncode == 0, r.stderr
    n = media.count_frames(ours)
    assert n == media.count_frames(single) == factor * media.count_frames(src)
    a, b = media.probe(ours), media.probe(single)
    assert [s["codec_name"] for s in a["streams"]] == [s["codec_name"] for s in b["streams"]] == ["h264", "aac"]
    assert a["streams"][0]["r_frame_rate"] == b["streams"][0]["r_frame_rate"]
    assert float(a["format"]["duration"]) == pytest.approx(float(b["format"]["duration"]), abs=0.034)
    # audio encoded once: exactly as many samples as a single pass (per-segment AAC would add
    # 1024 priming samples at every join)
    assert _audio_samples(ours) == _audio_samples(single)


def test_user_map_picks_streams_in_users_order(sources, yaff, tmp_path: Path) -> None:
    src = sources["mkv"]
    opts = ["-map", "0:a:1", "-map", "0:v", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30",
            "-c:a", "copy", "-metadata", "title=Renamed"]
    ours = tmp_path / "ours.mkv"
    single = media.single_pass(src, tmp_path / "single.mkv", opts)
    r = yaff("--file", src, "-o", ours, "--segment-length", "2", *opts)
    assert r.returncode == 0, r.stderr
    a, b = media.probe(ours), media.probe(single)
    shape = [(s["codec_type"], s.get("tags", {}).get("language")) for s in a["streams"]]
    assert shape == [(s["codec_type"], s.get("tags", {}).get("language")) for s in b["streams"]]
    assert shape == [("audio", "ger"), ("video", None)]
    assert a["format"]["tags"]["title"] == "Renamed"
    assert media.count_frames(ours, "v:0") == media.count_frames(single, "v:0")


def test_default_output_name_and_hostile_file_name(tmp_path: Path, yaff) -> None:
    """A name with spaces, quotes and $() works and runs nothing; the default output goes
    next to the input as <stem>.yaffmpegp<ext>."""
    d = tmp_path / "in"
    d.mkdir()
    src = media.h264_open_gop(d / "a $(touch PWNED) 'b' \"c\" ü.mp4", seconds=3)
    res = yaff("--file", src, "--segment-length", "1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy")
    assert res.returncode == 0, res.stderr
    out = d / "a $(touch PWNED) 'b' \"c\" ü.yaffmpegp.mp4"
    assert out.exists()
    assert media.count_frames(out) == 75
    assert not list(tmp_path.rglob("PWNED")) and not Path("PWNED").exists()
