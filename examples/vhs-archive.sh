#!/usr/bin/env bash
# From a VHS capture to an archive file: deinterlaced (one frame per field, as the tape
# moved), mildly denoised, H.264 at a quality setting (or x265), 4:3 kept, FLAC audio.
# Every join is exact: the deinterlacer and the denoiser see the frames around each
# segment (context), as in one long ffmpeg pass.
#
#   examples/vhs-archive.sh CAPTURE.mkv [OUTPUT.mkv] [yaffmpegp options, e.g. --hostlist a b c]
#
# CODEC=x265 for HEVC; CRF=18 by default. FROM and TO cut the blank leader and tail,
# frame-exact (e.g. FROM=4 TO=1:58:30).
set -euo pipefail
src=${1:?usage: $0 CAPTURE [OUTPUT] [yaffmpegp options]}
out=${2:-${src%.*}.archive.mkv}
shift $(( $# >= 2 ? 2 : 1 ))
crf=${CRF:-18}
trim=()
[ -n "${FROM:-}" ] && trim+=(-ss "$FROM")
[ -n "${TO:-}" ] && trim+=(-to "$TO")
case "${CODEC:-x264}" in
  x264) video=(-c:v libx264 -preset slow -crf "$crf" -tune grain -pix_fmt yuv420p) ;;
  x265) video=(-c:v libx265 -preset slow -crf "$crf" -pix_fmt yuv420p) ;;
  *) echo "CODEC must be x264 or x265" >&2; exit 2 ;;
esac
yaffmpegp=$(command -v yaffmpegp || echo "$(dirname "$0")/../.venv/bin/yaffmpegp")
# bwdif: one frame per field (29.97i -> 59.94p); hqdn3d at a mild strength; setdar keeps
# the 4:3 picture of a 720x480 capture whatever its pixel aspect was tagged as.
exec "$yaffmpegp" --file "$src" -o "$out" --segment-length 30 "$@" \
  "${trim[@]}" -vf "bwdif,hqdn3d=2:1.5:3:2.25,setdar=4/3" "${video[@]}" -c:a flac
