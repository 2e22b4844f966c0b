"""What users type first, each against a real single pass: a phone video that was held
sideways, a colour look-up table and burnt-in subtitles on SSH hosts, and filters that
segments cannot reproduce."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests import media
from tests.integration.conftest_fleet import fleet  # noqa: F401

pytestmark = pytest.mark.slow

LUT = "LUT_3D_SIZE 2\n" + "".join(f"{b * 0.9:.1f} {g * 0.8:.1f} {r * 0.7:.1f}\n"
                                  for r in (0, 1) for g in (0, 1) for b in (0, 1))


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.phone_rotated(tmp_path_factory.mktemp("phone") / "phone.mp4")


@pytest.mark.parametrize("input_opts,opts,ext", [
    ([], ["-c:v", "ffv1", "-c:a", "copy"], ".mkv"),  # autorotated: upright, 180x320
    (["-noautorotate"], ["-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-c:a", "copy"], ".mp4"),
])
def test_phone_video_turned_as_a_single_pass_turns_it(input_opts, opts, ext, phone, yaff, tmp_path) -> None:
    assert media.video_shape(phone) == (320, 180, 90.0)
    single = tmp_path / f"single{ext}"
    media._run(media.FF + [*input_opts, "-i", str(phone), *opts, str(single)])
    ours = tmp_path / f"ours{ext}"
    r = yaff("--file", phone, "-o", ours, "--segment-length", "1", *opts, *input_opts)
    assert r.returncode == 0, r.stderr
    assert media.video_shape(ours) == media.video_shape(single)
    assert media.video_shape(ours) == ((180, 320, 0.0) if not input_opts else (320, 180, 90.0))
    assert media.frame_hashes(ours) == media.frame_hashes(single)
    assert media.decoded_md5(ours, "a:0") == media.decoded_md5(single, "a:0")


@pytest.mark.fleet
def test_files_named_in_filters_reach_the_ssh_hosts(fleet, sources, yaff, tmp_path, monkeypatch) -> None:  # noqa: F811
    """A LUT given by a relative path and subtitles burnt in: each host gets its own copy
    (the hosts cannot read the coordinator's files) and the output equals a single pass."""
    (tmp_path / "look.cube").write_text(LUT)
    shutil.copy(sources["h264"], tmp_path / "clip.mp4")
    (tmp_path / "subs, final.srt").write_text("1\n00:00:00,500 --> 00:00:05,000\nHello, tape\n")
    monkeypatch.chdir(tmp_path)  # the filters name the files relative to the working directory
    vf = "lut3d=look.cube,subtitles=filename='subs, final.srt'"
    opts = ["-vf", vf, "-c:v", "ffv1", "-c:a", "copy"]
    single = media.single_pass(Path("clip.mp4"), tmp_path / "single.mkv", opts)
    r = yaff("--hostlist", *fleet.names, "--ssh-config", fleet.ssh_config, "--file", "clip.mp4",
             "-o", tmp_path / "ours.mkv", "--segment-length", "1", *opts)
    assert r.returncode == 0, r.stderr
    assert media.frame_hashes(tmp_path / "ours.mkv") == media.frame_hashes(single)
    for name in fleet.names:
        assert fleet.workdir_leftovers(name) == [], f"files left on {name}"


@pytest.mark.parametrize("opts,words", [
    (["-vf", "weave"], "make 4 frames of 9 source frames"),  # halves the frame count
    (["-r", "30", "-ss", "1"], "frame-rate or speed change (-r, fps, setpts) with -ss/-t/-to"),
    (["-vf", "setpts=PTS+0.5/TB"], "'setpts' cannot be split"),  # not a speed: not worked out ahead
    (["-vf", "scale=160:-2,select='not(mod(n\\,7))'"], "'select' cannot be split"),
])
def test_what_segments_cannot_reproduce_is_refused_before_any_work(opts, words, sources, yaff, tmp_path) -> None:
    """Filters that change the frame count by a factor that is not whole, or count frames
    from the start, would give a different result at every join: one line, exit 2, and
    nothing written."""
    r = yaff("--file", sources["vhs"], "-o", tmp_path / "out.mkv", "--segment-length", "1.5",
             *opts, "-c:v", "ffv1")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("yaffmpegp: error:") and words in lines[0], r.stderr
    assert not (tmp_path / "out.mkv").exists() and list(yaff.work.iterdir()) == []


@pytest.mark.parametrize("source", ["ts", "h264"])
@pytest.mark.parametrize("audio", [["-an"], ["-c:a", "copy"]])
def test_filters_that_look_at_the_time_see_the_single_pass_timeline(source, audio, sources, yaff, tmp_path) -> None:
    """A fade at 1 s and a hue that turns with the time: segments keep the source's
    timestamps (MPEG-TS starts near 1.4 s, MP4 with B-frames is shifted by its muxer), and
    the filters must still see the times a single pass shows them."""
    opts = ["-vf", "fade=t=in:st=1:d=1,hue=H=t", "-c:v", "ffv1", *audio]
    single = media.single_pass(sources[source], tmp_path / "single.mkv", opts)
    r = yaff("--file", sources[source], "-o", tmp_path / "ours.mkv", "--segment-length", "1", *opts)
    assert r.returncode == 0, r.stderr
    assert media.frame_hashes(tmp_path / "ours.mkv") == media.frame_hashes(single)


def _vfr_run(yaff, tmp_path: Path, ext: str, opts: list[str]) -> tuple[Path, Path]:
    src = media.phone_vfr(tmp_path / "vfr.mp4")
    single = media.single_pass(src, tmp_path / f"single{ext}", opts)
    ours = tmp_path / f"ours{ext}"
    r = yaff("--file", src, "-o", ours, "--segment-length", "1", *opts)
    assert r.returncode == 0, r.stderr
    return ours, single


@pytest.mark.parametrize("ext,opts", [(".mkv", ["-c:v", "ffv1", "-c:a", "copy"]),
                                      (".mp4", ["-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-an"])])
def test_variable_frame_rate_phone_video(ext, opts, yaff, tmp_path) -> None:
    """Dropped frames and timestamps off the grid, as phones record: the same frames as a
    single pass, with the same time base."""
    ours, single = _vfr_run(yaff, tmp_path, ext, opts)
    assert media.frame_hashes(ours) == media.frame_hashes(single)
    assert [s["time_base"] for s in media.probe(ours)["streams"]] == \
        [s["time_base"] for s in media.probe(single)["streams"]]


@pytest.mark.parametrize("ext,opts", [(".mkv", ["-c:v", "ffv1", "-c:a", "copy"]),
                                      (".mp4", ["-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-an"])])
def test_variable_frame_rate_timestamps(ext, opts, yaff, tmp_path) -> None:
    """A single pass moves frames onto its encoder's grid, drops those that fall on a taken
    slot (into MKV) or repeats frames over the gaps (into MP4): the same timestamps here."""
    ours, single = _vfr_run(yaff, tmp_path, ext, opts)
    assert media.video_pts(ours) == media.video_pts(single)


def test_video_starting_after_its_audio_into_mp4(sources, yaff, tmp_path) -> None:
    """The MKV's video starts 23 ms after its audio: into MP4 ffmpeg keeps a constant rate
    from 0 and shows the first frame twice. The same frames at the same times here."""
    opts = ["-map", "0:v", "-map", "0:a:1", "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-c:a", "aac"]
    single = media.single_pass(sources["mkv"], tmp_path / "single.mp4", opts)
    ours = tmp_path / "ours.mp4"
    r = yaff("--file", sources["mkv"], "-o", ours, "--segment-length", "1", *opts)
    assert r.returncode == 0, r.stderr
    frames = media.frames_with_times(ours)
    assert frames == media.frames_with_times(single)
    assert frames[0][1] == frames[1][1]  # the first frame, twice
