"""--dry-run: check every host and input and show the plan, changing nothing anywhere.

Each input is probed, its options tried on a short sample (in a temp dir, removed after),
and its cuts planned from the packet index, without splitting. Each host is opened as for a
run (connect, host key, ffmpeg and the encoder, a private work dir) and asked its ffmpeg
version and the free space where its work dir is, then closed; a dry run does not tidy what
other runs left on a host. The result is a list of lines and whether a run could work.
"""
from __future__ import annotations

import asyncio
import shlex
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .context import context_frames
from .errors import InputError, YaffError
from .ffopts import RoutedOptions
from .plan import Plan
from .preflight import Preflight, run_preflight
from .probe import MediaInfo, probe_media, probe_packets
from .settings import Settings
from .window import default_workdir_base
from .transport import HostRequirements, Transport
from .transport.factory import TransportFactory

@dataclass(frozen=True)
class InputPlan:
    input: Path
    output: Path
    media: MediaInfo
    pre: Preflight
    plan: Plan

    @property
    def largest_bytes(self) -> int:
        """About the biggest segment's piece: its share of the file by frames."""
        size = self.input.stat().st_size
        return size * max(self.plan.frames) // max(1, self.plan.total_frames)


@dataclass
class DryRun:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        self.problems.append(text)
        self.lines.append(f"  PROBLEM: {text}")


async def dry_run(s: Settings, jobs: Sequence[tuple[Path, Path]], make_transports: TransportFactory,
                  batch: bool = False) -> DryRun:
    """`jobs`: (input, output) pairs; in a `batch`, an existing output is skipped, not a problem."""
    from .job import check_command, for_segments

    routed = for_segments(check_command(s))
    out = DryRun()
    base = s.workdir or default_workdir_base()
    with tempfile.TemporaryDirectory(prefix="yaffmpegp-dry-run-", dir=base) as tmp:
        hosts_dir = Path(tmp) / "hosts"
        hosts_dir.mkdir()
        transports = make_transports(s, hosts_dir)
        slots = (s.slurm.max_parallel or 0) if s.slurm is not None else sum(t.slots for t in transports)
        plans: list[InputPlan] = []
        for n, (src, dst) in enumerate(jobs, 1):
            out.lines.append(f"input {n}/{len(jobs)}: {src} -> {dst}")
            if batch and dst.exists() and not s.overwrite:
                out.lines.append("  skipped: the output exists (use -y to overwrite)")
                continue
            if batch and not dst.parent.exists():  # the batch makes it: check the rest
                out.lines.append(f"  {dst.parent} will be made")
                dst = Path(tmp) / dst.name
            try:
                plans.append(await _plan_input(replace(s, input=src, output=dst), routed, Path(tmp) / str(n), out,
                                               slots))
            except YaffError as exc:
                out.problem(str(exc))
        encoders = sorted({p.pre.encoder for p in plans if p.pre.encoder})
        largest = max((p.largest_bytes for p in plans), default=0)
        if s.slurm is not None:  # the cluster instead of hosts
            from .slurm.commands import dry_check
            lines, problems = await dry_check(s.slurm, max((p.plan.segments for p in plans), default=0))
            out.lines += lines
            for text in problems:
                out.problem(text)
            return _done(out)
        await _check_hosts(transports, HostRequirements(tuple(encoders)), largest, out,
                           {hosts_dir: base})
    return _done(out)


def _done(out: DryRun) -> DryRun:
    out.lines.append("dry run: nothing was changed; " + (
        "the run can start" if out.ok else f"{len(out.problems)} problem(s) found"))
    return out


async def _plan_input(s: Settings, routed: RoutedOptions, tmp: Path, out: DryRun, slots: int) -> InputPlan:
    from .job import check_paths, plan_video  # (job imports the transports; a dry run needs only these)
    from .timing import work_out

    check_paths(s)
    media = await probe_media(s.input, s.ffprobe)
    if not media.video_streams:
        raise InputError(f"{s.input}: no video stream")
    tmp.mkdir()
    pre = await run_preflight(media, routed, s.output, tmp, s.ffmpeg, s.ffprobe)
    vstream = media.stream(pre.video_in)
    if pre.encoder is None:
        out.lines.append("  the video is copied, not encoded: one ffmpeg runs here, no host is used")
        return InputPlan(s.input, s.output, media, pre, Plan((), (0,), 0))
    packets = await probe_packets(s.input, pre.video_in, s.ffprobe)
    plan = plan_video(s, routed, vstream, packets, slots)
    before, after = context_frames(routed.video_filter, vstream.frame_rate, s.context)  # (to show them)
    rate = f"{float(vstream.frame_rate):.3f} fps" if vstream.frame_rate else "variable rate"
    named = "as named" if routed.video_codec else f"ffmpeg's choice for {s.output.suffix or 'the output'}"
    out.lines.append(f"  video: stream {pre.video_in}, {vstream.codec_name} {vstream.width}x{vstream.height}, "
                     f"{rate}, {media.duration or 0:.3f} s; encoded with {pre.encoder} ({named})")
    if before or after:
        out.lines.append(f"  context: {before} frame(s) before and {after} after each segment for the filters")
    encoder = [] if routed.video_codec else ["-c:v", pre.encoder]
    vf = ["-vf", routed.video_filter] if routed.video_filter else []
    out.lines.append(f"  each segment: ffmpeg -i PIECE {shlex.join([*vf, *encoder, *routed.segment])} "
                     f"SEGMENT.{pre.ext}")
    retimed = work_out(media, pre, routed, plan).retimed
    if retimed is not None:
        out.lines.append(f"  frame timing: the output's {retimed.frames} frames at {float(retimed.rate):.3f} fps, "
                         "where a single pass puts them (worked out from the timestamps)")
    out.lines.append(f"  {plan.segments} segment(s), {plan.total_frames} source frames (cuts on keyframes):")
    first = 0
    for k, (cut, frames) in enumerate(zip(plan.cuts, plan.frames)):
        start = (cut.pts - plan.cuts[0].pts) * vstream.time_base
        end = (plan.cuts[k + 1].pts - plan.cuts[0].pts) * vstream.time_base if k + 1 < plan.segments else None
        span = f"{float(start):.3f}-{float(end):.3f} s" if end is not None else f"{float(start):.3f} s to the end"
        writes = f", writes {retimed.segments[k].frames}" if retimed is not None else ""
        out.lines.append(f"    segment {k}: frames {first}-{first + frames - 1} ({frames}){writes}, {span}")
        first += frames
    return InputPlan(s.input, s.output, media, pre, plan)


async def _check_hosts(transports: list[Transport], req: HostRequirements, largest: int, out: DryRun,
                       shown: dict[Path, Path]) -> None:
    """`shown`: dirs to name otherwise (the local workers' temp dir: where a run's would be)."""
    out.lines.append(f"hosts ({len(transports)}), needing {', '.join(req.encoders) or 'ffmpeg'}:")
    for t in transports:
        t.tidy = False
    results = await asyncio.gather(*(_check_host(t, req, largest, shown) for t in transports),
                                   return_exceptions=True)
    for t, r in zip(transports, results):
        if isinstance(r, YaffError):
            out.problem(f"{t.label}: {r.message}")
        elif isinstance(r, BaseException):
            raise r
        elif r[1]:
            out.lines.append(f"  {t.label}: {r[0]}: ok")
        else:
            out.problem(f"{t.label}: {r[0]}")


async def _check_host(t: Transport, req: HostRequirements, largest: int,
                      shown: dict[Path, Path]) -> tuple[str, bool]:
    """What the host offers, and whether it has room for its share of the work."""
    try:
        await t.open(req)
        where = Path(t.path("x")).parent.parent  # where the host makes its private dirs
        where = shown.get(where, where)
        info = await t.describe()
    finally:
        await t.close()
    need = 2 * largest * t.slots  # a piece and its encoded segment per slot, about
    free = info.free_bytes
    text = f"{info.ffmpeg_version or 'ffmpeg'}, {t.slots} slot(s)"
    if free is None:
        return f"{text}, free space unknown", True
    if free < need:
        return f"{text}: not enough space in {where}: {free / 1e6:.0f} MB free, about {need / 1e6:.0f} MB needed", False
    return f"{text}, {free / 1e9:.1f} GB free in {where}", True

