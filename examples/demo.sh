#!/usr/bin/env bash
# The main job on a sample: a one-minute 480i VHS-like capture (FFV1, interlaced, PCM audio)
# converted to H.264/AAC MP4 on this machine's cores, then checked against the source.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p demo
src=demo/vhs-sample.mkv
out=demo/vhs-sample.mp4
if [ ! -s "$src" ]; then
  echo "making a one-minute 480i sample: $src"
  ffmpeg -nostdin -hide_banner -v error -y \
    -f lavfi -i "testsrc2=size=720x480:rate=30000/1001:duration=60,setfield=tff" \
    -f lavfi -i "sine=frequency=1000:sample_rate=48000:duration=60" \
    -c:v ffv1 -level 3 -g 1 -field_order tt -c:a pcm_s16le -ac 2 "$src"
fi
set -x
.venv/bin/yaffmpegp --file "$src" -o "$out" -y --segment-length 10 \
  -vf bwdif=mode=send_frame -c:v libx264 -crf 20 -preset veryfast -c:a aac -b:a 192k
set +x
frames() { ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$1"; }
dur() { ffprobe -v error -select_streams "$2" -show_entries stream=duration -of csv=p=0 "$1"; }
fin=$(frames "$src"); fout=$(frames "$out")
echo "demo check: video frames in $fin, out $fout"
echo "demo check: duration in $(ffprobe -v error -show_entries format=duration -of csv=p=0 "$src") s; video out $(dur "$out" v:0) s, audio out $(dur "$out" a:0) s"
[ "$fin" = "$fout" ] || { echo "demo FAILED: frame count differs"; exit 1; }
echo "demo OK: $out"
