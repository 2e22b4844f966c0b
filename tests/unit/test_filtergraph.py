"""Reading the user's -vf as ffmpeg does: filters, file options, what cannot be split."""
import subprocess

import pytest

from yaffmpegp import filtergraph as g
from yaffmpegp.errors import UsageError


def test_parse_keeps_escapes_and_quotes() -> None:
    chain = "scale=640:-2,subtitles=filename='my subs, v2.srt',select='not(mod(n\\,7))'"
    assert [(f.name, f.args) for f in g.parse(chain)] == [
        ("scale", "640:-2"), ("subtitles", "filename='my subs, v2.srt'"), ("select", "'not(mod(n\\,7))'")]
    assert [o.received for o in g.parse(chain)[2].options] == ["not(mod(n,7))"]


def test_unbalanced_quote_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        g.parse("subtitles='a.srt")


def test_named_files_by_key_and_position() -> None:
    chain = ("lut3d=look.cube:interp=tetrahedral,subtitles=filename='my subs, v2.srt',"
             "drawtext=fontfile=/f/a b.ttf:text=hi,movie=logo.png,scale=w=100:h=-2")
    assert g.named_files(chain) == ["look.cube", "my subs, v2.srt", "/f/a b.ttf", "logo.png"]


def test_with_files_points_filters_at_new_places_and_leaves_the_rest() -> None:
    chain = "[in]scale=640:-2,lut3d=look.cube:interp=tetrahedral,subtitles=filename='s.srt'"
    new = g.with_files(chain, {"look.cube": "/w/it's, [a].cube", "s.srt": "/w/s.srt"})
    assert new.startswith("[in]scale=640:-2,lut3d=")
    assert g.named_files(new) == ["/w/it's, [a].cube", "/w/s.srt"]
    assert [f.name for f in g.parse(new)] == ["scale", "lut3d", "subtitles"]
    assert g.parse(new)[1].options[1] == g.Option("interp", "tetrahedral", 1)


def test_rewritten_hostile_path_is_read_by_ffmpeg(tmp_path) -> None:
    cube = tmp_path / "it's, [a] $(x).cube"
    cube.write_text("LUT_3D_SIZE 2\n" + "".join(f"{b} {gg} {r}\n" for r in (0, 1) for gg in (0, 1) for b in (0, 1)))
    vf = g.with_files("lut3d=look.cube", {"look.cube": str(cube)})
    run = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=d=0.2:s=64x64", "-vf", vf,
                          "-f", "null", "-"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("chain,why", [
    ("select='not(mod(n\\,7))'", "drops frames"),
    ("setpts=0.5*PTS", "timestamps"),
    ("fps=30", "frame rate"),
    ("drawtext=text='frame %{n}'", "%{n}"),
    ("overlay=x='if(gte(n,10),0,10)'", "counts frames"),
    ("fade=in:0:25", "counts frames"),
    ("zoompan=d=2", "several frames"),
])
def test_unsplittable(chain: str, why: str) -> None:
    reasons = [g.unsplittable(f) for f in g.parse(chain)]
    assert reasons[0] is not None and why in reasons[0]


@pytest.mark.parametrize("chain", ["bwdif", "yadif=mode=send_field", "hqdn3d=4:3:6:4.5", "crop=in_w/2:in_h",
                                   "scale=640:-2:flags=lanczos", "fade=t=in:st=0:d=1", "transpose=clock",
                                   "drawtext=text='hello':fontsize=20", "lut3d=file=n.cube"])
def test_splittable(chain: str) -> None:
    assert [g.unsplittable(f) for f in g.parse(chain)] == [None] * len(g.parse(chain))


@pytest.mark.parametrize("chain,before,after,expected", [
    ("scale=100:-2", "trim=start_pts=5", "trim=start=1", "trim=start_pts=5,scale=100:-2,trim=start=1"),
    ("movie=logo.png[wm];[in][wm]overlay=10:10", "trim=start_pts=5", "trim=start=1",
     "trim=start_pts=5[yaff_in];movie=logo.png[wm];[yaff_in][wm]overlay=10:10,trim=start=1"),
    ("[in]scale=100:-2[out]", "trim=start_pts=5", "",
     "trim=start_pts=5[yaff_in];[yaff_in]scale=100:-2[yaff_out];[yaff_out]null"),
    (None, "trim=start_pts=5", "", "trim=start_pts=5"),
])
def test_wrap_puts_our_filters_around_chains_and_graphs(chain, before, after, expected) -> None:
    assert g.wrap(chain, before, after) == expected


def test_a_graph_of_several_chains_must_name_its_input() -> None:
    with pytest.raises(UsageError, match=r"\[in\]"):
        g.wrap("movie=logo.png[wm];[wm]overlay", "trim=start_pts=5", "")
