"""One input end to end: check → probe → preflight → plan → split → schedule → join → check."""
from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import stat
from bisect import bisect_left
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from . import filtergraph
from .errors import CheckError, InputError, OutputError, ToolError, UsageError, YaffError, first_error
from .events import Checked, Events, Message, Planned, SegmentDone, Tick
from .ffcmd import segment_args, ticks
from .ffopts import RoutedOptions, option_table, split_options
from .join import FinalMux, check, join
from .joblock import LOCK, JobLock, lock_job_dir, remove_job_dir
from .journal import ENCODED, JOURNAL, RESUMED, Journal, JournalWriter, job_key
from .pipeline import PipelineSettings
from .context import context_frames
from .dispatch import Dispatch, Dispatcher
from .fleet import FleetDispatcher
from .plan import Plan, add_context, plan_at, plan_cuts
from .trim import Kept, Span, kept_frames
from .retime import Clock, Retimed, auto_method, guessed_rate, retime, user_timing, without_timing
from .preflight import Preflight, run_preflight
from .probe import MediaInfo, Packet, Stream, first_error_line, probe_media, probe_packets, run_tool
from .scheduler import WorkQueue
from .segment import Segment
from .settings import Settings
from .split import split
from .transport import HostRequirements
from .transport.factory import TransportFactory, make_transports as default_transports
from .window import UnitWindow, bytes_needed, check_free_space, default_workdir_base


@dataclass(frozen=True)
class JobResult:
    output: Path
    segments: int
    frames: int
    checks: tuple[str, ...]


def check_paths(s: Settings) -> None:
    """Everything about the input and output files that can be known before any work."""
    src = s.input
    if not src.exists():
        raise InputError(f"{src}: no such file")
    if not src.is_file():
        raise InputError(f"{src}: not a regular file")
    if not os.access(src, os.R_OK):
        raise InputError(f"{src}: permission denied")
    if src.stat().st_size == 0:
        raise InputError(f"{src}: the file is empty")
    out = s.output
    if not out.parent.is_dir():
        raise OutputError(f"{out}: the directory {out.parent} does not exist")
    if out.exists() and out.resolve() == src.resolve():
        raise OutputError(f"{out}: the output would overwrite the input")
    if out.exists() and not s.overwrite:
        raise OutputError(f"{out}: already exists (use -y to overwrite)")
    if not os.access(out.parent, os.W_OK):
        raise OutputError(f"{out}: the directory {out.parent} is not writable")


def check_command(s: Settings) -> RoutedOptions:
    """ffmpeg and ffprobe are there and take the user's options: those options, routed."""
    for tool in (s.ffmpeg, s.ffprobe):
        if shutil.which(tool) is None:
            raise ToolError(f"{tool} not found: install ffmpeg (e.g. apt-get install ffmpeg)")
    return split_options(s.ffmpeg_args, option_table(s.ffmpeg))


def for_segments(routed: RoutedOptions) -> RoutedOptions:
    """With a frame-rate or speed change (-r, a trailing setpts or fps), the segments take their
    timing from the single pass's slots (retime.py), not from those options: the options
    the segments get lose them (the single pass's sample and the user's argv keep them)."""
    timing = user_timing(routed.all, routed.video_filter)
    if not timing.asked:
        return routed
    if not routed.span.whole:
        raise UsageError("a frame-rate or speed change (-r, setpts) with -ss/-t/-to is not yet exact: "
                         "trim in a pass of its own")
    segment, chain = without_timing(routed.segment, routed.video_filter)
    return replace(routed, segment=segment, video_filter=chain)


def filter_assets(routed: RoutedOptions) -> tuple[tuple[str, Path], ...]:
    """The files the video filters read (a LUT, subtitles, a font, a logo): each host gets
    its own copy, and its filters are pointed at it."""
    if not routed.video_filter:
        return ()
    return tuple((name, Path(name).resolve()) for name in filtergraph.named_files(routed.video_filter)
                 if Path(name).is_file())


def partial_path(out: Path) -> Path:
    """Where the output is written until it passed its checks (same directory, same
    extension so ffmpeg picks the same muxer)."""
    return out.with_name(f".{out.stem}.yaffmpegp-partial{out.suffix}")


async def run(s: Settings, events: Events, make_transports: TransportFactory | None = None) -> JobResult:
    check_paths(s)
    routed = for_segments(check_command(s))
    media = await probe_media(s.input, s.ffprobe)
    if not media.video_streams:
        raise InputError(f"{s.input}: no video stream")
    workdir, lock = job_dir(s.workdir or default_workdir_base(), job_key(s))
    partial = partial_path(s.output)
    finished = suspect = False
    try:
        result = await _run_in(s, events, media, routed, workdir, partial, make_transports)
        os.replace(partial, s.output)
        finished = True
        return result
    except CheckError:
        suspect = True  # segments that joined into a wrong output must not be resumed from
        raise
    finally:
        with lock:  # held until the work dir is removed or left in a state to resume from
            partial.unlink(missing_ok=True)
            done = 0 if suspect else len(Journal.load(workdir).done)
            if s.keep_workdir:
                events.emit(Message(f"work files kept in {workdir}"))
            elif not finished and done:
                keep_resume_state(workdir)
                events.emit(Message(f"{done} encoded segment(s) kept in {workdir}: run the same command "
                                    "again to resume, or delete that directory"))
            else:
                remove_job_dir(workdir)


def job_dir(base: Path, key: str) -> tuple[Path, JobLock]:
    """The job's private work dir, the same for the same job (for resume), locked for this
    run (JobRunningError if another run of the job holds it). An existing one must be a
    real directory of ours that nobody else can enter."""
    path = base / f"yaffmpegp-{key}"
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        st = path.lstat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise OutputError(f"{path} exists but is not a private directory of yours: remove it") from None
    except OSError as exc:
        raise OutputError(f"cannot create a work dir in {base}: {exc.strerror or exc}") from exc
    lock = lock_job_dir(path)  # before anything in it is touched
    keep_resume_state(path)
    return path, lock


def keep_resume_state(workdir: Path) -> None:
    """Remove everything but the journal, the encoded segments it lists and the lock."""
    journal = Journal.load(workdir)
    listed = {str(entry["file"]) for entry in journal.done.values()}
    for entry in workdir.iterdir():
        if entry.name == ENCODED and entry.is_dir() and not entry.is_symlink():
            for f in entry.iterdir():
                if f.name not in listed:
                    f.unlink(missing_ok=True)
        elif entry.name not in (JOURNAL, LOCK):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


async def _run_in(s: Settings, events: Events, media: MediaInfo, routed: RoutedOptions, workdir: Path,
                  partial: Path, make_transports: TransportFactory | None) -> JobResult:
    """Everything overlaps where it can: the preflight runs while the video is indexed and
    split (on the stream ffmpeg will most likely pick, redone if not), hosts connect as soon
    as the encoder is known, and each segment goes to the hosts as soon as it is cut."""
    guess = media.video_streams[0].index
    hosts_dir = workdir / "hosts"
    hosts_dir.mkdir()
    results = workdir / ENCODED
    results.mkdir(exist_ok=True)
    journal = Journal.load(workdir)
    names: dict[int, str] = {}
    events.listen(JournalWriter(journal, results, names))
    window = UnitWindow()  # how far the split runs ahead of the hosts
    events.listen(window)
    dispatcher = _dispatcher(s, workdir, hosts_dir, make_transports)
    work = WorkQueue((), s.retries, closed=False)
    slots = dispatcher.slots
    segments: list[Segment] = []
    loop = asyncio.get_running_loop()
    ticker = asyncio.create_task(_tick(events))  # stopped in `finally`, whatever happens
    try:
        try:
            async with asyncio.TaskGroup() as tg:
                prefl = tg.create_task(run_preflight(media, routed, s.output, workdir, s.ffmpeg, s.ffprobe))
                planned: asyncio.Future[Plan] = loop.create_future()
                resume = Resume(journal, results, names, events, window)
                feeder = tg.create_task(_feed(s, media, routed, guess, workdir / "split", prefl, planned, work, segments,
                                              resume, slots))
                pre = await prefl
                if pre.encoder is None:  # the video is copied: nothing to do in parallel
                    feeder.cancel()
                else:
                    if pre.video_in != guess:
                        feeder.cancel()
                        window.forget()
                        planned = loop.create_future()
                        feeder = tg.create_task(_feed(s, media, routed, pre.video_in, workdir / "split-again", prefl,
                                                      planned, work, segments, resume, slots))
                    requirements = HostRequirements((pre.encoder,))
                    labels = await dispatcher.open(requirements, events, journal)
                    window.resize(dispatcher.holds)
                    plan = await planned
                    encoded = int(pre.encoded_per_second * (media.duration or 0))
                    if s.output.parent.stat().st_dev == workdir.stat().st_dev:
                        encoded *= 2  # the output is written beside the encoded segments
                    check_free_space(workdir.parent,
                                     bytes_needed(s.input.stat().st_size, plan.segments, window.size, encoded))
                    vstream = media.stream(pre.video_in)
                    origin = timeline_origin(media, pre)
                    kept = kept_segments(plan, vstream, origin, pre, routed)
                    span = kept_span(vstream, pre, routed)
                    retimed = resume.retimed(media, pre, routed, plan)
                    clones = 0 if retimed else initial_clones(media, pre, routed, plan)
                    frames = (sum(k.frames for k in kept.values()) if kept is not None
                              else retimed.frames if retimed else round(plan.total_frames * pre.rate) + clones)
                    events.emit(Planned(plan.segments, frames, labels))
                    if kept is not None and not kept:
                        raise UsageError("-ss/-t/-to keep no video frame of this input")
                    threads = dispatcher.threads

                    def build(seg: Segment, src: str, out: str, files: dict[str, str]) -> list[str]:
                        vf = filtergraph.with_files(routed.video_filter, files) if files else routed.video_filter
                        opts, slots = routed.segment, None
                        if seg.slots is not None and retimed is not None:  # its own timing: the slots
                            opts = without_timing(routed.segment, None)[0]
                            slots = (seg.slots.filter(retimed.rate), retimed.rate)
                        return segment_args(src, out, seg.trim, opts, vf, pre.fmt, threads,
                                            encoder=pre.encoder, upright=pre.upright,
                                            shift=seg.timeline_shift(origin, vstream.time_base),
                                            keep=seg.keep(origin, vstream.time_base, pre.rate, span),
                                            starts_at=None if slots else seg.starts_at(origin, vstream.time_base),
                                            constant_rate=bool(seg.clones), slots=slots)

                    ps = PipelineSettings(s.prefetch, s.stale_timeout, results, s.ffprobe, filter_assets(routed))
                    tg.create_task(dispatcher.run(Dispatch(work, build, ps, requirements, segments, feeder), events))

                    order = sorted(kept) if kept is not None else list(range(plan.segments))

                    async def ready(k: int) -> Path:
                        await work.wait_done(order[k])
                        return results / names[order[k]]

                    mux = _final_mux(media, pre, routed, plan, vstream, kept, clones, retimed)
                    if retimed is not None:  # each segment fills its slots, up to the next one's
                        durations = [Fraction(x.span) / retimed.rate for x in retimed.segments[:-1]]
                    elif kept is None:
                        durations = [(b.pts - a.pts) * vstream.time_base for a, b in zip(plan.cuts, plan.cuts[1:])]
                        if clones:  # a constant-rate output from 0: every frame sits on its slot
                            slot = 1 / (vstream.frame_rate * pre.rate)
                            durations = [(round(n * pre.rate) + (clones if not i else 0)) * slot
                                         for i, n in enumerate(plan.frames[:-1])]
                    else:  # each kept segment lasts until the next one's first kept frame
                        durations = [kept[b].first - kept[a].first for a, b in zip(order, order[1:])]
                    tg.create_task(join(durations + [Fraction(0)], ready, results, mux, partial, events, s.ffmpeg))
        except BaseExceptionGroup as group:
            raise first_error(group) from None
    finally:
        ticker.cancel()
        await dispatcher.close()
    if pre.encoder is None:
        return await _single_pass(s, events, routed, partial)
    checks = await check(partial, segments, mux, s.ffprobe)
    events.emit(Checked(tuple(checks)))
    return JobResult(s.output, len(segments), sum(x.expected for x in segments), tuple(checks))


async def _tick(events: Events) -> None:
    while True:
        await asyncio.sleep(0.5)
        events.emit(Tick())


@dataclass
class Resume:
    """What the feeder needs to skip segments a previous run already encoded."""

    journal: Journal
    results: Path
    names: dict[int, str]  # filled as segments are cut: index -> encoded file name
    events: Events
    window: UnitWindow  # units alive: the feeder waits for room before it cuts the next
    started: bool = False
    _retimed: Retimed | None | bool = False  # False: not worked out yet

    def retimed(self, media: MediaInfo, pre: Preflight, routed: RoutedOptions, plan: Plan) -> Retimed | None:
        """The single pass's output slots per segment, worked out once for the run (the
        feeder and the join both need them)."""
        if self._retimed is False:
            self._retimed = plan_retime(media, pre, routed, plan)
        return self._retimed  # type: ignore[return-value]


async def _feed(s: Settings, media: MediaInfo, routed: RoutedOptions, stream: int, workdir: Path,
                prefl: asyncio.Task[Preflight],
                planned: asyncio.Future[Plan], work: WorkQueue, segments: list[Segment], resume: Resume,
                slots: int) -> None:
    """Index and split one video stream, handing each segment to the hosts once the
    preflight has said how it will be encoded, unless a previous run already did it (whose
    cuts are kept, whatever the hosts now: the tail's cuts depend on the `slots`)."""
    vstream = media.stream(stream)
    packets = await probe_packets(s.input, stream, s.ffprobe)
    plan = plan_video(s, routed, vstream, packets, slots, resume.journal.cuts if resume.journal.done else ())
    planned.set_result(plan)
    kept: dict[int, Kept] | None = None
    workdir.mkdir()
    async with contextlib.aclosing(split(s.input, stream, plan, vstream.time_base, workdir,
                                         codec=vstream.codec_name, ffmpeg=s.ffmpeg, ffprobe=s.ffprobe)) as units:
        while True:
            await resume.window.wait_room()
            unit = await anext(units, None)
            if unit is None:
                break
            resume.window.hold(unit.index, unit.unit)
            try:
                pre = await asyncio.shield(prefl)
            except Exception:
                return  # the preflight's own error ends the run
            if pre.video_in != stream or pre.encoder is None:
                return
            if not resume.started:  # the plan is certain now: it must be the journal's
                resume.journal.start([c.pts for c in plan.cuts])
                resume.started = True
            retimed = resume.retimed(media, pre, routed, plan)
            clones = initial_clones(media, pre, routed, plan) if unit.index == 0 and not retimed else 0
            seg = unit.encoded_as(pre.rate, pre.ext, clones)
            if retimed is not None:
                slots = retimed.segments[seg.index]
                seg = replace(seg, expected=slots.frames, slots=slots, first=None)
            if kept is None:
                kept = kept_segments(plan, vstream, timeline_origin(media, pre), pre, routed) or {}
            if not routed.span.whole:  # an output trim: only segments holding wanted frames
                if seg.index not in kept:
                    resume.window.free(seg.index)
                    continue
                seg = replace(seg, expected=kept[seg.index].frames, first=kept[seg.index].first)
            segments.append(seg)
            resume.names[seg.index] = seg.output_name
            if resume.journal.usable(seg.index, resume.results / seg.output_name, seg.expected):
                await work.add_done(seg, RESUMED)
                resume.events.emit(SegmentDone(RESUMED, seg.index, seg.expected, 0.0))
            else:
                await work.add(seg)
    await work.close()


def plan_video(s: Settings, routed: RoutedOptions, vstream: Stream, packets: list[Packet], slots: int,
               earlier: list[int] | tuple[()] = ()) -> Plan:
    """Where to cut the video, with the context its filters need: an earlier run's cuts
    (`earlier`, to resume it whatever the hosts now) if they are this video's keyframes,
    else cuts made for `slots` encodes at once."""
    plan = (plan_at(packets, earlier) if earlier else None) or plan_cuts(
        packets, vstream.time_base, s.segment_length, slots=slots)
    before, after = context_frames(routed.video_filter, vstream.frame_rate, s.context)
    return add_context(plan, packets, before, after)


def plan_retime(media: MediaInfo, pre: Preflight, routed: RoutedOptions, plan: Plan) -> Retimed | None:
    """Where a single pass puts each frame when its output's timing is not the frames' own:
    a rate change (-r), a speed change (a trailing setpts), or frames dropped or repeated by
    the output's constant or variable rate. None: each segment's own encode gives the same."""
    timing = user_timing(routed.all, routed.user_video_filter)
    copyts = any(o.name == "copyts" for o in routed.all)
    if pre.rate != 1 or not routed.span.whole or copyts:
        if timing.asked:
            raise UsageError("a frame-rate or speed change (-r, setpts) is not yet exact with filters that "
                             "change the frame count, -ss/-t/-to or -copyts: do it in a pass of its own")
        return None
    vstream = media.stream(pre.video_in)
    sink = guessed_rate(vstream.frame_rate, vstream.avg_frame_rate)
    rate = timing.rate or timing.fps or sink
    if not rate:
        return None
    method = timing.method or auto_method(pre.cfr, pre.muxer == "avi", len(media.streams) == 1)
    clock = Clock(method, rate, sink, vstream.time_base, not timing.filtered, timing.speed, timing.fps)
    first = bisect_left(plan.shown, plan.cuts[0].pts)
    offset = ticks(timeline_origin(media, pre), vstream.time_base)
    return retime(plan.shown, plan.durations, first, plan.frames, clock, offset, timing.asked)


def initial_clones(media: MediaInfo, pre: Preflight, routed: RoutedOptions, plan: Plan) -> int:
    """Copies of the first frame a single pass writes before it: into a constant-rate output
    (MP4, MOV), from an input of several streams, with no -vsync/-fps_mode of the user's and
    no trim, ffmpeg fills the time from the timeline's start to a late first frame by
    repeating it (seen: an MKV whose video starts 23 ms after its audio gives one frame more
    in MP4). The first segment is then encoded at a constant rate from 0, as the single pass."""
    vstream = media.stream(pre.video_in)
    user_sync = any(o.name in ("vsync", "fps_mode", "r") for o in routed.all)
    if not pre.cfr or user_sync or not routed.span.whole or len(media.streams) < 2 or not vstream.frame_rate:
        return 0
    first = plan.cuts[0].pts * vstream.time_base - timeline_origin(media, pre)
    delta = float(first * vstream.frame_rate * pre.rate) + 1  # a frame's duration past it
    return round(delta) - 1 if delta > 1.1 else 0  # lrintf, as ffmpeg counts


def kept_segments(plan: Plan, vstream: Stream, origin: Fraction, pre: Preflight,
                  routed: RoutedOptions) -> dict[int, Kept] | None:
    """With an output trim (-ss/-t/-to), the segments that hold wanted frames; else None."""
    if routed.span.whole:
        return None
    return kept_frames(plan, vstream.time_base, origin, pre.rate, kept_span(vstream, pre, routed))


def kept_span(vstream: Stream, pre: Preflight, routed: RoutedOptions) -> Span:
    """The output trim, as the single pass applies it to the encoded video."""
    return routed.span.on_grid(vstream.frame_rate * pre.rate if vstream.frame_rate else None)


def timeline_origin(media: MediaInfo, pre: Preflight) -> Fraction:
    """Where a single pass starts its timeline: the earliest start of the streams it reads
    (seen on MPEG-TS: with the audio mapped, its earlier start counts; with -an, not)."""
    starts = [media.stream(m.input_index).start_time for m in pre.mapping]
    known = [t for t in starts if t is not None]
    seconds = min(known) if known else media.start_time
    return Fraction(seconds).limit_denominator(10**6)  # ffprobe prints microseconds


def on_grid(seconds: Fraction, rate: Fraction | None) -> Fraction:
    """A time snapped to the encoder's frame grid (1/rate), as a single ffmpeg pass puts the
    first frame: 0.023 s at 25 fps becomes 0.040 s."""
    if not rate:
        return seconds
    return Fraction(math.floor(seconds * rate + Fraction(1, 2))) / rate


def _final_mux(media: MediaInfo, pre: Preflight, routed: RoutedOptions, plan: Plan, vstream: Stream,
               kept: dict[int, Kept] | None, clones: int, retimed: Retimed | None = None) -> FinalMux:
    rate = vstream.frame_rate * pre.rate if vstream.frame_rate else None
    if retimed is not None:
        offset = retimed.starts_at
    elif kept:  # the final mux trims the other streams itself (the user's -ss/-t/-to are its options)
        start = routed.span.start
        offset = start + on_grid(kept[min(kept)].first - start, rate)
    elif clones:
        offset = Fraction(0)  # the first segment starts with copies of its first frame, at 0
    else:
        offset = on_grid(plan.cuts[0].pts * vstream.time_base - timeline_origin(media, pre), rate)
    return FinalMux(
        source=media.path,
        mapping=pre.mapping,
        video_out=pre.video_out,
        copy_outputs=(pre.video_out, *pre.other_video_outs),
        user_final_opts=routed.final_without_end,
        read_until=routed.span.end,
        offset=float(offset),
        # "encoder" is ffmpeg's to write for an encoded stream (the segments carry it)
        video_tags=tuple((k, v) for k, v in vstream.tags.items() if k.lower() != "encoder"),
        expected_streams=pre.streams,
        field_order=pre.field_order,
        rotation=pre.rotation,
        mux_opts=pre.mux_opts,
    )


def _dispatcher(s: Settings, workdir: Path, hosts_dir: Path,
                make_transports: TransportFactory | None) -> Dispatcher:
    if s.slurm is not None:
        from .slurm import SlurmDispatcher
        return SlurmDispatcher(s.slurm, workdir, s.retries, s.ffprobe)
    return FleetDispatcher(s, (make_transports or default_transports)(s, hosts_dir))



async def _single_pass(s: Settings, events: Events, routed: RoutedOptions, partial: Path) -> JobResult:
    """The video is copied: there is nothing to encode in parallel, so run ffmpeg as asked."""
    events.emit(Message("the video is copied, not encoded: running a single ffmpeg"))
    args = ["-nostdin", "-hide_banner", "-v", "error", *routed.input, "-i", str(s.input), *routed.user_argv,
            "-y", str(partial)]
    code, _, err = await run_tool([s.ffmpeg, *args])
    if code != 0:
        raise YaffError(f"ffmpeg failed: {first_error_line(err)}", argv=args, returncode=code, stderr=err)
    return JobResult(s.output, 0, 0, ())
