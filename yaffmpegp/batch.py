"""Several inputs in one run: a shelf of tapes, a directory, a glob.

Each input is its own job (own work dir, journal, lock and checks); one that fails is
reported and the others go on. The next input starts as soon as the previous one's
segments are all encoded, so the hosts encode it while the previous one is joined and
checked. An output that already exists is skipped (unless -y): a rerun of the same batch
resumes where it stopped.
"""
from __future__ import annotations

import asyncio
import glob
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import ExitCode, OutputError, UsageError, YaffError
from .events import Encoded, Events, InputEvents, InputFinished, InputStarted
from .probe import probe_media
from .settings import Settings, default_output

#: what a directory given as input contributes: the files whose names end so
VIDEO_SUFFIXES = frozenset({
    ".mkv", ".mp4", ".m4v", ".mov", ".avi", ".mpg", ".mpeg", ".m2v", ".vob", ".ts", ".m2ts", ".mts",
    ".webm", ".wmv", ".asf", ".flv", ".dv", ".3gp", ".ogv", ".mxf", ".nut", ".y4m",
})
_GLOB = set("*?[")

#: runs one input's job (job.run)
RunOne = Callable[[Settings, Events], Awaitable[object]]


@dataclass(frozen=True)
class InputResult:
    number: int
    input: Path
    output: Path
    result: str  # done | skipped | failed
    error: str = ""
    exit_code: int = 0


def expand_inputs(items: Sequence[str | Path]) -> list[Path]:
    """The inputs the user named: files as given, a directory's video files (by name), and
    glob patterns ffmpeg's users write when their shell did not expand them. Each once, in
    the order named (a directory's and a pattern's files sorted by name)."""
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                           and not p.name.startswith("."))
            if not found:
                raise UsageError(f"{path}: no video file in this directory")
        elif not path.exists() and _GLOB & set(str(item)):
            found = sorted(Path(p) for p in glob.glob(str(item)) if Path(p).is_file())
            if not found:
                raise UsageError(f"{item}: no file matches")
        else:
            found = [path]
        out += [p for p in found if p not in out]
    return out


def is_batch(items: Sequence[str | Path]) -> bool:
    """More than one input named, or a directory or a pattern: -o then names a directory."""
    if len(items) != 1:
        return True
    path = Path(items[0])
    return path.is_dir() or (not path.exists() and bool(_GLOB & set(str(items[0]))))


def outputs_for(inputs: Sequence[Path], out_dir: Path | None) -> list[Path]:
    """Each output named as for one input (`NAME.yaffmpegp.EXT`), next to its input or in
    `out_dir` (made by the run if missing). Two inputs that would write the same output are refused."""
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError(f"-o {out_dir}: with several inputs -o names a directory, and this is a file")
        if not out_dir.exists() and not out_dir.parent.is_dir():
            raise OutputError(f"{out_dir}: the directory {out_dir.parent} does not exist")
    outputs = [out_dir / default_output(p).name if out_dir else default_output(p) for p in inputs]
    seen: dict[Path, Path] = {}
    for src, out in zip(inputs, outputs):
        if out.resolve() in seen:
            raise UsageError(f"{seen[out.resolve()]} and {src} would both be written to {out}")
        seen[out.resolve()] = src
    return outputs


async def media_seconds(path: Path, ffprobe: str) -> float:
    """The input's duration for the batch's ETA; 0 where it cannot be read (the input's
    own job reports why)."""
    try:
        info = await probe_media(path, ffprobe)
    except YaffError:
        return 0.0
    return info.duration or 0.0


async def run_batch(base: Settings, inputs: Sequence[Path], outputs: Sequence[Path], events: Events,
                    run_one: RunOne) -> list[InputResult]:
    """Run every input; the results in input order. Errors shared by all inputs (a missing
    ffmpeg, options ffmpeg rejects) end the batch before any work."""
    from .job import check_command  # (the CLI imports this module for its arguments: jobs only when run)

    check_command(base)
    for out in outputs:
        out.parent.mkdir(exist_ok=True)
    seconds = await asyncio.gather(*(media_seconds(p, base.ffprobe) for p in inputs))
    total = float(sum(seconds))
    results: list[InputResult | None] = [None] * len(inputs)
    two_at_once = asyncio.Semaphore(2)  # one joining while the next one encodes

    async def one(k: int, encoded: asyncio.Event) -> None:
        number, src, out = k + 1, inputs[k], outputs[k]
        events.emit(InputStarted(number, len(inputs), str(src), str(out), seconds[k],
                                 float(sum(seconds[:k])), total))
        if out.exists() and not base.overwrite:
            encoded.set()
            results[k] = InputResult(number, src, out, "skipped", "the output exists (use -y to overwrite)")
        else:
            mine = InputEvents(events, number)
            mine.listen(lambda e: encoded.set() if isinstance(e, Encoded) else None)
            try:
                await run_one(replace(base, input=src, output=out), mine)
                results[k] = InputResult(number, src, out, "done")
            except YaffError as exc:
                results[k] = InputResult(number, src, out, "failed", str(exc), int(exc.exit_code))
            finally:
                encoded.set()
        r = results[k]
        assert r is not None
        events.emit(InputFinished(number, str(src), str(out), r.result, r.error))

    async with asyncio.TaskGroup() as tg:
        for k in range(len(inputs)):
            await two_at_once.acquire()
            encoded = asyncio.Event()
            task = tg.create_task(one(k, encoded))
            task.add_done_callback(lambda _: two_at_once.release())
            await encoded.wait()
    return [r for r in results if r is not None]


def exit_code(results: Sequence[InputResult]) -> int:
    """0 when every input is done or skipped; else the failures' code if they share one,
    else FAILED."""
    codes = {r.exit_code for r in results if r.result == "failed"}
    if not codes:
        return int(ExitCode.OK)
    return codes.pop() if len(codes) == 1 else int(ExitCode.FAILED)


def summary_lines(results: Sequence[InputResult]) -> list[str]:
    width = max([len(str(r.input)) for r in results] + [5])
    lines = []
    for r in results:
        what = {"done": f"done: {r.output}", "skipped": f"skipped: {r.output} exists",
                "failed": f"FAILED: {r.error}"}[r.result]
        lines.append(f"{str(r.input):{width}s}  {what}")
    done = sum(r.result == "done" for r in results)
    skipped = sum(r.result == "skipped" for r in results)
    failed = len(results) - done - skipped
    lines.append(f"batch: {done} done, {skipped} skipped, {failed} failed, of {len(results)} inputs")
    return lines

