"""The batch script of a job array: task N encodes segment N.

Every value in it is quoted with shlex.quote; the only text run as shell code is the
user's own --slurm-setup line (through `eval`, so it can `module load` into the task's
environment). The task writes its output under a temporary name and renames it once
ffmpeg succeeded, ffmpeg's -progress to `<name>.progress`, and last a done marker
`<name>.<array job id>.done` holding its exit status, node and start/end times. Exit
statuses of its own say what failed before ffmpeg ran.
"""
from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

UNREADABLE = 92  # the segment cannot be read there: the work dir is not shared with the node
SETUP_FAILED = 93  # the --slurm-setup line failed
NO_FFMPEG = 94  # no ffmpeg on the node
NO_ENCODER = 95  # the node's ffmpeg lacks the encoder
RENAME_FAILED = 96


@dataclass(frozen=True)
class TaskSpec:
    index: int
    name: str  # the segment's name, 00042
    source: str  # the segment's piece of the input (shared work dir)
    part: str  # where ffmpeg writes
    output: str  # where the finished output is renamed to
    args: tuple[str, ...]  # ffmpeg's arguments (writing to `part`, -progress to stdout)


def task_script(workdir: str, tasks: Sequence[TaskSpec], ffmpeg: str, encoder: str | None,
                setup: str | None) -> str:
    q = shlex.quote
    cases = []
    for t in tasks:
        cases.append(f"  {t.index})\n"
                     f"    name={q(t.name)} src={q(t.source)} part={q(t.part)} out={q(t.output)}\n"
                     f"    set -- {' '.join(q(a) for a in t.args)} ;;")
    return f"""#!/bin/bash
# yaffmpegp: one task per segment; the array index is the segment's index
dir={q(workdir)}
ffmpeg={q(ffmpeg)}
encoder={q(encoder or "")}
setup={q(setup or "")}
node=${{SLURMD_NODENAME:-$(hostname)}}
started=$(date +%s.%N)
case "$SLURM_ARRAY_TASK_ID" in
{chr(10).join(cases)}
  *) echo "yaffmpegp: no segment $SLURM_ARRAY_TASK_ID in this job" >&2; exit 91 ;;
esac
mark() {{
  printf '%s %s %s %s\\n' "$1" "$node" "$started" "$(date +%s.%N)" > "$dir/$name.$SLURM_ARRAY_JOB_ID.tmp" &&
    mv -f -- "$dir/$name.$SLURM_ARRAY_JOB_ID.tmp" "$dir/$name.$SLURM_ARRAY_JOB_ID.done"
  exit "$1"
}}
if ! cd -- "$dir" 2>/dev/null || [ ! -r "$src" ]; then
  echo "yaffmpegp: node $node cannot read $src" >&2
  mark {UNREADABLE}
fi
if [ -n "$setup" ]; then
  eval "$setup" || {{ echo "yaffmpegp: the --slurm-setup line failed on node $node" >&2; mark {SETUP_FAILED}; }}
fi
if ! command -v -- "$ffmpeg" >/dev/null 2>&1; then
  echo "yaffmpegp: no $ffmpeg on node $node" >&2
  mark {NO_FFMPEG}
fi
if [ -n "$encoder" ] && ! "$ffmpeg" -hide_banner -encoders 2>/dev/null | grep -q -- " $encoder "; then
  echo "yaffmpegp: the ffmpeg on node $node has no encoder $encoder" >&2
  mark {NO_ENCODER}
fi
rm -f -- "$part"
"$ffmpeg" "$@" > "$dir/$name.progress"
rc=$?
if [ "$rc" -eq 0 ]; then
  mv -f -- "$part" "$out" || rc={RENAME_FAILED}
else
  rm -f -- "$part"
fi
mark "$rc"
"""


@dataclass(frozen=True)
class Marker:
    """What a task's done marker says."""

    status: int
    node: str
    seconds: float


def parse_marker(text: str) -> Marker | None:
    """None for a marker that is not whole (it is written under another name, then renamed:
    that should not happen)."""
    fields = text.split()
    if len(fields) < 4:
        return None
    try:
        return Marker(int(fields[0]), fields[1], max(0.0, float(fields[3]) - float(fields[2])))
    except ValueError:
        return None
