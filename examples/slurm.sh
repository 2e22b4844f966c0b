#!/usr/bin/env bash
# Encode a lecture recording (or any long video) on a Slurm cluster, from its login node.
# The work dir must be on a filesystem the nodes share; each segment is one task of a job
# array; the joined output is what a single ffmpeg pass would give.
#
#   examples/slurm.sh INPUT [OUTPUT] [more yaffmpegp options]
#
# Environment: WORKDIR (default /scratch/$USER/yaffmpegp), PARTITION (default: the cluster's),
# CPUS per task (4), PARALLEL tasks at once (20), LIMIT per task (30:00),
# SETUP, a line each task runs first (default: module load ffmpeg, when `module` exists here).
set -euo pipefail
src=${1:?usage: $0 INPUT [OUTPUT] [yaffmpegp options]}
out=${2:-${src%.*}.slurm.mp4}
shift $(( $# >= 2 ? 2 : 1 ))
workdir=${WORKDIR:-/scratch/$USER/yaffmpegp}
mkdir -p "$workdir"
slurm=(--backend slurm --workdir "$workdir" --cpus-per-task "${CPUS:-4}" --max-parallel "${PARALLEL:-20}"
       --time-limit "${LIMIT:-30:00}")
[ -n "${PARTITION:-}" ] && slurm+=(--partition "$PARTITION")
setup=${SETUP-$(type module >/dev/null 2>&1 && echo 'module load ffmpeg' || true)}
[ -n "$setup" ] && slurm+=(--slurm-setup "$setup")
yaffmpegp=$(command -v yaffmpegp || echo "$(dirname "$0")/../.venv/bin/yaffmpegp")
# Two-minute segments: each task costs the scheduler about a second, so long segments keep
# that overhead near 1 %. x264 segments joined exactly need the same settings everywhere.
exec "$yaffmpegp" "${slurm[@]}" --segment-length 120 --file "$src" -o "$out" "$@" \
  -c:v libx264 -preset medium -crf 21 -pix_fmt yuv420p -c:a aac -b:a 128k
