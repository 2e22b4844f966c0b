"""One input end to end: check → probe → preflight → plan → split → schedule → join → check."""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from . import filtergraph
from .errors import CheckError, InputError, OutputError, ToolError, UsageError, YaffError, first_error
from .events import Checked, Events, Message, Planned, SegmentDone, Tick
from .ffcmd import segment_args
from .ffopts import RoutedOptions, option_table, split_options
from .join import check, join
from .joblock import LOCK, JobLock, lock_job_dir, remove_job_dir
from .journal import ENCODED, JOURNAL, RESUMED, Journal, JournalWriter, job_key
from .pipeline import PipelineSettings
from .context import context_frames
from .dispatch import Dispatch, Dispatcher
from .fleet import FleetDispatcher
from .plan import Plan, add_context, plan_at, plan_cuts
from .rateopts import without_timing
from .timing import Timing, final_mux, timeline_origin, work_out
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
    if not routed.timing.asked:
        return routed
    if not routed.span.whole:
        raise UsageError("a frame-rate or speed change (-r, fps, setpts) with -ss/-t/-to is not yet exact: "
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
                    encoded = once = int(pre.encoded_per_second * (media.duration or 0))
                    if s.output.parent.stat().st_dev == workdir.stat().st_dev:
                        encoded += once  # the output is written beside the encoded segments
                    if not routed.span.whole and pre.remux_exact:
                        encoded += once  # a trim's final mux may write it twice (join._shift_back)
                    check_free_space(workdir.parent,
                                     bytes_needed(s.input.stat().st_size, plan.segments, window.size, encoded))
                    vstream = media.stream(pre.video_in)
                    origin = timeline_origin(media, pre)
                    timing = resume.timing(media, pre, routed, plan)
                    retimed = timing.retimed
                    events.emit(Planned(plan.segments, timing.frames(plan, pre.rate), labels))
                    if timing.kept is not None and not timing.kept:
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
                                            keep=seg.keep(origin, vstream.time_base, pre.rate, timing.span),
                                            starts_at=None if slots else seg.starts_at(origin, vstream.time_base),
                                            constant_rate=bool(seg.clones), slots=slots,
                                            rebase=timing.span.start if seg.clones and timing.kept else None)

                    ps = PipelineSettings(s.prefetch, s.stale_timeout, results, s.ffprobe, filter_assets(routed))
                    tg.create_task(dispatcher.run(Dispatch(work, build, ps, requirements, segments, feeder), events))

                    order = timing.order(plan)

                    async def ready(k: int) -> Path:
                        await work.wait_done(order[k])
                        return results / names[order[k]]

                    mux = final_mux(media, pre, routed, plan, timing)
                    durations = timing.durations(plan, vstream, pre.rate)
                    tg.create_task(join(durations + [Fraction(0)], ready, results, mux, partial, events, s.ffmpeg,
                                        s.ffprobe))
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
    _timing: Timing | None = None

    def timing(self, media: MediaInfo, pre: Preflight, routed: RoutedOptions, plan: Plan) -> Timing:
        """Where the segments' frames go, worked out once for the run (the feeder and the
        join both need it)."""
        if self._timing is None:
            self._timing = work_out(media, pre, routed, plan)
        return self._timing


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
    workdir.mkdir()
    async with contextlib.aclosing(split(s.input, stream, plan, vstream.time_base, workdir,
                                         codec=vstream.codec_name, ffmpeg=s.ffmpeg, ffprobe=s.ffprobe,
                                         index=packets)) as units:
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
            timing = resume.timing(media, pre, routed, plan)
            first_kept = min(timing.kept) if timing.kept else 0
            seg = unit.encoded_as(pre.rate, pre.ext, timing.clones if unit.index == first_kept else 0)
            if timing.retimed is not None:
                slots = timing.retimed.segments[seg.index]
                seg = replace(seg, expected=slots.frames, slots=slots, first=None)
            kept = timing.kept
            if kept is not None:  # an output trim: only segments holding wanted frames
                if seg.index not in kept:
                    resume.window.free(seg.index)
                    continue
                seg = replace(seg, expected=kept[seg.index].frames + seg.clones,
                              first=Fraction(0) if seg.clones else kept[seg.index].first)
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
