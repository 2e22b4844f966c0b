"""The output is what `ffmpeg -i INPUT <same options> OUTPUT` gives: checked with framemd5,
decoded-audio checksums and ffprobe against a real single pass, on each kind of source."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import media

pytestmark = pytest.mark.slow

# (source, options): lossless video so frames can be compared bit for bit
CASES = {
    "vhs-ffv1-pcm": ("vhs", ["-c:v", "ffv1", "-c:a", "copy"], ".mkv"),
    "h264-open-gop-aac": ("h264", ["-c:v", "ffv1", "-c:a", "copy"], ".mkv"),
    "mpeg2-ts-interlaced": ("ts", ["-c:v", "ffv1", "-c:a", "copy"], ".mkv"),
    "mkv-many-streams": ("mkv", ["-map", "0", "-c:v", "ffv1", "-c:a", "copy", "-c:s", "copy"], ".mkv"),
}


def _streams(info: dict) -> list[tuple]:
    return [(s["codec_type"], s["codec_name"], s.get("tags", {}).get("language"),
             s.get("width"), s.get("height"), s.get("sample_aspect_ratio"), s.get("display_aspect_ratio"),
             s.get("field_order"), s.get("sample_rate"), s.get("channels"))
            for s in info["streams"]]


@pytest.mark.parametrize("case", list(CASES))
def test_lossless_output_is_identical_to_a_single_pass(case: str, sources, yaff, tmp_path: Path) -> None:
    key, opts, ext = CASES[case]
    src = sources[key]
    ours = tmp_path / f"ours{ext}"
    single = media.single_pass(src, tmp_path / f"single{ext}", opts)
    # short segments: several joins, each a chance to drop or double a frame
    r = yaff("--file", src, "-o", ours, "--segment-length", "1.5", *opts)
    assert r.returncode == 0, r.stderr
    assert "checked:" in r.stderr

    a, b = media.probe(ours), media.probe(single)
    assert _streams(a) == _streams(b)
    frames = media.frame_hashes(ours)
    assert len(frames) == len(media.frame_hashes(single)) > 100
    assert frames == media.frame_hashes(single), "video frames differ from a single pass"
    for i, s in enumerate(b["streams"]):
        if s["codec_type"] == "audio":  # every sample: a gap or click at a join would show
            assert media.decoded_md5(ours, f"a:{sum(x['codec_type'] == 'audio' for x in b['streams'][:i])}") == \
                media.decoded_md5(single, f"a:{sum(x['codec_type'] == 'audio' for x in b['streams'][:i])}")
    for sa, sb in zip(a["streams"], b["streams"]):
        assert float(sa["start_time"]) == pytest.approx(float(sb["start_time"]), abs=0.001)
    assert float(a["format"]["duration"]) == pytest.approx(float(b["format"]["duration"]), abs=0.001)
    assert [c.get("tags", {}).get("title") for c in a["chapters"]] == \
        [c.get("tags", {}).get("title") for c in b["chapters"]]
    assert a["format"].get("tags", {}).get("title") == b["format"].get("tags", {}).get("title")
    if key == "mkv":
        assert a["format"]["tags"]["title"] == "Holiday 1994" and len(a["chapters"]) == 3
    # the work dir is gone and nothing was left beside the input
    assert list(yaff.work.iterdir()) == []
    assert sorted(p.name for p in src.parent.iterdir() if p.name.startswith(".")) == []


def test_relative_paths_as_users_type_them(tmp_path: Path) -> None:
    """`--workdir work --file clip.mp4 -o out.mkv` from the current directory: the concat lists
    in the work dir must not name their files relative to the wrong directory (they did: the
    final mux failed with 'joined.ffconcat: No such file or directory')."""
    import subprocess
    import sys
    media.h264_open_gop(tmp_path / "clip.mp4", seconds=3)
    (tmp_path / "work").mkdir()
    opts = ["-c:v", "ffv1", "-c:a", "copy"]
    r = subprocess.run([sys.executable, "-m", "yaffmpegp", "--workdir", "work", "--file", "clip.mp4",
                        "-o", "out.mkv", "--segment-length", "1", *opts], cwd=tmp_path, capture_output=True,
                       text=True, timeout=240, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert r.returncode == 0, r.stderr
    single = media.single_pass(tmp_path / "clip.mp4", tmp_path / "single.mkv", opts)
    assert media.frame_hashes(tmp_path / "out.mkv") == media.frame_hashes(single)
    assert list((tmp_path / "work").iterdir()) == []
