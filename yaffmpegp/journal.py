"""Resume: which segments of a job are already encoded and verified.

The work dir of a job is named after a key of everything that decides the output (the
input's path, size and modification time, the options, the segment length, the
version), so running the same command again finds it, and a changed input or changed
options start afresh. The journal records a segment only once its file is verified and in
place, and is rewritten atomically (temp file, then rename): after a crash it lists only
complete segments. It listens to the run's events like the report does.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .events import Event, SegmentDone
from .settings import Settings

JOURNAL = "journal.json"
ENCODED = "encoded"
RESUMED = "(resumed)"  # the "host" of segments taken from the journal


def job_key(s: Settings) -> str:
    st = s.input.stat()
    parts = [__version__, str(s.input.resolve()), str(st.st_size), str(st.st_mtime_ns), str(s.output.suffix),
             repr(s.segment_length), repr(s.context), *s.ffmpeg_args]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


@dataclass
class Journal:
    path: Path
    cuts: list[int] = field(default_factory=list)  # the plan's cut timestamps: same plan, same segments
    done: dict[int, dict[str, int | str]] = field(default_factory=dict)
    # work dirs made on each host: a coordinator killed outright cannot remove them, so the
    # next run of the job does
    remote: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, workdir: Path) -> Journal:
        path = workdir / JOURNAL
        try:
            data = json.loads(path.read_text())
            return cls(path, list(data["cuts"]), {int(k): v for k, v in data["done"].items()},
                       dict(data.get("remote", {})))
        except (OSError, ValueError, KeyError, TypeError):
            return cls(path)

    def save(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps({"cuts": self.cuts, "done": self.done, "remote": self.remote}))
        os.replace(tmp, self.path)

    def start(self, cuts: list[int]) -> None:
        """Begin (or go on with) a plan; a different plan forgets what was done."""
        if cuts != self.cuts:
            self.cuts, self.done = cuts, {}
            self.save()

    def usable(self, index: int, file: Path, frames: int) -> bool:
        """Segment `index` is done with `frames` frames, and its file is there, whole."""
        entry = self.done.get(index)
        try:
            return (entry is not None and entry["file"] == file.name and entry["frames"] == frames
                    and file.stat().st_size == entry["size"])
        except OSError:
            return False

    def remote_dir(self, host: str, workdir: str) -> None:
        """This run's work dir on `host` (what earlier runs left there was just removed)."""
        self.remote[host] = [workdir]
        self.save()

    def record(self, index: int, file: Path, frames: int) -> None:
        self.done[index] = {"file": file.name, "size": file.stat().st_size, "frames": frames}
        self.save()


class JournalWriter:
    """Records every segment done, as the events report it."""

    def __init__(self, journal: Journal, results: Path, names: dict[int, str]) -> None:
        self.journal = journal
        self.results = results
        self.names = names  # segment index -> encoded file name

    def __call__(self, event: Event) -> None:
        if isinstance(event, SegmentDone) and event.host != RESUMED and event.segment in self.names:
            self.journal.record(event.segment, self.results / self.names[event.segment], event.frames)
