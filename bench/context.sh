#!/usr/bin/env bash
# What context buys: temporal filters on split encodes against a single pass, lossless (FFV1),
# 2 s segments, with no context, the default and 8 s. Prints differing frames and the worst
# frame's PSNR, and what the context costs: CPU seconds of the whole run (all processes) over
# the run without context. Sources are made here with lavfi (noise matters: a denoiser on a clean test
# pattern proves little). Usage: bench/context.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
w=${1:-bench/out/context}
mkdir -p "$w"
FF=(ffmpeg -nostdin -hide_banner -v error -y)
yaff=.venv/bin/yaffmpegp
[ -s "$w/noisy480i.mkv" ] || "${FF[@]}" -f lavfi -i "testsrc2=size=720x480:rate=30000/1001:duration=12,noise=alls=20:allf=t" \
  -vf setfield=tff -c:v ffv1 -level 3 -g 1 -field_order tt "$w/noisy480i.mkv"
[ -s "$w/clean.mp4" ] || "${FF[@]}" -f lavfi -i "testsrc2=size=320x240:rate=25:duration=10,noise=alls=3:allf=t" \
  -c:v libx264 -preset veryfast -crf 18 -x264-params keyint=25:open-gop=1:bframes=3 "$w/clean.mp4"
[ -s "$w/clean.ts" ] || "${FF[@]}" -f lavfi -i "testsrc2=size=720x576:rate=25:duration=10,noise=alls=6:allf=t" \
  -vf setfield=tff -c:v mpeg2video -flags +ilme+ildct -top 1 -bf 2 -g 12 -b:v 6M -f mpegts "$w/clean.ts"
hashes() { ffmpeg -v error -i "$1" -map 0:v -f framemd5 - | grep -v '^#' | awk -F, '{print $6}'; }
for row in "noisy480i.mkv|bwdif,hqdn3d" "clean.mp4|bwdif,hqdn3d" "clean.ts|yadif=mode=send_field,hqdn3d=8:6:12:9"; do
  IFS='|' read -r src vf <<< "$row"
  "${FF[@]}" -i "$w/$src" -vf "$vf" -c:v ffv1 -an "$w/single.mkv"
  for ctx in 0 default 8; do
    opt=(); [ "$ctx" = default ] || opt=(--context "$ctx")
    TIMEFORMAT='%U %S'
    cpu=$( { time "$yaff" --quiet --file "$w/$src" -o "$w/ours.mkv" -y --segment-length 2 "${opt[@]}" -vf "$vf" \
             -c:v ffv1 -an 2>/dev/null; } 2>&1 | awk '{print $1 + $2}')
    [ "$ctx" = 0 ] && base=$cpu
    diff=$(paste -d' ' <(hashes "$w/single.mkv") <(hashes "$w/ours.mkv") | awk '$1!=$2{n++} END{print n+0 " of " NR}')
    ffmpeg -v error -i "$w/ours.mkv" -i "$w/single.mkv" -lavfi "psnr=stats_file=$w/psnr.log" -f null -
    worst=$(awk '{for(i=1;i<=NF;i++) if ($i ~ /^psnr_avg:/) {split($i,a,":"); print a[2]}}' "$w/psnr.log" | sort -g | head -1)
    cost=$(awk -v a="$cpu" -v b="$base" 'BEGIN{printf "%.2f", a / b}')
    echo "$src, $vf, context $ctx: $diff frames differ, worst frame ${worst} dB; CPU ${cpu} s, ${cost}x the run without context"
  done
done
