"""What segment length costs in output size and quality (issue 10, goal 6).

Each segment is encoded on its own, so it starts with a keyframe and the encoder's rate
control and lookahead start afresh: short segments cost bits (ExCamera measured +59-80 %
for tiny chunks). Here, for two kinds of content (clean synthetic motion, and the same with
film-like grain), a single pass and yaffmpegp at 2, 5, 10 and 50 s segments, same CRF:
output size over the single pass's, and SSIM against the source of each (the single pass's
for comparison). Sizes and SSIM do not depend on the machine's load.
Usage: python bench/seglen.py [--seconds S] [--crf N]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

LENGTHS = (2, 5, 10, 50)
CONTENT = {
    "clean motion": "testsrc2=size=480x270:rate=25",
    "grainy": "testsrc2=size=480x270:rate=25,noise=alls=8:allf=t",
}


def make_source(path: Path, lavfi: str, seconds: int) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y",
                    "-f", "lavfi", "-i", f"{lavfi},trim=duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "12", "-g", "50", "-c:a", "aac",
                    str(path)], check=True)


def ssim(out: Path, src: Path) -> float:
    r = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-i", str(out), "-i", str(src),
                        "-lavfi", "[0:v][1:v]ssim", "-f", "null", "-"], capture_output=True, text=True, check=True)
    return float(re.findall(r"All:([0-9.]+)", r.stderr)[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=100)
    ap.add_argument("--crf", default="23")
    a = ap.parse_args()
    opts = ["-c:v", "libx264", "-preset", "veryfast", "-crf", a.crf, "-c:a", "copy"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="yaffmpegp-seglen-") as tmp:
        d = Path(tmp)
        for name, lavfi in CONTENT.items():
            src = d / "src.mp4"
            make_source(src, lavfi, a.seconds)
            single = d / "single.mp4"
            subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *opts, str(single)], check=True)
            base_size, base_ssim = single.stat().st_size, ssim(single, src)
            print(f"{name}: single pass {base_size / 1e6:.2f} MB, SSIM {base_ssim:.5f}", flush=True)
            for length in LENGTHS:
                out = d / f"seg{length}.mp4"
                subprocess.run([sys.executable, "-m", "yaffmpegp", "--file", str(src), "-o", str(out), "-y",
                                "--quiet", "--segment-length", str(length), *opts], check=True)
                size, q = out.stat().st_size, ssim(out, src)
                rows.append((name, length, size / base_size, q, q - base_ssim))
                print(f"  {length:3d} s segments: {size / 1e6:.2f} MB ({size / base_size:.3f}x), "
                      f"SSIM {q:.5f} ({q - base_ssim:+.5f})", flush=True)
    print(f"\nsegment length vs a single pass, libx264 -preset veryfast -crf {a.crf}, {a.seconds} s of 480x270:")
    print(f"{'content':14s} {'segment':>8s} {'size ratio':>11s} {'SSIM delta':>11s}")
    for name, length, ratio, _, delta in rows:
        print(f"{name:14s} {length:6d} s {ratio:11.3f} {delta:+11.5f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
